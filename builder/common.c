/* liborm builder — what every builder shares: the sticky first error, the common head
 * (constructor, NULL-builder and sticky checks, AND-ed conditions), model registration and
 * field checks, copied name lists, rendering a statement into SQL text or a buffer, and
 * handing a rendered statement to the session.
 *
 * Keeps true: a builder's recorded error never changes once set, and its message is the one
 * the caller saw first; the messages name the public call (fn) and the builder's kind, so
 * every builder reports the same situation in the same words.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

int orm__bstate_fail(orm_bstate *st, int code, const char *fmt, ...)
{
    if (st->err)
        return orm__bstate_check(st);
    st->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->msg, sizeof st->msg, fmt, ap);
    va_end(ap);
    if (code == ORM_ENOMEM)
        return orm__error_nomem("builder");
    return orm__error_set(code, "builder", "%s", st->msg);
}

int orm__bstate_keep(orm_bstate *st, int code)
{
    if (st->err)
        return orm__bstate_check(st);
    st->err = code;
    snprintf(st->msg, sizeof st->msg, "%s", orm_error_last()->message);
    return code;
}

int orm__bstate_check(const orm_bstate *st)
{
    if (!st->err)
        return ORM_OK;
    if (st->err == ORM_ENOMEM)
        return orm__error_nomem("builder");
    return orm__error_set(st->err, "builder", "%s", st->msg);
}

void *orm__builder_new(orm_session *s, const orm_model *model, size_t size, const char *fn)
{
    if (!s || !model) {
        orm__error_set(ORM_EINVAL, "builder", "%s: NULL %s", fn, s ? "model" : "session");
        return NULL;
    }
    orm_builder_base *q = orm__calloc(1, size);
    if (!q) {
        orm__error_nomem("builder");
        return NULL;
    }
    q->s = s;
    q->model = model;
    q->d = orm__dialect_for_db(s->db);
    /* Not a NULL: the caller gets a builder whose every call reports the model. */
    if (orm__builder_check_model(s, model) != ORM_OK)
        orm__bstate_keep(&q->st, ORM_EINVAL);
    return q;
}

int orm__builder_null(const char *fn, const char *kind)
{
    return orm__error_set(ORM_EINVAL, "builder", "%s: NULL %s", fn, kind);
}

int orm__builder_and(orm_builder_base *q, orm_expr **slot, orm_expr *e, const char *fn, const char *kind)
{
    if (!q) {
        orm_expr_free(e);
        return orm__builder_null(fn, kind);
    }
    if (q->st.err || !e) {
        orm_expr_free(e);
        return q->st.err ? orm__bstate_check(&q->st)
                         : orm__bstate_fail(&q->st, ORM_EINVAL, "%s: NULL expression", fn);
    }
    *slot = *slot ? orm_and(*slot, e) : e;
    return ORM_OK;
}

int orm__builder_check_model(orm_session *s, const orm_model *model)
{
    if (!orm__db_model_entry(s->db, model))
        return orm__error_set(ORM_EINVAL, "builder", "model \"%s\" (table \"%s\") is not registered with this db",
                              model->name ? model->name : "?", model->table ? model->table : "?");
    return ORM_OK;
}

int orm__builder_field(const orm_model *model, const char *name, size_t *out)
{
    if (!name)
        return orm__error_set(ORM_EINVAL, "builder", "NULL field name for table \"%s\"", model->table);
    const char *dot = strchr(name, '.');
    if (dot) {
        /* "table.field" naming this model is accepted too. */
        size_t q = (size_t)(dot - name);
        if (strlen(model->table) == q && memcmp(model->table, name, q) == 0)
            name = dot + 1;
    }
    int i = orm_model_field_index(model, name);
    if (i < 0)
        return orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "unknown field \"%s\" in table \"%s\"", name,
                              model->table);
    *out = (size_t)i;
    return ORM_OK;
}

void orm__strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        orm__free(v[i]);
    orm__free(v);
}

char **orm__strv_dup(const char *const *v, size_t n, int *rc)
{
    *rc = ORM_OK;
    if (n && !v) {
        *rc = orm__error_set(ORM_EINVAL, "builder", "NULL list of %zu names", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!v[i]) {
            *rc = orm__error_set(ORM_EINVAL, "builder", "NULL name at index %zu", i);
            return NULL;
        }
    char **out = orm__calloc(n ? n : 1, sizeof *out);
    if (!out) {
        *rc = orm__error_nomem("builder");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = orm__strdup(v[i]))) {
            orm__strv_free(out, i);
            *rc = orm__error_nomem("builder");
            return NULL;
        }
    return out;
}

int orm__builder_build(orm_builder_base *q, const orm_dialect *d, orm_builder_render_fn render, int mode,
                       orm_sql_buf *b)
{
    orm__sql_buf_init(b, d);
    if (q->st.err)
        return orm__bstate_check(&q->st);
    render(b, q, mode);
    int rc = orm__sql_buf_finish(b);
    if (rc)
        orm__sql_buf_free(b);
    return rc;
}

int orm__builder_to_sql(orm_builder_base *q, const orm_dialect *d, orm_sql *out, orm_builder_render_fn render,
                        int mode, const char *fn, const char *kind)
{
    if (!q || !out)
        return orm__error_set(ORM_EINVAL, "builder", "%s: NULL %s", fn, q ? "out" : kind);
    memset(out, 0, sizeof *out);
    orm_sql_buf b;
    int rc = orm__builder_build(q, d ? d : q->d, render, mode, &b);
    if (rc == ORM_OK)
        rc = orm__sql_buf_take(&b, out);
    orm__sql_buf_free(&b);
    return rc;
}

int orm__builder_run(orm_builder_base *q, orm_ctx *ctx, orm_query_kind qkind, orm_builder_render_fn render,
                     int64_t *affected, const char *fn, const char *kind, const orm_stmt_intent *in)
{
    if (affected)
        *affected = 0;
    if (!q)
        return orm__builder_null(fn, kind);
    orm_sql_buf b;
    int rc = orm__builder_build(q, q->d, render, 0, &b);
    if (rc)
        return rc;
    orm_exec_result res = { 0, 0 };
    rc = orm__builder_exec(q->s, ctx, qkind, q->model, &b, &res, in);
    orm__sql_buf_free(&b);
    if (rc == ORM_OK && affected)
        *affected = res.affected;
    return rc;
}

/* The value type orm_model_get gives for a field of type t. */
static orm_value_type value_type_of(orm_field_type t)
{
    switch (t) {
    case ORM_FIELD_INT16:
    case ORM_FIELD_INT32:
    case ORM_FIELD_INT64: return ORM_VALUE_INT;
    case ORM_FIELD_DOUBLE: return ORM_VALUE_DOUBLE;
    case ORM_FIELD_BOOL: return ORM_VALUE_BOOL;
    case ORM_FIELD_TEXT:
    case ORM_FIELD_FIXED_TEXT: return ORM_VALUE_TEXT;
    case ORM_FIELD_BLOB: return ORM_VALUE_BLOB;
    case ORM_FIELD_TIMESTAMP: return ORM_VALUE_TIMESTAMP;
    }
    return ORM_VALUE_NULL;
}

/* If e is "key column = value" (either side) of m with a value of the column's type, the
 * index of that column in m->pk; else -1. */
static int key_term(const orm_model *m, const orm_expr *e, const orm_value **v)
{
    if (e->kind != ORM_EX_BINOP || e->op != ORM_OP_EQ || !e->a || !e->b)
        return -1;
    const orm_expr *col = e->a->kind == ORM_EX_COL ? e->a : e->b->kind == ORM_EX_COL ? e->b : NULL;
    const orm_expr *val = col == e->a ? e->b : e->a;
    if (!col || val->kind != ORM_EX_VAL)
        return -1;
    size_t f; /* a name that does not resolve is no key term (rendering reports it) */
    if (orm__builder_field(m, col->name, &f) != ORM_OK)
        return -1;
    for (size_t k = 0; k < m->npk; k++)
        if (m->pk[k] == f) {
            if (val->val.type != value_type_of(m->fields[f].type))
                return -1;
            *v = &val->val;
            return (int)k;
        }
    return -1;
}

int orm__builder_where_key(const orm_model *m, const orm_expr *where, orm_value *key)
{
    if (!where || m->npk == 0 || m->npk > 32)
        return 0;
    uint32_t seen = 0;
    const orm_expr *const *terms = (const orm_expr *const *)&where;
    size_t n = 1;
    if (where->kind == ORM_EX_AND) {
        terms = (const orm_expr *const *)where->list;
        n = where->nlist;
    }
    for (size_t i = 0; i < n; i++) {
        const orm_value *v;
        int k = terms[i] ? key_term(m, terms[i], &v) : -1;
        if (k < 0 || (seen & (1u << k)))
            continue; /* another condition: it only narrows the one row further */
        seen |= 1u << k;
        key[k] = *v;
    }
    return seen == (m->npk == 32 ? UINT32_MAX : (1u << m->npk) - 1);
}

static const orm_stmt_intent update_where = { ORM_STMT_OP_UPDATE_WHERE, NULL, 0, NULL, NULL, NULL };
static const orm_stmt_intent delete_where = { ORM_STMT_OP_DELETE_WHERE, NULL, 0, NULL, NULL, NULL };

static orm_query make_query(orm_query_kind kind, const orm_model *m, const orm_sql_buf *b,
                            const orm_stmt_intent *in)
{
    orm_query q;
    q.intent = in ? in : kind == ORM_QUERY_UPDATE ? &update_where
                       : kind == ORM_QUERY_DELETE ? &delete_where : NULL;
    q.kind = kind;
    q.model = m;
    q.sql = b->text.p;
    q.sql_len = b->text.len;
    q.sql_hash = 0; /* the driver hashes it */
    q.args = b->args;
    q.nargs = b->nargs;
    return q;
}

int orm__builder_exec(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                      const orm_sql_buf *b, orm_exec_result *res, const orm_stmt_intent *in)
{
    orm_query q = make_query(kind, m, b, in);
    return orm__session_exec(s, ctx, &q, res);
}

int orm__builder_query(orm_session *s, orm_ctx *ctx, orm_query_kind kind, const orm_model *m,
                       const orm_sql_buf *b, orm_rows **out, const orm_stmt_intent *in)
{
    orm_query q = make_query(kind, m, b, in);
    return orm__session_query(s, ctx, &q, out);
}
