-- One row per year with a loaded working-day calendar (holiday blocks and make-up days, as JSON).
-- `revision` grows with every change, so servers notice changes made by others.
CREATE TABLE calendar_years (
    year INTEGER PRIMARY KEY,
    rules TEXT NOT NULL,
    revision BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users (id),
    updated_at TIMESTAMP NOT NULL
);

-- Every version of the deadline policy ever in force; the highest is current. Deadlines record
-- the version that produced them, so versions are never changed or removed.
CREATE TABLE sla_policies (
    version INTEGER PRIMARY KEY,
    rules TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
