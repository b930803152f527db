/* Unit tests of the ormctl generate schema parser: every CREATE TABLE clause, every quoting
 * form, ALTER/DROP replay, skipped statements (psql dumps included), annotations, and every
 * error with its file:line:column and token. */
#include <stdio.h>
#include <string.h>

#include "codegen/codegen.h"
#include "codegen/parse.h"
#include "codegen/resolve.h"
#include "orm/error.h"
#include "testutil.h"

static orm__cg_schema S;

static void setup(void) { orm__cg_schema_init(&S); }
static void teardown(void) { orm__cg_schema_free(&S); }

static int parse(const char *sql)
{
    int rc = orm__cg_parse(&S, "t.sql", sql, strlen(sql));
    return rc == ORM_OK ? orm__cg_resolve(&S, NULL) : rc;
}

#define PARSE_OK(sql) ck_assert_ok(parse(sql))

/* Whether the statement fails with ORM_EPARSE and a message holding want (the mismatch is
 * printed, so one run shows every wrong case). */
static bool error_is(const char *sql, const char *want)
{
    orm__cg_schema_free(&S);
    orm__cg_schema_init(&S);
    int rc = parse(sql);
    const char *msg = orm_error_last()->message;
    if (rc == ORM_EPARSE && strstr(msg, want))
        return true;
    fprintf(stderr, "%s\n  got  %d '%s'\n  want '%s'\n", sql, rc, msg, want);
    return false;
}

static orm__cg_table *table(const char *name)
{
    orm__cg_table *t = orm__cg_table_find(&S, name);
    ck_assert_msg(t != NULL, "no table %s", name);
    return t;
}

static orm__cg_column *col(const char *t, const char *name)
{
    orm__cg_table *tb = table(t);
    long i = orm__cg_column_find(tb, name);
    ck_assert_msg(i >= 0, "no column %s.%s", t, name);
    return &tb->cols[i];
}

START_TEST(column_clauses)
{
    PARSE_OK("CREATE TABLE IF NOT EXISTS t (\n"
             "  id INTEGER CONSTRAINT t_pk PRIMARY KEY DESC ON CONFLICT FAIL AUTOINCREMENT,\n"
             "  a VARCHAR(20) NOT NULL ON CONFLICT ABORT UNIQUE NULLS NOT DISTINCT COLLATE \"C\",\n"
             "  b NUMERIC(10, 2) DEFAULT -1.5 CHECK (b > 0 AND b < 100) NO INHERIT,\n"
             "  c TEXT DEFAULT 'x'::character varying NULL,\n"
             "  d TIMESTAMP WITH TIME ZONE DEFAULT (datetime('now')) NOT NULL,\n"
             "  e BIGINT REFERENCES other (id) MATCH FULL ON DELETE SET NULL ON UPDATE CASCADE "
             "NOT DEFERRABLE INITIALLY IMMEDIATE,\n"
             "  f TEXT GENERATED ALWAYS AS (upper(a)) STORED,\n"
             "  g TEXT AS (lower(a)) VIRTUAL,\n"
             "  h INT DEFAULT 1 + 2 * 3,\n"
             "  i TEXT COMPRESSION lz4 STORAGE EXTERNAL DEFAULT now() AT TIME ZONE 'utc',\n"
             "  j INT[] DEFAULT ARRAY[1,2]::int[],\n"
             "  k INTEGER AUTO_INCREMENT\n"
             ") WITHOUT ROWID, STRICT;");
    ck_assert_uint_eq(table("t")->ncols, 12);
    ck_assert_str_eq(table("t")->pk_constraint, "t_pk");
    orm__cg_column *c = col("t", "id");
    ck_assert(c->pk_pos == 1 && c->autoincrement && c->type == ORM_FIELD_INT64);
    ck_assert_uint_eq(c->flags, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT | ORM_FIELD_NOT_NULL | ORM_FIELD_HAS_DEFAULT);
    c = col("t", "a");
    ck_assert(c->not_null && c->unique && c->type == ORM_FIELD_TEXT);
    ck_assert_str_eq(c->sqltype, "VARCHAR(20)");
    c = col("t", "b");
    ck_assert_str_eq(c->default_sql, "-1.5");
    ck_assert_str_eq(c->check_sql, "(b>0 AND b<100)");
    ck_assert_str_eq(c->sqltype, "NUMERIC(10,2)");
    ck_assert(c->nullable_scalar && c->type == ORM_FIELD_DOUBLE);
    ck_assert_str_eq(col("t", "c")->default_sql, "'x'::CHARACTER VARYING");
    ck_assert(!col("t", "c")->not_null);
    ck_assert(col("t", "d")->not_null && col("t", "d")->type == ORM_FIELD_TIMESTAMP);
    ck_assert_str_eq(col("t", "d")->default_sql, "(datetime('now'))");
    ck_assert_str_eq(col("t", "e")->references, "other(id)");
    ck_assert(col("t", "f")->generated && (col("t", "f")->flags & ORM_FIELD_HAS_DEFAULT));
    ck_assert(col("t", "g")->generated);
    ck_assert_str_eq(col("t", "h")->default_sql, "1+2*3");
    ck_assert_str_eq(col("t", "i")->default_sql, "now() AT TIME ZONE 'utc'");
    ck_assert_str_eq(col("t", "j")->sqltype, "INT[]");
    ck_assert(col("t", "j")->type == ORM_FIELD_TEXT);
    /* AUTOINCREMENT outside the single key: only a database default */
    c = col("t", "k");
    ck_assert(c->autoincrement && !(c->flags & ORM_FIELD_AUTOINCREMENT) && (c->flags & ORM_FIELD_HAS_DEFAULT));
}
END_TEST

START_TEST(table_constraints_and_composite_keys)
{
    PARSE_OK("CREATE TABLE m (org INT, usr BIGINT, role TEXT, n INT,\n"
             "  CONSTRAINT m_pk PRIMARY KEY (usr DESC, org COLLATE nocase) ON CONFLICT REPLACE,\n"
             "  UNIQUE (role), UNIQUE NULLS DISTINCT (role, n) INCLUDE (org) WITH (fillfactor=70)\n"
             "    USING INDEX TABLESPACE fast DEFERRABLE INITIALLY DEFERRED,\n"
             "  CHECK (n > 0) NOT VALID,\n"
             "  FOREIGN KEY (usr) REFERENCES users (id) ON DELETE CASCADE,\n"
             "  CONSTRAINT fk2 FOREIGN KEY (org, usr) REFERENCES mm (a, b),\n"
             "  EXCLUDE USING gist (n WITH =)\n"
             ");");
    ck_assert_int_eq(col("m", "usr")->pk_pos, 1);
    ck_assert_int_eq(col("m", "org")->pk_pos, 2);
    ck_assert(col("m", "org")->not_null && col("m", "usr")->not_null);
    ck_assert(!(col("m", "usr")->flags & ORM_FIELD_AUTOINCREMENT));
    ck_assert(col("m", "role")->unique);
    ck_assert_str_eq(col("m", "usr")->references, "users(id)");
    ck_assert_uint_eq(table("m")->nchecks, 3);
    ck_assert_str_eq(table("m")->checks[0], "UNIQUE(role,n)");
    ck_assert_str_eq(table("m")->checks[1], "CHECK(n>0)");
    ck_assert_str_eq(table("m")->pk_constraint, "m_pk");
}
END_TEST

START_TEST(quoted_identifiers)
{
    PARSE_OK("CREATE TABLE \"My \"\"T\"\"\" (\"Id\" INTEGER PRIMARY KEY, `b``q` TEXT, [s q] TEXT,\n"
             "  U&\"d\\0061t\\+000061\" TEXT, U&\"x!00e9\" UESCAPE '!' TEXT, 'lit' TEXT, MiXeD INT,\n"
             "  \"int\" TEXT, \"1st\" INT);\n"
             "CREATE TABLE main.other (x INT);\n"
             "CREATE TABLE U&\"\\0041bc\" (x INT);");
    ck_assert_ptr_nonnull(orm__cg_table_find(&S, "My \"T\""));
    col("My \"T\"", "Id");
    col("My \"T\"", "b`q");
    col("My \"T\"", "s q");
    col("My \"T\"", "data");
    col("My \"T\"", "x\xc3\xa9");
    col("My \"T\"", "lit");
    ck_assert_str_eq(col("My \"T\"", "mixed")->name, "mixed"); /* unquoted folds */
    ck_assert_str_eq(col("My \"T\"", "int")->member, "int_");
    ck_assert_str_eq(col("My \"T\"", "1st")->member, "f1st");
    ck_assert_str_eq(col("My \"T\"", "x\xc3\xa9")->member, "x__");
    ck_assert_str_eq(table("My \"T\"")->cname, "My__T_");
    table("other");
    table("Abc");
}
END_TEST

START_TEST(serial_identity_rowid)
{
    PARSE_OK("CREATE TABLE a (id SERIAL PRIMARY KEY);\n"
             "CREATE TABLE b (id BIGSERIAL PRIMARY KEY);\n"
             "CREATE TABLE c (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n"
             "CREATE TABLE d (id integer DEFAULT nextval('d_id_seq'::regclass) NOT NULL, PRIMARY KEY (id));\n"
             "CREATE TABLE e (id INTEGER PRIMARY KEY);\n"
             "CREATE TABLE f (id INT PRIMARY KEY);\n"
             "CREATE TABLE g (a SERIAL, b INT, PRIMARY KEY (a, b));\n"
             "CREATE TABLE h (id TEXT PRIMARY KEY, n SMALLSERIAL);");
    ck_assert(col("a", "id")->type == ORM_FIELD_INT32 && (col("a", "id")->flags & ORM_FIELD_AUTOINCREMENT));
    ck_assert(col("b", "id")->type == ORM_FIELD_INT64 && (col("b", "id")->flags & ORM_FIELD_AUTOINCREMENT));
    ck_assert(col("c", "id")->flags & ORM_FIELD_AUTOINCREMENT);
    ck_assert(col("d", "id")->flags & ORM_FIELD_AUTOINCREMENT);
    /* SQLite's rowid alias: 64-bit and assigned by the database */
    ck_assert(col("e", "id")->type == ORM_FIELD_INT64 && (col("e", "id")->flags & ORM_FIELD_AUTOINCREMENT));
    ck_assert(col("f", "id")->type == ORM_FIELD_INT32 && !(col("f", "id")->flags & ORM_FIELD_AUTOINCREMENT));
    ck_assert_uint_eq(col("g", "a")->flags, ORM_FIELD_PK | ORM_FIELD_NOT_NULL | ORM_FIELD_HAS_DEFAULT);
    ck_assert_uint_eq(col("h", "n")->flags, ORM_FIELD_NOT_NULL | ORM_FIELD_HAS_DEFAULT);
    ck_assert(!col("h", "n")->nullable_scalar);
}
END_TEST

START_TEST(alter_and_drop_replay)
{
    PARSE_OK("CREATE TABLE t (id INT PRIMARY KEY, a TEXT, b INT, c INT);\n"
             "ALTER TABLE t ADD COLUMN d REAL NOT NULL DEFAULT 0;\n"
             "ALTER TABLE t ADD e BLOB, ADD COLUMN IF NOT EXISTS a TEXT;\n"
             "ALTER TABLE t DROP COLUMN b;\n"
             "ALTER TABLE IF EXISTS ONLY t DROP IF EXISTS zz CASCADE;\n"
             "ALTER TABLE t RENAME COLUMN a TO title;\n"
             "ALTER TABLE t RENAME c TO cnt;\n"
             "ALTER TABLE t ALTER COLUMN cnt TYPE BIGINT USING cnt::bigint, ALTER cnt SET NOT NULL;\n"
             "ALTER TABLE t ALTER COLUMN title SET DATA TYPE VARCHAR(9) COLLATE \"C\";\n"
             "ALTER TABLE t ALTER COLUMN title SET DEFAULT 'x', ALTER COLUMN d DROP NOT NULL;\n"
             "ALTER TABLE t ALTER COLUMN d DROP DEFAULT, ALTER COLUMN d SET STATISTICS 100;\n"
             "ALTER TABLE t OWNER TO bob, ENABLE TRIGGER ALL, SET (fillfactor = 70);\n"
             "ALTER TABLE t RENAME TO items;\n"
             "ALTER TABLE items DROP CONSTRAINT t_pkey;\n"
             "ALTER TABLE items ADD CONSTRAINT items_pk PRIMARY KEY (id, cnt);\n"
             "ALTER TABLE items ADD CONSTRAINT u UNIQUE (title);\n"
             "ALTER TABLE IF EXISTS nope ADD COLUMN x INT;\n"
             "ALTER TABLE some_sequence OWNER TO bob;\n"
             "CREATE TABLE gone (x INT); DROP TABLE IF EXISTS gone, never CASCADE;\n"
             "CREATE TABLE IF NOT EXISTS items (other INT);\n");
    ck_assert_ptr_null(orm__cg_table_find(&S, "t"));
    ck_assert_ptr_null(orm__cg_table_find(&S, "gone"));
    orm__cg_table *t = table("items");
    ck_assert_uint_eq(t->ncols, 5);
    const char *order[] = { "id", "title", "cnt", "d", "e" };
    for (size_t i = 0; i < 5; i++)
        ck_assert_str_eq(t->cols[i].name, order[i]);
    ck_assert_str_eq(col("items", "title")->sqltype, "VARCHAR(9)");
    ck_assert_str_eq(col("items", "title")->default_sql, "'x'");
    ck_assert(col("items", "title")->unique);
    ck_assert(col("items", "cnt")->type == ORM_FIELD_INT64 && col("items", "cnt")->not_null);
    ck_assert(!col("items", "d")->not_null && col("items", "d")->default_sql == NULL);
    ck_assert_int_eq(col("items", "id")->pk_pos, 1);
    ck_assert_int_eq(col("items", "cnt")->pk_pos, 2);
    ck_assert_str_eq(t->pk_constraint, "items_pk");
}
END_TEST

START_TEST(pg_dump_style_alters)
{
    PARSE_OK("CREATE TABLE public.t (id integer NOT NULL, v text);\n"
             "CREATE SEQUENCE public.t_id_seq AS integer START WITH 1;\n"
             "ALTER TABLE public.t_id_seq OWNER TO postgres;\n"
             "ALTER SEQUENCE public.t_id_seq OWNED BY public.t.id;\n"
             "ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.t_id_seq'::regclass);\n"
             "ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n"
             "CREATE TABLE public.u (id bigint NOT NULL);\n"
             "ALTER TABLE public.u ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (\n"
             "    SEQUENCE NAME public.u_id_seq START WITH 1 INCREMENT BY 1 NO MINVALUE CACHE 1);\n"
             "ALTER TABLE ONLY public.u ADD CONSTRAINT u_pkey PRIMARY KEY (id);\n"
             "CREATE TABLE public.p (id int) PARTITION BY RANGE (id);\n"
             "CREATE TABLE public.p_1 PARTITION OF public.p FOR VALUES FROM (0) TO (10);\n"
             "ALTER TABLE ONLY public.p_1 ADD CONSTRAINT p1_pk PRIMARY KEY (id);\n"
             "CREATE TABLE public.snap AS SELECT * FROM public.t;\n");
    ck_assert_uint_eq(col("t", "id")->flags, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT | ORM_FIELD_NOT_NULL | ORM_FIELD_HAS_DEFAULT);
    ck_assert_uint_eq(col("u", "id")->flags, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT | ORM_FIELD_NOT_NULL | ORM_FIELD_HAS_DEFAULT);
    ck_assert_uint_eq(S.ntables, 3);
    ck_assert_uint_eq(S.nskipped, 2);
    ck_assert_uint_eq(S.nwarnings, 2); /* snap is CREATE TABLE AS; p has no primary key */
}
END_TEST

START_TEST(skipped_statements)
{
    PARSE_OK("\\set ON_ERROR_STOP on\n"
             "BEGIN TRANSACTION;\nSET search_path = public;\nSELECT 1; -- CREATE TABLE no (x int);\n"
             "CREATE DATABASE d; DROP DATABASE IF EXISTS d;\n"
             "CREATE INDEX i ON x (a) WHERE a > 0; CREATE UNIQUE INDEX IF NOT EXISTS j ON x (b);\n"
             "CREATE VIEW v AS SELECT CASE WHEN a THEN 1 ELSE 2 END FROM x;\n"
             "CREATE TRIGGER tr AFTER INSERT ON x BEGIN\n"
             "  INSERT INTO log VALUES ('CREATE TABLE fake (y int);');\n"
             "  UPDATE x SET a = CASE WHEN a THEN 0 END;\n"
             "END;\n"
             "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
             "CREATE FUNCTION g() RETURNS trigger AS $body$ BEGIN CREATE TABLE z (q int); END; $body$ LANGUAGE plpgsql;\n"
             "DO $$ BEGIN RAISE NOTICE 'x;'; END $$;\n"
             "INSERT INTO x VALUES (E'it\\'s; fine', $1, ?, :name, @v);\n"
             "COMMENT ON TABLE x IS 'CREATE TABLE not_me (a int);';\n"
             "CREATE VIRTUAL TABLE ft USING fts5(body);\n"
             "CREATE TEMP VIEW tv AS SELECT 1;\n"
             "GRANT SELECT ON x TO y; VACUUM; PRAGMA foreign_keys = ON; ANALYZE;\n"
             "DROP INDEX i; DROP VIEW IF EXISTS v;\n"
             "\\connect other\n"
             "COPY x (a, b) FROM stdin;\n"
             "1\tCREATE TABLE evil (x int); 'unterminated\n"
             "2\t/* not a comment\n"
             "\\.\n"
             "CREATE TABLE real_one (id INT PRIMARY KEY); /* nested /* comment */ still */\n"
             "COMMIT;\n");
    ck_assert_uint_eq(S.ntables, 1);
    table("real_one");
}
END_TEST

START_TEST(copy_without_terminator_runs_to_end)
{
    PARSE_OK("CREATE TABLE a (id INT PRIMARY KEY);\nCOPY a FROM STDIN;\n1\n2\n");
    ck_assert_uint_eq(S.ntables, 1);
}
END_TEST

START_TEST(enum_and_domain_types)
{
    PARSE_OK("CREATE TYPE public.mood AS ENUM ('sad', 'ok');\n"
             "CREATE TYPE pair AS (a int, b int);\n"
             "CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0);\n"
             "CREATE DOMAIN email text;\n"
             "CREATE TABLE t (id INT PRIMARY KEY, m public.mood, c cents, e email, p pair);");
    ck_assert(col("t", "m")->type == ORM_FIELD_TEXT);
    ck_assert(col("t", "c")->type == ORM_FIELD_INT64);
    ck_assert(col("t", "e")->type == ORM_FIELD_TEXT);
    ck_assert_uint_eq(S.nwarnings, 1); /* the composite type falls back */
    ck_assert_ptr_nonnull(strstr(S.warnings[0], "t.sql:5:"));
    ck_assert_ptr_nonnull(strstr(S.warnings[0], "'PAIR'"));
}
END_TEST

START_TEST(annotations)
{
    PARSE_OK("-- @orm:struct=Person\n"
             "CREATE TABLE people ( -- plain comment\n"
             "  id INTEGER PRIMARY KEY,\n"
             "  secret TEXT, -- @orm:skip\n"
             "  -- @orm:type=text\n"
             "  score NUMERIC,\n"
             "  \"e-mail\" TEXT, -- @orm:field=email\n"
             "  nick TEXT, -- @orm:type=blob @orm:field=nickname\n"
             "  code VARCHAR(8) NOT NULL, -- @orm:type=char[9]\n"
             "  city TEXT -- @orm:type=char[32]\n"
             ");\n"
             "CREATE TABLE things (id INT PRIMARY KEY); -- @orm:struct=Thing\n"
             "CREATE TABLE x ( -- @orm:struct=Ex\n id INT PRIMARY KEY);\n"
             "ALTER TABLE things ADD COLUMN hidden INT; -- @orm:skip\n"
             "-- @orm:field=renamed\n"
             "ALTER TABLE things ADD COLUMN n INT;\n"
             "-- @orm:struct=Thing2\n"
             "ALTER TABLE things RENAME TO things2;\n");
    ck_assert_str_eq(table("people")->cname, "Person");
    ck_assert(col("people", "secret")->skip);
    ck_assert(col("people", "score")->type == ORM_FIELD_TEXT);
    ck_assert_str_eq(col("people", "e-mail")->member, "email");
    ck_assert(col("people", "nick")->type == ORM_FIELD_BLOB);
    ck_assert_str_eq(col("people", "nick")->member, "nickname");
    ck_assert(col("people", "code")->type == ORM_FIELD_FIXED_TEXT);
    ck_assert_uint_eq(col("people", "code")->capacity, 9);
    ck_assert(!col("people", "code")->nullable_scalar);
    ck_assert(col("people", "city")->type == ORM_FIELD_FIXED_TEXT);
    ck_assert_uint_eq(col("people", "city")->capacity, 32);
    ck_assert(col("people", "city")->nullable_scalar); /* NULL through has_city */
    ck_assert_str_eq(col("people", "city")->has_member, "has_city");
    ck_assert_uint_eq(table("people")->nfields, 6);
    ck_assert_str_eq(table("x")->cname, "Ex");
    ck_assert(col("things2", "hidden")->skip);
    ck_assert_str_eq(col("things2", "n")->member, "renamed");
    ck_assert_str_eq(table("things2")->cname, "Thing2");
}
END_TEST

START_TEST(has_companion_clashes)
{
    PARSE_OK("CREATE TABLE t (id INTEGER PRIMARY KEY, age INT, has_age BOOLEAN NOT NULL, \"Age\" TEXT);");
    ck_assert_str_eq(col("t", "age")->has_member, "has_age_2");
    ck_assert_str_eq(col("t", "has_age")->member, "has_age");
    ck_assert_str_eq(col("t", "Age")->member, "Age_2");
}
END_TEST

START_TEST(errors_name_file_line_column_and_token)
{
    static const struct { const char *sql, *want; } cases[] = {
        { "CREATE TABLE t (a INT PRIMRY KEY);", "t.sql:1:23: unexpected token in the definition of a column, got 'PRIMRY'" },
        { "CREATE TABLE t (\n  a TEXT DEFAULT 'x\n);", "t.sql:2:18: unterminated string" },
        { "CREATE TABLE \"t (a INT);", "t.sql:1:14: unterminated quoted identifier" },
        { "SELECT 1;\n  /* open", "t.sql:2:3: unterminated /* comment" },
        { "CREATE TABLE [t (a INT);", "t.sql:1:14: unterminated [ identifier" },
        { "DO $x$ BEGIN END $y$;", "t.sql:1:4: unterminated dollar-quoted string" },
        { "CREATE TABLE t (a INT", "t.sql:1:22: expected ',' or ')' in the column list, got the end of the input" },
        { "CREATE TABLE (a INT);", "t.sql:1:14: expected a name, got '('" },
        { "CREATE TABLE t;", "t.sql:1:15: expected '(' after the table name, got ';'" },
        { "CREATE TABLE t ();", "t.sql:1:17: expected a name, got ')'" },
        { "CREATE TABLE t (a INT, PRIMARY KEY (b));", "t.sql:1:37: no such column in this table, got 'b'" },
        { "CREATE TABLE t (a INT, PRIMARY KEY (a, a));", "t.sql:1:40: column listed twice, got 'a'" },
        { "CREATE TABLE t (a INT, a TEXT);", "t.sql:1:24: duplicate column name, got 'a'" },
        { "CREATE TABLE t (a INT PRIMARY KEY, b INT PRIMARY KEY);", "t.sql:1:42: the table already has a primary key, got 'PRIMARY'" },
        { "CREATE TABLE t (a INT PRIMARY KEY, b INT, PRIMARY KEY (b));", "t.sql:1:43: the table already has a primary key" },
        { "CREATE TABLE t (a INT);\nCREATE TABLE t (b INT);", "t.sql:2:14: table already exists, got 't'" },
        { "CREATE TABLE t (LIKE u);", "t.sql:1:17: CREATE TABLE (LIKE ...) is not supported" },
        { "CREATE TABLE t (a INT DEFAULT );", "t.sql:1:31: expected a DEFAULT value, got ')'" },
        { "CREATE TABLE t (a INT REFERENCES u ON DELETE EXPLODE);", "t.sql:1:46: expected a referential action, got 'EXPLODE'" },
        { "CREATE TABLE t (a INT CHECK a > 0);", "t.sql:1:29: expected '(', got 'a'" },
        { "CREATE TABLE t (a INT CHECK (a > 0);", "t.sql:1:36: expected ',' or ')' in the column list, got ';'" },
        { "CREATE TABLE t (a INT CHECK (a > (0);", "t.sql:1:29: unbalanced '(': no matching ')', got '('" },
        { "CREATE TABLE t (a INT GENERATED SOMETIMES AS IDENTITY);", "t.sql:1:33: expected BY, got 'SOMETIMES'" },
        { "CREATE TABLE t (a INT, FOREIGN KEY (a) u (id));", "t.sql:1:40: expected REFERENCES, got 'u'" },
        { "CREATE TABLE t (a INT, CONSTRAINT c FROB (a));", "t.sql:1:37: expected PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY or EXCLUDE, got 'FROB'" },
        { "CREATE TABLE t (a INT, UNIQUE (a) NOT SURE);", "t.sql:1:39: expected VALID, got 'SURE'" },
        { "ALTER TABLE nope ADD COLUMN a INT;", "t.sql:1:13: ALTER TABLE of a table that does not exist, got 'nope'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t FROB a;", "t.sql:2:15: unknown ALTER TABLE action, got 'FROB'" },
        { "CREATE TABLE t (a INT, b INT);\nALTER TABLE t DROP COLUMN zz;", "t.sql:2:27: no such column in this table, got 'zz'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t DROP COLUMN a;", "t.sql:2:28: cannot drop the only column of a table" },
        { "CREATE TABLE t (a INT, b INT);\nALTER TABLE t RENAME a TO b;", "t.sql:2:27: a column with that name already exists, got 'b'" },
        { "CREATE TABLE t (a INT); CREATE TABLE u (a INT);\nALTER TABLE t RENAME TO u;", "t.sql:2:25: a table with that name already exists, got 'u'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t ADD COLUMN a TEXT;", "t.sql:2:26: duplicate column name, got 'a'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t ADD COLUMN b INT c;", "t.sql:2:32: unexpected token in the definition of a column, got 'c'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t ALTER COLUMN a FROB;", "t.sql:2:30: expected SET, DROP, TYPE or ADD after ALTER COLUMN, got 'FROB'" },
        { "CREATE TABLE t (a INT);\nALTER TABLE t ADD COLUMN b INT DROP COLUMN a;", "t.sql:2:32: unexpected token" },
        { "DROP TABLE nope;", "t.sql:1:12: DROP TABLE of a table that does not exist, got 'nope'" },
        { "CREATE TABLE t (a INT); DROP TABLE t x;", "t.sql:1:38: expected ';' after DROP TABLE, got 'x'" },
        { "CREATE TABLE U&\"\\00zz\" (a INT);", "t.sql:1:14: bad escape in U&\"\" identifier" },
        { "CREATE TABLE U&\"a\" UESCAPE '+' (a INT);", "t.sql:1:14: bad UESCAPE character" },
        { "CREATE TABLE \"\" (a INT);", "t.sql:1:14: empty or NUL-holding identifier" },
        { "-- @orm:frob\nCREATE TABLE t (a INT);", "t.sql:1:4: @orm:frob is not an annotation" },
        { "-- @orm:skip\nCREATE INDEX i ON t (a);", "t.sql:1:4: @orm:skip annotates no table or column" },
        { "CREATE TABLE t (a INT);\n-- @orm:struct=T", "t.sql:2:4: @orm:struct annotates no table or column" },
        { "-- @orm:struct=1abc\nCREATE TABLE t (a INT);", "t.sql:1:4: @orm:struct needs a C identifier as its value" },
        { "-- @orm:struct=int\nCREATE TABLE t (a INT);", "t.sql:1:4: @orm:struct needs a C identifier" },
        { "CREATE TABLE t (a INT -- @orm:type=float\n);", "t.sql:1:26: @orm:type needs one of int16" },
        { "CREATE TABLE t (a INT -- @orm:skip=yes\n);", "t.sql:1:26: @orm:skip takes no value" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[1]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2 to 65536" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[0]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[064]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[65537]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[99999999999999999999999]\n);", "t.sql:1:27: @orm:type char[N] needs N" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[16]x\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char[x]\n);", "t.sql:1:27: @orm:type char[N] needs N from 2" },
        { "CREATE TABLE t (a TEXT -- @orm:type=char16\n);", "t.sql:1:27: @orm:type needs one of int16" },
        { "CREATE TABLE t ( -- @orm:skip\n a INT);", "t.sql:1:21: @orm:skip is not on a column's line" },
        { "CREATE INDEX i ON t (a); -- @orm:struct=X", "t.sql:1:29: @orm:struct is not on a table's line" },
        { "CREATE TABLE t (a INT, -- @orm:struct\n b INT);", "t.sql:1:27: @orm:struct needs a C identifier" },
        { "CREATE TABLE t (a INT -- @orm:\n);", "t.sql:1:26: empty @orm: annotation" },
        { "CREATE TABLE t (a INT PRIMARY KEY, -- @orm:skip\n b INT);", "t.sql:1:17: a primary key column cannot be @orm:skip: a" },
        { "CREATE TABLE t (a INT -- @orm:skip\n);", "t.sql:1:14: table has no columns left to model" },
        { "-- @orm:struct=X\nCREATE TABLE a (i INT);\n-- @orm:struct=X\nCREATE TABLE b (i INT);", "t.sql:4:14: two tables map to one struct name (use @orm:struct=Name): a b" },
        { "CREATE TABLE t (a INT, b INT -- @orm:field=a\n);", "t.sql:1:24: @orm:field name clashes with another member: a" },
    };
    size_t bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad += !error_is(cases[i].sql, cases[i].want);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

START_TEST(strict_makes_fallback_an_error)
{
    S.strict = true;
    int rc = parse("CREATE TABLE t (id INT PRIMARY KEY,\n  shape GEOMETRY(Point, 4326));");
    ck_assert_int_eq(rc, ORM_EPARSE);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "t.sql:2:3: type not in the mapping table"));
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "GEOMETRY(POINT,4326) shape"));
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("codegen_parse");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, column_clauses);
    tcase_add_test(tc, table_constraints_and_composite_keys);
    tcase_add_test(tc, quoted_identifiers);
    tcase_add_test(tc, serial_identity_rowid);
    tcase_add_test(tc, alter_and_drop_replay);
    tcase_add_test(tc, pg_dump_style_alters);
    tcase_add_test(tc, skipped_statements);
    tcase_add_test(tc, copy_without_terminator_runs_to_end);
    tcase_add_test(tc, enum_and_domain_types);
    tcase_add_test(tc, annotations);
    tcase_add_test(tc, has_companion_clashes);
    tcase_add_test(tc, errors_name_file_line_column_and_token);
    tcase_add_test(tc, strict_makes_fallback_an_error);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return orm_test_run(suite()); }
