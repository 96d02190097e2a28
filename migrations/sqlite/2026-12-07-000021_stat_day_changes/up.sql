-- The PostgreSQL schema's `stat_day_changes`, kept for one schema on both backends. SQLite has
-- one writer at a time and changes `stat_days` in place; nothing is written here.
CREATE TABLE stat_day_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dim SMALLINT NOT NULL,
    day INTEGER NOT NULL,
    key TEXT NOT NULL,
    changes BLOB NOT NULL
);
