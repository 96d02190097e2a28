DROP TABLE knowledge_fts;
DROP INDEX attachments_article_id;
ALTER TABLE attachments DROP COLUMN article_id;
DROP TABLE knowledge_uses;
DROP TABLE knowledge_article_categories;
DROP TABLE knowledge_versions;
DROP TABLE knowledge_articles;
