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
    int rc = orm__db_acquire(db, ctx, &tx->conn);
    if (rc == ORM_OK) {
        rc = orm__db_driver(db)->begin(tx->conn, ctx, opts);
        if (rc != ORM_OK)
            orm__db_release(db, tx->conn);
    }
    if (rc != ORM_OK) {
        orm__free(tx);
        return rc;
    }
    tx->db = db;
    tx->open = 1;
    tx->session.db = db;
    tx->session.tx = tx;
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
    const orm_driver *drv = orm__db_driver(tx->db);
    int rc = drv->commit(tx->conn, NULL);
    if (rc != ORM_OK) {
        /* Keep the COMMIT's error: the rollback that cleans up may overwrite it. */
        orm_error saved = *orm_error_last();
        char msg[1024];
        strncpy(msg, saved.message, sizeof msg - 1);
        msg[sizeof msg - 1] = '\0';
        drv->rollback(tx->conn, NULL);
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
    int rc = orm__db_driver(tx->db)->rollback(tx->conn, NULL);
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
