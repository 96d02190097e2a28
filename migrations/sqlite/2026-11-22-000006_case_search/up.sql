-- Keyword search over cases' title and description. Chinese has no spaces between words, so the
-- index holds every three-character sequence (FTS5's trigram tokenizer): a quoted phrase of three
-- or more characters then matches exactly the rows that contain it as a substring. Shorter
-- queries fall back to LIKE. The index keeps no copy of the text (external content: `cases`);
-- the triggers keep it in step with the table.
CREATE VIRTUAL TABLE cases_fts USING fts5 (
    title,
    description,
    content = 'cases',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER cases_fts_after_insert AFTER INSERT ON cases BEGIN
    INSERT INTO cases_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
END;

CREATE TRIGGER cases_fts_after_delete AFTER DELETE ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
END;

-- Only a change of the indexed text touches the index (status changes are frequent, text rare).
CREATE TRIGGER cases_fts_after_update AFTER UPDATE OF title, description ON cases BEGIN
    INSERT INTO cases_fts (cases_fts, rowid, title, description)
        VALUES ('delete', old.id, old.title, old.description);
    INSERT INTO cases_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
END;

-- Cases registered before this migration.
INSERT INTO cases_fts (cases_fts) VALUES ('rebuild');
