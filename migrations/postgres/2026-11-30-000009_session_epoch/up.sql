-- Revocation by counter, not by clock: every password change, reset or disabling moves the
-- account to a new session epoch, and an access token is honoured only for the epoch it names.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
