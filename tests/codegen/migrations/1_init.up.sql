-- The first migration: SQLite spelling.
BEGIN;
-- @orm:struct=user
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    age INTEGER DEFAULT 18,
    legacy_flag INTEGER
);
CREATE INDEX users_email ON users (email);
INSERT INTO users (name) VALUES ('root; not a statement end');
COMMIT;
