/* liborm — sessions: where every statement is sent.
 *
 * A session is the db (autocommit: a pooled connection per statement) or a transaction (its
 * own connection, held from begin to commit/rollback). The db's session given a ctx that
 * carries an open transaction on the same db runs in that transaction (a callee joins its
 * caller's transaction). orm__session_exec, _query and _exec_script are the single choke
 * point every statement passes through on its way to the driver; the middleware chain plugs
 * in here and nowhere else.
 *
 * Keeps true: a broken connection (ORM_ECONN) is discarded, never pooled again; a SELECT
 * outside a transaction that failed that way is run once more on a fresh connection. Writes
 * and scripts are not: the server may have applied them before the connection dropped, and
 * running them twice is worse than reporting the error (idle connections the server dropped
 * are caught before use by the pool's alive check, which is the common case);
 * a driver's interrupted/cancelled code is turned into the ctx's reason (orm__ctx_fix).
 */
#include "orm/ctx_internal.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/rows_internal.h"
#include "orm/session_internal.h"
#include "orm/txn.h"

int orm__session_acquire(orm_session *s, orm_ctx *ctx, orm_conn **out, struct orm_tx **txp)
{
    *out = NULL;
    orm_tx *tx = s->tx;
    if (!tx && ctx)
        tx = orm__ctx_tx_for(ctx, s->db);
    *txp = tx;
    if (tx) {
        if (!orm__tx_usable(tx))
            return orm__error_set(ORM_ETXDONE, "tx",
                                  "transaction already committed or rolled back");
        int rc = orm__ctx_check(ctx, "tx");
        if (rc != ORM_OK)
            return rc;
        *out = tx->conn;
        return ORM_OK;
    }
    return orm__db_acquire(s->db, ctx, out);
}

void orm__session_release(orm_session *s, orm_conn *c, struct orm_tx *tx, int broken)
{
    if (tx) {
        if (broken)
            orm__tx_root(tx)->broken = 1;
    } else if (broken) {
        orm__db_discard(s->db, c);
    } else {
        orm__db_release(s->db, c);
    }
}

/* Whether a statement that failed with ORM_ECONN outside a transaction may run again. */
static int retryable(const orm_query *q, int rc, const orm_tx *tx, int attempt)
{
    return rc == ORM_ECONN && !tx && attempt == 0 && q->kind == ORM_QUERY_SELECT;
}

/* The database end of the chain: run q on a connection of the session. */
static int exec_db(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    for (int attempt = 0;; attempt++) {
        orm_conn *c;
        orm_tx *tx;
        int rc = orm__session_acquire(s, ctx, &c, &tx);
        if (rc != ORM_OK)
            return rc;
        rc = orm__db_driver(s->db)->exec(c, ctx, q, res);
        orm__session_release(s, c, tx, rc == ORM_ECONN);
        if (retryable(q, rc, tx, attempt))
            continue; /* the server dropped a pooled connection: once more on a fresh one */
        return orm__ctx_fix(ctx, rc);
    }
}

int orm__session_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    if (!s || !q)
        return orm__error_set(ORM_EINVAL, "session", "NULL session or query");
    orm__chain *ch = orm__db_chain(s->db);
    if (orm__chain_bypass(ch)) /* no middleware: one predictable branch */
        return exec_db(s, ctx, q, res);
    return orm__chain_exec(ch, s, ctx, q, res, exec_db);
}

/* Open a cursor on a connection of the session; *mw (when asked) gets its middleware hooks. */
static int query_db(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out,
                    orm__cursor_mw **mw)
{
    const orm_driver *drv = orm__db_driver(s->db);
    for (int attempt = 0;; attempt++) {
        orm_conn *c;
        orm_tx *tx;
        int rc = orm__session_acquire(s, ctx, &c, &tx);
        if (rc != ORM_OK)
            return rc;
        orm_cursor *cur;
        rc = drv->query(c, ctx, q, &cur);
        if (rc == ORM_OK) {
            rc = orm__rows_new(out, s, c, cur, tx, ctx);
            if (rc == ORM_OK) {
                if (mw)
                    *mw = orm__rows_mw(*out);
                return ORM_OK; /* the cursor keeps the connection until orm_rows_free */
            }
            drv->cursor_close(cur);
        }
        orm__session_release(s, c, tx, rc == ORM_ECONN);
        if (retryable(q, rc, tx, attempt))
            continue;
        return orm__ctx_fix(ctx, rc);
    }
}

int orm__session_query(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "session", "NULL out");
    *out = NULL;
    if (!s || !q)
        return orm__error_set(ORM_EINVAL, "session", "NULL session or query");
    orm__chain *ch = orm__db_chain(s->db);
    if (orm__chain_bypass(ch))
        return query_db(s, ctx, q, out, NULL);
    return orm__chain_query(ch, s, ctx, q, out, query_db);
}

int orm__session_query_direct(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out)
{
    *out = NULL;
    return query_db(s, ctx, q, out, NULL);
}

int orm__session_get(orm_session *s, orm_ctx *ctx, const orm_query *q, int64_t *found,
                     int (*t)(orm_session *, orm_ctx *, const orm_query *, int64_t *))
{
    if (!s || !q)
        return orm__error_set(ORM_EINVAL, "session", "NULL session or query");
    orm__chain *ch = orm__db_chain(s->db);
    int64_t n = 0;
    int rc = orm__chain_bypass(ch) ? t(s, ctx, q, &n) : orm__chain_get(ch, s, ctx, q, &n, t);
    if (found)
        *found = n;
    return rc;
}

static int script_db(orm_session *s, orm_ctx *ctx, const char *sql)
{
    orm_conn *c;
    orm_tx *tx;
    int rc = orm__session_acquire(s, ctx, &c, &tx);
    if (rc != ORM_OK)
        return rc;
    rc = orm__db_driver(s->db)->exec_script(c, ctx, sql);
    orm__session_release(s, c, tx, rc == ORM_ECONN);
    return orm__ctx_fix(ctx, rc);
}

int orm__session_exec_script(orm_session *s, orm_ctx *ctx, const char *sql)
{
    if (!s || !sql)
        return orm__error_set(ORM_EINVAL, "session", "NULL session or SQL");
    orm__chain *ch = orm__db_chain(s->db);
    if (orm__chain_bypass(ch))
        return script_db(s, ctx, sql);
    return orm__chain_script(ch, s, ctx, sql, script_db);
}

int orm_exec_sql(orm_session *s, orm_ctx *ctx, const char *sql)
{
    return orm__session_exec_script(s, ctx, sql);
}
