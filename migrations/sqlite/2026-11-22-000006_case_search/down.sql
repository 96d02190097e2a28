DROP TRIGGER cases_fts_after_update;
DROP TRIGGER cases_fts_after_delete;
DROP TRIGGER cases_fts_after_insert;
DROP TABLE cases_fts;
