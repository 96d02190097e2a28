-- The knowledge base (政策知识库): articles whose approved version call-takers answer from, and
-- the public FAQ. Every edit is a new version (who, when, which fields); only an approved
-- version is shown. The article row holds what lists and searches filter on, copied from the
-- version last approved.
CREATE TABLE knowledge_articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The department whose answer it is (its staff edit it, its admin approves); NULL: the centre's.
    owner_department_id BIGINT REFERENCES departments (id),
    latest_version INTEGER NOT NULL,
    -- The version shown; NULL until the first approval.
    published_version INTEGER,
    visibility TEXT,
    valid_from DATE,
    valid_until DATE,
    -- Cases answered with it (ranking and statistics).
    use_count BIGINT NOT NULL DEFAULT 0,
    created_by_user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP
);
CREATE INDEX knowledge_articles_owner ON knowledge_articles (owner_department_id);
-- Search ranks by uses, then the latest approval: a common word is answered by walking this
-- index until a page of articles match.
CREATE INDEX knowledge_articles_rank ON knowledge_articles (use_count DESC, published_at DESC, id DESC)
    WHERE published_version IS NOT NULL;

CREATE TABLE knowledge_versions (
    article_id BIGINT NOT NULL REFERENCES knowledge_articles (id),
    version INTEGER NOT NULL,
    title TEXT NOT NULL,
    -- Markdown source; clients render it safely.
    body TEXT NOT NULL,
    -- What citizens say (群众说法) and synonyms, one per line.
    keywords TEXT NOT NULL,
    -- Category ids, comma-separated.
    category_ids TEXT NOT NULL,
    owner_department_id BIGINT REFERENCES departments (id),
    visibility TEXT NOT NULL,
    valid_from DATE,
    valid_until DATE,
    -- For call-takers only: never on the public FAQ.
    internal_note TEXT,
    -- Attachment ids, comma-separated.
    attachment_ids TEXT NOT NULL,
    -- draft, approved (the one shown), superseded (approved, then replaced), discarded (a draft
    -- a later approval overtook).
    state TEXT NOT NULL,
    -- The fields this version changed from the one before, comma-separated, and why.
    changed TEXT NOT NULL,
    change_note TEXT,
    created_by_user_id BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    approved_by_user_id BIGINT REFERENCES users (id),
    approved_at TIMESTAMP,
    PRIMARY KEY (article_id, version)
);

-- The categories of each article's approved version.
CREATE TABLE knowledge_article_categories (
    category_id BIGINT NOT NULL REFERENCES categories (id),
    article_id BIGINT NOT NULL REFERENCES knowledge_articles (id),
    PRIMARY KEY (category_id, article_id)
) WITHOUT ROWID;
CREATE INDEX knowledge_article_categories_article ON knowledge_article_categories (article_id);

-- Cases answered on the call with an article (which version was read out).
CREATE TABLE knowledge_uses (
    case_id BIGINT PRIMARY KEY REFERENCES cases (id),
    article_id BIGINT NOT NULL REFERENCES knowledge_articles (id),
    version INTEGER NOT NULL,
    used_by_user_id BIGINT REFERENCES users (id),
    used_at TIMESTAMP NOT NULL
);
CREATE INDEX knowledge_uses_article ON knowledge_uses (article_id, used_at);
CREATE INDEX knowledge_uses_used_at ON knowledge_uses (used_at);

-- Files on articles (forms, maps); an article's files are its owner's to keep.
ALTER TABLE attachments ADD COLUMN article_id BIGINT REFERENCES knowledge_articles (id);
CREATE INDEX attachments_article_id ON attachments (article_id) WHERE article_id IS NOT NULL;

-- Search over the approved versions. Chinese has no spaces between words: the text is indexed
-- as overlapping character pairs (each character a fixed-width letter code, so every backend's
-- tokenizer reads the same tokens), and a query is the phrase of its pairs, which matches
-- exactly the texts that contain it. The index keeps no copy of the text; rows are replaced by
-- id when a new version is approved.
CREATE VIRTUAL TABLE knowledge_fts USING fts5 (
    title,
    keywords,
    body,
    content = '',
    contentless_delete = 1
);
