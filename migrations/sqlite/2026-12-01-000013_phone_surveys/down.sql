-- Phone surveys have no token: they cannot be kept in the table as it was.
CREATE TABLE surveys_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    template_id BIGINT NOT NULL REFERENCES survey_templates (id),
    token_hash TEXT NOT NULL UNIQUE,
    issued_by BIGINT REFERENCES users (id),
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    answered_by BIGINT REFERENCES users (id),
    answers TEXT,
    resolved TEXT CHECK (resolved IN ('yes', 'partly', 'no')),
    satisfaction TEXT CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied'))
);
INSERT INTO surveys_old (id, case_id, template_id, token_hash, issued_by, issued_at, expires_at,
                         answered_at, answered_by, answers, resolved, satisfaction)
SELECT id, case_id, template_id, token_hash, issued_by, issued_at, expires_at, answered_at,
       answered_by, answers, resolved, satisfaction
FROM surveys WHERE channel = 'link';
DROP TABLE surveys;
ALTER TABLE surveys_old RENAME TO surveys;
CREATE INDEX surveys_case ON surveys (case_id, id);
CREATE INDEX surveys_template ON surveys (template_id, id);
CREATE INDEX surveys_issued ON surveys (issued_at);
