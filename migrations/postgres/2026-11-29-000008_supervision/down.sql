DROP TABLE supervisions;
DROP INDEX deadlines_sweep_due_soon;
DROP INDEX deadlines_sweep_missed;
CREATE INDEX deadlines_state_due ON deadlines (state, due_at);
ALTER TABLE deadlines DROP COLUMN missed_marked_at;
ALTER TABLE deadlines DROP COLUMN due_soon_marked_at;
ALTER TABLE deadlines DROP COLUMN due_soon_at;
