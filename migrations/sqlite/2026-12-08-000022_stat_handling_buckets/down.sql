-- The rows stay in the bucket encoding: run `hotline stats rebuild` with the older build.
ALTER TABLE stat_settings DROP COLUMN days_format;
