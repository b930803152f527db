-- Portable schema for the generated-code round trip (runs on SQLite and PostgreSQL).
DROP TABLE IF EXISTS cg_rt_tags;
DROP TABLE IF EXISTS cg_rt_notes;
-- @orm:struct=rt_note
CREATE TABLE cg_rt_notes (
    id BIGINT PRIMARY KEY,
    small SMALLINT NOT NULL,
    medium INTEGER,
    ratio DOUBLE PRECISION,
    done BOOLEAN NOT NULL,
    title VARCHAR(40) NOT NULL,
    body TEXT,
    data BYTEA,
    due TIMESTAMP
);
-- @orm:struct=rt_tag
CREATE TABLE cg_rt_tags (
    note_id BIGINT NOT NULL REFERENCES cg_rt_notes (id),
    tag VARCHAR(20) NOT NULL,
    weight REAL,
    PRIMARY KEY (note_id, tag)
);
