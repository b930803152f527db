-- a column constraint with a typo
CREATE TABLE t (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL PRIMRY KEY
);
