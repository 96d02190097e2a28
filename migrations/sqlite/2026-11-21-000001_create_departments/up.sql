-- Departments that take cases (承办单位): a tree of bureaus, districts, street offices, utilities.
CREATE TABLE departments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    parent_id BIGINT REFERENCES departments (id),
    kind TEXT NOT NULL CHECK (kind IN ('bureau', 'district', 'street', 'utility', 'other')),
    contact_person TEXT,
    contact_phone TEXT,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX departments_parent_id ON departments (parent_id);
