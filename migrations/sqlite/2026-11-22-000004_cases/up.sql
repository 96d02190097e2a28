-- Cases (工单): one citizen request each. Personal data lives apart, in `complainants`.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_no TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL CHECK (channel IN ('phone', 'web', 'app', 'wechat', 'email', 'letter', 'walk_in', 'social_media')),
    kind TEXT NOT NULL CHECK (kind IN ('consultation', 'complaint', 'suggestion', 'help', 'report', 'praise')),
    urgency TEXT NOT NULL CHECK (urgency IN ('normal', 'urgent', 'complex')),
    category_id BIGINT REFERENCES categories (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    address TEXT,
    district_id BIGINT REFERENCES departments (id),
    latitude DOUBLE,
    longitude DOUBLE,
    occurred_at TIMESTAMP,
    status TEXT NOT NULL,
    closure TEXT,
    resolution TEXT,
    citizen_id BIGINT REFERENCES users (id),
    registered_by BIGINT REFERENCES users (id),
    source_client BIGINT REFERENCES integration_clients (id),
    external_ref TEXT,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    closed_at TIMESTAMP,
    UNIQUE (source_client, external_ref)
);
CREATE INDEX cases_status_id ON cases (status, id);
CREATE INDEX cases_citizen_id ON cases (citizen_id, id);

-- The complainant's personal data (个人信息), shown per SPEC 5.3 and never in lists for analysts.
CREATE TABLE complainants (
    case_id BIGINT PRIMARY KEY REFERENCES cases (id),
    name TEXT,
    phone TEXT,
    contact_address TEXT,
    contact_allowed BOOLEAN NOT NULL,
    confidential BOOLEAN NOT NULL,
    anonymous BOOLEAN NOT NULL
);

-- Every change of a case, appended and never changed: the case's archive.
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    occurred_at TIMESTAMP NOT NULL,
    actor_user_id BIGINT REFERENCES users (id),
    actor_client_id BIGINT REFERENCES integration_clients (id),
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    status_before TEXT,
    status_after TEXT,
    details TEXT NOT NULL
);
CREATE INDEX case_events_case_id ON case_events (case_id, id);

-- The per-day sequence behind case numbers (YYYYMMDD-NNNNNN), taken under a row lock.
CREATE TABLE case_counters (
    day TEXT PRIMARY KEY,
    last_value BIGINT NOT NULL
);

-- Full reads of personal data by centre staff (who, when, which case).
CREATE TABLE personal_data_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    read_at TIMESTAMP NOT NULL
);
CREATE INDEX personal_data_reads_case_id ON personal_data_reads (case_id);

-- Answers to POSTs sent with an Idempotency-Key, replayed when the same request comes again.
CREATE TABLE idempotency_keys (
    principal TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
