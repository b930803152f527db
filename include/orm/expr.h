/* liborm — expressions for WHERE, HAVING, ON, SET and computed columns.
 *
 *     orm_select_where(q, orm_and(orm_eq("age", orm_int(30)),
 *                                 orm_like("name", orm_text("a%"))));
 *
 * Field names: "field" (a field of the query's model, by its name or its column), or
 * "Q.field" for a field of the model or a joined model, where Q is the join's alias, else
 * the model's SQL table name, else the model's own name (orm_model.name, its struct's):
 * "invoices.customer_id" and "Invoice.customer_id" both name a field of model Invoice of
 * table invoices. Matching is exact (case-sensitive) and the same on every backend. Names are
 * checked against the models when the query is built; an unknown one is ORM_EUNKNOWN_FIELD
 * naming it, and nothing reaches the database. Values are always bound as parameters.
 *
 * Ownership: every constructor returns a new node the caller owns; a node passed to another
 * constructor or to a builder is stolen by it, also when that call fails. Constructors never
 * fail visibly: on allocation failure they return an error node (or NULL for the stolen
 * children's parent), and the error surfaces as ORM_ENOMEM when the query is built. Text and
 * blob values are copied into the node. orm_expr_free(NULL) is a no-op.
 *
 * Depth: AND of ANDs (and OR of ORs) flatten into one list, so a condition built by adding
 * terms one at a time (a loop of orm_and, or of orm_select_where) stays flat however long.
 * Other nesting (NOT, comparisons, IN/EXISTS subqueries, AND inside OR ...) is limited to
 * ORM_EXPR_MAX_DEPTH levels: a deeper node is an error node, and building the query that
 * holds it is ORM_EINVAL, so rendering and freeing never exhaust the stack.
 *
 * Thread safety: a node belongs to one thread until it is stolen.
 */
#ifndef ORM_EXPR_H
#define ORM_EXPR_H

#include <stddef.h>

#include "orm/export.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORM_EXPR_MAX_DEPTH 256

typedef struct orm_expr orm_expr;
typedef struct orm_select orm_select;

typedef enum orm_op {
    ORM_OP_EQ, ORM_OP_NE, ORM_OP_LT, ORM_OP_LE, ORM_OP_GT, ORM_OP_GE,
    ORM_OP_ADD, ORM_OP_SUB, ORM_OP_MUL, ORM_OP_DIV
} orm_op;

typedef enum orm_agg {
    ORM_AGG_COUNT, ORM_AGG_SUM, ORM_AGG_AVG, ORM_AGG_MIN, ORM_AGG_MAX
} orm_agg;

/* Terms. */
ORM_API orm_expr *orm_col(const char *field);          /* a column reference */
ORM_API orm_expr *orm_val(orm_value v);                /* a bound value */
ORM_API orm_expr *orm_aggregate(orm_agg fn, orm_expr *arg, int distinct); /* arg NULL: COUNT(*) */
ORM_API orm_expr *orm_count_all(void);                 /* COUNT(*) */
ORM_API orm_expr *orm_count(const char *field);        /* COUNT(field) */
ORM_API orm_expr *orm_sum(const char *field);
ORM_API orm_expr *orm_avg(const char *field);
ORM_API orm_expr *orm_min(const char *field);
ORM_API orm_expr *orm_max(const char *field);
/* Raw SQL with '?' placeholders for the nargs bound args (each '?' outside a quoted string is
 * one placeholder; the dialect renumbers them). The escape hatch: the text is pasted as is,
 * so it must never come from user input — the args are where input goes. */
ORM_API orm_expr *orm_raw_expr(const char *sql, const orm_value *args, size_t nargs);

/* Comparisons and arithmetic. */
ORM_API orm_expr *orm_binop(orm_op op, orm_expr *lhs, orm_expr *rhs);
ORM_API orm_expr *orm_eq(const char *field, orm_value v);
ORM_API orm_expr *orm_ne(const char *field, orm_value v);
ORM_API orm_expr *orm_lt(const char *field, orm_value v);
ORM_API orm_expr *orm_le(const char *field, orm_value v);
ORM_API orm_expr *orm_gt(const char *field, orm_value v);
ORM_API orm_expr *orm_ge(const char *field, orm_value v);
ORM_API orm_expr *orm_eq_col(const char *field, const char *other_field); /* for ON */
ORM_API orm_expr *orm_like(const char *field, orm_value pattern);
ORM_API orm_expr *orm_not_like(const char *field, orm_value pattern);
ORM_API orm_expr *orm_between(const char *field, orm_value lo, orm_value hi);
ORM_API orm_expr *orm_in(const char *field, const orm_value *vals, size_t n);     /* n 0: false */
ORM_API orm_expr *orm_not_in(const char *field, const orm_value *vals, size_t n); /* n 0: true */
ORM_API orm_expr *orm_is_null(const char *field);
ORM_API orm_expr *orm_is_not_null(const char *field);

/* Subqueries (the select is stolen). */
ORM_API orm_expr *orm_in_select(const char *field, orm_select *sub);
ORM_API orm_expr *orm_not_in_select(const char *field, orm_select *sub);
ORM_API orm_expr *orm_exists(orm_select *sub);
ORM_API orm_expr *orm_not_exists(orm_select *sub);

/* Logic. A NULL operand (a failed allocation) makes the result an error node. */
ORM_API orm_expr *orm_and(orm_expr *a, orm_expr *b);
ORM_API orm_expr *orm_or(orm_expr *a, orm_expr *b);
ORM_API orm_expr *orm_not(orm_expr *e);
/* n-ary forms over an array of nodes (all stolen); n 0 gives TRUE for and, FALSE for or. */
ORM_API orm_expr *orm_and_all(orm_expr *const *list, size_t n);
ORM_API orm_expr *orm_or_all(orm_expr *const *list, size_t n);

ORM_API void orm_expr_free(orm_expr *e);

#ifdef __cplusplus
}
#endif
#endif
