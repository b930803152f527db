-- @orm:struct=Person
CREATE TABLE people ( -- a trailing comment with no annotation
    id INTEGER PRIMARY KEY,
    password_hash TEXT NOT NULL DEFAULT '', -- @orm:skip
    -- @orm:type=text
    score NUMERIC,
    "e-mail" TEXT, -- @orm:field=email
    nick TEXT -- @orm:type=blob @orm:field=nickname
);
CREATE TABLE things (id INTEGER PRIMARY KEY, v INT); -- @orm:struct=Thing
-- Fixed-capacity text: char code[9], and a nullable char city[32] with has_city.
CREATE TABLE places (
    id INTEGER PRIMARY KEY,
    code VARCHAR(8) NOT NULL, -- @orm:type=char[9]
    -- @orm:type=char[32]
    city TEXT
);
