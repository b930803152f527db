CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(200) NOT NULL,
    body TEXT,
    published_at DATETIME,
    views BIGINT NOT NULL DEFAULT 0
);
CREATE TRIGGER posts_guard BEFORE DELETE ON posts
BEGIN
    SELECT CASE WHEN old.views > 0 THEN RAISE(ABORT, 'has views') END;
    DELETE FROM users WHERE id = -1;
END;
CREATE TABLE scratch (x TEXT);
