/* liborm — transactions: begin, commit, rollback, free; savepoints for nested begins.
 *
 * Keeps true:
 *  - an open top-level tx holds one connection (orm__db_acquire) from begin until commit or
 *    rollback, which always end it (a failed COMMIT is followed by a rollback, and the
 *    COMMIT's error is what the caller sees); after that every use is ORM_ETXDONE and the
 *    connection is back with the pool (discarded when a statement lost it), so a
 *    finished-but-unfreed tx blocks nobody;
 *  - a tx begun with a ctx is what that ctx carries (orm_ctx_tx) from begin until its end,
 *    when the ctx gets back what it carried before; a begin with a ctx that carries an open
 *    tx on the same db is a SAVEPOINT in it (orm_sp_<depth>), sharing its connection;
 *  - BEGIN, COMMIT, ROLLBACK go through the middleware chain (orm__chain_call, the driver
 *    runs them); SAVEPOINT / RELEASE / ROLLBACK TO through orm__session_exec (kind
 *    SAVEPOINT), so middlewares see every statement of a transaction;
 *  - rollback never honours a deadline: cleaning up must not be cut short.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/error_internal.h"
#include "orm/middleware.h"
#include "orm/middleware_internal.h"
#include "orm/session_internal.h"
#include "tx/tx_internal.h"

int orm_tx_options_init(orm_tx_options *opts, unsigned version)
{
    if (!opts)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_options_init: opts is NULL");
    if (version != 1 && version != ORM_TX_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "tx", "unknown orm_tx_options version %u (this liborm knows %u)",
                              version, ORM_TX_OPTIONS_VERSION);
    orm_tx_options d = ORM_TX_OPTIONS_INIT;
    d.version = version;
    /* A version 1 caller's struct ends before the retry fields. */
    memcpy(opts, &d, version == 1 ? offsetof(orm_tx_options, max_retries) : sizeof d);
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
    int rc;
    switch (o->op) {
    case OP_BEGIN: rc = drv->begin(o->tx->conn, ctx, o->opts); break;
    case OP_COMMIT: rc = drv->commit(o->tx->conn, ctx); break;
    default: rc = drv->rollback(o->tx->conn, NULL); break; /* never cut short */
    }
    if (rc == ORM_ECONN)
        o->tx->broken = 1;
    return orm__ctx_fix(ctx, rc);
}

/* The BEGIN the driver runs, as text for the middlewares: the driver's own text for the
 * options (orm_driver.begin_sql), plain BEGIN without options. */
static const char *begin_text(const orm_db *db, const orm_tx_options *o, char *buf, size_t n)
{
    if (!o)
        return "BEGIN";
    const char *t = orm__db_driver(db)->begin_sql(o, buf, n);
    return t ? t : "BEGIN";
}

static int run_op(orm_tx *tx, orm_ctx *ctx, int op, const orm_tx_options *opts)
{
    static const orm_query_kind kinds[] = { ORM_QUERY_BEGIN, ORM_QUERY_COMMIT, ORM_QUERY_ROLLBACK };
    static const char *const sql[] = { "BEGIN", "COMMIT", "ROLLBACK" };
    tx_op o = { tx, opts, op };
    orm__chain *ch = orm__db_chain(tx->db);
    if (orm__chain_bypass(ch))
        return tx_op_db(&o, ctx);
    char buf[96];
    const char *text = op == OP_BEGIN ? begin_text(tx->db, opts, buf, sizeof buf) : sql[op];
    return orm__chain_call(ch, &tx->session, ctx, kinds[op], text, tx_op_db, &o);
}

/* SAVEPOINT / RELEASE SAVEPOINT / ROLLBACK TO SAVEPOINT orm_sp_<depth>, run in the enclosing
 * transaction's session (the savepoint's own may already be closed). */
static int savepoint_stmt(orm_tx *tx, orm_ctx *ctx, const char *verb)
{
    char sql[64];
    int n = snprintf(sql, sizeof sql, "%s orm_sp_%u", verb, tx->depth);
    orm_stmt_intent in = { verb[0] == 'S' ? ORM_STMT_OP_SAVEPOINT
                           : verb[0] == 'R' && verb[1] == 'E' ? ORM_STMT_OP_RELEASE
                                                             : ORM_STMT_OP_ROLLBACK_TO,
                           NULL, 0, NULL, NULL, NULL };
    orm_query q = { .kind = ORM_QUERY_SAVEPOINT, .sql = sql, .sql_len = (size_t)n, .intent = &in };
    return orm__session_exec(&tx->parent->session, ctx, &q, NULL);
}

/* The error on this thread, kept across calls that may overwrite it. */
typedef struct saved_error {
    orm_error e;
    char msg[512];
} saved_error;

static void save_error(saved_error *s)
{
    s->e = *orm_error_last();
    strncpy(s->msg, s->e.message, sizeof s->msg - 1);
    s->msg[sizeof s->msg - 1] = '\0';
}

static int restore_error(const saved_error *s)
{
    return orm__error_set_db(s->e.code, s->e.module, s->e.sqlstate[0] ? s->e.sqlstate : NULL,
                             s->e.native_code, "%s", s->msg);
}

int orm_tx_begin(orm_tx **out, orm_db *db, orm_ctx *ctx, const orm_tx_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_begin: out is NULL");
    *out = NULL;
    if (!db)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_begin: db is NULL");
    if (opts && opts->version != 1 && opts->version != ORM_TX_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "tx", "unknown orm_tx_options version %u (this liborm knows %u)",
                              opts->version, ORM_TX_OPTIONS_VERSION);
    orm_tx *outer = orm__ctx_tx_for(ctx, db);
    orm_tx *tx = orm__calloc(1, sizeof *tx);
    if (!tx)
        return orm__error_nomem("tx");
    tx->db = db;
    tx->isolation = outer ? outer->isolation : opts ? opts->isolation : ORM_ISOLATION_DEFAULT;
    tx->session.db = db;
    tx->session.tx = tx;
    int rc;
    if (outer) {
        tx->parent = outer;
        tx->depth = outer->depth + 1;
        tx->conn = outer->conn;
        rc = savepoint_stmt(tx, ctx, "SAVEPOINT");
    } else {
        rc = orm__db_acquire(db, ctx, &tx->conn);
        if (rc == ORM_OK) {
            rc = run_op(tx, ctx, OP_BEGIN, opts);
            if (rc != ORM_OK) {
                if (tx->broken)
                    orm__db_discard(db, tx->conn);
                else
                    orm__db_release(db, tx->conn);
            }
        }
    }
    if (rc != ORM_OK) {
        orm__free(tx);
        return rc;
    }
    tx->open = 1;
    if (ctx) {
        tx->ctx = ctx;
        tx->ctx_prev = orm__ctx_own_tx(ctx);
        orm__ctx_set_tx(ctx, tx);
    }
    *out = tx;
    return ORM_OK;
}

static int done_error(void)
{
    return orm__error_set(ORM_ETXDONE, "tx", "transaction already committed or rolled back");
}

/* A cursor still open on the connection: ending now would pull the connection from under it. */
static int cursor_open(orm_tx *tx)
{
    if (!orm__tx_root(tx)->cursors)
        return 0;
    orm__error_set(ORM_EBUSY, "tx", "a cursor is still open on this transaction's connection: "
                                     "free the orm_rows first (the transaction stays open)");
    return 1;
}

/* Whether t is tx or one of its savepoints. */
static int within(const orm_tx *t, const orm_tx *tx)
{
    for (; t; t = t->parent)
        if (t == tx)
            return 1;
    return 0;
}

/* Take tx, and its savepoints (they end with it), off the list its ctx carries. */
static void unlink_from_ctx(orm_tx *tx)
{
    orm_tx *head = orm__ctx_own_tx(tx->ctx);
    while (head && within(head, tx))
        head = head->ctx_prev;
    orm__ctx_set_tx(tx->ctx, head);
    for (orm_tx *t = head; t; t = t->ctx_prev) {
        orm_tx *n = t->ctx_prev;
        while (n && within(n, tx))
            n = n->ctx_prev;
        t->ctx_prev = n;
    }
    tx->ctx = NULL;
}

/* End tx: give its connection back (a top-level one), take it off its ctx, then run its
 * hooks with ev (after the release: a hook may use the db). */
static void finish(orm_tx *tx, orm__txn_event ev)
{
    if (!tx->parent) {
        if (tx->broken)
            orm__db_discard(tx->db, tx->conn);
        else
            orm__db_release(tx->db, tx->conn);
    }
    tx->conn = NULL;
    tx->open = 0;
    if (tx->ctx)
        unlink_from_ctx(tx);
    if (tx->hooks)
        orm__txn_hooks_run(tx, ev);
}

/* Undo a savepoint's work and drop it (ROLLBACK TO leaves it in place on both backends). */
static int savepoint_rollback(orm_tx *tx)
{
    int rc = savepoint_stmt(tx, NULL, "ROLLBACK TO SAVEPOINT");
    if (rc == ORM_OK)
        rc = savepoint_stmt(tx, NULL, "RELEASE SAVEPOINT");
    return rc;
}

int orm_tx_commit(orm_tx *tx)
{
    if (!tx)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_commit: tx is NULL");
    if (!tx->open)
        return done_error();
    if (tx->parent && !orm__tx_usable(tx->parent)) {
        finish(tx, ORM__TXN_ABANDONED);
        return done_error();
    }
    if (cursor_open(tx))
        return ORM_EBUSY;
    int rc = tx->parent ? savepoint_stmt(tx, tx->ctx, "RELEASE SAVEPOINT")
                        : run_op(tx, tx->ctx, OP_COMMIT, NULL);
    if (rc != ORM_OK) {
        /* Keep the COMMIT's error: the rollback that cleans up may overwrite it. */
        saved_error saved;
        save_error(&saved);
        if (tx->parent)
            savepoint_rollback(tx);
        else
            run_op(tx, tx->ctx, OP_ROLLBACK, NULL);
        restore_error(&saved);
    }
    if (rc == ORM_OK)
        finish(tx, tx->parent ? ORM__TXN_RELEASED : ORM__TXN_COMMITTED);
    else
        finish(tx, tx->parent ? ORM__TXN_ROLLED_BACK_TO : ORM__TXN_COMMIT_FAILED);
    return rc;
}

int orm_tx_rollback(orm_tx *tx)
{
    if (!tx)
        return orm__error_set(ORM_EINVAL, "tx", "orm_tx_rollback: tx is NULL");
    if (!tx->open)
        return done_error();
    if (orm__tx_usable(tx) && cursor_open(tx))
        return ORM_EBUSY;
    int rc;
    orm__txn_event ev = ORM__TXN_ROLLED_BACK;
    if (tx->parent) {
        int live = orm__tx_usable(tx->parent);
        rc = live ? savepoint_rollback(tx) : done_error();
        ev = live ? ORM__TXN_ROLLED_BACK_TO : ORM__TXN_ABANDONED;
    } else {
        rc = run_op(tx, tx->ctx, OP_ROLLBACK, NULL);
    }
    finish(tx, ev);
    return rc;
}

int orm_tx_is_open(const orm_tx *tx) { return tx && orm__tx_usable(tx); }

orm_session *orm_tx_session(orm_tx *tx) { return tx ? &tx->session : NULL; }

void orm_tx_free(orm_tx *tx)
{
    if (!tx)
        return;
    if (tx->open && orm_tx_rollback(tx) != ORM_OK && tx->open)
        finish(tx, ORM__TXN_ABANDONED); /* a cursor left open (a misuse): the pool closes the
                                           connection */
    if (tx->hooks) /* cannot happen (every end runs them): never leak one */
        orm__txn_hooks_run(tx, ORM__TXN_ABANDONED);
    orm__free(tx);
}
