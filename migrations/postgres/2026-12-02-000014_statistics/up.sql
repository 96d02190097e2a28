-- Statistics (SPEC 6) kept up to date in the transactions that change the cases, so that a
-- decade of data is never scanned per request.
--
-- `case_stat_facts`: what each case contributes (postcard-encoded facts: which figure, which local
-- day, which department). Every write transaction that touches a case recomputes its facts from
-- the raw records and applies the difference to `stat_days`; `hotline stats check` recomputes all
-- of them and compares.
CREATE TABLE case_stat_facts (
    case_id BIGINT PRIMARY KEY NOT NULL REFERENCES cases (id),
    facts BYTEA NOT NULL
);

-- Per local day and grouping the figures of that day: `dim` is the grouping (department,
-- category, district, channel, kind), `key` the group's id or name ('' for none), `day` the
-- local date as days since 1970-01-01, `figures` the postcard-encoded counters.
CREATE TABLE stat_days (
    dim SMALLINT NOT NULL,
    day INTEGER NOT NULL,
    key TEXT NOT NULL,
    figures BYTEA NOT NULL,
    PRIMARY KEY (dim, day, key)
);

-- One row: the composite score's weights (admin-set) and the longest distance in days between a
-- reply's deadline and the reply itself (how far back a period's start must look).
CREATE TABLE stat_settings (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    weights TEXT NOT NULL,
    max_reply_gap INTEGER NOT NULL,
    updated_by BIGINT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO stat_settings (id, weights, max_reply_gap, updated_by, updated_at)
VALUES (1, '{"response":10.0,"on_time":20.0,"resolution":35.0,"satisfaction":35.0}', 0, NULL,
        CURRENT_TIMESTAMP);

-- Granted extensions, read per case.
CREATE INDEX extensions_case ON extensions (case_id);
