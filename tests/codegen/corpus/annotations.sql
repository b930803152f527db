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
