/* The middleware chain: registration, freezing, and running one statement through the
 * layers down to the session's terminal.
 *
 * What it keeps true:
 *   - the layers are written only before the chain is frozen (by the first statement), and
 *     read without locks after: freezing publishes them with a release store;
 *   - a statement allocates nothing here: the orm_stmt and the terminal's arguments live on
 *     the stack of orm__chain_*;
 *   - each layer sees the SQL it was given, also after a layer inside it rewrote the text;
 *   - a cursor statement that ends in an error leaves no cursor open and *out NULL.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <string.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/txn.h"

_Static_assert((int)ORM_STMT_SELECT == (int)ORM_QUERY_SELECT &&
                   (int)ORM_STMT_RAW == (int)ORM_QUERY_RAW &&
                   (int)ORM_STMT_SAVEPOINT == (int)ORM_QUERY_SAVEPOINT,
               "orm_stmt_kind mirrors orm_query_kind");
_Static_assert(ORM_MIDDLEWARE_MAX <= 32, "a uint32_t holds one bit per layer");

enum { RUN_EXEC, RUN_QUERY, RUN_SCRIPT, RUN_CALL, RUN_GET };

/* The chain's side of one statement (orm_stmt.run_, opaque to middlewares), on the stack of
 * orm__chain_*: where it is in the chain and the terminal it ends in. */
typedef struct orm__stmt_run {
    const orm__chain *chain;
    size_t depth;            /* the layer running now */
    uint32_t nexted;         /* bit i: layer i called orm_stmt_next */
    int how;
    const orm_query *q;
    orm_exec_result *res;
    orm_rows **out;
    orm__cursor_mw *cmw;     /* the open cursor's hooks (RUN_QUERY after success) */
    uint32_t deferred;
    uint64_t t0;             /* when the statement started, for cursors' close callbacks */
    union {
        orm__exec_terminal_fn exec;
        orm__query_terminal_fn query;
        orm__script_terminal_fn script;
        orm__call_terminal_fn call;
        orm__get_terminal_fn get;
    } t;
    void *arg;
} run;

uint64_t orm__mw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *const kind_names[ORM_STMT_KIND_COUNT] = {
    "SELECT", "INSERT", "UPDATE", "DELETE", "RAW", "DDL",
    "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT"
};

const char *orm_stmt_kind_name(orm_stmt_kind kind)
{
    return (unsigned)kind < ORM_STMT_KIND_COUNT ? kind_names[kind] : "?";
}

void orm_free_string(char *s)
{
    orm__free(s);
}

/* ---- registration ---- */

static void lock(orm__chain *c)
{
    while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
        ;
}

static void unlock(orm__chain *c)
{
    atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

void orm__chain_init(orm__chain *c)
{
    memset(c, 0, sizeof *c);
    atomic_init(&c->slow, 1);
    atomic_init(&c->frozen, 0);
    atomic_flag_clear(&c->lock);
}

void orm__chain_free(orm__chain *c)
{
    if (!c)
        return;
    /* Innermost first, as they were stacked. */
    for (size_t i = c->n; i-- > 0;)
        if (c->layers[i].free)
            c->layers[i].free(c->layers[i].userdata);
    orm__chain_init(c);
}

static int refuse(const orm_middleware *mw, const char *why)
{
    if (mw && mw->free)
        mw->free(mw->userdata);
    return orm__error_set(ORM_EINVAL, "middleware", "orm_db_use(%s): %s",
                          mw && mw->name ? mw->name : "?", why);
}

int orm__chain_use(orm__chain *c, const orm_middleware *mw)
{
    if (!mw)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_db_use: middleware is NULL");
    if (mw->version != ORM_MIDDLEWARE_VERSION)
        return refuse(mw, "unknown orm_middleware version");
    if (!mw->fn)
        return refuse(mw, "fn is NULL");
    lock(c);
    if (atomic_load_explicit(&c->frozen, memory_order_relaxed)) {
        unlock(c);
        return refuse(mw, "the db already ran a statement: register middlewares before");
    }
    if (c->n == ORM_MIDDLEWARE_MAX) {
        unlock(c);
        return refuse(mw, "chain is full (ORM_MIDDLEWARE_MAX)");
    }
    c->layers[c->n++] = *mw;
    if (mw->close)
        c->has_close = 1;
    unlock(c);
    return ORM_OK;
}

/* The first statement fixes the chain. With no layer, later statements bypass it. */
static void freeze(orm__chain *c)
{
    lock(c);
    if (!atomic_load_explicit(&c->frozen, memory_order_relaxed)) {
        atomic_store_explicit(&c->frozen, 1, memory_order_release);
        if (c->n == 0)
            atomic_store_explicit(&c->slow, 0, memory_order_relaxed);
    }
    unlock(c);
}

static inline const orm__chain *enter(orm__chain *c)
{
    if (!atomic_load_explicit(&c->frozen, memory_order_acquire))
        freeze(c);
    return c;
}

/* ---- one statement ---- */

static int terminal(orm_stmt *st)
{
    run *r = st->run_;
    orm_query q = *r->q;
    if (st->sql != r->q->sql || st->sql_len != r->q->sql_len) {
        q.sql = st->sql;
        q.sql_len = st->sql_len;
        q.sql_hash = 0; /* the driver hashes the new text for its statement cache */
    }
    int rc;
    switch (r->how) {
    case RUN_EXEC: {
        orm_exec_result res = { 0, 0 };
        rc = r->t.exec(st->session, st->ctx, &q, &res);
        if (rc == ORM_OK) {
            st->affected = res.affected;
            st->last_id = res.last_id;
        }
        return rc;
    }
    case RUN_QUERY:
        rc = r->t.query(st->session, st->ctx, &q, r->out, &r->cmw);
        if (rc != ORM_OK)
            *r->out = NULL;
        return rc;
    case RUN_SCRIPT:
        return r->t.script(st->session, st->ctx, q.sql); /* NUL-terminated: set_sql checks */
    case RUN_GET: {
        int64_t found = 0;
        rc = r->t.get(st->session, st->ctx, &q, &found);
        if (rc == ORM_OK)
            st->rows = found;
        return rc;
    }
    default:
        return r->t.call(r->arg, st->ctx);
    }
}

/* Run layer i (or the terminal past the last one). */
static int dispatch(orm_stmt *st, size_t i)
{
    run *r = st->run_;
    const orm__chain *c = r->chain;
    if (i == c->n)
        return terminal(st);
    r->depth = i;
    int rc = c->layers[i].fn(st, c->layers[i].userdata);
    if (r->how == RUN_QUERY) {
        int opened = *r->out != NULL;
        if (rc == ORM_OK && !opened)
            rc = orm__error_set(ORM_ERROR, "middleware",
                                "middleware %s returned ORM_OK for a cursor statement without "
                                "running it",
                                c->layers[i].name ? c->layers[i].name : "?");
        else if (rc != ORM_OK && opened) {
            /* The layer failed a statement that did open: close what nobody will read,
             * telling the layers inside it that deferred (their cookies are theirs to free). */
            if (r->deferred && r->cmw) {
                orm__cursor_mw *m = r->cmw;
                m->chain = c;
                m->deferred = r->deferred;
                m->kind = st->kind;
                m->model = st->model;
                m->rows = 0;
                m->error = rc;
                m->t0_ns = r->t0;
                orm__cursor_mw_close(m);
            }
            orm_rows_free(*r->out);
            *r->out = NULL;
            r->cmw = NULL;
            r->deferred = 0;
        }
    }
    return rc;
}

int orm_stmt_next(orm_stmt *st)
{
    if (!st || !st->run_)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_stmt_next: not a chain statement");
    run *r = st->run_;
    size_t i = r->depth;
    if (r->nexted & (1u << i))
        return orm__error_set(ORM_EINVAL, "middleware",
                              "orm_stmt_next called twice by middleware %zu", i);
    r->nexted |= 1u << i;
    const char *sql = st->sql;
    size_t len = st->sql_len;
    int rc = dispatch(st, i + 1);
    st->sql = sql;
    st->sql_len = len;
    r->depth = i;
    return rc;
}

int orm_stmt_set_sql(orm_stmt *st, const char *sql, size_t len)
{
    if (!st || !st->run_ || !sql)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_stmt_set_sql: sql is NULL");
    if (sql[len] != '\0')
        return orm__error_set(ORM_EINVAL, "middleware",
                              "orm_stmt_set_sql: sql must end with a NUL at sql[len]");
    if (st->run_->nexted & (1u << st->run_->depth))
        return orm__error_set(ORM_EINVAL, "middleware",
                              "orm_stmt_set_sql after orm_stmt_next has no effect");
    st->sql = sql;
    st->sql_len = len;
    return ORM_OK;
}

int orm_stmt_defer(orm_stmt *st, void *cookie)
{
    if (!st || !st->run_)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_stmt_defer: not a chain statement");
    run *r = st->run_;
    const orm__chain *c = r->chain;
    size_t i = r->depth;
    if (r->how != RUN_QUERY || !r->cmw || !*r->out)
        return orm__error_set(ORM_EINVAL, "middleware",
                              "orm_stmt_defer: no open cursor (not a cursor statement, or "
                              "before a successful orm_stmt_next)");
    if (!c->layers[i].close)
        return orm__error_set(ORM_EINVAL, "middleware",
                              "orm_stmt_defer: middleware %s has no close callback",
                              c->layers[i].name ? c->layers[i].name : "?");
    r->cmw->cookie[i] = cookie;
    r->deferred |= 1u << i;
    return ORM_OK;
}

static void stmt_init(orm_stmt *st, const orm__chain *c, run *r, orm_session *s, orm_ctx *ctx,
                      const orm_query *q)
{
    st->kind = (orm_stmt_kind)q->kind;
    st->model = q->model;
    st->session = s;
    st->ctx = ctx;
    st->sql = q->sql;
    st->sql_len = q->sql_len;
    st->args = q->args;
    st->nargs = q->nargs;
    st->flags = 0;
    st->intent = q->intent;
    st->affected = 0;
    st->rows = -1;
    st->last_id = 0;
    r->chain = c;
    r->depth = 0;
    r->nexted = 0;
    st->run_ = r;
}

int orm__chain_exec(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                    orm_exec_result *res, orm__exec_terminal_fn t)
{
    const orm__chain *ch = enter(c);
    if (ch->n == 0)
        return t(s, ctx, q, res);
    run r = { .how = RUN_EXEC, .q = q, .res = res };
    r.t.exec = t;
    orm_stmt st;
    stmt_init(&st, ch, &r, s, ctx, q);
    int rc = dispatch(&st, 0);
    if (rc == ORM_OK && res) {
        res->affected = st.affected;
        res->last_id = st.last_id;
    }
    return rc;
}

int orm__chain_query(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                     orm_rows **out, orm__query_terminal_fn t)
{
    const orm__chain *ch = enter(c);
    if (ch->n == 0)
        return t(s, ctx, q, out, NULL);
    *out = NULL;
    run r = { .how = RUN_QUERY, .q = q, .out = out };
    r.t.query = t;
    orm_stmt st;
    stmt_init(&st, ch, &r, s, ctx, q);
    st.flags = ORM_STMT_CURSOR;
    st.affected = -1;
    r.t0 = ch->has_close ? orm__mw_now_ns() : 0;
    int rc = dispatch(&st, 0);
    if (rc == ORM_OK && r.deferred && r.cmw) {
        orm__cursor_mw *m = r.cmw;
        m->chain = ch;
        m->deferred = r.deferred;
        m->kind = st.kind;
        m->model = st.model;
        m->rows = 0;
        m->error = ORM_OK;
        m->t0_ns = r.t0;
    }
    return rc;
}

/* Undo what a read by key mapped into the caller's structs. */
static void unfill(const orm_query *q)
{
    const orm_stmt_intent *in = q->intent;
    if (in->op == ORM_STMT_OP_GET) {
        orm_model_clear(q->model, in->obj);
        return;
    }
    for (size_t i = 0; in->found && i < in->nkeys; i++)
        if (in->found[i]) {
            orm_model_clear(q->model, (char *)in->obj + i * q->model->struct_size);
            in->found[i] = false;
        }
}

int orm__chain_get(orm__chain *c, orm_session *s, orm_ctx *ctx, const orm_query *q,
                   int64_t *found, orm__get_terminal_fn t)
{
    const orm__chain *ch = enter(c);
    if (ch->n == 0)
        return t(s, ctx, q, found);
    run r = { .how = RUN_GET, .q = q };
    r.t.get = t;
    orm_stmt st;
    stmt_init(&st, ch, &r, s, ctx, q);
    st.flags = ORM_STMT_GET;
    st.rows = 0;
    int rc = dispatch(&st, 0);
    if (rc != ORM_OK && st.rows > 0)
        unfill(q); /* a layer failed the read after it was mapped: the caller gets nothing */
    if (found)
        *found = rc == ORM_OK && st.rows > 0 ? st.rows : 0;
    return rc;
}

orm_tx *orm_stmt_tx(const orm_stmt *st)
{
    return st && st->session ? orm__session_tx(st->session, st->ctx) : NULL;
}

int orm__chain_script(orm__chain *c, orm_session *s, orm_ctx *ctx, const char *sql,
                      orm__script_terminal_fn t)
{
    const orm__chain *ch = enter(c);
    if (ch->n == 0)
        return t(s, ctx, sql);
    if (!sql)
        return orm__error_set(ORM_EINVAL, "middleware", "script SQL is NULL");
    orm_query q = { ORM_QUERY_DDL, NULL, sql, strlen(sql), 0, NULL, 0, NULL };
    run r = { .how = RUN_SCRIPT, .q = &q };
    r.t.script = t;
    orm_stmt st;
    stmt_init(&st, ch, &r, s, ctx, &q);
    st.flags = ORM_STMT_SCRIPT;
    return dispatch(&st, 0);
}

int orm__chain_call(orm__chain *c, orm_session *s, orm_ctx *ctx, orm_query_kind kind,
                    const char *sql, orm__call_terminal_fn t, void *arg)
{
    const orm__chain *ch = enter(c);
    if (ch->n == 0)
        return t(arg, ctx);
    if (!sql)
        sql = orm_stmt_kind_name((orm_stmt_kind)kind);
    orm_query q = { kind, NULL, sql, strlen(sql), 0, NULL, 0, NULL };
    run r = { .how = RUN_CALL, .q = &q, .arg = arg };
    r.t.call = t;
    orm_stmt st;
    stmt_init(&st, ch, &r, s, ctx, &q);
    return dispatch(&st, 0);
}

void orm__cursor_mw_close(orm__cursor_mw *m)
{
    if (!m || !m->chain)
        return;
    const orm__chain *c = m->chain;
    m->chain = NULL;
    orm_stmt_done d = { m->kind, m->model, m->rows, m->error, 0 };
    d.elapsed_ns = orm__mw_now_ns() - m->t0_ns;
    for (size_t i = c->n; i-- > 0;)
        if (m->deferred & (1u << i))
            c->layers[i].close(&d, m->cookie[i], c->layers[i].userdata);
    m->deferred = 0;
}
