/* liborm builder — UPDATE: SET values or expressions, SET from a struct by its key, WHERE.
 *
 * Keeps true: SET targets are resolved against the model when they are given (an unknown
 * one sticks as the builder's error), and so is a value the field cannot hold (ORM_ETYPE);
 * expressions are resolved when the statement is built;
 * setting a field twice keeps the last value.
 */
#include "builder/builder_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/model_internal.h"
#include "orm/write.h"

typedef struct upd_set { size_t field; orm_expr *e; } upd_set;

struct orm_update {
    orm_builder_base b; /* first: the shared helpers take it for the builder */
    upd_set *sets;
    size_t nsets;
    orm_expr *where;
};

orm_update *orm_update_new(orm_session *s, const orm_model *model)
{
    return orm__builder_new(s, model, sizeof(orm_update), "orm_update_new");
}

void orm_update_free(orm_update *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nsets; i++)
        orm_expr_free(q->sets[i].e);
    orm__free(q->sets);
    orm_expr_free(q->where);
    orm__free(q);
}

int orm_update_set_expr(orm_update *q, const char *field, orm_expr *e)
{
    if (!q) {
        orm_expr_free(e);
        return orm__builder_null("orm_update_set_expr", "update");
    }
    if (q->b.st.err) {
        orm_expr_free(e);
        return orm__bstate_check(&q->b.st);
    }
    if (!e)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_update_set_expr: NULL expression");
    size_t f;
    int rc = orm__builder_field(q->b.model, field, &f);
    if (rc == ORM_OK && e->kind == ORM_EX_VAL)
        rc = orm__value_check(q->b.model, f, e->val, 1);
    if (rc) {
        orm_expr_free(e);
        return orm__bstate_keep(&q->b.st, rc);
    }
    for (size_t i = 0; i < q->nsets; i++)
        if (q->sets[i].field == f) {
            orm_expr_free(q->sets[i].e);
            q->sets[i].e = e;
            return ORM_OK;
        }
    upd_set *v = orm__realloc(q->sets, (q->nsets + 1) * sizeof *v);
    if (!v) {
        orm_expr_free(e);
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    }
    q->sets = v;
    q->sets[q->nsets].field = f;
    q->sets[q->nsets++].e = e;
    return ORM_OK;
}

int orm_update_set(orm_update *q, const char *field, orm_value v)
{
    return orm_update_set_expr(q, field, orm_val(v));
}

int orm_update_where(orm_update *q, orm_expr *e)
{
    return orm__builder_and(ORM__BASE(q), q ? &q->where : NULL, e, "orm_update_where", "update");
}

static int is_key(const orm_model *m, size_t f)
{
    for (size_t i = 0; i < m->npk; i++)
        if (m->pk[i] == f)
            return 1;
    return 0;
}

int orm_update_from(orm_update *q, const void *obj, const char *const *fields, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_update_from", "update");
    if (rc)
        return rc;
    const orm_model *m = q->b.model;
    if (!obj || (n && !fields))
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_update_from: NULL %s", obj ? "fields" : "object");
    if (m->npk == 0)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "table \"%s\" has no primary key", m->table);
    if (fields) {
        for (size_t i = 0; i < n && rc == ORM_OK; i++) {
            size_t f;
            if ((rc = orm__builder_field(m, fields[i], &f)) != ORM_OK)
                return orm__bstate_keep(&q->b.st, rc);
            rc = orm_update_set_expr(q, m->fields[f].name, orm_val(orm_model_get(m, obj, f)));
        }
    } else {
        for (size_t i = 0; i < m->nfields && rc == ORM_OK; i++)
            if (!is_key(m, i))
                rc = orm_update_set_expr(q, m->fields[i].name, orm_val(orm_model_get(m, obj, i)));
    }
    for (size_t k = 0; k < m->npk && rc == ORM_OK; k++) {
        const orm_field *f = &m->fields[m->pk[k]];
        orm_value kv; /* a fixed text key with no NUL: ORM_ERANGE, as orm_update_one */
        if ((rc = orm__model_member_w(m, obj, m->pk[k], &kv)) != ORM_OK)
            return orm__bstate_keep(&q->b.st, rc);
        rc = orm_update_where(q, orm_eq(f->name, kv));
    }
    return rc;
}

static void render(orm_sql_buf *b, orm_builder_base *base, int mode)
{
    (void)mode;
    const orm_update *q = (const orm_update *)base; /* base is its first member */
    const orm_model *m = base->model;
    if (q->nsets == 0) {
        orm__sql_buf_fail(b, ORM_EINVAL, "update of \"%s\": nothing to set", m->table);
        return;
    }
    orm_scope_item item = { m, NULL };
    orm_scope sc = { &item, 1, NULL, 0 };
    orm__sql_buf_put(b, "UPDATE ");
    orm__sql_buf_ident(b, m->table);
    for (size_t i = 0; i < q->nsets; i++) {
        orm__sql_buf_put(b, i ? ", " : " SET ");
        orm__sql_buf_ident(b, m->fields[q->sets[i].field].column);
        orm__sql_buf_put(b, " = ");
        orm__expr_render(b, q->sets[i].e, &sc);
    }
    if (q->where) {
        orm__sql_buf_put(b, " WHERE ");
        orm__expr_render(b, q->where, &sc);
    }
}

int orm_update_to_sql(orm_update *q, const orm_dialect *d, orm_sql *out)
{
    return orm__builder_to_sql(ORM__BASE(q), d, out, render, 0, "orm_update_to_sql", "update");
}

/* The intent of an UPDATE whose WHERE pins one primary key and whose SET leaves the key
 * alone: the row it may change is known (UPDATE_WHERE with that key). */
static const orm_stmt_intent *key_intent(const orm_update *q, orm_stmt_intent *in, orm_value *key)
{
    const orm_model *m = q->b.model;
    for (size_t i = 0; i < q->nsets; i++)
        if (is_key(m, q->sets[i].field))
            return NULL; /* the row moves to another key */
    if (!orm__builder_where_key(m, q->where, key))
        return NULL;
    *in = (orm_stmt_intent){ ORM_STMT_OP_UPDATE_WHERE, key, 1, NULL, NULL, NULL };
    return in;
}

int orm_update_exec(orm_update *q, orm_ctx *ctx, int64_t *affected)
{
    orm_stmt_intent in;
    orm_value key[32];
    const orm_stmt_intent *ip = q && !q->b.st.err ? key_intent(q, &in, key) : NULL;
    return orm__builder_run(ORM__BASE(q), ctx, ORM_QUERY_UPDATE, render, affected, "orm_update_exec", "update", ip);
}
