-- The deadline sweep (SPEC 4.4) marks clocks: when a clock becomes due soon (computed once by the
-- sweep from the calendar), when the sweep marked it so, and when it marked it missed. A clock
-- past due stays `running` while its work is outstanding; finishing it then makes it `missed`.
ALTER TABLE deadlines ADD COLUMN due_soon_at TIMESTAMP;
ALTER TABLE deadlines ADD COLUMN due_soon_marked_at TIMESTAMP;
ALTER TABLE deadlines ADD COLUMN missed_marked_at TIMESTAMP;
-- Only running clocks enter the sweep's indexes: a small share of all (most have stopped), so
-- they cost little to keep. The sweep's queries name `state = 'running'` literally to use them.
-- They replace the index on (state, due_at), which planners preferred on approximate statistics
-- and which then had the sweep read every overdue clock again on every run.
DROP INDEX deadlines_state_due;
CREATE INDEX deadlines_sweep_missed ON deadlines (missed_marked_at, due_at)
    WHERE state = 'running';
CREATE INDEX deadlines_sweep_due_soon ON deadlines (due_soon_marked_at, missed_marked_at, due_soon_at)
    WHERE state = 'running';

-- The centre pressing a department (督办, SPEC 2.6): urges (催办) and supervision (督办), by phone,
-- in writing or on site, or by the sweep itself for a missed clock. Written supervision asks the
-- department for an explanation, timed by a `supervision_response` clock.
CREATE TABLE supervisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('urge', 'supervise')),
    method TEXT NOT NULL CHECK (method IN ('system', 'phone', 'written', 'on_site')),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    assignment_id BIGINT NOT NULL REFERENCES assignments (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    -- The missed clock a system urge is about.
    deadline_id BIGINT REFERENCES deadlines (id),
    note TEXT NOT NULL,
    -- NULL: the sweep.
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    response_deadline_id BIGINT REFERENCES deadlines (id),
    explanation TEXT,
    explained_by BIGINT REFERENCES users (id),
    explained_at TIMESTAMP
);
CREATE INDEX supervisions_department ON supervisions (department_id, id);
CREATE INDEX supervisions_case ON supervisions (case_id);
CREATE INDEX supervisions_assignment ON supervisions (assignment_id);
-- One system urge per missed clock, however many sweeps run at once.
CREATE UNIQUE INDEX supervisions_one_urge_per_missed_clock ON supervisions (deadline_id)
    WHERE method = 'system';
