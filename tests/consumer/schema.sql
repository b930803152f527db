-- The consumer's schema: models are generated from it at build time by orm_generate().
CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
