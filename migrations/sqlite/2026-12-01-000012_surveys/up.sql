-- Satisfaction surveys (满意度调查, SPEC 2.8). A template is a list of questions (JSON: key, kind,
-- text, required, carries, options) and is never changed once stored: an edit inserts the next
-- version (`replaces` the previous one, which is then `superseded_by` it), so every answer keeps
-- pointing at the exact questions it answered. One template is the default for new invitations.
CREATE TABLE survey_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    description TEXT,
    version INTEGER NOT NULL,
    -- The version this one was made from; each version is replaced at most once (two edits of the
    -- same version at once: one wins).
    replaces BIGINT UNIQUE REFERENCES survey_templates (id),
    superseded_by BIGINT REFERENCES survey_templates (id),
    is_default BOOLEAN NOT NULL,
    questions TEXT NOT NULL,
    -- NULL: shipped with hotline.
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX survey_templates_one_default ON survey_templates (is_default) WHERE is_default;

-- The default template: whether the problem was solved, whether the citizen is satisfied (both
-- carry the follow-up result), and their comments.
INSERT INTO survey_templates (name, description, version, replaces, superseded_by, is_default, questions, created_by, created_at)
VALUES ('市民满意度回访', '12345 热线办理结果满意度调查', 1, NULL, NULL, 1, '[{"key":"resolved","kind":"choice","text":"您反映的问题是否已经解决？","required":true,"carries":"resolved","options":[{"value":"yes","label":"已解决","maps_to":"yes"},{"value":"partly","label":"部分解决","maps_to":"partly"},{"value":"no","label":"未解决","maps_to":"no"}]},{"key":"satisfaction","kind":"choice","text":"您对办理结果是否满意？","required":true,"carries":"satisfaction","options":[{"value":"satisfied","label":"满意","maps_to":"satisfied"},{"value":"basically_satisfied","label":"基本满意","maps_to":"basically_satisfied"},{"value":"dissatisfied","label":"不满意","maps_to":"dissatisfied"}]},{"key":"comment","kind":"text","text":"您还有什么意见或建议？","required":false,"carries":null,"options":[]}]', NULL, '2026-12-01 00:00:00');

-- Invitations (and their answers): a random single-use token, of which only the SHA-256 digest is
-- stored, valid until `expires_at`. The answer is written once, by an UPDATE of the row while
-- `answered_at` is still NULL, so of simultaneous answers exactly one is taken.
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    template_id BIGINT NOT NULL REFERENCES survey_templates (id),
    token_hash TEXT NOT NULL UNIQUE,
    issued_by BIGINT REFERENCES users (id),
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    -- The signed-in citizen who answered their own case's survey; NULL: answered by the link alone.
    answered_by BIGINT REFERENCES users (id),
    -- The checked answers (JSON list of question, kind, value), and what they say for the
    -- follow-up statistics.
    answers TEXT,
    resolved TEXT CHECK (resolved IN ('yes', 'partly', 'no')),
    satisfaction TEXT CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied'))
);
CREATE INDEX surveys_case ON surveys (case_id, id);
CREATE INDEX surveys_template ON surveys (template_id, id);
CREATE INDEX surveys_issued ON surveys (issued_at);
