DROP TABLE supervisions;
DROP INDEX deadlines_sweep_due_soon;
DROP INDEX deadlines_sweep_missed;
ALTER TABLE deadlines DROP COLUMN missed_marked_at;
ALTER TABLE deadlines DROP COLUMN due_soon_marked_at;
ALTER TABLE deadlines DROP COLUMN due_soon_at;
