/* liborm — what the SQLite driver states about its backend, apart from running statements:
 * the dialect, the BEGIN text, the pool's defaults, the drift check's introspection and the
 * migrator's state table. Plain data and string functions (no sqlite3 calls), so the dialect
 * exists wherever liborm renders SQL.
 */
#include <stddef.h>

#include "orm/driver.h"
#include "orm/driver/sqlite/sqlite.h"

const orm_dialect orm__dialect_sqlite = {
    .name = "sqlite",
    .ident_quote = '"',
    .numbered_params = 0,
    .true_lit = "1",
    .false_lit = "0",
    .has_returning = 1,          /* since SQLite 3.35 */
    .has_last_insert_id = 1,
    .needs_limit_for_offset = 1, /* LIMIT -1 OFFSET n */
    .max_params = 32766,         /* SQLITE_MAX_VARIABLE_NUMBER since 3.32 */
    .upsert = ORM_UPSERT_ON_CONFLICT,
    .sequential_rowids = 1,
    .lexer = ORM_SQL_LEXER_SQLITE,
    .backslash_strings = 0,
};

/* opts->begin_mode is an orm_sqlite_begin; anything else is a plain BEGIN (SQLite's
 * DEFERRED). */
const char *orm__sqlite_begin_sql(const orm_tx_options *opts, char *buf, size_t n)
{
    static const char *const modes[] = { "BEGIN DEFERRED", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE" };
    (void)buf;
    (void)n;
    return opts && (unsigned)opts->begin_mode < 3 ? modes[opts->begin_mode] : "BEGIN";
}

void orm__sqlite_pool_defaults(const char *dsn, orm_driver_pool *out)
{
    out->max_open = 4;
    out->single = orm__sqlite_dsn_private(dsn);
    out->park_hot = 1; /* a cached point query costs less than the pool's lock */
}

const orm_driver_columns orm__sqlite_columns = {
    .sql = "SELECT name, type FROM pragma_table_info(?)",
    .text_types = NULL,
    .loose_types = 1,  /* storage classes: every integer in 64 bits, booleans as integers */
    .names_nocase = 1, /* SQLite resolves column names without case */
};

const orm_driver_migrate orm__sqlite_migrate = {
    .begin_mode = ORM_SQLITE_IMMEDIATE, /* the write lock, taken at BEGIN, held to the end */
    .lock = NULL,
    .try_lock = NULL,
    .hold_sql = NULL,
    .create_sql = "CREATE TABLE IF NOT EXISTS orm_schema_migrations ("
                  "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                  "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                  "duration_ms INTEGER NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 0)",
    .select_sql = "SELECT version, name, checksum, applied_at, duration_ms, dirty "
                  "FROM orm_schema_migrations ORDER BY version",
    .insert_sql = "INSERT INTO orm_schema_migrations (version, name, checksum, duration_ms, dirty) "
                  "VALUES (?, ?, ?, ?, ?)",
    .clean_sql = "UPDATE orm_schema_migrations SET dirty = 0, duration_ms = ? WHERE version = ?",
    .dirty_sql = "UPDATE orm_schema_migrations SET dirty = 1 WHERE version = ?",
    .delete_sql = "DELETE FROM orm_schema_migrations WHERE version = ?",
    .delete_above_sql = "DELETE FROM orm_schema_migrations WHERE version > ?",
    .refresh_sql = "UPDATE orm_schema_migrations SET name = ?, checksum = ?, dirty = 0 WHERE version = ?",
    .position_chars = 0,
};
