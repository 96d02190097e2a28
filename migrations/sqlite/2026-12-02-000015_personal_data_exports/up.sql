-- Exports of cases with complainants' personal data (GET /exports/cases, SPEC 5.3): one row per
-- export, not one per exported case. A full export is a million cases; a row per case would
-- write a million log rows, on SQLite holding the one write lock of the centre for seconds, and
-- bury the per-case read log under bulk. The row keeps what chose the cases (the caller's row
-- scope follows from user and role; the filters as given) and what was sent (how many rows, how
-- many with personal data in full, the first and last case id), so an auditor can tell which
-- exports may have carried a given case.
CREATE TABLE personal_data_exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('csv', 'xlsx')),
    -- The filters of the request, as a JSON object.
    filters TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    -- Set when the export ended: with every row sent (completed), or cut short (the client went
    -- away, or a failure); NULL while it runs or if the server stopped during it.
    finished_at TIMESTAMP,
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    rows_exported BIGINT,
    rows_with_personal_data BIGINT,
    first_case_id BIGINT,
    last_case_id BIGINT
);
CREATE INDEX personal_data_exports_user_id ON personal_data_exports (user_id);
