/* liborm internal — the transaction object, for the session code that runs statements on
 * a transaction's connection. */
#ifndef ORM_TX_INTERNAL_H
#define ORM_TX_INTERNAL_H

#include "orm/ctx_internal.h"
#include "orm/session_internal.h"
#include "orm/tx.h"

struct orm_tx {
    orm_db *db;
    orm_conn *conn;      /* top level: leased with orm__db_acquire while open; a savepoint:
                            its parent's. NULL after the end */
    int open;            /* 1 from begin until commit or rollback */
    int broken;          /* a statement lost the connection (ORM_ECONN): discard it at the end */
    int cursors;         /* top level: orm_rows open on the connection (commit/rollback wait) */
    struct orm_tx *parent; /* NULL: a top-level transaction; else a SAVEPOINT inside parent */
    unsigned depth;      /* 0 top level; n: savepoint orm_sp_<n> */
    orm_ctx *ctx;        /* the ctx this tx is recorded on (orm_ctx_tx), or NULL */
    struct orm_tx *ctx_prev; /* what that ctx carried before */
    struct orm_session session; /* { db, this tx } */
};

/* Whether statements can run in tx: it and every enclosing transaction are open. */
static inline int orm__tx_usable(const struct orm_tx *tx)
{
    for (; tx; tx = tx->parent)
        if (!tx->open)
            return 0;
    return 1;
}

/* The top-level transaction of tx (itself when it is not a savepoint). */
static inline struct orm_tx *orm__tx_root(struct orm_tx *tx)
{
    while (tx->parent)
        tx = tx->parent;
    return tx;
}

/* The innermost open transaction on db that ctx (or an ancestor) carries, or NULL: a ctx may
 * carry transactions on several dbs, each statement joins the one on its own db. */
static inline struct orm_tx *orm__ctx_tx_for(const orm_ctx *ctx, const orm_db *db)
{
    for (; ctx; ctx = orm__ctx_parent(ctx))
        for (struct orm_tx *t = orm__ctx_own_tx(ctx); t; t = t->ctx_prev)
            if (t->db == db && orm__tx_usable(t))
                return t;
    return NULL;
}

#endif
