-- Identifiers in every quoting form SQLite and PostgreSQL accept.
CREATE TABLE [Bracket Table] (
    [col one] INTEGER PRIMARY KEY,
    `back tick` TEXT,
    "say ""hi""" TEXT,
    U&"d\0061t\+000061" TEXT,
    U&"x!00e9y" UESCAPE '!' TEXT,
    'single' TEXT,
    UPPER_CASE INTEGER
);
