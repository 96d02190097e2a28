-- Webhooks (SPEC 8): integration clients' subscriptions, the outbox of case events, and each
-- delivery of an event to a webhook with every attempt at it.

-- A client an administrator lets receive the events of every case (a city data platform);
-- otherwise a client hears of the cases it registered.
ALTER TABLE integration_clients ADD COLUMN all_cases BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id BIGINT NOT NULL REFERENCES integration_clients (id),
    url TEXT NOT NULL,
    -- The event types wanted, comma-separated; empty: every type.
    event_types TEXT NOT NULL,
    -- The signing secret, encrypted (ChaCha20-Poly1305) with a key from configuration: the
    -- server signs with it, so a digest would not do.
    secret_sealed TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why the server disabled it (failing for a day), for its owner to read.
    disabled_reason TEXT,
    -- Since when every attempt has failed; NULL after a success.
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_client_id ON webhooks (client_id);

-- The outbox: written in the transaction of the change (a change rolled back emits nothing).
-- The body is made when the event is fanned out to the webhooks that want it.
CREATE TABLE webhook_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    event_type TEXT NOT NULL,
    -- 1, 2, 3… per case, so that receivers can order what they get.
    case_seq BIGINT NOT NULL,
    -- The case's status right after the change.
    case_status TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    payload TEXT,
    fanned_out_at TIMESTAMP
);
CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE fanned_out_at IS NULL;

-- The last sequence number given to each case's events (one row per case, locked by the
-- increment, so concurrent changes of one case number their events one after the other). A
-- registration is number 1 and writes no row; the case's second event makes it, at 2.
CREATE TABLE webhook_case_seqs (
    case_id BIGINT PRIMARY KEY REFERENCES cases (id),
    seq BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    event_id BIGINT NOT NULL REFERENCES webhook_events (id),
    -- pending, succeeded, failed
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- When it is next due; a worker that takes it moves this past its own attempt (a lease), so
    -- that no other server takes it meanwhile.
    next_attempt_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- The delivery this one replays, if any.
    replay_of BIGINT REFERENCES webhook_deliveries (id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
-- For the foreign keys' checks when events and deliveries are pruned or a webhook removed.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_replay_of ON webhook_deliveries (replay_of) WHERE replay_of IS NOT NULL;

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at TIMESTAMP NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- The receiver's HTTP status; NULL when there was no answer (refused, timed out).
    status_code INTEGER,
    error TEXT,
    -- The first bytes of the answer (at most 200 characters).
    response_excerpt TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
