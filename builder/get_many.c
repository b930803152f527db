/* liborm builder — orm_get_many: many rows by primary key in few statements.
 *
 * One statement (kind SELECT, intent GET_MANY) goes through the chain for the whole call, so
 * a layer (the row cache) can answer some keys and leave the others marked not found; the
 * terminal then reads the keys still not found with `WHERE pk IN (...)` (row values
 * `(a, b) IN ((?, ?), ...)` for a composite key), one query per chunk that fits the dialect's
 * parameter limit (at most CHUNK keys), and places each row at every index of its key.
 *
 * Keeps true: results are in key order whatever order the database returns them in; on any
 * error every struct is cleared and every found[i] false (nothing half-returned).
 */
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/middleware.h"
#include "orm/model_internal.h"
#include "orm/write.h"

#define CHUNK 500

/* Equal as key values: numbers by value, text and blobs by bytes. */
static int key_eq(orm_value a, orm_value b)
{
    int an = a.type == ORM_VALUE_INT || a.type == ORM_VALUE_TIMESTAMP || a.type == ORM_VALUE_BOOL;
    int bn = b.type == ORM_VALUE_INT || b.type == ORM_VALUE_TIMESTAMP || b.type == ORM_VALUE_BOOL;
    if (an && bn)
        return (a.type == ORM_VALUE_BOOL ? a.u.b : a.u.i) == (b.type == ORM_VALUE_BOOL ? b.u.b : b.u.i);
    if ((an || a.type == ORM_VALUE_DOUBLE) && (bn || b.type == ORM_VALUE_DOUBLE)) {
        double x = a.type == ORM_VALUE_DOUBLE ? a.u.d : (double)a.u.i;
        double y = b.type == ORM_VALUE_DOUBLE ? b.u.d : (double)b.u.i;
        return x == y;
    }
    if ((a.type == ORM_VALUE_TEXT || a.type == ORM_VALUE_BLOB) && (b.type == ORM_VALUE_TEXT || b.type == ORM_VALUE_BLOB))
        return a.len == b.len && (a.len == 0 || memcmp(a.u.s, b.u.s, a.len) == 0);
    return 0;
}

static int row_has_key(const orm_model *m, const void *row, const orm_value *key)
{
    for (size_t k = 0; k < m->npk; k++)
        if (!key_eq(orm_model_get(m, row, m->pk[k]), key[k]))
            return 0;
    return 1;
}

/* SELECT <every column> FROM t WHERE <key> IN (...) for the keys idx[0..n-1]. */
static void render(orm_sql_buf *b, const orm_model *m, const orm_value *keys, const size_t *idx, size_t n)
{
    size_t npk = m->npk;
    orm__builder_select_model(b, m);
    orm__sql_buf_put(b, " WHERE ");
    if (npk > 1)
        orm__sql_buf_putc(b, '(');
    for (size_t k = 0; k < npk; k++) {
        if (k)
            orm__sql_buf_put(b, ", ");
        orm__sql_buf_ident(b, m->fields[m->pk[k]].column);
    }
    orm__sql_buf_put(b, npk > 1 ? ") IN (" : " IN (");
    for (size_t i = 0; i < n; i++) {
        orm__sql_buf_put(b, i ? ", " : "");
        if (npk > 1)
            orm__sql_buf_putc(b, '(');
        for (size_t k = 0; k < npk; k++) {
            if (k)
                orm__sql_buf_put(b, ", ");
            orm__sql_buf_param(b, keys[idx[i] * npk + k]);
        }
        if (npk > 1)
            orm__sql_buf_putc(b, ')');
    }
    orm__sql_buf_putc(b, ')');
}

static size_t chunk_of(orm_session *s, const orm_model *m)
{
    size_t c = orm__dialect_for_db(s->db)->max_params / m->npk;
    return c < CHUNK ? (c ? c : 1) : CHUNK;
}

/* Place the row r is on at every index of idx[0..n-1] whose key it has. */
static int place(const orm_model *m, orm_rows *r, const orm_stmt_intent *in, const size_t *idx, size_t n,
                 int64_t *nfound)
{
    size_t sz = m->struct_size;
    char *tmp = orm__calloc(1, sz);
    if (!tmp)
        return orm__error_nomem("builder");
    int rc = orm__map_row_identity(m, r, tmp);
    int placed = 0;
    for (size_t i = 0; rc == ORM_OK && i < n; i++) {
        size_t j = idx[i];
        if (in->found[j] || !row_has_key(m, tmp, in->key + j * m->npk))
            continue;
        void *dst = (char *)in->obj + j * sz;
        if (!placed) {
            memcpy(dst, tmp, sz); /* dst takes what tmp owns */
            placed = 1;
        } else if ((rc = orm_model_copy(m, dst, tmp)) != ORM_OK) {
            break;
        }
        in->found[j] = true;
        (*nfound)++;
    }
    if (!placed)
        orm_model_clear(m, tmp);
    orm__free(tmp);
    return rc;
}

/* The database end: the keys not found yet, chunk by chunk. */
static int get_many_db(orm_session *s, orm_ctx *ctx, const orm_query *q, int64_t *nfound)
{
    const orm_stmt_intent *in = q->intent;
    const orm_model *m = q->model;
    size_t n = in->nkeys, chunk = chunk_of(s, m);
    size_t *idx = orm__malloc((n ? n : 1) * sizeof *idx);
    if (!idx)
        return orm__error_nomem("builder");
    size_t nmiss = 0;
    for (size_t i = 0; i < n; i++) {
        if (in->found[i])
            (*nfound)++;
        else
            idx[nmiss++] = i;
    }
    int rc = ORM_OK;
    orm_sql_buf b;
    orm__sql_buf_init(&b, orm__dialect_for_db(s->db));
    for (size_t at = 0; rc == ORM_OK && at < nmiss; at += chunk) {
        size_t c = nmiss - at < chunk ? nmiss - at : chunk;
        orm__sql_buf_reset(&b);
        render(&b, m, in->key, idx + at, c);
        if ((rc = orm__sql_buf_finish(&b)) != ORM_OK)
            break;
        orm_query cq = { ORM_QUERY_SELECT, m, b.text.p, b.text.len, 0, b.args, b.nargs, NULL };
        orm_rows *r;
        if ((rc = orm__session_query_direct(s, ctx, &cq, &r)) != ORM_OK)
            break;
        while ((rc = orm_rows_next(r)) == 1)
            if ((rc = place(m, r, in, idx + at, c, nfound)) != ORM_OK)
                break;
        orm_rows_free(r);
        if (rc > 0)
            rc = ORM_OK;
    }
    orm__sql_buf_free(&b);
    orm__free(idx);
    return rc;
}

int orm_get_many(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out, bool *found,
                 const orm_value *keys, size_t n)
{
    if (!s || !model || (n && (!out || !found || !keys)))
        return orm__error_set(ORM_EINVAL, "builder", "orm_get_many: NULL %s",
                              !s ? "session" : !model ? "model" : !out ? "out" : !found ? "found" : "keys");
    if (!orm__db_model_entry(s->db, model))
        return orm__builder_check_model(s, model);
    if (model->npk == 0)
        return orm__error_set(ORM_EINVAL, "builder", "orm_get_many: table \"%s\" has no primary key", model->table);
    for (size_t i = 0; i < n; i++) {
        found[i] = false;
        memset((char *)out + i * model->struct_size, 0, model->struct_size);
    }
    if (n == 0)
        return ORM_OK;
    /* The statement the middlewares see: the query for the first chunk of keys. */
    size_t first = n < chunk_of(s, model) ? n : chunk_of(s, model);
    size_t *idx = orm__malloc(first * sizeof *idx);
    if (!idx)
        return orm__error_nomem("builder");
    for (size_t i = 0; i < first; i++)
        idx[i] = i;
    orm_sql_buf b;
    orm__sql_buf_init(&b, orm__dialect_for_db(s->db));
    render(&b, model, keys, idx, first);
    orm__free(idx);
    int rc = orm__sql_buf_finish(&b);
    if (rc == ORM_OK) {
        orm_stmt_intent in = { ORM_STMT_OP_GET_MANY, keys, n, out, NULL, found };
        orm_query q = { ORM_QUERY_SELECT, model, b.text.p, b.text.len, 0, b.args, b.nargs, &in };
        rc = orm__session_get(s, ctx, &q, NULL, get_many_db);
    }
    orm__sql_buf_free(&b);
    if (rc != ORM_OK)
        for (size_t i = 0; i < n; i++) {
            if (found[i])
                orm_model_clear(model, (char *)out + i * model->struct_size);
            found[i] = false;
        }
    return rc;
}
