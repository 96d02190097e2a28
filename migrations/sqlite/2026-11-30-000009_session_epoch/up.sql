-- Revocation by counter, not by clock: every password change, reset or disabling moves the
-- account to a new session epoch. An access token is honoured only for the epoch it names, and a
-- refresh token only while its account is still in the epoch it was issued in (so that a sign-in
-- racing a password change cannot keep a session alive).
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
