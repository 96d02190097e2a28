-- Files on cases (photos, reply letters, recordings). The bytes live in the object store, named
-- by their SHA-256 (the same file sent twice is stored once); a row is what the API shows and
-- what the object store's sweep keeps: an object no row points to is removed after a day.
-- A row without a case was uploaded before its case was registered (POST /attachments, then
-- POST /cases with its id); the sweep removes such rows after a day.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT REFERENCES cases (id),
    -- The assignment a department attached it to (its on-site photos, its reply letter).
    assignment_id BIGINT REFERENCES assignments (id),
    uploaded_by_user_id BIGINT REFERENCES users (id),
    uploaded_by_client_id BIGINT REFERENCES integration_clients (id),
    uploader_role TEXT NOT NULL,
    file_name TEXT NOT NULL,
    caption TEXT,
    -- Decided from the content, never from the name or the client's header.
    media_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    -- A confidential case's attachment the centre let the departments see.
    shareable BOOLEAN NOT NULL DEFAULT FALSE,
    uploaded_at TIMESTAMP NOT NULL,
    -- Removal keeps the row (the record of who removed it and why); the file is gone.
    removed_at TIMESTAMP,
    removed_by_user_id BIGINT REFERENCES users (id),
    removal_reason TEXT
);
CREATE INDEX attachments_case_id ON attachments (case_id);
CREATE INDEX attachments_sha256 ON attachments (sha256);
CREATE INDEX attachments_pending ON attachments (uploaded_at) WHERE case_id IS NULL;
