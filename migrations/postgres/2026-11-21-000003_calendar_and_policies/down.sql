DROP TABLE sla_policies;
DROP TABLE calendar_years;
