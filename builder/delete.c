/* liborm builder — DELETE: by a WHERE condition or by a struct's primary key.
 *
 * Keeps true: names are resolved against the model when the statement is built; several
 * conditions are joined with AND.
 */
#include "builder/builder_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/model_internal.h"
#include "orm/write.h"

struct orm_delete {
    orm_builder_base b; /* first: the shared helpers take it for the builder */
    orm_expr *where;
};

orm_delete *orm_delete_new(orm_session *s, const orm_model *model)
{
    return orm__builder_new(s, model, sizeof(orm_delete), "orm_delete_new");
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
    return orm__builder_and(ORM__BASE(q), q ? &q->where : NULL, e, "orm_delete_where", "delete");
}

int orm_delete_by_key(orm_delete *q, const void *obj)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_delete_by_key", "delete");
    if (rc)
        return rc;
    const orm_model *m = q->b.model;
    if (!obj)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_delete_by_key: NULL object");
    if (m->npk == 0)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "table \"%s\" has no primary key", m->table);
    for (size_t k = 0; k < m->npk && rc == ORM_OK; k++) {
        orm_value kv; /* a fixed text key with no NUL: ORM_ERANGE, as orm_delete_one */
        if ((rc = orm__model_member_w(m, obj, m->pk[k], &kv)) != ORM_OK)
            return orm__bstate_keep(&q->b.st, rc);
        rc = orm_delete_where(q, orm_eq(m->fields[m->pk[k]].name, kv));
    }
    return rc;
}

static void render(orm_sql_buf *b, orm_builder_base *base, int mode)
{
    (void)mode;
    const orm_delete *q = (const orm_delete *)base; /* base is its first member */
    orm_scope_item item = { base->model, NULL };
    orm_scope sc = { &item, 1, NULL, 0 };
    orm__sql_buf_put(b, "DELETE FROM ");
    orm__sql_buf_ident(b, base->model->table);
    if (q->where) {
        orm__sql_buf_put(b, " WHERE ");
        orm__expr_render(b, q->where, &sc);
    }
}

int orm_delete_to_sql(orm_delete *q, const orm_dialect *d, orm_sql *out)
{
    return orm__builder_to_sql(ORM__BASE(q), d, out, render, 0, "orm_delete_to_sql", "delete");
}

int orm_delete_exec(orm_delete *q, orm_ctx *ctx, int64_t *affected)
{
    /* A WHERE that pins one primary key: the row it may delete is known (DELETE_WHERE with
     * that key). */
    orm_stmt_intent in = { ORM_STMT_OP_DELETE_WHERE, NULL, 1, NULL, NULL, NULL };
    orm_value key[32];
    int one = q && !q->b.st.err && orm__builder_where_key(q->b.model, q->where, key);
    in.key = key;
    return orm__builder_run(ORM__BASE(q), ctx, ORM_QUERY_DELETE, render, affected, "orm_delete_exec", "delete",
                            one ? &in : NULL);
}
