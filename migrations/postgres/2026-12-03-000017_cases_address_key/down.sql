DROP INDEX cases_address_key_missing;
DROP INDEX cases_registrations;
CREATE INDEX cases_created_at ON cases (created_at, id);
ALTER TABLE cases DROP COLUMN address_key;
