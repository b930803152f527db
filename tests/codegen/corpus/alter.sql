-- Version 10 must run after version 2 (numeric, not lexical, order).
ALTER TABLE users ADD COLUMN score REAL NOT NULL DEFAULT 0;
ALTER TABLE users ADD avatar BLOB; -- @orm:field=picture
ALTER TABLE users DROP COLUMN legacy_flag;
ALTER TABLE users RENAME COLUMN email TO email_address;
ALTER TABLE posts RENAME TO articles;
ALTER TABLE articles ADD COLUMN rating SMALLINT;
-- @orm:type=int64
ALTER TABLE articles ADD COLUMN word_count INTEGER;
DROP TABLE scratch;
CREATE TABLE tags (
    article_id INTEGER NOT NULL REFERENCES articles (id),
    tag TEXT NOT NULL,
    weight DOUBLE PRECISION,
    PRIMARY KEY (article_id, tag)
) WITHOUT ROWID;
