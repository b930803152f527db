/* liborm builder — expression constructors and orm_expr_free.
 *
 * Keeps true: a constructor owns every node passed to it from the moment it is called, so
 * on any failure it frees them before returning; it never returns NULL (a failed allocation
 * gives the static error node, which orm_expr_free ignores); names, text and blob bytes are
 * copied into the node.
 */
#include <string.h>

#include "builder/expr_internal.h"
#include "orm/alloc.h"
#include "orm/error.h"
#include "orm/select.h"

/* Shared error nodes: never freed, never modified. */
static orm_expr nomem_node = { .kind = ORM_EX_ERROR, .code = ORM_ENOMEM };
static orm_expr einval_node = { .kind = ORM_EX_ERROR, .code = ORM_EINVAL };
/* flag 1: the render message says the nesting was too deep */
static orm_expr deep_node = { .kind = ORM_EX_ERROR, .code = ORM_EINVAL, .flag = 1,
                               .depth = ORM_EXPR_MAX_DEPTH }; /* any parent is too deep too */

static int is_static(const orm_expr *e)
{
    return e == &nomem_node || e == &einval_node || e == &deep_node;
}

static unsigned depth_of(const orm_expr *e) { return e ? e->depth : 0; }

/* e (just built) with its depth from its children's: past ORM_EXPR_MAX_DEPTH it is freed
 * (its children are at most that deep, so the free's recursion is bounded) for the error
 * node. */
static orm_expr *checked(orm_expr *e, unsigned depth)
{
    e->depth = depth;
    if (depth <= ORM_EXPR_MAX_DEPTH)
        return e;
    orm_expr_free(e);
    return &deep_node;
}

void orm_expr_free(orm_expr *e)
{
    if (!e || is_static(e))
        return;
    orm_expr_free(e->a);
    orm_expr_free(e->b);
    orm_expr_free(e->c);
    for (size_t i = 0; i < e->nlist; i++)
        orm_expr_free(e->list[i]);
    orm__free(e->list);
    for (size_t i = 0; i < e->nvals; i++)
        orm__value_release(&e->vals[i]);
    orm__free(e->vals);
    orm__value_release(&e->val);
    orm__free(e->name);
    orm_select_free(e->sub);
    orm__free(e);
}

/* A new node of this kind, or NULL. */
static orm_expr *node(orm_expr_kind kind)
{
    orm_expr *e = orm__calloc(1, sizeof *e);
    if (e) {
        e->kind = kind;
        e->depth = 1;
    }
    return e;
}

/* Give up on a node under construction: free it and what it already owns. */
static orm_expr *fail(orm_expr *e) { orm_expr_free(e); return &nomem_node; }

/* Copies of an array of values into e->vals; 0 on failure (e keeps what it got). */
static int copy_vals(orm_expr *e, const orm_value *vals, size_t n)
{
    if (n == 0)
        return 1;
    e->vals = orm__calloc(n, sizeof *e->vals);
    if (!e->vals)
        return 0;
    for (; e->nvals < n; e->nvals++)
        if (orm__value_dup(&e->vals[e->nvals], vals[e->nvals]) != ORM_OK)
            return 0;
    return 1;
}

orm_expr *orm_col(const char *field)
{
    if (!field)
        return &einval_node;
    orm_expr *e = node(ORM_EX_COL);
    if (!e || !(e->name = orm__strdup(field)))
        return fail(e);
    return e;
}

orm_expr *orm_val(orm_value v)
{
    orm_expr *e = node(ORM_EX_VAL);
    if (!e || orm__value_dup(&e->val, v) != ORM_OK)
        return fail(e);
    return e;
}

orm_expr *orm_aggregate(orm_agg fn, orm_expr *arg, int distinct)
{
    if ((unsigned)fn > ORM_AGG_MAX) {
        orm_expr_free(arg);
        return &einval_node;
    }
    orm_expr *e = node(ORM_EX_AGG);
    if (!e) {
        orm_expr_free(arg);
        return &nomem_node;
    }
    e->agg = fn;
    e->flag = distinct != 0;
    e->a = arg;
    return checked(e, 1 + depth_of(arg));
}

orm_expr *orm_count_all(void) { return orm_aggregate(ORM_AGG_COUNT, NULL, 0); }

static orm_expr *agg_of(orm_agg fn, const char *field)
{
    if (!field)
        return &einval_node;
    orm_expr *c = orm_col(field);
    if (c == &nomem_node)
        return c;
    return orm_aggregate(fn, c, 0);
}

orm_expr *orm_count(const char *field) { return agg_of(ORM_AGG_COUNT, field); }
orm_expr *orm_sum(const char *field) { return agg_of(ORM_AGG_SUM, field); }
orm_expr *orm_avg(const char *field) { return agg_of(ORM_AGG_AVG, field); }
orm_expr *orm_min(const char *field) { return agg_of(ORM_AGG_MIN, field); }
orm_expr *orm_max(const char *field) { return agg_of(ORM_AGG_MAX, field); }

orm_expr *orm_raw_expr(const char *sql, const orm_value *args, size_t nargs)
{
    if (!sql || (nargs && !args))
        return &einval_node;
    orm_expr *e = node(ORM_EX_RAW);
    if (!e || !(e->name = orm__strdup(sql)) || !copy_vals(e, args, nargs))
        return fail(e);
    return e;
}

/* A node over up to three children, all stolen; NULL children make it an error node. */
static orm_expr *with_kids(orm_expr_kind kind, orm_expr *a, orm_expr *b, orm_expr *c, int nkids)
{
    orm_expr *e = (nkids >= 1 && !a) || (nkids >= 2 && !b) || (nkids >= 3 && !c) ? NULL : node(kind);
    if (!e) {
        orm_expr_free(a);
        orm_expr_free(b);
        orm_expr_free(c);
        return &nomem_node;
    }
    e->a = a;
    e->b = b;
    e->c = c;
    unsigned d = depth_of(a);
    d = depth_of(b) > d ? depth_of(b) : d;
    d = depth_of(c) > d ? depth_of(c) : d;
    return checked(e, 1 + d);
}

orm_expr *orm_binop(orm_op op, orm_expr *lhs, orm_expr *rhs)
{
    if ((unsigned)op > ORM_OP_DIV) {
        orm_expr_free(lhs);
        orm_expr_free(rhs);
        return &einval_node;
    }
    orm_expr *e = with_kids(ORM_EX_BINOP, lhs, rhs, NULL, 2);
    if (!is_static(e))
        e->op = op;
    return e;
}

static orm_expr *cmp(orm_op op, const char *field, orm_value v)
{
    if (!field)
        return &einval_node;
    return orm_binop(op, orm_col(field), orm_val(v));
}

orm_expr *orm_eq(const char *field, orm_value v) { return cmp(ORM_OP_EQ, field, v); }
orm_expr *orm_ne(const char *field, orm_value v) { return cmp(ORM_OP_NE, field, v); }
orm_expr *orm_lt(const char *field, orm_value v) { return cmp(ORM_OP_LT, field, v); }
orm_expr *orm_le(const char *field, orm_value v) { return cmp(ORM_OP_LE, field, v); }
orm_expr *orm_gt(const char *field, orm_value v) { return cmp(ORM_OP_GT, field, v); }
orm_expr *orm_ge(const char *field, orm_value v) { return cmp(ORM_OP_GE, field, v); }

orm_expr *orm_eq_col(const char *field, const char *other_field)
{
    if (!field || !other_field)
        return &einval_node;
    return orm_binop(ORM_OP_EQ, orm_col(field), orm_col(other_field));
}

static orm_expr *like(int negate, const char *field, orm_value pattern)
{
    if (!field)
        return &einval_node;
    orm_expr *e = with_kids(ORM_EX_LIKE, orm_col(field), orm_val(pattern), NULL, 2);
    if (!is_static(e))
        e->flag = negate;
    return e;
}

orm_expr *orm_like(const char *field, orm_value pattern) { return like(0, field, pattern); }
orm_expr *orm_not_like(const char *field, orm_value pattern) { return like(1, field, pattern); }

orm_expr *orm_between(const char *field, orm_value lo, orm_value hi)
{
    if (!field)
        return &einval_node;
    return with_kids(ORM_EX_BETWEEN, orm_col(field), orm_val(lo), orm_val(hi), 3);
}

static orm_expr *in_list(int negate, const char *field, const orm_value *vals, size_t n)
{
    if (!field || (n && !vals))
        return &einval_node;
    orm_expr *e = with_kids(ORM_EX_IN, orm_col(field), NULL, NULL, 1);
    if (is_static(e))
        return e;
    e->flag = negate;
    if (!copy_vals(e, vals, n))
        return fail(e);
    return e;
}

orm_expr *orm_in(const char *field, const orm_value *vals, size_t n) { return in_list(0, field, vals, n); }
orm_expr *orm_not_in(const char *field, const orm_value *vals, size_t n) { return in_list(1, field, vals, n); }

static orm_expr *is_null(int negate, const char *field)
{
    if (!field)
        return &einval_node;
    orm_expr *e = with_kids(ORM_EX_IS_NULL, orm_col(field), NULL, NULL, 1);
    if (!is_static(e))
        e->flag = negate;
    return e;
}

orm_expr *orm_is_null(const char *field) { return is_null(0, field); }
orm_expr *orm_is_not_null(const char *field) { return is_null(1, field); }

/* A subquery node; sub is stolen (NULL: a failed orm_select_new, so out of memory). */
static orm_expr *sub_node(orm_expr_kind kind, int negate, orm_expr *col, orm_select *sub)
{
    orm_expr *e = sub && col != &nomem_node ? node(kind) : NULL;
    if (!e) {
        orm_expr_free(col);
        orm_select_free(sub);
        return &nomem_node;
    }
    e->flag = negate;
    e->a = col;
    e->sub = sub;
    unsigned d = orm__select_depth(sub);
    return checked(e, 1 + (depth_of(col) > d ? depth_of(col) : d));
}

orm_expr *orm_in_select(const char *field, orm_select *sub)
{
    if (!field) {
        orm_select_free(sub);
        return &einval_node;
    }
    return sub_node(ORM_EX_IN_SELECT, 0, orm_col(field), sub);
}

orm_expr *orm_not_in_select(const char *field, orm_select *sub)
{
    if (!field) {
        orm_select_free(sub);
        return &einval_node;
    }
    return sub_node(ORM_EX_IN_SELECT, 1, orm_col(field), sub);
}

orm_expr *orm_exists(orm_select *sub) { return sub_node(ORM_EX_EXISTS, 0, NULL, sub); }
orm_expr *orm_not_exists(orm_select *sub) { return sub_node(ORM_EX_EXISTS, 1, NULL, sub); }

static orm_expr *constant(int value)
{
    orm_expr *e = node(ORM_EX_CONST);
    if (!e)
        return &nomem_node;
    e->flag = value;
    return e;
}

/* Appends list[from..n) to e's list (an AND/OR node of that kind), taking the items of
 * children of the same kind instead of the children (their shells are freed). 0 when out of
 * memory (nothing moved). */
static int append_flat(orm_expr *e, orm_expr *const *list, size_t from, size_t n)
{
    size_t extra = 0;
    for (size_t i = from; i < n; i++)
        extra += !is_static(list[i]) && list[i]->kind == e->kind ? list[i]->nlist : 1;
    if (e->nlist + extra > e->caplist) {
        size_t cap = e->caplist ? e->caplist : 4;
        while (cap < e->nlist + extra)
            cap *= 2;
        orm_expr **grown = orm__realloc(e->list, cap * sizeof *grown);
        if (!grown)
            return 0;
        e->list = grown;
        e->caplist = cap;
    }
    unsigned d = e->depth;
    for (size_t i = from; i < n; i++) {
        orm_expr *c = list[i];
        if (!is_static(c) && c->kind == e->kind) {
            memcpy(e->list + e->nlist, c->list, c->nlist * sizeof *c->list);
            e->nlist += c->nlist;
            d = c->depth > d ? c->depth : d;
            orm__free(c->list);
            orm__free(c);
        } else {
            e->list[e->nlist++] = c;
            d = 1 + depth_of(c) > d ? 1 + depth_of(c) : d;
        }
    }
    e->depth = d;
    return 1;
}

/* n-ary AND/OR over list (all stolen). AND inside AND (OR inside OR) is flattened: the
 * same SQL, no deeper tree; a left operand of the same kind grows in place, so a chain
 * built one term at a time costs amortized O(1) a term. */
static orm_expr *logic(orm_expr_kind kind, orm_expr *const *list, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= list[i] == NULL;
    if (bad || n == 0 || n == 1) {
        if (!bad && n == 1)
            return list[0];
        for (size_t i = 0; i < n; i++)
            orm_expr_free(list[i]);
        return bad ? &nomem_node : constant(kind == ORM_EX_AND);
    }
    orm_expr *e;
    size_t from;
    if (!is_static(list[0]) && list[0]->kind == kind) {
        e = list[0];
        from = 1;
    } else {
        e = node(kind);
        from = 0;
    }
    if (!e || !append_flat(e, list, from, n)) {
        if (e && from == 0)
            orm__free(e);
        for (size_t i = 0; i < n; i++)
            orm_expr_free(list[i]);
        return &nomem_node;
    }
    return checked(e, e->depth);
}

orm_expr *orm_and(orm_expr *a, orm_expr *b)
{
    orm_expr *l[2] = { a, b };
    return logic(ORM_EX_AND, l, 2);
}

orm_expr *orm_or(orm_expr *a, orm_expr *b)
{
    orm_expr *l[2] = { a, b };
    return logic(ORM_EX_OR, l, 2);
}

orm_expr *orm_not(orm_expr *e) { return with_kids(ORM_EX_NOT, e, NULL, NULL, 1); }

orm_expr *orm_and_all(orm_expr *const *list, size_t n)
{
    if (n && !list)
        return &einval_node;
    return logic(ORM_EX_AND, list, n);
}

orm_expr *orm_or_all(orm_expr *const *list, size_t n)
{
    if (n && !list)
        return &einval_node;
    return logic(ORM_EX_OR, list, n);
}
