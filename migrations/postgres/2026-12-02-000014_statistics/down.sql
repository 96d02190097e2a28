DROP INDEX extensions_case;
DROP INDEX case_events_redo;
DROP TABLE stat_settings;
DROP TABLE stat_days;
DROP TABLE case_stat_facts;
