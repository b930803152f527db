/* liborm builder internal — the expression node, name scopes and rendering.
 *
 * One node type covers terms (column references, values, aggregates, raw SQL, subqueries)
 * and predicates. A node owns its children, its copied names and its copied value bytes.
 * Constructors never return NULL: on allocation failure they return a static error node
 * (never freed), and rendering a tree that holds one reports its code.
 */
#ifndef ORM_BUILDER_EXPR_INTERNAL_H
#define ORM_BUILDER_EXPR_INTERNAL_H

#include <stddef.h>

#include "builder/sql_buf.h"
#include "orm/expr.h"
#include "orm/model.h"

typedef enum orm_expr_kind {
    ORM_EX_ERROR,       /* code */
    ORM_EX_CONST,       /* a constant predicate: flag 1 TRUE, 0 FALSE */
    ORM_EX_COL,         /* name */
    ORM_EX_VAL,         /* val */
    ORM_EX_AGG,         /* agg, flag (distinct), a (NULL: *) */
    ORM_EX_RAW,         /* name (the SQL), vals/nvals */
    ORM_EX_BINOP,       /* op, a, b */
    ORM_EX_LIKE,        /* flag (1: NOT LIKE), a, b */
    ORM_EX_BETWEEN,     /* a BETWEEN b AND c */
    ORM_EX_IN,          /* flag (1: NOT IN), a, vals/nvals (0: constant) */
    ORM_EX_IS_NULL,     /* flag (1: IS NOT NULL), a */
    ORM_EX_AND,         /* list/nlist */
    ORM_EX_OR,          /* list/nlist */
    ORM_EX_NOT,         /* a */
    ORM_EX_EXISTS,      /* flag (1: NOT EXISTS), sub */
    ORM_EX_IN_SELECT    /* flag (1: NOT IN), a, sub */
} orm_expr_kind;

struct orm_expr {
    orm_expr_kind kind;
    int code;           /* ORM_EX_ERROR: the error */
    int flag;
    orm_op op;
    orm_agg agg;
    char *name;
    orm_value val;      /* owned bytes */
    orm_expr *a, *b, *c;
    orm_expr **list;
    size_t nlist;
    orm_value *vals;    /* owned bytes */
    size_t nvals;
    orm_select *sub;
    unsigned depth;     /* levels of nodes from here down, subqueries included (1: a leaf) */
    size_t caplist;     /* AND/OR: room in list (lists grow in place when flattened) */
};

/* The deepest expression of a select (where, having, computed columns, join conditions). */
unsigned orm__select_depth(const orm_select *q);

/* A model visible to name resolution, with the name it is referred to by. */
typedef struct orm_scope_item {
    const orm_model *model;
    const char *alias;  /* NULL: the table name */
} orm_scope_item;

typedef struct orm_scope {
    const orm_scope_item *items;  /* items[0] is the main model */
    size_t n;
    const struct orm_scope *outer; /* enclosing query, for correlated subqueries */
    int qualify;                   /* qualify column references (joins present) */
} orm_scope;

/* What a name resolved to. */
typedef struct orm_ref {
    const orm_scope_item *item;
    size_t field;
    int qualify;       /* render qualifier."column" */
} orm_ref;

/* Resolve "field" or "Q.field" (field by name, then by column) in scope, Q being an alias,
 * else the SQL table name, else the model's name (exact, case-sensitive, on every backend),
 * then in the outer scopes. ORM_EUNKNOWN_FIELD naming the field and the table(s);
 * ORM_EINVAL for an ambiguous name. Sets the last error. */
int orm__scope_resolve(const orm_scope *sc, const char *name, orm_ref *out);
/* Render a resolved reference. */
void orm__ref_render(orm_sql_buf *b, const orm_ref *r);
/* The name a scope item is referred to by (its alias or its table). */
const char *orm__scope_item_name(const orm_scope_item *it);

/* Render e in scope into b. Errors (an error node, an unknown field, raw placeholders
 * that do not match the args) go to b->err. */
void orm__expr_render(orm_sql_buf *b, const orm_expr *e, const orm_scope *sc);

/* Render a select (a subquery) into b, its names resolved in its own scope and then in
 * outer. Implemented in select.c. */
void orm__select_render_sub(orm_sql_buf *b, orm_select *q, const orm_scope *outer);

/* The statement orm_select_count runs, rendered (for tests and inspection). */
int orm__select_count_to_sql(orm_select *q, const orm_dialect *d, orm_sql *out);

#endif
