/* liborm — sessions: where every statement is sent.
 *
 * A session is the db (autocommit: lease a connection per statement) or a transaction (its
 * own connection, held from begin to commit/rollback). orm__session_exec, _query and
 * _exec_script are the single choke point every statement passes through on its way to the
 * driver; the middleware chain plugs in here and nowhere else.
 */
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/rows_internal.h"
#include "orm/session_internal.h"
#include "tx/tx_internal.h"

int orm__session_acquire(orm_session *s, orm_ctx *ctx, orm_conn **out)
{
    if (s->tx) {
        if (!s->tx->open) {
            *out = NULL;
            return orm__error_set(ORM_ETXDONE, "tx",
                                  "transaction already committed or rolled back");
        }
        *out = s->tx->conn;
        return ORM_OK;
    }
    return orm__db_acquire(s->db, ctx, out);
}

void orm__session_release(orm_session *s, orm_conn *c)
{
    if (!s->tx)
        orm__db_release(s->db, c);
}

/* The database end of the chain: run q on a connection of the session. */
static int exec_db(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    orm_conn *c;
    int rc = orm__session_acquire(s, ctx, &c);
    if (rc != ORM_OK)
        return rc;
    rc = orm__db_driver(s->db)->exec(c, ctx, q, res);
    orm__session_release(s, c);
    return rc;
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
    orm_conn *c;
    int rc = orm__session_acquire(s, ctx, &c);
    if (rc != ORM_OK)
        return rc;
    const orm_driver *drv = orm__db_driver(s->db);
    orm_cursor *cur;
    rc = drv->query(c, ctx, q, &cur);
    if (rc == ORM_OK) {
        rc = orm__rows_new(out, s, c, cur);
        if (rc == ORM_OK) {
            if (mw)
                *mw = orm__rows_mw(*out);
            return ORM_OK; /* the cursor keeps the connection until orm_rows_free */
        }
        drv->cursor_close(cur);
    }
    orm__session_release(s, c);
    return rc;
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

static int script_db(orm_session *s, orm_ctx *ctx, const char *sql)
{
    orm_conn *c;
    int rc = orm__session_acquire(s, ctx, &c);
    if (rc != ORM_OK)
        return rc;
    rc = orm__db_driver(s->db)->exec_script(c, ctx, sql);
    orm__session_release(s, c);
    return rc;
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
