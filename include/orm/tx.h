/* liborm — transactions.
 *
 *     orm_tx *tx;
 *     if ((rc = orm_tx_begin(&tx, db, NULL, NULL)) != ORM_OK) return rc;
 *     orm_session *s = orm_tx_session(tx);
 *     rc = orm_insert_one(s, NULL, &user_model, &u);
 *     rc = rc ? rc : orm_tx_commit(tx);
 *     orm_tx_free(tx);            // rolls back when not committed: safe on every exit path
 *
 * After commit or rollback, every use of the tx (its session included) is ORM_ETXDONE.
 *
 * Ownership: orm_tx_begin gives the caller a tx to free with orm_tx_free (NULL is a no-op).
 * The session from orm_tx_session is borrowed from the tx.
 * Thread safety: a tx belongs to one thread at a time. While it is open it holds one of the
 * db's connections.
 */
#ifndef ORM_TX_H
#define ORM_TX_H

#include "orm/db.h"
#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_tx orm_tx;

typedef enum orm_isolation {
    ORM_ISOLATION_DEFAULT = 0,
    ORM_ISOLATION_READ_UNCOMMITTED,
    ORM_ISOLATION_READ_COMMITTED,
    ORM_ISOLATION_REPEATABLE_READ,
    ORM_ISOLATION_SERIALIZABLE
} orm_isolation;

/* SQLite's lock modes for BEGIN. */
typedef enum orm_sqlite_begin {
    ORM_SQLITE_DEFERRED = 0,
    ORM_SQLITE_IMMEDIATE,
    ORM_SQLITE_EXCLUSIVE
} orm_sqlite_begin;

#define ORM_TX_OPTIONS_VERSION 1u

typedef struct orm_tx_options {
    unsigned version;           /* ORM_TX_OPTIONS_VERSION */
    orm_isolation isolation;    /* PostgreSQL; SQLite is always serializable */
    int read_only;              /* PostgreSQL READ ONLY; SQLite: query_only while open */
    orm_sqlite_begin sqlite_begin;
} orm_tx_options;

#define ORM_TX_OPTIONS_INIT { ORM_TX_OPTIONS_VERSION, ORM_ISOLATION_DEFAULT, 0, ORM_SQLITE_DEFERRED }

ORM_API int orm_tx_options_init(orm_tx_options *opts, unsigned version);

/* Begin a transaction on one of db's connections. opts NULL: defaults. */
ORM_API int orm_tx_begin(orm_tx **out, orm_db *db, orm_ctx *ctx, const orm_tx_options *opts);
ORM_API int orm_tx_commit(orm_tx *tx);
ORM_API int orm_tx_rollback(orm_tx *tx);
/* 1 while the transaction is open, 0 after commit or rollback. */
ORM_API int orm_tx_is_open(const orm_tx *tx);
/* The session that runs statements inside the transaction. Borrowed from tx. */
ORM_API orm_session *orm_tx_session(orm_tx *tx);
/* Roll back if still open, then free. NULL is a no-op. */
ORM_API void orm_tx_free(orm_tx *tx);

#ifdef __cplusplus
}
#endif
#endif
