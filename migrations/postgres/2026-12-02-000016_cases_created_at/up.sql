-- Cases by time of registration: hot-spot clusters read a period's cases in registration order
-- (the id breaks ties, so batches can resume exactly where the last one stopped).
CREATE INDEX cases_created_at ON cases (created_at, id);
