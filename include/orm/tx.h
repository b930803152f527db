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
 * The closure helper commits when fn returns 0 and rolls back otherwise:
 *
 *     static int transfer(orm_tx *tx, orm_ctx *ctx, void *ud)
 *     {
 *         orm_session *s = orm_tx_session(tx);  // or orm_db_session(db) with ctx: same tx
 *         ...
 *         return rc;                              // 0: commit; anything else: rollback
 *     }
 *     orm_tx_options o = ORM_TX_OPTIONS_INIT;
 *     o.isolation = ORM_ISOLATION_SERIALIZABLE;
 *     o.max_retries = 5;                          // serialization failures, SQLITE_BUSY
 *     rc = orm_do_tx(db, ctx, &o, transfer, &args);
 *
 * Context and nesting (see ctx.h): a tx begun with a ctx is recorded on it until it ends, so
 * orm_db_session(db) run with that ctx joins it, and orm_tx_begin / orm_do_tx with that ctx
 * on the same db make a SAVEPOINT inside it: committing the inner one releases the savepoint,
 * rolling it back undoes only its work, and the outer transaction goes on. A savepoint ends
 * with its enclosing transaction (ORM_ETXDONE after). Free inner transactions first. BEGIN,
 * COMMIT, ROLLBACK and the SAVEPOINT statements go through the db's middleware chain.
 *
 * Deadlines: begin and commit honour the ctx given to orm_tx_begin on both backends (one that
 * would start after the deadline does not run: ORM_ETIMEOUT; a lock wait stops at the
 * deadline); rollback always runs, whatever the ctx.
 *
 * Commit outcomes: ORM_OK means committed. A failed commit means rolled back, except
 * ORM_EUNKNOWN: COMMIT was sent, then the deadline passed or the connection was lost before
 * its answer, and the outcome could not be learned (PostgreSQL asks a fresh connection with
 * txid_status first, and reports ORM_OK or the rollback truthfully when it can). After
 * ORM_EUNKNOWN the transaction may have committed: do not simply run it again; check (an
 * idempotency key written in the transaction) once the database answers. orm_do_tx never
 * retries it. See README "What a deadline guarantees".
 *
 * Ownership: orm_tx_begin gives the caller a tx to free with orm_tx_free (NULL is a no-op).
 * The session from orm_tx_session is borrowed from the tx. Cursors (orm_rows) opened in a
 * transaction are freed before it ends: commit and rollback are ORM_EBUSY while one is open
 * (the transaction stays open).
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

/* Version 2 added the retry fields; a version 1 struct (without them) is still accepted. */
#define ORM_TX_OPTIONS_VERSION 2u

typedef struct orm_tx_options {
    unsigned version;           /* ORM_TX_OPTIONS_VERSION */
    orm_isolation isolation;    /* PostgreSQL; SQLite is always serializable */
    int read_only;              /* PostgreSQL READ ONLY; SQLite: query_only while open */
    /* How the driver begins, interpreted by it (orm/sys/driver.h): SQLite's lock mode
     * (orm_sqlite_begin); PostgreSQL takes none (0). sqlite_begin is its older name. */
    union {
        int begin_mode;
        orm_sqlite_begin sqlite_begin;
    };
    /* Version 2: orm_do_tx runs the whole closure again, up to max_retries more times, when it
     * (or its commit, or the begin) fails with ORM_ERETRY (serialization failure, deadlock)
     * or ORM_EBUSY (SQLite busy/locked). Not for a nested (savepoint) orm_do_tx: the retry
     * belongs to the outermost one. Pauses start at retry_backoff_ms (0: 5) and double, with
     * jitter, up to 1 s; no retry is started that the ctx deadline would cut. */
    int max_retries;
    int retry_backoff_ms;
} orm_tx_options;

#define ORM_TX_OPTIONS_INIT { ORM_TX_OPTIONS_VERSION, ORM_ISOLATION_DEFAULT, 0, { ORM_SQLITE_DEFERRED }, 0, 0 }

/* Fill opts with the defaults of version (1 or 2: a version 1 struct gets only its fields). */
ORM_API int orm_tx_options_init(orm_tx_options *opts, unsigned version);

/* Begin a transaction on one of db's connections (a SAVEPOINT when ctx carries an open
 * transaction on db). opts NULL: defaults. */
ORM_API int orm_tx_begin(orm_tx **out, orm_db *db, orm_ctx *ctx, const orm_tx_options *opts);
ORM_API int orm_tx_commit(orm_tx *tx);
ORM_API int orm_tx_rollback(orm_tx *tx);
/* 1 while the transaction is open, 0 after commit or rollback. */
ORM_API int orm_tx_is_open(const orm_tx *tx);
/* The session that runs statements inside the transaction. Borrowed from tx. */
ORM_API orm_session *orm_tx_session(orm_tx *tx);
/* Roll back if still open, then free. NULL is a no-op. */
ORM_API void orm_tx_free(orm_tx *tx);

/* Called once per orm_tx_on_commit: committed 1 after the outermost COMMIT succeeded, 0 when
 * the work it was registered for will never be committed (rolled back, the commit failed or
 * its outcome is unknown, or a savepoint it was registered in was rolled back). Runs on the
 * thread that ended the transaction, after its connection went back to the pool, so it may
 * use the db (not the tx). Free userdata in both cases. */
typedef void (*orm_tx_commit_cb)(int committed, void *userdata);

/* Run fn after tx commits (Django's on_commit): registered in a savepoint, fn waits for the
 * outermost COMMIT (a released savepoint hands it to its parent) and is called with 0 when
 * that savepoint is rolled back. Callbacks run in registration order. ORM_EINVAL for a NULL
 * tx or fn, ORM_ETXDONE when tx is over, ORM_ENOMEM: in every error case fn is never
 * called. */
ORM_API int orm_tx_on_commit(orm_tx *tx, orm_tx_commit_cb fn, void *userdata);

/* The closure of orm_do_tx: tx is open, ctx carries it (statements of orm_db_session(db) run
 * with ctx join it). Return 0 to commit, anything else to roll back. */
typedef int (*orm_tx_fn)(orm_tx *tx, orm_ctx *ctx, void *userdata);

/* Begin (with ctx and opts), run fn, commit when it returns 0, else roll back and return its
 * code. When the rollback fails too, the last error's message holds both errors (the code is
 * fn's). With opts->max_retries, retries as described at orm_tx_options; never after
 * ORM_EUNKNOWN (the commit may have happened). ctx NULL: a ctx of its own is made for the
 * call and given to fn. */
ORM_API int orm_do_tx(orm_db *db, orm_ctx *ctx, const orm_tx_options *opts, orm_tx_fn fn,
                      void *userdata);

#ifdef __cplusplus
}
#endif
#endif
