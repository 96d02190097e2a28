DROP TABLE stat_day_changes;
