/* liborm — transactions: begin, commit, rollback, free.
 *
 * Keeps true: an open tx holds one connection lease (orm__db_acquire) from begin until commit
 * or rollback, which always end it (a failed COMMIT is followed by a rollback, and the
 * COMMIT's error is what the caller sees); after that every use is ORM_ETXDONE and the lease
 * is back with the db, so a finished-but-unfreed tx blocks nobody.
 */
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/session_internal.h"
#include "tx/tx_internal.h"

int orm_tx_options_init(orm_tx_options *opts, unsigned version)
{
    if (!opts)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_options_init: opts is NULL");
    if (version != ORM_TX_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "tx", "unknown orm_tx_options version %u (this liborm knows %u)",
                              version, ORM_TX_OPTIONS_VERSION);
    orm_tx_options d = ORM_TX_OPTIONS_INIT;
    *opts = d;
    return ORM_OK;
}

/* BEGIN, COMMIT and ROLLBACK go through the db's middleware chain like every statement
 * (kinds BEGIN/COMMIT/ROLLBACK, no model); the driver runs them. */
enum { OP_BEGIN, OP_COMMIT, OP_ROLLBACK };

typedef struct tx_op {
    orm_tx *tx;
    const orm_tx_options *opts;
    int op;
} tx_op;

static int tx_op_db(void *arg, orm_ctx *ctx)
{
    tx_op *o = arg;
    const orm_driver *drv = orm__db_driver(o->tx->db);
    switch (o->op) {
    case OP_BEGIN: return drv->begin(o->tx->conn, ctx, o->opts);
    case OP_COMMIT: return drv->commit(o->tx->conn, ctx);
    default: return drv->rollback(o->tx->conn, ctx);
    }
}

static int run_op(orm_tx *tx, orm_ctx *ctx, int op, const orm_tx_options *opts)
{
    static const orm_query_kind kinds[] = { ORM_QUERY_BEGIN, ORM_QUERY_COMMIT, ORM_QUERY_ROLLBACK };
    static const char *const sql[] = { "BEGIN", "COMMIT", "ROLLBACK" };
    tx_op o = { tx, opts, op };
    orm__chain *ch = orm__db_chain(tx->db);
    if (orm__chain_bypass(ch))
        return tx_op_db(&o, ctx);
    return orm__chain_call(ch, &tx->session, ctx, kinds[op], sql[op], tx_op_db, &o);
}

int orm_tx_begin(orm_tx **out, orm_db *db, orm_ctx *ctx, const orm_tx_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_begin: out is NULL");
    *out = NULL;
    if (!db)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_begin: db is NULL");
    if (opts && opts->version != ORM_TX_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "tx", "unknown orm_tx_options version %u (this liborm knows %u)",
                              opts->version, ORM_TX_OPTIONS_VERSION);
    orm_tx *tx = orm__calloc(1, sizeof *tx);
    if (!tx)
        return orm__error_nomem("tx");
    tx->db = db;
    tx->session.db = db;
    tx->session.tx = tx;
    int rc = orm__db_acquire(db, ctx, &tx->conn);
    if (rc == ORM_OK) {
        rc = run_op(tx, ctx, OP_BEGIN, opts);
        if (rc != ORM_OK)
            orm__db_release(db, tx->conn);
    }
    if (rc != ORM_OK) {
        orm__free(tx);
        return rc;
    }
    tx->open = 1;
    *out = tx;
    return ORM_OK;
}

static int done_error(void)
{
    return orm__error_set(ORM_ETXDONE, "tx", "transaction already committed or rolled back");
}

static void finish(orm_tx *tx)
{
    orm__db_release(tx->db, tx->conn);
    tx->conn = NULL;
    tx->open = 0;
}

int orm_tx_commit(orm_tx *tx)
{
    if (!tx)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_commit: tx is NULL");
    if (!tx->open)
        return done_error();
    int rc = run_op(tx, NULL, OP_COMMIT, NULL);
    if (rc != ORM_OK) {
        /* Keep the COMMIT's error: the rollback that cleans up may overwrite it. */
        orm_error saved = *orm_error_last();
        char msg[1024];
        strncpy(msg, saved.message, sizeof msg - 1);
        msg[sizeof msg - 1] = '\0';
        run_op(tx, NULL, OP_ROLLBACK, NULL);
        orm__error_set_db(saved.code, saved.module, saved.sqlstate, saved.native_code, "%s", msg);
    }
    finish(tx);
    return rc;
}

int orm_tx_rollback(orm_tx *tx)
{
    if (!tx)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_rollback: tx is NULL");
    if (!tx->open)
        return done_error();
    int rc = run_op(tx, NULL, OP_ROLLBACK, NULL);
    finish(tx);
    return rc;
}

int orm_tx_is_open(const orm_tx *tx) { return tx && tx->open; }

orm_session *orm_tx_session(orm_tx *tx) { return tx ? &tx->session : NULL; }

void orm_tx_free(orm_tx *tx)
{
    if (!tx)
        return;
    if (tx->open)
        orm_tx_rollback(tx);
    orm__free(tx);
}
