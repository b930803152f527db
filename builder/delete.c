/* liborm builder — DELETE: by a WHERE condition or by a struct's primary key.
 *
 * Keeps true: names are resolved against the model when the statement is built; several
 * conditions are joined with AND.
 */
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/write.h"

struct orm_delete {
    orm_session *s;
    const orm_model *model;
    const orm_dialect *d;
    orm_bstate st;
    orm_expr *where;
};

static int null_builder(const char *fn)
{
    return orm__error_set(ORM_EINVAL, "builder", "%s: NULL delete", fn);
}

orm_delete *orm_delete_new(orm_session *s, const orm_model *model)
{
    if (!s || !model) {
        orm__error_set(ORM_EINVAL, "builder", "orm_delete_new: NULL %s", s ? "model" : "session");
        return NULL;
    }
    orm_delete *q = orm__calloc(1, sizeof *q);
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

void orm_delete_free(orm_delete *q)
{
    if (!q)
        return;
    orm_expr_free(q->where);
    orm__free(q);
}

int orm_delete_where(orm_delete *q, orm_expr *e)
{
    if (!q) {
        orm_expr_free(e);
        return null_builder("orm_delete_where");
    }
    if (q->st.err || !e) {
        orm_expr_free(e);
        return q->st.err ? orm__bstate_check(&q->st)
                         : orm__bstate_fail(&q->st, ORM_EINVAL, "orm_delete_where: NULL expression");
    }
    q->where = q->where ? orm_and(q->where, e) : e;
    return ORM_OK;
}

int orm_delete_by_key(orm_delete *q, const void *obj)
{
    if (!q)
        return null_builder("orm_delete_by_key");
    if (q->st.err)
        return orm__bstate_check(&q->st);
    const orm_model *m = q->model;
    if (!obj)
        return orm__bstate_fail(&q->st, ORM_EINVAL, "orm_delete_by_key: NULL object");
    if (m->npk == 0)
        return orm__bstate_fail(&q->st, ORM_EINVAL, "table \"%s\" has no primary key", m->table);
    int rc = ORM_OK;
    for (size_t k = 0; k < m->npk && rc == ORM_OK; k++)
        rc = orm_delete_where(q, orm_eq(m->fields[m->pk[k]].name, orm_model_get(m, obj, m->pk[k])));
    return rc;
}

static int build(orm_delete *q, const orm_dialect *d, orm_sql_buf *b)
{
    orm__sql_buf_init(b, d);
    if (q->st.err)
        return orm__bstate_check(&q->st);
    orm_scope_item item = { q->model, NULL };
    orm_scope sc = { &item, 1, NULL, 0 };
    orm__sql_buf_put(b, "DELETE FROM ");
    orm__sql_buf_ident(b, q->model->table);
    if (q->where) {
        orm__sql_buf_put(b, " WHERE ");
        orm__expr_render(b, q->where, &sc);
    }
    int rc = orm__sql_buf_finish(b);
    if (rc)
        orm__sql_buf_free(b);
    return rc;
}

int orm_delete_to_sql(orm_delete *q, const orm_dialect *d, orm_sql *out)
{
    if (!q || !out)
        return orm__error_set(ORM_EINVAL, "builder", "orm_delete_to_sql: NULL %s", q ? "out" : "delete");
    memset(out, 0, sizeof *out);
    orm_sql_buf b;
    int rc = build(q, d ? d : q->d, &b);
    if (rc == ORM_OK)
        rc = orm__sql_buf_take(&b, out);
    orm__sql_buf_free(&b);
    return rc;
}

int orm_delete_exec(orm_delete *q, orm_ctx *ctx, int64_t *affected)
{
    if (affected)
        *affected = 0;
    if (!q)
        return null_builder("orm_delete_exec");
    orm_sql_buf b;
    int rc = build(q, q->d, &b);
    if (rc)
        return rc;
    orm_exec_result res = { 0, 0 };
    rc = orm__builder_exec(q->s, ctx, ORM_QUERY_DELETE, q->model, &b, &res);
    orm__sql_buf_free(&b);
    if (rc == ORM_OK && affected)
        *affected = res.affected;
    return rc;
}
