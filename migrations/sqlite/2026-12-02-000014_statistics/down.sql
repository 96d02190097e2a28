DROP INDEX extensions_case;
DROP TABLE stat_settings;
DROP TABLE stat_days;
DROP TABLE case_stat_facts;
