-- Phone surveys have no token: they cannot be kept in the table as it was.
DELETE FROM surveys WHERE channel = 'phone';
DROP INDEX surveys_channel;
ALTER TABLE surveys
    DROP CONSTRAINT surveys_channel_fits,
    DROP COLUMN follow_up_call_id,
    DROP COLUMN channel,
    ALTER COLUMN token_hash SET NOT NULL;
