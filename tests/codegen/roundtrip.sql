-- Portable schema for the generated-code round trip (runs on SQLite and PostgreSQL).
DROP TABLE IF EXISTS cg_rt_tags;
DROP TABLE IF EXISTS cg_rt_log;
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
    due TIMESTAMP,
    code VARCHAR(16) NOT NULL, -- @orm:type=char[8]
    -- @orm:type=char[12]
    city VARCHAR(32)
);
-- No primary key: registers between the others (insert and query only), so
-- roundtrip_models_register_all does not stop before rt_tag (issue 19 item 8).
-- @orm:struct=rt_log
CREATE TABLE cg_rt_log (
    note_id BIGINT NOT NULL,
    line VARCHAR(80) NOT NULL
);
-- @orm:struct=rt_tag
CREATE TABLE cg_rt_tags (
    note_id BIGINT NOT NULL REFERENCES cg_rt_notes (id),
    tag VARCHAR(20) NOT NULL,
    weight REAL,
    PRIMARY KEY (note_id, tag)
);
