-- Requests for more time on a reply deadline (延期, SPEC 2.5): asked by a department admin,
-- decided by a supervisor.
CREATE TABLE extensions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deadline_id BIGINT NOT NULL REFERENCES deadlines (id),
    assignment_id BIGINT NOT NULL REFERENCES assignments (id),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    requested_by BIGINT NOT NULL REFERENCES users (id),
    requested_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    working_days INTEGER NOT NULL CHECK (working_days BETWEEN 1 AND 30),
    -- The reply deadline when the request was made.
    due_before TIMESTAMP NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by BIGINT REFERENCES users (id),
    decided_at TIMESTAMP,
    decision_note TEXT,
    -- The reply deadline the approval gave.
    new_due_at TIMESTAMP
);
CREATE INDEX extensions_state ON extensions (state, id);
CREATE INDEX extensions_department ON extensions (department_id, state, id);
CREATE INDEX extensions_assignment ON extensions (assignment_id, state);
-- One open request per assignment, whichever process takes it.
CREATE UNIQUE INDEX extensions_one_pending ON extensions (assignment_id) WHERE state = 'pending';
