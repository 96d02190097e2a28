-- Hot-spot clusters read a period's registrations through one covering index: the address enters
-- as its key (the first 8 bytes of its SHA-256, `domain::place::address_key`, written by the
-- program), so the read never touches the table rows or their texts. SQLite cannot compute
-- SHA-256: rows registered before this migration get their key from the server at start-up
-- (`db::cases::fill_address_keys`), found through the partial index below.
ALTER TABLE cases ADD COLUMN address_key BIGINT;
DROP INDEX cases_created_at;
CREATE INDEX cases_registrations
    ON cases (created_at, id, category_id, district_id, address_key, latitude, longitude);
CREATE INDEX cases_address_key_missing ON cases (id)
    WHERE address_key IS NULL AND address IS NOT NULL;
