DROP TABLE idempotency_keys;
DROP TABLE personal_data_reads;
DROP TABLE case_counters;
DROP TABLE case_events;
DROP TABLE complainants;
DROP TABLE cases;
