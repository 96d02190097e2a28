-- Dispatch (派单): the case remembers its current round, the lead department and the reply time
-- the citizen was told; merged cases point at the case that survives.
ALTER TABLE cases ADD COLUMN current_round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN lead_department_id BIGINT REFERENCES departments (id);
ALTER TABLE cases ADD COLUMN reply_due_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN merged_into BIGINT REFERENCES cases (id);
ALTER TABLE cases ADD COLUMN redo_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN dispatched_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN reviewed_at TIMESTAMP;
CREATE INDEX cases_lead_department ON cases (lead_department_id, status, id);
-- Finding the same citizen's earlier cases (并单 suggestions).
CREATE INDEX complainants_phone ON complainants (phone);

-- One department's share of one case in one dispatch round.
CREATE TABLE assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    round INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('lead', 'assisting')),
    mode TEXT NOT NULL CHECK (mode IN ('direct', 'joint')),
    assigned BOOLEAN NOT NULL,
    instructions TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending_sign', 'in_progress', 'returned', 'replied', 'completed', 'withdrawn', 'cancelled')),
    dispatched_by BIGINT REFERENCES users (id),
    dispatched_at TIMESTAMP NOT NULL,
    sign_due_at TIMESTAMP NOT NULL,
    reply_due_at TIMESTAMP NOT NULL,
    handler_id BIGINT REFERENCES users (id),
    signed_by BIGINT REFERENCES users (id),
    signed_at TIMESTAMP,
    returned_by BIGINT REFERENCES users (id),
    returned_at TIMESTAMP,
    return_reason TEXT,
    ruling TEXT CHECK (ruling IN ('accepted', 'refused')),
    ruling_note TEXT,
    ruled_at TIMESTAMP,
    -- The department's reply as JSON: what was investigated, what was done, the result, and
    -- whether the citizen was contacted. Who ruled and reviewed is in the case timeline.
    reply TEXT,
    replied_by BIGINT REFERENCES users (id),
    replied_at TIMESTAMP,
    review_decision TEXT CHECK (review_decision IN ('approved', 'sent_back')),
    review_note TEXT,
    reviewed_at TIMESTAMP,
    version INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (case_id, round, department_id)
);
CREATE INDEX assignments_case ON assignments (case_id, round);
CREATE INDEX assignments_department ON assignments (department_id, state, id);
CREATE INDEX assignments_department_case ON assignments (department_id, case_id);

-- Every clock the system runs (SPEC 2.5).
CREATE TABLE deadlines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('sign', 'reply', 'follow_up', 'supervision_response')),
    case_id BIGINT NOT NULL REFERENCES cases (id),
    assignment_id BIGINT REFERENCES assignments (id),
    department_id BIGINT REFERENCES departments (id),
    starts_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    -- The SLA policy version that produced it; NULL when the centre set it (交办).
    policy_version INTEGER,
    -- The period counted, e.g. '3 working_days' or '24 hours', or 'set_by_centre'.
    period TEXT NOT NULL,
    -- The due time falls in a year the calendar does not cover (weekends only were counted).
    beyond_calendar BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'met', 'missed', 'cancelled')),
    met_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX deadlines_state_due ON deadlines (state, due_at);
CREATE INDEX deadlines_case ON deadlines (case_id);
CREATE INDEX deadlines_assignment ON deadlines (assignment_id);
CREATE INDEX deadlines_department ON deadlines (department_id, state, id);
