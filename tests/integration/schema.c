/* CREATE TABLE statements for the integration suite, one set per backend.
 *
 * The tests are written once against the public API; only the DDL differs, because the column
 * types do: SQLite has INTEGER PRIMARY KEY AUTOINCREMENT, REAL, BLOB and stores timestamps as
 * ISO-8601 TEXT (see value.h); PostgreSQL has BIGSERIAL, double precision, bytea, boolean and
 * timestamp. Every statement drops its table first, so a server database left over from an
 * earlier run (or test) starts each test empty; on PostgreSQL that includes the migrator's
 * state table, which a test of another suite (or of the same suite through another driver)
 * may have filled with a migration of the same version and a different checksum. Both sets
 * keep the same defaults (age 18, created_at now in UTC, the mismatch tables' defaults), which
 * tests observe. */
#include <string.h>

#include "schema.h"

/* One transaction: creating seven tables in a fresh SQLite file then costs one sync. */
static const char sqlite_ddl[] =
    "BEGIN;"
    "DROP TABLE IF EXISTS posts;"
    "DROP TABLE IF EXISTS memberships;"
    "DROP TABLE IF EXISTS users;"
    "DROP TABLE IF EXISTS all_types;"
    "DROP TABLE IF EXISTS nn_mismatch;"
    "DROP TABLE IF EXISTS type_mismatch;"
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  email TEXT,"
    "  age INTEGER DEFAULT 18,"
    "  score REAL NOT NULL,"
    "  active INTEGER NOT NULL,"
    "  created_at TEXT DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),"
    "  avatar BLOB);"
    "CREATE TABLE posts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  title TEXT NOT NULL,"
    "  views INTEGER NOT NULL);"
    "CREATE TABLE memberships ("
    "  org_id INTEGER NOT NULL,"
    "  user_id INTEGER NOT NULL,"
    "  role TEXT NOT NULL,"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE TABLE all_types ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  i16 INTEGER, i32 INTEGER, i64 INTEGER, d REAL, b INTEGER, t TEXT, bl BLOB, ts TEXT);"
    "CREATE TABLE nn_mismatch ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, lifespan INTEGER DEFAULT NULL);"
    "CREATE TABLE type_mismatch ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, amount TEXT DEFAULT 'not a number');"
    "COMMIT;";

static const char postgres_ddl[] =
    "DROP TABLE IF EXISTS posts, memberships, users, all_types, nn_mismatch, type_mismatch,"
    "  orm_schema_migrations CASCADE;"
    "CREATE TABLE users ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  name text NOT NULL UNIQUE,"
    "  email text,"
    "  age integer DEFAULT 18,"
    "  score double precision NOT NULL,"
    "  active boolean NOT NULL,"
    "  created_at timestamp DEFAULT (now() AT TIME ZONE 'UTC'),"
    "  avatar bytea);"
    "CREATE TABLE posts ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES users(id),"
    "  title text NOT NULL,"
    "  views bigint NOT NULL);"
    "CREATE TABLE memberships ("
    "  org_id integer NOT NULL,"
    "  user_id bigint NOT NULL,"
    "  role text NOT NULL,"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE TABLE all_types ("
    "  id BIGSERIAL PRIMARY KEY,"
    "  i16 smallint, i32 integer, i64 bigint, d double precision, b boolean, t text,"
    "  bl bytea, ts timestamp);"
    "CREATE TABLE nn_mismatch ("
    "  id BIGSERIAL PRIMARY KEY, label text, lifespan integer DEFAULT NULL);"
    "CREATE TABLE type_mismatch ("
    "  id BIGSERIAL PRIMARY KEY, label text, amount text DEFAULT 'not a number');";

int it_schema_create(orm_session *s)
{
    const char *backend = orm_dialect_name(orm_db_dialect(orm_session_db(s)));
    if (backend && strcmp(backend, "sqlite") == 0)
        return orm_exec_sql(s, NULL, sqlite_ddl);
    if (backend && strcmp(backend, "postgres") == 0)
        return orm_exec_sql(s, NULL, postgres_ddl);
    return ORM_EUNSUPPORTED;
}
