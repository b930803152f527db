/* liborm — what the PostgreSQL driver states about its backend, apart from running
 * statements: the dialect, the BEGIN text, the pool's defaults, the drift check's
 * introspection, and the migrator's lock (transaction-level advisory locks under a
 * lock_timeout) and state table. No libpq calls: the dialect and these facts exist even when
 * liborm is built without the driver (SQL renders without a server); the lock runs through
 * the public raw-SQL calls.
 */
#include <stdio.h>
#include <string.h>

#include "orm/driver.h"
#include "orm/driver/postgres/conn.h"
#include "orm/raw.h"
#include "orm/rows.h"

const orm_dialect orm__dialect_postgres = {
    .name = "postgres",
    .ident_quote = '"',
    .numbered_params = 1,
    .true_lit = "TRUE",
    .false_lit = "FALSE",
    .has_returning = 1,
    .has_last_insert_id = 0,     /* keys come back through RETURNING */
    .needs_limit_for_offset = 0,
    .max_params = 65535,         /* the protocol's 16-bit parameter count */
    .upsert = ORM_UPSERT_ON_CONFLICT,
    .sequential_rowids = 0,
    .lexer = ORM_SQL_LEXER_POSTGRES,
    .backslash_strings = 1,      /* a session may turn standard_conforming_strings off */
};

/* NULL for an isolation level outside orm_isolation (the driver's begin reports it). */
const char *orm__pg_begin_sql(const orm_tx_options *opts, char *buf, size_t n)
{
    static const char *const levels[] = { "", " ISOLATION LEVEL READ UNCOMMITTED",
                                          " ISOLATION LEVEL READ COMMITTED",
                                          " ISOLATION LEVEL REPEATABLE READ",
                                          " ISOLATION LEVEL SERIALIZABLE" };
    unsigned iso = opts ? (unsigned)opts->isolation : 0;
    if (iso > 4)
        return NULL;
    snprintf(buf, n, "BEGIN%s%s", levels[iso], opts && opts->read_only ? " READ ONLY" : "");
    return buf;
}

void orm__pg_pool_defaults(const char *dsn, orm_driver_pool *out)
{
    (void)dsn;
    out->max_open = 8;
    out->single = 0;
    out->park_hot = 0; /* a round trip dwarfs the pool's lock */
}

static const char *const pg_text_types[] = { "ARRAY", "USER-DEFINED", NULL };

const orm_driver_columns orm__pg_columns = {
    .sql = "SELECT column_name, data_type FROM information_schema.columns "
           "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    /* information_schema says ARRAY and USER-DEFINED (enums, citext ...): codegen maps arrays
     * and enums to text */
    .text_types = pg_text_types,
    .loose_types = 0,
    .names_nocase = 0,
};

/* The first column of the first row of sql into out (when out is not NULL). */
static int one_row(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                   size_t nargs, char *out, size_t outsz)
{
    orm_rows *r;
    int rc = orm_raw_rows(s, ctx, sql, args, nargs, &r);
    if (rc != ORM_OK)
        return rc;
    rc = orm_rows_next(r);
    if (rc == 1 && out) {
        const char *t = orm_rows_text(r, 0, NULL);
        snprintf(out, outsz, "%s", t ? t : "");
    }
    orm_rows_free(r);
    return rc < 0 ? rc : ORM_OK;
}

/* pg_advisory_xact_lock(key) with lock_timeout at wait_ms; the session's own setting is put
 * back afterwards so the migration's statements wait as the operator configured. */
static int pg_mig_lock(orm_session *s, orm_ctx *ctx, int64_t key, int64_t wait_ms, const char *what)
{
    char saved[64], limit[32];
    snprintf(limit, sizeof limit, "%lldms", (long long)wait_ms);
    orm_value a_limit[] = { orm_text(limit) };
    orm_value a_key[] = { orm_int(key) };
    int rc = one_row(s, ctx, "SELECT current_setting('lock_timeout')", NULL, 0, saved,
                     sizeof saved);
    if (rc == ORM_OK)
        rc = one_row(s, ctx, "SELECT set_config('lock_timeout', $1, true)", a_limit, 1, NULL, 0);
    if (rc == ORM_OK) {
        rc = one_row(s, ctx, "SELECT pg_advisory_xact_lock($1)", a_key, 1, NULL, 0);
        if (rc != ORM_OK) {
            const orm_error *e = orm_error_last();
            int code = strcmp(e->sqlstate, "55P03") == 0 ? ORM_ETIMEOUT : rc;
            char msg[768], state[6];
            snprintf(msg, sizeof msg, "%s", e->message);
            memcpy(state, e->sqlstate, sizeof state);
            return orm_driver_error_set(code, "migrate", state[0] ? state : NULL, e->native_code,
                                        "%s (pg_advisory_xact_lock) not taken within %lld ms: %s",
                                        what, (long long)wait_ms, msg);
        }
    }
    orm_value a_saved[] = { orm_text(saved) };
    if (rc == ORM_OK)
        rc = one_row(s, ctx, "SELECT set_config('lock_timeout', $1, true)", a_saved, 1, NULL, 0);
    return rc;
}

static int pg_mig_try_lock(orm_session *s, orm_ctx *ctx, int64_t key, int *taken)
{
    char got[8] = "";
    orm_value a_key[] = { orm_int(key) };
    int rc = one_row(s, ctx, "SELECT CASE WHEN pg_try_advisory_xact_lock($1) THEN 1 ELSE 0 END",
                     a_key, 1, got, sizeof got);
    *taken = rc == ORM_OK && strcmp(got, "1") == 0;
    return rc;
}

const orm_driver_migrate orm__pg_migrate = {
    .begin_mode = 0,
    .lock = pg_mig_lock,
    .try_lock = pg_mig_try_lock,
    /* A utility statement last: it replaces the portal of the lock's SELECT, whose snapshot
     * would otherwise stay registered (backend xmin set) and make CREATE INDEX CONCURRENTLY
     * wait for this transaction, which waits for it. And a server-side
     * idle_in_transaction_session_timeout must not end the marker while the migration runs. */
    .hold_sql = "SET LOCAL idle_in_transaction_session_timeout = 0",
    .create_sql = "CREATE TABLE IF NOT EXISTS orm_schema_migrations ("
                  "version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
                  "applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
                  "duration_ms BIGINT NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 0)",
    .select_sql = "SELECT version, name, checksum, to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS'), "
                  "duration_ms, dirty FROM orm_schema_migrations ORDER BY version",
    .insert_sql = "INSERT INTO orm_schema_migrations (version, name, checksum, duration_ms, dirty) "
                  "VALUES ($1, $2, $3, $4, $5)",
    .clean_sql = "UPDATE orm_schema_migrations SET dirty = 0, duration_ms = $1 WHERE version = $2",
    .dirty_sql = "UPDATE orm_schema_migrations SET dirty = 1 WHERE version = $1",
    .delete_sql = "DELETE FROM orm_schema_migrations WHERE version = $1",
    .delete_above_sql = "DELETE FROM orm_schema_migrations WHERE version > $1",
    .refresh_sql = "UPDATE orm_schema_migrations SET name = $1, checksum = $2, dirty = 0 WHERE version = $3",
    .position_chars = 1, /* PostgreSQL counts characters */
};
