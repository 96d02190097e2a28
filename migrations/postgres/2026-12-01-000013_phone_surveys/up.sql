-- A follow-up call that reached the citizen may be recorded as a survey response (SPEC 2.8):
-- `channel` says how a survey was answered: `link` (an invitation with a single-use token, as
-- before; every existing row) or `phone` (asked during a follow-up call, `follow_up_call_id`;
-- no token).
ALTER TABLE surveys
    ADD COLUMN channel TEXT NOT NULL DEFAULT 'link' CHECK (channel IN ('link', 'phone')),
    -- The call a phone survey was asked in (one survey per call).
    ADD COLUMN follow_up_call_id BIGINT UNIQUE REFERENCES follow_up_calls (id),
    -- NULL exactly for phone surveys: no link was sent, so no token can open them.
    ALTER COLUMN token_hash DROP NOT NULL,
    ADD CONSTRAINT surveys_channel_fits CHECK (
        (channel = 'link' AND token_hash IS NOT NULL AND follow_up_call_id IS NULL)
        OR (channel = 'phone' AND token_hash IS NULL AND follow_up_call_id IS NOT NULL
            AND answered_at IS NOT NULL));
-- Every insert names its channel.
ALTER TABLE surveys ALTER COLUMN channel DROP DEFAULT;
CREATE INDEX surveys_channel ON surveys (channel, id);
