/* liborm builder — name resolution and expression rendering.
 *
 * Keeps true: a name is looked up in the query's own scope first (the main model, then the
 * joined models when unambiguous), then in enclosing scopes (correlated subqueries); values
 * only ever become placeholders, numbered in text order across the whole statement, and a
 * value compared with a model field must fit its type (typecheck.c); a
 * sub-expression gets parentheses exactly when its precedence is lower than its place needs.
 */
#include <stdio.h>
#include <string.h>

#include "builder/builder_internal.h"
#include "builder/dialect_internal.h"
#include "builder/expr_internal.h"
#include "orm/error_internal.h"

const char *orm__scope_item_name(const orm_scope_item *it)
{
    return it->alias ? it->alias : it->model->table;
}

static int field_in(const orm_model *m, const char *name)
{
    return orm_model_field_index(m, name);
}

/* The tables of the scope, for messages: "table \"users\"" or "tables \"users\", \"orders\"". */
static void tables_msg(const orm_scope *sc, char *buf, size_t cap)
{
    size_t len = 0;
    int n = snprintf(buf, cap, "%s", sc->n > 1 ? "tables " : "table ");
    len = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < sc->n && len < cap; i++) {
        n = snprintf(buf + len, cap - len, "%s\"%s\"", i ? ", " : "", sc->items[i].model->table);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

static int unknown(const orm_scope *sc, const char *field)
{
    char tables[256];
    tables_msg(sc, tables, sizeof tables);
    return orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "unknown field \"%s\" in %s", field, tables);
}

static int resolve_qualified(const orm_scope *sc, const char *name, const char *dot, orm_ref *out)
{
    size_t qlen = (size_t)(dot - name);
    for (const orm_scope *s = sc; s; s = s->outer) {
        const orm_scope_item *hit = NULL;
        for (size_t i = 0; i < s->n && !hit; i++) {
            const char *a = s->items[i].alias;
            if (a && strlen(a) == qlen && memcmp(a, name, qlen) == 0)
                hit = &s->items[i];
        }
        for (size_t i = 0; i < s->n && !hit; i++) {
            const char *t = s->items[i].model->table;
            if (strlen(t) == qlen && memcmp(t, name, qlen) == 0)
                hit = &s->items[i];
        }
        /* the model's own name (its struct's) too: "Invoice.total" for model Invoice of
         * table "invoices", the same on every backend */
        for (size_t i = 0; i < s->n && !hit; i++) {
            const char *t = s->items[i].model->name;
            if (t && strlen(t) == qlen && memcmp(t, name, qlen) == 0)
                hit = &s->items[i];
        }
        if (!hit)
            continue;
        int idx = field_in(hit->model, dot + 1);
        if (idx < 0)
            return orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "unknown field \"%s\" in table \"%s\"",
                                  dot + 1, hit->model->table);
        out->item = hit;
        out->field = (size_t)idx;
        out->qualify = 1;
        return ORM_OK;
    }
    return orm__error_set(ORM_EUNKNOWN_FIELD, "builder", "unknown field \"%s\": no table or alias \"%.*s\"",
                          name, (int)qlen, name);
}

int orm__scope_resolve(const orm_scope *sc, const char *name, orm_ref *out)
{
    const char *dot = strchr(name, '.');
    if (dot)
        return resolve_qualified(sc, name, dot, out);
    for (const orm_scope *s = sc; s; s = s->outer) {
        if (s->n == 0)
            continue;
        int idx = field_in(s->items[0].model, name);
        const orm_scope_item *hit = idx >= 0 ? &s->items[0] : NULL;
        for (size_t i = 1; i < s->n && !hit; i++) {
            int j = field_in(s->items[i].model, name);
            if (j < 0)
                continue;
            for (size_t k = i + 1; k < s->n; k++)
                if (field_in(s->items[k].model, name) >= 0)
                    return orm__error_set(ORM_EINVAL, "builder",
                                          "ambiguous field \"%s\": in \"%s\" and \"%s\" (qualify it)", name,
                                          orm__scope_item_name(&s->items[i]),
                                          orm__scope_item_name(&s->items[k]));
            hit = &s->items[i];
            idx = j;
        }
        if (hit) {
            out->item = hit;
            out->field = (size_t)idx;
            out->qualify = s->qualify || s != sc;
            return ORM_OK;
        }
    }
    return unknown(sc, name);
}

void orm__ref_render(orm_sql_buf *b, const orm_ref *r)
{
    const char *col = r->item->model->fields[r->field].column;
    orm__sql_buf_qident(b, r->qualify ? orm__scope_item_name(r->item) : NULL, col);
}

/* ---- rendering ---- */

enum { P_RAW = 0, P_OR = 1, P_AND = 2, P_NOT = 3, P_CMP = 4, P_ADD = 5, P_MUL = 6, P_ATOM = 9 };

static int prec(const orm_expr *e)
{
    switch (e->kind) {
    case ORM_EX_RAW: return P_RAW;
    case ORM_EX_OR: return P_OR;
    case ORM_EX_AND: return P_AND;
    case ORM_EX_NOT: return P_NOT;
    case ORM_EX_BINOP:
        return e->op >= ORM_OP_MUL ? P_MUL : e->op >= ORM_OP_ADD ? P_ADD : P_CMP;
    case ORM_EX_LIKE: case ORM_EX_BETWEEN: case ORM_EX_IS_NULL: case ORM_EX_EXISTS:
    case ORM_EX_IN_SELECT:
        return P_CMP;
    case ORM_EX_IN:
        return e->nvals ? P_CMP : P_ATOM;
    default: return P_ATOM;
    }
}

static void render(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc, int minprec);

static void render_col(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc)
{
    orm_ref r;
    int rc = orm__scope_resolve(sc, e->name, &r);
    if (rc) {
        if (!b->err)
            b->err = rc; /* the message is already set */
        return;
    }
    orm__ref_render(b, &r);
}

/* When col is a column of the scope, check that v fits its field (write 0: compared). */
static void check_val(orm_sql_buf *b, const orm_expr *col, orm_value v, const orm_scope *sc)
{
    if (b->err || !col || col->kind != ORM_EX_COL)
        return;
    orm_ref r;
    if (orm__scope_resolve(sc, col->name, &r) != ORM_OK) {
        orm_error_clear(); /* rendering the column reports it */
        return;
    }
    int rc = orm__value_check(r.item->model, r.field, v, 0);
    if (rc)
        b->err = rc; /* the message is set */
}

/* A comparison of a column with a value, either way round: check the value. */
static void check_pair(orm_sql_buf *b, const orm_expr *x, const orm_expr *y, const orm_scope *sc)
{
    if (x && y && x->kind == ORM_EX_COL && y->kind == ORM_EX_VAL)
        check_val(b, x, y->val, sc);
    else if (x && y && y->kind == ORM_EX_COL && x->kind == ORM_EX_VAL)
        check_val(b, y, x->val, sc);
}

static void render_raw(orm_sql_buf *b, const orm_expr *e)
{
    const char *s = e->name, *run = s;
    size_t k = 0;
    char quote = 0;
    for (; *s; s++) {
        if (quote) {
            if (*s == quote)
                quote = 0; /* a doubled quote closes and reopens: same state either way */
            continue;
        }
        if (*s == '\'' || *s == '"') {
            quote = *s;
            continue;
        }
        if (*s != '?')
            continue;
        orm__sql_buf_putn(b, run, (size_t)(s - run));
        if (k >= e->nvals) {
            orm__sql_buf_fail(b, ORM_EINVAL, "raw expression \"%s\" has more '?' than its %zu args",
                              e->name, e->nvals);
            return;
        }
        orm__sql_buf_param(b, e->vals[k++]);
        run = s + 1;
    }
    orm__sql_buf_put(b, run);
    if (k != e->nvals)
        orm__sql_buf_fail(b, ORM_EINVAL, "raw expression \"%s\" has %zu '?' for %zu args", e->name, k,
                          e->nvals);
}

static const char *const op_sql[] = { " = ", " <> ", " < ", " <= ", " > ", " >= ",
                                      " + ", " - ", " * ", " / " };
static const char *const agg_sql[] = { "COUNT(", "SUM(", "AVG(", "MIN(", "MAX(" };

static void render_list(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc, const char *sep, int p)
{
    for (size_t i = 0; i < e->nlist; i++) {
        if (i)
            orm__sql_buf_put(b, sep);
        render(b, e->list[i], sc, p);
    }
}

static void render_body(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc)
{
    switch (e->kind) {
    case ORM_EX_ERROR:
        orm__sql_buf_fail(b, e->code, e->code == ORM_ENOMEM ? "out of memory"
                                      : e->flag ? "expression nested deeper than ORM_EXPR_MAX_DEPTH levels"
                                                : "invalid expression (a NULL argument)");
        break;
    case ORM_EX_CONST:
        orm__sql_buf_put(b, e->flag ? b->d->true_lit : b->d->false_lit);
        break;
    case ORM_EX_COL:
        render_col(b, e, sc);
        break;
    case ORM_EX_VAL:
        orm__sql_buf_param(b, e->val);
        break;
    case ORM_EX_AGG:
        orm__sql_buf_put(b, agg_sql[e->agg]);
        if (!e->a) {
            orm__sql_buf_putc(b, '*');
        } else {
            if (e->flag)
                orm__sql_buf_put(b, "DISTINCT ");
            render(b, e->a, sc, P_RAW);
        }
        orm__sql_buf_putc(b, ')');
        break;
    case ORM_EX_RAW:
        render_raw(b, e);
        break;
    case ORM_EX_BINOP: {
        int p = prec(e);
        if (p == P_CMP)
            check_pair(b, e->a, e->b, sc);
        render(b, e->a, sc, p == P_CMP ? P_ADD : p);
        orm__sql_buf_put(b, op_sql[e->op]);
        render(b, e->b, sc, p == P_CMP ? P_ADD : p + 1);
        break;
    }
    case ORM_EX_LIKE:
        check_pair(b, e->a, e->b, sc);
        render(b, e->a, sc, P_ADD);
        orm__sql_buf_put(b, e->flag ? " NOT LIKE " : " LIKE ");
        render(b, e->b, sc, P_ADD);
        break;
    case ORM_EX_BETWEEN:
        check_pair(b, e->a, e->b, sc);
        check_pair(b, e->a, e->c, sc);
        render(b, e->a, sc, P_ADD);
        orm__sql_buf_put(b, " BETWEEN ");
        render(b, e->b, sc, P_ADD);
        orm__sql_buf_put(b, " AND ");
        render(b, e->c, sc, P_ADD);
        break;
    case ORM_EX_IN:
        if (e->nvals == 0) {
            /* The column is still checked, though the predicate is a constant. */
            if (e->a->kind == ORM_EX_COL) {
                orm_ref r;
                int rc = orm__scope_resolve(sc, e->a->name, &r);
                if (rc && !b->err)
                    b->err = rc;
            }
            orm__sql_buf_put(b, e->flag ? b->d->true_lit : b->d->false_lit);
            break;
        }
        for (size_t i = 0; i < e->nvals; i++)
            check_val(b, e->a, e->vals[i], sc);
        render(b, e->a, sc, P_ADD);
        orm__sql_buf_put(b, e->flag ? " NOT IN (" : " IN (");
        for (size_t i = 0; i < e->nvals; i++) {
            if (i)
                orm__sql_buf_put(b, ", ");
            orm__sql_buf_param(b, e->vals[i]);
        }
        orm__sql_buf_putc(b, ')');
        break;
    case ORM_EX_IS_NULL:
        render(b, e->a, sc, P_ADD);
        orm__sql_buf_put(b, e->flag ? " IS NOT NULL" : " IS NULL");
        break;
    case ORM_EX_AND:
        render_list(b, e, sc, " AND ", P_AND);
        break;
    case ORM_EX_OR:
        render_list(b, e, sc, " OR ", P_OR);
        break;
    case ORM_EX_NOT:
        orm__sql_buf_put(b, "NOT ");
        render(b, e->a, sc, P_ADD);
        break;
    case ORM_EX_EXISTS:
        orm__sql_buf_put(b, e->flag ? "NOT EXISTS (" : "EXISTS (");
        orm__select_render_sub(b, e->sub, sc);
        orm__sql_buf_putc(b, ')');
        break;
    case ORM_EX_IN_SELECT:
        render(b, e->a, sc, P_ADD);
        orm__sql_buf_put(b, e->flag ? " NOT IN (" : " IN (");
        orm__select_render_sub(b, e->sub, sc);
        orm__sql_buf_putc(b, ')');
        break;
    }
}

static void render(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc, int minprec)
{
    if (b->err)
        return;
    if (!e) {
        orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
        return;
    }
    int paren = prec(e) < minprec;
    if (paren)
        orm__sql_buf_putc(b, '(');
    render_body(b, e, sc);
    if (paren)
        orm__sql_buf_putc(b, ')');
}

void orm__expr_render(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc)
{
    render(b, e, sc, P_RAW);
}
