DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_case_seqs;
DROP TABLE webhook_events;
DROP TABLE webhooks;
ALTER TABLE integration_clients DROP COLUMN all_cases;
