-- Follow-up calls (回访, SPEC 2.7): one row per attempt to reach the citizen after the centre
-- approved the departments' replies. A call on a case merged into another (并单) evaluates the
-- handling of the case it was merged into: `evaluated_case_id`, its `round` and that round's lead
-- department say whose work the answer counts for (statistics read them directly).
CREATE TABLE follow_up_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    -- The follow-up clock the attempt answers: attempts and the three-days rule count per clock,
    -- so a case redone and approved again starts afresh.
    deadline_id BIGINT NOT NULL REFERENCES deadlines (id),
    evaluated_case_id BIGINT NOT NULL REFERENCES cases (id),
    round INTEGER NOT NULL,
    department_id BIGINT REFERENCES departments (id),
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'sms', 'wechat', 'app')),
    outcome TEXT NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'refused', 'wrong_number')),
    resolved TEXT CHECK (resolved IN ('yes', 'partly', 'no')),
    satisfaction TEXT CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    -- The citizen's words: personal data may be in them; never shown to analysts.
    citizen_words TEXT,
    effect TEXT NOT NULL CHECK (effect IN ('closed', 'awaiting_decision', 'try_again', 'follow_up_ended')),
    called_by BIGINT NOT NULL REFERENCES users (id),
    called_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    CHECK ((outcome = 'reached') = (resolved IS NOT NULL AND satisfaction IS NOT NULL))
);
CREATE INDEX follow_up_calls_case ON follow_up_calls (case_id, id);
CREATE INDEX follow_up_calls_deadline ON follow_up_calls (deadline_id);
CREATE INDEX follow_up_calls_evaluated_case ON follow_up_calls (evaluated_case_id);
CREATE INDEX follow_up_calls_department ON follow_up_calls (department_id, id);
CREATE INDEX follow_up_calls_called_at ON follow_up_calls (called_at);

-- The centre's follow-up queue: running follow-up clocks, oldest first. Partial, like the sweep's
-- indexes: the queue's query names the predicate literally.
CREATE INDEX deadlines_follow_up_queue ON deadlines (id)
    WHERE kind = 'follow_up' AND state = 'running';
