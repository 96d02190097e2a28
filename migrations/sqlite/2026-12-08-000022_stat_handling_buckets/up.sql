-- Handling times in `stat_days.figures` are now counted per bucket (src/domain/handling_times.rs),
-- no longer kept one value per reply: a year of them grew with the cases. Rows written in the
-- old encoding cannot be read by this build: the first process to open the database after this
-- migration makes the statistics anew from the raw records (`hotline stats rebuild`), then
-- records the new format here. A database without figures has nothing to make anew.
ALTER TABLE stat_settings ADD COLUMN days_format SMALLINT NOT NULL DEFAULT 1;
UPDATE stat_settings SET days_format = 2
WHERE NOT EXISTS (SELECT 1 FROM stat_days) AND NOT EXISTS (SELECT 1 FROM stat_day_changes);
