-- A follow-up call that reached the citizen may be recorded as a survey response (SPEC 2.8):
-- `channel` says how a survey was answered: `link` (an invitation with a single-use token, as
-- before) or `phone` (asked during a follow-up call, `follow_up_call_id`; no token). SQLite cannot
-- drop a NOT NULL, so the table is rebuilt with the same rows (all of them `link`), columns and
-- indexes; nothing refers to it.
CREATE TABLE surveys_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    template_id BIGINT NOT NULL REFERENCES survey_templates (id),
    -- NULL exactly for phone surveys: no link was sent, so no token can open them.
    token_hash TEXT UNIQUE,
    issued_by BIGINT REFERENCES users (id),
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    answered_by BIGINT REFERENCES users (id),
    answers TEXT,
    resolved TEXT CHECK (resolved IN ('yes', 'partly', 'no')),
    satisfaction TEXT CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')),
    channel TEXT NOT NULL CHECK (channel IN ('link', 'phone')),
    -- The call a phone survey was asked in (one survey per call).
    follow_up_call_id BIGINT UNIQUE REFERENCES follow_up_calls (id),
    CHECK ((channel = 'link' AND token_hash IS NOT NULL AND follow_up_call_id IS NULL)
        OR (channel = 'phone' AND token_hash IS NULL AND follow_up_call_id IS NOT NULL
            AND answered_at IS NOT NULL))
);
INSERT INTO surveys_new (id, case_id, template_id, token_hash, issued_by, issued_at, expires_at,
                         answered_at, answered_by, answers, resolved, satisfaction, channel,
                         follow_up_call_id)
SELECT id, case_id, template_id, token_hash, issued_by, issued_at, expires_at, answered_at,
       answered_by, answers, resolved, satisfaction, 'link', NULL
FROM surveys;
DROP TABLE surveys;
ALTER TABLE surveys_new RENAME TO surveys;
CREATE INDEX surveys_case ON surveys (case_id, id);
CREATE INDEX surveys_template ON surveys (template_id, id);
CREATE INDEX surveys_issued ON surveys (issued_at);
CREATE INDEX surveys_channel ON surveys (channel, id);
