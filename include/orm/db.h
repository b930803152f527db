/* liborm — the database handle, its model registry, and sessions.
 *
 *     orm_db *db;
 *     if (orm_db_open(&db, "sqlite:app.db", NULL) != ORM_OK)
 *         fprintf(stderr, "%s\n", orm_error_last()->message);
 *     orm_db_register(db, &user_model);
 *     orm_session *s = orm_db_session(db);
 *     ...
 *     orm_db_close(db);
 *
 * DSNs: "sqlite:PATH", "sqlite::memory:", "sqlite:file:PATH?mode=ro" and plain "file:..."
 * URIs (SQLite URI filenames), "postgres://...", "postgresql://..." and libpq keyword strings
 * ("host=... dbname=...") when built with PostgreSQL.
 *
 * SQLite files ("sqlite:PATH?option=value&..."): each connection turns foreign_keys ON, and
 * uses synchronous=NORMAL when the file is in WAL mode (safe there; SQLite's default FULL
 * otherwise). A database this open creates is switched to WAL (lets readers run beside a
 * writer); an existing file keeps its journal mode, since changing it is persistent: liborm
 * changes nothing stored in a file it did not create. Options:
 *   mode=rwc (default: create when missing) | rw (fail when missing) | ro (read-only);
 *   journal_mode=wal|delete|truncate|persist|memory|off (set it, also on an existing file);
 *   foreign_keys=on|off; synchronous=off|normal|full|extra.
 * An unknown option or value is ORM_EINVAL. A "file:" URI is SQLite's own and passed as is.
 *
 * Ownership: orm_db_open gives the caller a db to close with orm_db_close. A session from
 * orm_db_session is borrowed from the db and lives as long as it.
 *
 * Thread safety: an orm_db is shared by threads: each statement runs on a connection of the
 * db's pool (a transaction or an open cursor holds one until it ends). A broken connection is
 * replaced: an idle one the server dropped is caught before use, and a SELECT outside a
 * transaction that failed on one is run once more on a fresh connection (a write is not: the
 * server may have applied it). orm_db_register may be called from any thread. orm_db_close
 * must be called once, when no other thread uses the db.
 */
#ifndef ORM_DB_H
#define ORM_DB_H

#include <stddef.h>
#include <stdint.h>

#include "orm/export.h"
#include "orm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_db orm_db;
typedef struct orm_session orm_session;
/* The context of a call: deadline, cancellation, the open transaction. NULL everywhere means
 * no deadline and no transaction. */
typedef struct orm_ctx orm_ctx;

/* Version 2 added the pool fields, version 3 verify_models; older structs (without them) are
 * still accepted. */
#define ORM_DB_OPTIONS_VERSION 3u

typedef struct orm_db_options {
    unsigned version;         /* ORM_DB_OPTIONS_VERSION */
    size_t stmt_cache_size;   /* prepared statements kept per connection (LRU); 0: default 128 */
    int busy_timeout_ms;      /* SQLite: how long to wait on a locked database; also how long
                                 a call without a ctx deadline waits for a pooled connection
                                 (then ORM_EBUSY); 0: 5000 */
    int create;               /* SQLite: create the file when missing (default 1) */
    /* The connection pool (version 2). */
    size_t max_open;          /* connections open at once; 0: default (PostgreSQL 8, a SQLite
                                 file 4 in WAL mode; an in-memory SQLite db always has exactly
                                 one shared connection) */
    size_t max_idle;          /* idle connections kept; 0: max_open */
    int64_t idle_timeout_ms;  /* close a connection idle longer than this; 0: never */
    int64_t max_lifetime_ms;  /* close a connection older than this when idle; 0: never */
    /* Version 3. */
    int verify_models;        /* orm_db_register runs orm_db_verify and refuses a drifted
                                 model (ORM_ESCHEMA); 0: off. Costs one catalog query per
                                 model at registration (README: "SQLite files"), nothing
                                 after: recommended on */
} orm_db_options;

#define ORM_DB_OPTIONS_INIT { ORM_DB_OPTIONS_VERSION, 128, 5000, 1, 0, 0, 0, 0, 0 }

/* Fill opts with the defaults of version (1 to 3: an older struct gets only its fields).
 * ORM_EINVAL for an unknown version. */
ORM_API int orm_db_options_init(orm_db_options *opts, unsigned version);

/* Open a database. On failure *out is NULL and there is nothing to free; the last error says
 * why (ORM_EINVAL for a malformed DSN, ORM_ECONN / ORM_EIO when it cannot be reached). */
ORM_API int orm_db_open(orm_db **out, const char *dsn, const orm_db_options *opts);

/* Close the db and free everything it owns. NULL is a no-op. */
ORM_API void orm_db_close(orm_db *db);

/* "sqlite" or "postgres". */
ORM_API const char *orm_db_backend(const orm_db *db);

/* Validate a model (orm_model_validate) and add it to the db's registry. Registering the
 * same descriptor twice is ORM_OK; a different descriptor for an already registered table
 * is ORM_EINVAL. Builders refuse models that are not registered. With opts->verify_models,
 * a model is checked with orm_db_verify first and a drifted one is refused (ORM_ESCHEMA). */
ORM_API int orm_db_register(orm_db *db, const orm_model *model);

/* Compare model with the live table's columns, read on the db session (within ctx's
 * transaction when it carries one on db): ORM_OK, or ORM_ESCHEMA naming every drifted column as
 * table.column: the table missing, a field's column missing, or a column whose type does not
 * map to the field's type by `ormctl generate`'s type table (SQLite's integer booleans and text
 * timestamps pass). Columns the model does not map are not drift. */
ORM_API int orm_db_verify(orm_db *db, orm_ctx *ctx, const orm_model *model);

/* Whether model is registered with db. */
ORM_API int orm_db_is_registered(orm_db *db, const orm_model *model);

/* The registered model for a table name, or NULL. */
ORM_API const orm_model *orm_db_model(orm_db *db, const char *table);

/* The connection pool's counters (orm_db_stats). */
typedef struct orm_db_pool_stats {
    size_t max_open;              /* the limit */
    size_t open;                  /* in use + idle */
    size_t in_use;
    size_t idle;
    uint64_t opened;              /* connections opened since orm_db_open */
    uint64_t waits;               /* acquires that had to wait for a free connection */
    int64_t wait_us;              /* total time spent waiting, microseconds */
    uint64_t timeouts;            /* waits that gave up at their deadline */
    uint64_t closed_max_idle;     /* closed at release: max_idle already idle */
    uint64_t closed_idle_timeout; /* closed: idle longer than idle_timeout_ms */
    uint64_t closed_lifetime;     /* closed: older than max_lifetime_ms */
    uint64_t closed_broken;       /* closed: broken (lost, failed its check or reset) */
} orm_db_pool_stats;

/* A snapshot of db's pool counters. ORM_EINVAL for NULL arguments. Safe from any thread. */
ORM_API int orm_db_stats(orm_db *db, orm_db_pool_stats *out);

/* The session that runs statements on the db outside any transaction (autocommit), except
 * that a statement given a ctx carrying an open transaction on this db runs inside it (see
 * ctx.h). Borrowed: valid until orm_db_close. Never NULL for a non-NULL db. */
ORM_API orm_session *orm_db_session(orm_db *db);

/* The db a session belongs to. */
ORM_API orm_db *orm_session_db(const orm_session *s);

/* Run one or more SQL statements that take no arguments (DDL, PRAGMA, SET ...).
 * Statements run in order and stop at the first error. */
ORM_API int orm_exec_sql(orm_session *s, orm_ctx *ctx, const char *sql);

#ifdef __cplusplus
}
#endif
#endif
