/* liborm builder — UPDATE: SET values or expressions, SET from a struct by its key, WHERE.
 *
 * Keeps true: SET targets are resolved against the model when they are given (an unknown
 * one sticks as the builder's error); expressions are resolved when the statement is built;
 * setting a field twice keeps the last value.
 */
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/write.h"

typedef struct upd_set { size_t field; orm_expr *e; } upd_set;

struct orm_update {
    orm_session *s;
    const orm_model *model;
    const orm_dialect *d;
    orm_bstate st;
    upd_set *sets;
    size_t nsets;
    orm_expr *where;
};

static int null_builder(const char *fn)
{
    return orm__error_set(ORM_EINVAL, "builder", "%s: NULL update", fn);
}

orm_update *orm_update_new(orm_session *s, const orm_model *model)
{
    if (!s || !model) {
        orm__error_set(ORM_EINVAL, "builder", "orm_update_new: NULL %s", s ? "model" : "session");
        return NULL;
    }
    orm_update *q = orm__calloc(1, sizeof *q);
    if (!q) {
        orm__error_nomem("builder");
        return NULL;
    }
    q->s = s;
    q->model = model;
    q->d = orm__dialect_for_db(s->db);
    if (orm__builder_check_model(s, model) != ORM_OK)
        orm__bstate_keep(&q->st, ORM_EINVAL);
    return q;
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
        return null_builder("orm_update_set_expr");
    }
    if (q->st.err) {
        orm_expr_free(e);
        return orm__bstate_check(&q->st);
    }
    if (!e)
        return orm__bstate_fail(&q->st, ORM_EINVAL, "orm_update_set_expr: NULL expression");
    size_t f;
    int rc = orm__builder_field(q->model, field, &f);
    if (rc) {
        orm_expr_free(e);
        return orm__bstate_keep(&q->st, rc);
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
        return orm__bstate_fail(&q->st, ORM_ENOMEM, "out of memory");
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
    if (!q) {
        orm_expr_free(e);
        return null_builder("orm_update_where");
    }
    if (q->st.err || !e) {
        orm_expr_free(e);
        return q->st.err ? orm__bstate_check(&q->st)
                         : orm__bstate_fail(&q->st, ORM_EINVAL, "orm_update_where: NULL expression");
    }
    q->where = q->where ? orm_and(q->where, e) : e;
    return ORM_OK;
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
    if (!q)
        return null_builder("orm_update_from");
    if (q->st.err)
        return orm__bstate_check(&q->st);
    const orm_model *m = q->model;
    if (!obj || (n && !fields))
        return orm__bstate_fail(&q->st, ORM_EINVAL, "orm_update_from: NULL %s", obj ? "fields" : "object");
    if (m->npk == 0)
        return orm__bstate_fail(&q->st, ORM_EINVAL, "table \"%s\" has no primary key", m->table);
    int rc = ORM_OK;
    if (fields) {
        for (size_t i = 0; i < n && rc == ORM_OK; i++) {
            size_t f;
            if ((rc = orm__builder_field(m, fields[i], &f)) != ORM_OK)
                return orm__bstate_keep(&q->st, rc);
            rc = orm_update_set_expr(q, m->fields[f].name, orm_val(orm_model_get(m, obj, f)));
        }
    } else {
        for (size_t i = 0; i < m->nfields && rc == ORM_OK; i++)
            if (!is_key(m, i))
                rc = orm_update_set_expr(q, m->fields[i].name, orm_val(orm_model_get(m, obj, i)));
    }
    for (size_t k = 0; k < m->npk && rc == ORM_OK; k++) {
        const orm_field *f = &m->fields[m->pk[k]];
        rc = orm_update_where(q, orm_eq(f->name, orm_model_get(m, obj, m->pk[k])));
    }
    return rc;
}

static int build(orm_update *q, const orm_dialect *d, orm_sql_buf *b)
{
    orm__sql_buf_init(b, d);
    if (q->st.err)
        return orm__bstate_check(&q->st);
    if (q->nsets == 0)
        return orm__error_set(ORM_EINVAL, "builder", "update of \"%s\": nothing to set", q->model->table);
    orm_scope_item item = { q->model, NULL };
    orm_scope sc = { &item, 1, NULL, 0 };
    orm__sql_buf_put(b, "UPDATE ");
    orm__sql_buf_ident(b, q->model->table);
    for (size_t i = 0; i < q->nsets; i++) {
        orm__sql_buf_put(b, i ? ", " : " SET ");
        orm__sql_buf_ident(b, q->model->fields[q->sets[i].field].column);
        orm__sql_buf_put(b, " = ");
        orm__expr_render(b, q->sets[i].e, &sc);
    }
    if (q->where) {
        orm__sql_buf_put(b, " WHERE ");
        orm__expr_render(b, q->where, &sc);
    }
    int rc = orm__sql_buf_finish(b);
    if (rc)
        orm__sql_buf_free(b);
    return rc;
}

int orm_update_to_sql(orm_update *q, const orm_dialect *d, orm_sql *out)
{
    if (!q || !out)
        return orm__error_set(ORM_EINVAL, "builder", "orm_update_to_sql: NULL %s", q ? "out" : "update");
    memset(out, 0, sizeof *out);
    orm_sql_buf b;
    int rc = build(q, d ? d : q->d, &b);
    if (rc == ORM_OK)
        rc = orm__sql_buf_take(&b, out);
    orm__sql_buf_free(&b);
    return rc;
}

int orm_update_exec(orm_update *q, orm_ctx *ctx, int64_t *affected)
{
    if (affected)
        *affected = 0;
    if (!q)
        return null_builder("orm_update_exec");
    orm_sql_buf b;
    int rc = build(q, q->d, &b);
    if (rc)
        return rc;
    orm_exec_result res = { 0, 0 };
    rc = orm__builder_exec(q->s, ctx, ORM_QUERY_UPDATE, q->model, &b, &res);
    orm__sql_buf_free(&b);
    if (rc == ORM_OK && affected)
        *affected = res.affected;
    return rc;
}
