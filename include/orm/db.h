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
 * Ownership: orm_db_open gives the caller a db to close with orm_db_close. A session from
 * orm_db_session is borrowed from the db and lives as long as it.
 *
 * Thread safety: an orm_db is shared by threads: open statements are serialized on its
 * connection(s) internally; orm_db_register may be called from any thread. orm_db_close must
 * be called once, when no other thread uses the db.
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

#define ORM_DB_OPTIONS_VERSION 1u

typedef struct orm_db_options {
    unsigned version;         /* ORM_DB_OPTIONS_VERSION */
    size_t stmt_cache_size;   /* prepared statements kept per connection (LRU); 0: default 128 */
    int busy_timeout_ms;      /* SQLite: how long to wait on a locked database; 0: 5000 */
    int create;               /* SQLite: create the file when missing (default 1) */
} orm_db_options;

#define ORM_DB_OPTIONS_INIT { ORM_DB_OPTIONS_VERSION, 128, 5000, 1 }

/* Fill opts with the defaults of this version. ORM_EINVAL for an unknown version. */
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
 * is ORM_EINVAL. Builders refuse models that are not registered. */
ORM_API int orm_db_register(orm_db *db, const orm_model *model);

/* Whether model is registered with db. */
ORM_API int orm_db_is_registered(orm_db *db, const orm_model *model);

/* The registered model for a table name, or NULL. */
ORM_API const orm_model *orm_db_model(orm_db *db, const char *table);

/* The session that runs statements on the db outside any transaction (autocommit).
 * Borrowed: valid until orm_db_close. Never NULL for a non-NULL db. */
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
