-- Idempotency-Key on every POST (SPEC 7) except case registration, which keeps its own record of
-- the case id in idempotency_keys. The answer is kept sealed: encrypted with a key derived from the
-- client's Idempotency-Key and the server's secret, so the table alone reveals none of it (a new
-- client's secret, a user's phone number). status 0: the first request is still being answered.
CREATE TABLE idempotent_requests (
    principal TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    sealed_response TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, key_digest)
);
CREATE INDEX idempotent_requests_created_at ON idempotent_requests (created_at);
