/* liborm — the public row cursor over a driver cursor.
 *
 * Keeps true: while an orm_rows exists it holds its connection (released once, by
 * orm_rows_free: to the pool, discarded when a step lost it, or left with its transaction); typed getters convert like the backend would and never fail
 * (NULL reads as 0 / NULL). Numbers read as text are formatted into a buffer in the cursor,
 * valid until the next call, like any other borrowed text. A freed orm_rows is parked in its
 * db (one spare) and reused by the next cursor instead of going back to malloc.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/rows_internal.h"
#include "orm/txn.h"
#include "orm/value_internal.h"

struct orm_rows {
    orm_session *session;
    orm_conn *conn;
    const orm_driver *drv;
    orm_cursor *cur;
    struct orm_tx *tx;    /* the transaction whose connection this is; NULL: pooled */
    orm_ctx *ctx;
    int broken;           /* a step failed with ORM_ECONN: discard the connection */
    size_t ncols;
    char numbuf[40];
    orm__cursor_mw mw;    /* the middlewares waiting for this cursor's end */
};

int orm__rows_new(orm_rows **out, orm_session *s, orm_conn *conn, orm_cursor *cur,
                  struct orm_tx *tx, orm_ctx *ctx)
{
    orm_rows *r = orm__db_rows_take(s->db);
    if (!r)
        r = orm__malloc(sizeof *r);
    if (!r)
        return orm__error_nomem("rows");
    r->session = s;
    r->conn = conn;
    r->drv = orm__db_driver(s->db);
    r->cur = cur;
    r->tx = tx;
    r->ctx = ctx;
    r->broken = 0;
    if (tx)
        orm__tx_root(tx)->cursors++;
    r->ncols = r->drv->cursor_ncols(cur);
    r->numbuf[0] = '\0';
    r->mw.chain = NULL;
    *out = r;
    return ORM_OK;
}

orm_cursor *orm__rows_cursor(orm_rows *r) { return r->cur; }
const orm_driver *orm__rows_driver(orm_rows *r) { return r->drv; }
orm__cursor_mw *orm__rows_mw(orm_rows *r) { return &r->mw; }

int orm_rows_next(orm_rows *r)
{
    if (!r)
        return orm__error_set(ORM_EINVAL, "rows", "orm_rows_next: NULL cursor");
    int rc = r->drv->cursor_next(r->cur);
    if (rc < 0) {
        r->broken |= rc == ORM_ECONN;
        rc = orm__ctx_fix(r->ctx, rc);
    }
    orm__cursor_mw_step(&r->mw, rc);
    return rc;
}

size_t orm_rows_ncols(const orm_rows *r) { return r ? r->ncols : 0; }

const char *orm_rows_name(const orm_rows *r, size_t col)
{
    return r && col < r->ncols ? r->drv->cursor_name(r->cur, col) : NULL;
}

orm_value orm_rows_value(const orm_rows *r, size_t col)
{
    return r && col < r->ncols ? r->drv->cursor_value(r->cur, col) : orm_null();
}

int orm_rows_timestamp(orm_timestamp *out, const orm_rows *r, size_t col)
{
    if (!out || !r || col >= r->ncols)
        return orm__error_set(ORM_EINVAL, "rows", "orm_rows_timestamp: %s",
                              !out ? "out is NULL" : !r ? "NULL cursor" : "column out of range");
    orm_value v = orm_rows_value(r, col);
    if (v.type == ORM_VALUE_NULL)
        return orm__error_set(ORM_ENULL, "rows", "column \"%s\" is NULL", orm_rows_name(r, col));
    orm_timestamp ts;
    if (orm__timestamp_from_value(v, &ts) != 0)
        return orm__error_set(ORM_ETYPE, "rows", "column \"%s\" holds a %s that is not a timestamp",
                              orm_rows_name(r, col), orm_value_type_name(v.type));
    *out = ts;
    return ORM_OK;
}

orm_value_type orm_rows_type(const orm_rows *r, size_t col) { return orm_rows_value(r, col).type; }

bool orm_rows_is_null(const orm_rows *r, size_t col)
{
    return orm_rows_value(r, col).type == ORM_VALUE_NULL;
}

/* A NUL-terminated copy of a number held as text (bounded: numbers are short). */
static const char *num_text(const orm_value *v, char *buf, size_t n)
{
    size_t len = v->len < n - 1 ? v->len : n - 1;
    memcpy(buf, v->u.s, len);
    buf[len] = '\0';
    return buf;
}

int64_t orm_rows_int(const orm_rows *r, size_t col)
{
    orm_value v = orm_rows_value(r, col);
    char buf[64];
    switch (v.type) {
    case ORM_VALUE_INT:
    case ORM_VALUE_TIMESTAMP: return v.u.i;
    case ORM_VALUE_DOUBLE: return (int64_t)v.u.d;
    case ORM_VALUE_BOOL: return v.u.b;
    case ORM_VALUE_TEXT: return strtoll(num_text(&v, buf, sizeof buf), NULL, 10);
    default: return 0;
    }
}

double orm_rows_double(const orm_rows *r, size_t col)
{
    orm_value v = orm_rows_value(r, col);
    char buf[64];
    switch (v.type) {
    case ORM_VALUE_INT:
    case ORM_VALUE_TIMESTAMP: return (double)v.u.i;
    case ORM_VALUE_DOUBLE: return v.u.d;
    case ORM_VALUE_BOOL: return v.u.b;
    case ORM_VALUE_TEXT: return strtod(num_text(&v, buf, sizeof buf), NULL);
    default: return 0;
    }
}

static const char *as_text(const orm_rows *rc, size_t col, size_t *len)
{
    orm_rows *r = (orm_rows *)rc; /* the number buffer is scratch, like the driver's */
    orm_value v = orm_rows_value(r, col);
    const char *s = NULL;
    size_t n = 0;
    switch (v.type) {
    case ORM_VALUE_TEXT:
    case ORM_VALUE_BLOB: s = v.u.s; n = v.len; break;
    case ORM_VALUE_INT:
        n = (size_t)snprintf(r->numbuf, sizeof r->numbuf, "%" PRId64, v.u.i);
        s = r->numbuf;
        break;
    case ORM_VALUE_DOUBLE:
        n = (size_t)snprintf(r->numbuf, sizeof r->numbuf, "%.17g", v.u.d);
        s = r->numbuf;
        break;
    case ORM_VALUE_BOOL:
        n = (size_t)snprintf(r->numbuf, sizeof r->numbuf, "%d", v.u.b ? 1 : 0);
        s = r->numbuf;
        break;
    case ORM_VALUE_TIMESTAMP: {
        int k = orm_timestamp_format(v.u.i, r->numbuf, sizeof r->numbuf);
        if (k < 0)
            k = snprintf(r->numbuf, sizeof r->numbuf, "%" PRId64, v.u.i);
        n = (size_t)k;
        s = r->numbuf;
        break;
    }
    default: break;
    }
    if (len)
        *len = n;
    return s;
}

const char *orm_rows_text(const orm_rows *r, size_t col, size_t *len)
{
    return as_text(r, col, len);
}

const void *orm_rows_blob(const orm_rows *r, size_t col, size_t *len)
{
    return as_text(r, col, len);
}

void orm_rows_free(orm_rows *r)
{
    if (!r)
        return;
    if (r->mw.chain) /* the middlewares see the end before the lease goes */
        orm__cursor_mw_close(&r->mw);
    r->drv->cursor_close(r->cur);
    if (r->tx)
        orm__tx_root(r->tx)->cursors--;
    orm_db *db = r->session->db; /* read before the release: the session may end with it */
    orm__session_release(r->session, r->conn, r->tx, r->broken);
    if (!orm__db_rows_park(db, r))
        orm__free(r);
}
