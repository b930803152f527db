/* liborm internal — the transaction's state, as the session, the cursors and the layers above
 * (tx/, the row cache) see it.
 *
 * The struct lives in orm/ because the session and the cursors read and write it (the
 * connection, the broken flag, the open-cursor count); tx/ drives it (begin, commit,
 * rollback). orm/ includes nothing from tx/.
 *
 * States of one orm_tx (drawn as SQLite's pager draws its own):
 *
 *     OPEN ──commit OK──────────► DONE   hooks: COMMITTED (top level) / RELEASED (savepoint)
 *     OPEN ──commit failed──────► DONE   hooks: COMMIT_FAILED / ROLLED_BACK_TO
 *     OPEN ──rollback───────────► DONE   hooks: ROLLED_BACK / ROLLED_BACK_TO
 *     OPEN ──its parent ended───► DONE   hooks: ABANDONED (when it is next committed, rolled
 *                                        back or freed: the outcome of its work is not known)
 *   broken (a statement lost the connection) is a flag on the top-level tx: the connection is
 *   discarded at the end; cursors counts the orm_rows open on the connection (commit and
 *   rollback wait for them).
 *
 * Hooks: a layer above attaches per-transaction state with orm__txn_hook_add (found again with
 * orm__txn_hook_find, keyed by an owner pointer of its choosing); each hook runs exactly once,
 * when its transaction ends, after the connection went back (so a hook may run statements on
 * the db), then it is forgotten (the hook's fn frees its state). A savepoint's hooks get
 * RELEASED with the savepoint still readable (tx->parent is open): they merge what they keep
 * into the parent's hooks, or return 1 to be moved there as they are (no allocation).
 */
#ifndef ORM_TXN_H
#define ORM_TXN_H

#include "orm/ctx_internal.h"
#include "orm/session_internal.h"
#include "orm/tx.h"

typedef enum orm__txn_event {
    ORM__TXN_COMMITTED,      /* the top-level COMMIT succeeded */
    ORM__TXN_COMMIT_FAILED,  /* COMMIT failed or its outcome is unknown (then rolled back) */
    ORM__TXN_ROLLED_BACK,    /* the top-level transaction was rolled back */
    ORM__TXN_RELEASED,       /* a savepoint was released into its parent */
    ORM__TXN_ROLLED_BACK_TO, /* a savepoint was rolled back (its parent goes on) */
    ORM__TXN_ABANDONED       /* a savepoint ended after its parent had: outcome unknown */
} orm__txn_event;

/* Returns 1 to be moved to the parent unchanged instead of being forgotten (only for
 * RELEASED: a savepoint's work now belongs to its parent), else 0. */
typedef int (*orm__txn_hook_fn)(struct orm_tx *tx, orm__txn_event ev, void *state);

typedef struct orm__txn_hook {
    struct orm__txn_hook *next;
    const void *owner; /* who attached it: orm__txn_hook_find's key */
    orm__txn_hook_fn fn;
    void *state;
} orm__txn_hook;

struct orm_tx {
    orm_db *db;
    orm_conn *conn;      /* top level: leased with orm__db_acquire while open; a savepoint:
                            its parent's. NULL after the end */
    int open;            /* 1 from begin until commit or rollback */
    int broken;          /* a statement lost the connection (ORM_ECONN): discard it at the end */
    int cursors;         /* top level: orm_rows open on the connection (commit/rollback wait) */
    orm_isolation isolation; /* as begun (top level; a savepoint copies its parent's) */
    struct orm_tx *parent; /* NULL: a top-level transaction; else a SAVEPOINT inside parent */
    unsigned depth;      /* 0 top level; n: savepoint orm_sp_<n> */
    orm_ctx *ctx;        /* the ctx this tx is recorded on (orm_ctx_tx), or NULL */
    struct orm_tx *ctx_prev; /* what that ctx carried before */
    orm__txn_hook *hooks; /* newest first; run (oldest first) and freed at the end */
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

/* The transaction a statement of session s with ctx runs in (s's own, or the one ctx carries
 * on s's db), or NULL for autocommit. */
static inline struct orm_tx *orm__session_tx(const orm_session *s, const orm_ctx *ctx)
{
    if (s->tx)
        return s->tx;
    return ctx ? orm__ctx_tx_for(ctx, s->db) : NULL;
}

/* Attach fn(state) to tx under owner. ORM_ENOMEM (nothing attached: the caller still owns
 * state); ORM_ETXDONE when tx is not usable. */
int orm__txn_hook_add(struct orm_tx *tx, const void *owner, orm__txn_hook_fn fn, void *state);
/* The state attached under owner on this very tx (not its parents), or NULL. */
void *orm__txn_hook_find(const struct orm_tx *tx, const void *owner);
/* Run and forget every hook of tx with ev, oldest first (tx/ calls it when tx ends). */
void orm__txn_hooks_run(struct orm_tx *tx, orm__txn_event ev);

#endif
