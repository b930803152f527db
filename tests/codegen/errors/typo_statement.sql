-- a typo: the table is not created, and must not pass silently
CREATE TABLE ok (id INTEGER PRIMARY KEY);
CREAT TABLE review (id INTEGER PRIMARY KEY, body TEXT);
CREATE TABEL other (id INTEGER);
INSERT INTO ok VALUES (1);
CREATE INDEX ok_id ON ok (id);
