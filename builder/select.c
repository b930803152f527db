/* liborm builder — SELECT: the builder, its rendering (also as a subquery and as a COUNT),
 * and the run functions that map rows into structs, lists, cursors and scalars.
 *
 * Keeps true: setters only record (names are resolved when the query is rendered, against
 * the main model and the joined ones); the rendered column list maps column k to a field of
 * the main model or to nothing (computed columns), so get/all fill only selected fields;
 * orm_select_all leaves the caller's list as it was when it fails.
 */
#include <stdlib.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/select.h"

typedef struct sel_expr { orm_expr *e; char *as; } sel_expr;
typedef struct sel_order { char *field; orm_order order; } sel_order;
typedef struct sel_join {
    orm_join_kind kind;
    const orm_model *model;
    char *alias;
    orm_expr *on;
    char **using_;
    size_t nusing;
} sel_join;

struct orm_select {
    orm_builder_base b; /* first: the shared helpers take it for the builder */
    char *alias;
    char **cols;
    size_t ncols;
    int has_cols;
    sel_expr *exprs;
    size_t nexprs;
    int distinct;
    orm_expr *where, *having;
    sel_order *order;
    size_t norder;
    char **group;
    size_t ngroup;
    int64_t limit, offset;
    int has_limit, has_offset;
    sel_join *joins;
    size_t njoins;
    size_t *map;       /* column -> field of the last top-level render ((size_t)-1: none) */
    size_t nmap;
};

enum { MODE_ROWS, MODE_COUNT, MODE_INNER };

/* ---- the builder ---- */

orm_select *orm_select_new(orm_session *s, const orm_model *model)
{
    return orm__builder_new(s, model, sizeof(orm_select), "orm_select_new");
}

unsigned orm__select_depth(const orm_select *q)
{
    unsigned d = 0;
    if (!q)
        return 0;
#define DEEPER(x) do { if ((x) && (x)->depth > d) d = (x)->depth; } while (0)
    DEEPER(q->where);
    DEEPER(q->having);
    for (size_t i = 0; i < q->nexprs; i++)
        DEEPER(q->exprs[i].e);
    for (size_t i = 0; i < q->njoins; i++)
        DEEPER(q->joins[i].on);
#undef DEEPER
    return d;
}

void orm_select_free(orm_select *q)
{
    if (!q)
        return;
    orm__free(q->alias);
    orm__strv_free(q->cols, q->ncols);
    for (size_t i = 0; i < q->nexprs; i++) {
        orm_expr_free(q->exprs[i].e);
        orm__free(q->exprs[i].as);
    }
    orm__free(q->exprs);
    orm_expr_free(q->where);
    orm_expr_free(q->having);
    for (size_t i = 0; i < q->norder; i++)
        orm__free(q->order[i].field);
    orm__free(q->order);
    orm__strv_free(q->group, q->ngroup);
    for (size_t i = 0; i < q->njoins; i++) {
        orm__free(q->joins[i].alias);
        orm_expr_free(q->joins[i].on);
        orm__strv_free(q->joins[i].using_, q->joins[i].nusing);
    }
    orm__free(q->joins);
    orm__free(q->map);
    orm__free(q);
}

/* Grow *arr (of n elements of size sz) by one zeroed slot; 0 on ORM_ENOMEM. */
static int grow1(void *arr, size_t n, size_t sz)
{
    void **p = arr;
    void *np = orm__realloc(*p, (n + 1) * sz);
    if (!np)
        return 0;
    memset((char *)np + n * sz, 0, sz);
    *p = np;
    return 1;
}

int orm_select_alias(orm_select *q, const char *alias)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_alias", "select");
    if (rc)
        return rc;
    if (!alias || !*alias)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_alias: empty alias");
    char *a = orm__strdup(alias);
    if (!a)
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    orm__free(q->alias);
    q->alias = a;
    return ORM_OK;
}

int orm_select_columns(orm_select *q, const char *const *fields, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_columns", "select");
    if (rc)
        return rc;
    char **v = orm__strv_dup(fields, n, &rc);
    if (!v)
        return orm__bstate_keep(&q->b.st, rc);
    orm__strv_free(q->cols, q->ncols);
    q->cols = v;
    q->ncols = n;
    q->has_cols = 1;
    return ORM_OK;
}

int orm_select_expr(orm_select *q, orm_expr *e, const char *as)
{
    if (!q) {
        orm_expr_free(e);
        return orm__builder_null("orm_select_expr", "select");
    }
    if (q->b.st.err || !e) {
        orm_expr_free(e);
        return q->b.st.err ? orm__bstate_check(&q->b.st)
                         : orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_expr: NULL expression");
    }
    char *a = as ? orm__strdup(as) : NULL;
    if ((as && !a) || !grow1(&q->exprs, q->nexprs, sizeof *q->exprs)) {
        orm__free(a);
        orm_expr_free(e);
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    }
    q->exprs[q->nexprs].e = e;
    q->exprs[q->nexprs].as = a;
    q->nexprs++;
    return ORM_OK;
}

int orm_select_distinct(orm_select *q)
{
    if (!q)
        return orm__builder_null("orm_select_distinct", "select");
    q->distinct = 1;
    return orm__bstate_check(&q->b.st);
}

int orm_select_where(orm_select *q, orm_expr *e)
{
    return orm__builder_and(ORM__BASE(q), q ? &q->where : NULL, e, "orm_select_where", "select");
}

int orm_select_having(orm_select *q, orm_expr *e)
{
    return orm__builder_and(ORM__BASE(q), q ? &q->having : NULL, e, "orm_select_having", "select");
}

int orm_select_order_by(orm_select *q, const char *field, orm_order order)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_order_by", "select");
    if (rc)
        return rc;
    if (!field || (order != ORM_ASC && order != ORM_DESC))
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_order_by: %s",
                                field ? "bad order" : "NULL field");
    char *f = orm__strdup(field);
    if (!f || !grow1(&q->order, q->norder, sizeof *q->order)) {
        orm__free(f);
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    }
    q->order[q->norder].field = f;
    q->order[q->norder++].order = order;
    return ORM_OK;
}

int orm_select_limit(orm_select *q, int64_t limit)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_limit", "select");
    if (rc)
        return rc;
    if (limit < 0)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_limit: negative limit %lld", (long long)limit);
    q->limit = limit;
    q->has_limit = 1;
    return ORM_OK;
}

int orm_select_offset(orm_select *q, int64_t offset)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_offset", "select");
    if (rc)
        return rc;
    if (offset < 0)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_offset: negative offset %lld", (long long)offset);
    q->offset = offset;
    q->has_offset = 1;
    return ORM_OK;
}

int orm_select_group_by(orm_select *q, const char *field)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_group_by", "select");
    if (rc)
        return rc;
    if (!field)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_group_by: NULL field");
    char *f = orm__strdup(field);
    if (!f || !grow1(&q->group, q->ngroup, sizeof *q->group)) {
        orm__free(f);
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    }
    q->group[q->ngroup++] = f;
    return ORM_OK;
}

/* A new join slot for model (checked), or an error (on, using stolen by the caller). */
static int add_join(orm_select *q, orm_join_kind kind, const orm_model *model, const char *alias,
                    sel_join **out)
{
    if (q->b.st.err)
        return orm__bstate_check(&q->b.st);
    if (!model || (kind != ORM_JOIN_INNER && kind != ORM_JOIN_LEFT && kind != ORM_JOIN_RIGHT))
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_join: %s", model ? "bad join kind" : "NULL model");
    if (orm__builder_check_model(q->b.s, model) != ORM_OK)
        return orm__bstate_keep(&q->b.st, ORM_EINVAL);
    char *a = alias ? orm__strdup(alias) : NULL;
    if ((alias && !a) || !grow1(&q->joins, q->njoins, sizeof *q->joins)) {
        orm__free(a);
        return orm__bstate_fail(&q->b.st, ORM_ENOMEM, "out of memory");
    }
    sel_join *j = &q->joins[q->njoins++];
    j->kind = kind;
    j->model = model;
    j->alias = a;
    *out = j;
    return ORM_OK;
}

int orm_select_join(orm_select *q, orm_join_kind kind, const orm_model *model, const char *alias,
                    orm_expr *on)
{
    if (!q) {
        orm_expr_free(on);
        return orm__builder_null("orm_select_join", "select");
    }
    sel_join *j = NULL;
    int rc = add_join(q, kind, model, alias, &j);
    if (rc) {
        orm_expr_free(on);
        return rc;
    }
    j->on = on;
    return ORM_OK;
}

int orm_select_join_using(orm_select *q, orm_join_kind kind, const orm_model *model,
                          const char *alias, const char *const *fields, size_t n)
{
    int rc = orm__builder_ready(ORM__BASE(q), "orm_select_join_using", "select");
    if (rc)
        return rc;
    if (n == 0 || !fields)
        return orm__bstate_fail(&q->b.st, ORM_EINVAL, "orm_select_join_using: no fields");
    char **v = orm__strv_dup(fields, n, &rc);
    if (!v)
        return orm__bstate_keep(&q->b.st, rc);
    sel_join *j = NULL;
    rc = add_join(q, kind, model, alias, &j);
    if (rc) {
        orm__strv_free(v, n);
        return rc;
    }
    j->using_ = v;
    j->nusing = n;
    return ORM_OK;
}

/* ---- rendering ---- */

static void fail_from_last(orm_sql_buf *b, int rc)
{
    if (!b->err)
        b->err = rc; /* the message is already the thread's last error */
}

static void render_name(orm_sql_buf *b, const orm_scope *sc, const char *name)
{
    orm_ref r;
    int rc = orm__scope_resolve(sc, name, &r);
    if (rc)
        fail_from_last(b, rc);
    else
        orm__ref_render(b, &r);
}

static void render_table(orm_sql_buf *b, const orm_model *m, const char *alias)
{
    orm__sql_buf_ident(b, m->table);
    if (alias) {
        orm__sql_buf_put(b, " AS ");
        orm__sql_buf_ident(b, alias);
    }
}

/* The column list; fills q->map when want_map. */
static void render_columns(orm_sql_buf *b, orm_select *q, const orm_scope *sc, int want_map)
{
    size_t nf = q->has_cols ? q->ncols : q->nexprs ? 0 : q->b.model->nfields;
    size_t total = nf + q->nexprs;
    if (want_map) {
        size_t *map = orm__realloc(q->map, (total ? total : 1) * sizeof *map);
        if (!map) {
            orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
            return;
        }
        q->map = map;
        q->nmap = total;
    }
    orm_scope main_only = { sc->items, 1, NULL, sc->qualify };
    for (size_t i = 0; i < nf; i++) {
        if (i)
            orm__sql_buf_put(b, ", ");
        orm_ref r;
        if (q->has_cols) {
            int rc = orm__scope_resolve(&main_only, q->cols[i], &r);
            if (rc) {
                fail_from_last(b, rc);
                return;
            }
            r.qualify = sc->qualify;
        } else {
            r.item = &sc->items[0];
            r.field = i;
            r.qualify = sc->qualify;
        }
        orm__ref_render(b, &r);
        if (want_map)
            q->map[i] = r.field;
    }
    for (size_t i = 0; i < q->nexprs; i++) {
        if (nf || i)
            orm__sql_buf_put(b, ", ");
        orm__expr_render(b, q->exprs[i].e, sc);
        if (q->exprs[i].as) {
            orm__sql_buf_put(b, " AS ");
            orm__sql_buf_ident(b, q->exprs[i].as);
        }
        if (want_map)
            q->map[nf + i] = (size_t)-1;
    }
}

static void render_joins(orm_sql_buf *b, orm_select *q, const orm_scope *sc)
{
    static const char *const kw[] = { " INNER JOIN ", " LEFT JOIN ", " RIGHT JOIN " };
    for (size_t i = 0; i < q->njoins && !b->err; i++) {
        const sel_join *j = &q->joins[i];
        orm__sql_buf_put(b, kw[j->kind]);
        render_table(b, j->model, j->alias);
        if (j->using_) {
            orm__sql_buf_put(b, " USING (");
            for (size_t k = 0; k < j->nusing; k++) {
                size_t fj;
                int rc = orm__builder_field(j->model, j->using_[k], &fj);
                /* The field must be in the joined model and in one joined before it. */
                int found = 0;
                for (size_t m = 0; rc == ORM_OK && m <= i && !found; m++)
                    found = orm_model_field_index(sc->items[m].model, j->using_[k]) >= 0;
                if (rc == ORM_OK && !found)
                    rc = orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "unknown field \"%s\" in table \"%s\"",
                                        j->using_[k], q->b.model->table);
                if (rc) {
                    fail_from_last(b, rc);
                    return;
                }
                if (k)
                    orm__sql_buf_put(b, ", ");
                orm__sql_buf_ident(b, j->model->fields[fj].column);
            }
            orm__sql_buf_putc(b, ')');
        } else {
            orm__sql_buf_put(b, " ON ");
            if (j->on)
                orm__expr_render(b, j->on, sc);
            else
                orm__sql_buf_put(b, b->d->true_lit);
        }
    }
}

static void render_order(orm_sql_buf *b, orm_select *q, const orm_scope *sc)
{
    for (size_t i = 0; i < q->norder && !b->err; i++) {
        orm__sql_buf_put(b, i ? ", " : " ORDER BY ");
        const char *f = q->order[i].field;
        orm_ref r;
        int rc = orm__scope_resolve(sc, f, &r);
        if (rc == ORM_OK) {
            orm__ref_render(b, &r);
        } else {
            /* A computed column's alias may be ordered by too. */
            size_t k = 0;
            while (k < q->nexprs && !(q->exprs[k].as && strcmp(q->exprs[k].as, f) == 0))
                k++;
            if (k == q->nexprs) {
                fail_from_last(b, rc);
                return;
            }
            orm__sql_buf_ident(b, f);
        }
        orm__sql_buf_put(b, q->order[i].order == ORM_DESC ? " DESC" : " ASC");
    }
}

static void render_select(orm_sql_buf *b, orm_select *q, const orm_scope *outer, int mode, int want_map)
{
    if (b->err)
        return;
    if (q->b.st.err) {
        orm__sql_buf_fail(b, q->b.st.err, "%s", q->b.st.msg);
        return;
    }
    if (mode == MODE_COUNT && (q->distinct || q->ngroup)) {
        /* Count the groups / distinct rows, not the underlying rows. */
        orm__sql_buf_put(b, "SELECT COUNT(*) FROM (");
        render_select(b, q, outer, MODE_INNER, 0);
        orm__sql_buf_put(b, ") AS \"orm_count\"");
        return;
    }
    orm_scope_item stack_items[8];
    orm_scope_item *items = stack_items;
    if (q->njoins + 1 > 8 && !(items = orm__malloc((q->njoins + 1) * sizeof *items))) {
        orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
        return;
    }
    items[0].model = q->b.model;
    items[0].alias = q->alias;
    for (size_t i = 0; i < q->njoins; i++) {
        items[i + 1].model = q->joins[i].model;
        items[i + 1].alias = q->joins[i].alias;
    }
    orm_scope sc = { items, q->njoins + 1, outer, q->njoins > 0 };

    orm__sql_buf_put(b, "SELECT ");
    if (mode == MODE_COUNT) {
        orm__sql_buf_put(b, "COUNT(*)");
    } else {
        if (q->distinct)
            orm__sql_buf_put(b, "DISTINCT ");
        render_columns(b, q, &sc, want_map);
    }
    orm__sql_buf_put(b, " FROM ");
    render_table(b, q->b.model, q->alias);
    render_joins(b, q, &sc);
    if (q->where) {
        orm__sql_buf_put(b, " WHERE ");
        orm__expr_render(b, q->where, &sc);
    }
    for (size_t i = 0; i < q->ngroup && !b->err; i++) {
        orm__sql_buf_put(b, i ? ", " : " GROUP BY ");
        render_name(b, &sc, q->group[i]);
    }
    if (q->having) {
        orm__sql_buf_put(b, " HAVING ");
        orm__expr_render(b, q->having, &sc);
    }
    if (mode == MODE_ROWS) {
        render_order(b, q, &sc);
        if (q->has_limit) {
            orm__sql_buf_put(b, " LIMIT ");
            orm__sql_buf_param(b, orm_int(q->limit));
        } else if (q->has_offset && b->d->needs_limit_for_offset) {
            orm__sql_buf_put(b, " LIMIT -1");
        }
        if (q->has_offset) {
            orm__sql_buf_put(b, " OFFSET ");
            orm__sql_buf_param(b, orm_int(q->offset));
        }
    }
    if (items != stack_items)
        orm__free(items);
}

void orm__select_render_sub(orm_sql_buf *b, orm_select *q, const orm_scope *outer)
{
    if (!q) {
        orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
        return;
    }
    render_select(b, q, outer, MODE_ROWS, 0);
}

/* The top-level statement; the rows one records the column map that get/all read. */
static void render_top(orm_sql_buf *b, orm_builder_base *base, int mode)
{
    render_select(b, (orm_select *)base, NULL, mode, mode == MODE_ROWS); /* base is its first member */
}

int orm_select_to_sql(orm_select *q, const orm_dialect *d, orm_sql *out)
{
    return orm__builder_to_sql(ORM__BASE(q), d, out, render_top, MODE_ROWS, "orm_select_to_sql", "select");
}

int orm__select_count_to_sql(orm_select *q, const orm_dialect *d, orm_sql *out)
{
    return orm__builder_to_sql(ORM__BASE(q), d, out, render_top, MODE_COUNT, "orm_select_to_sql", "select");
}

/* ---- running ---- */

static int open_rows(orm_select *q, orm_ctx *ctx, int mode, orm_rows **rows)
{
    orm_sql_buf b;
    int rc = orm__builder_build(&q->b, q->b.d, render_top, mode, &b);
    if (rc)
        return rc;
    rc = orm__builder_query(q->b.s, ctx, ORM_QUERY_SELECT, q->b.model, &b, rows, NULL);
    orm__sql_buf_free(&b);
    return rc;
}

static int no_row(const orm_select *q)
{
    return orm__error_set(ORM_ENOTFOUND, "builder", "no row in \"%s\" matches", q->b.model->table);
}

int orm_select_get(orm_select *q, orm_ctx *ctx, void *out)
{
    if (!q || !out)
        return orm__error_set(ORM_EINVAL, "builder", "orm_select_get: NULL %s", q ? "out" : "select");
    orm_rows *r;
    int rc = open_rows(q, ctx, MODE_ROWS, &r);
    if (rc)
        return rc;
    rc = orm_rows_next(r);
    if (rc == 1) {
        memset(out, 0, q->b.model->struct_size);
        rc = orm__map_row(q->b.model, r, q->map, q->nmap, out);
    } else if (rc == 0) {
        rc = no_row(q);
    }
    orm_rows_free(r);
    return rc;
}

int orm_select_all(orm_select *q, orm_ctx *ctx, orm_list *list)
{
    if (!q || !list)
        return orm__error_set(ORM_EINVAL, "builder", "orm_select_all: NULL %s", q ? "list" : "select");
    if (list->model && list->model != q->b.model)
        return orm__error_set(ORM_EINVAL, "builder", "orm_select_all: the list holds \"%s\", the query \"%s\"",
                              list->model->name, q->b.model->name);
    orm_rows *r;
    int rc = open_rows(q, ctx, MODE_ROWS, &r);
    if (rc)
        return rc;
    rc = orm__map_list(list, q->b.model, r, q->map, q->nmap, "builder");
    orm_rows_free(r);
    return rc;
}

int orm_select_rows(orm_select *q, orm_ctx *ctx, orm_rows **out)
{
    if (!q || !out)
        return orm__error_set(ORM_EINVAL, "builder", "orm_select_rows: NULL %s", q ? "out" : "select");
    *out = NULL;
    return open_rows(q, ctx, MODE_ROWS, out);
}

/* The first column of the first row. */
static int scalar(orm_select *q, orm_ctx *ctx, int mode, int64_t *i, double *d, bool *is_null)
{
    if (!q || (!i && !d))
        return orm__error_set(ORM_EINVAL, "builder", "scalar: NULL %s", q ? "out" : "select");
    orm_rows *r;
    int rc = open_rows(q, ctx, mode, &r);
    if (rc)
        return rc;
    rc = orm_rows_next(r);
    if (rc == 1) {
        bool null = orm_rows_is_null(r, 0);
        if (is_null)
            *is_null = null;
        if (i)
            *i = null ? 0 : orm_rows_int(r, 0);
        if (d)
            *d = null ? 0 : orm_rows_double(r, 0);
        rc = ORM_OK;
    } else if (rc == 0) {
        rc = no_row(q);
    }
    orm_rows_free(r);
    return rc;
}

int orm_select_scalar_int(orm_select *q, orm_ctx *ctx, int64_t *out, bool *is_null)
{
    return scalar(q, ctx, MODE_ROWS, out, NULL, is_null);
}

int orm_select_scalar_double(orm_select *q, orm_ctx *ctx, double *out, bool *is_null)
{
    return scalar(q, ctx, MODE_ROWS, NULL, out, is_null);
}

int orm_select_count(orm_select *q, orm_ctx *ctx, int64_t *out)
{
    return scalar(q, ctx, MODE_COUNT, out, NULL, NULL);
}

/* ---- lists ---- */

void *orm_list_at(const orm_list *list, size_t i)
{
    if (!list || i >= list->count || !list->model)
        return NULL;
    return (char *)list->items + i * list->model->struct_size;
}

void orm_list_clear(orm_list *list)
{
    if (!list)
        return;
    if (list->model)
        for (size_t i = 0; i < list->count; i++)
            orm_model_clear(list->model, (char *)list->items + i * list->model->struct_size);
    orm__free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}
