-- Keyword search over cases' title and description. Chinese has no spaces between words, so the
-- search is a substring match (LIKE '%…%'), served by trigram GIN indexes (pg_trgm, shipped with
-- PostgreSQL and a trusted extension: the database owner may create it). pg_trgm extracts
-- trigrams of CJK characters in UTF-8 databases (checked with the C.UTF-8 locale); queries of
-- fewer than three characters have no trigram and are answered without the index.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX cases_title_trgm ON cases USING gin (title gin_trgm_ops);
CREATE INDEX cases_description_trgm ON cases USING gin (description gin_trgm_ops);
