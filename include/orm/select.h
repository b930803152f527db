/* liborm — SELECT.
 *
 *     orm_select *q = orm_select_new(s, &user_model);
 *     orm_select_where(q, orm_between("age", orm_int(30), orm_int(31)));
 *     orm_select_order_by(q, "id", ORM_ASC);
 *     orm_select_limit(q, 50);
 *     orm_list users = ORM_LIST_INIT;
 *     int rc = orm_select_all(q, NULL, &users);
 *     ... ((user *)users.items)[i] ...
 *     orm_list_clear(&users);
 *     orm_select_free(q);
 *
 * Errors: setters return ORM_OK or an error code; the first error sticks to the builder and
 * is returned again by every run function, so checking only the run is enough. Field names
 * are resolved when the query is built (run or to_sql): ORM_EUNKNOWN_FIELD names the field
 * and the table, and nothing reaches the database. orm_select_new on a model that is not
 * registered with the session's db returns a builder whose runs fail with ORM_EINVAL.
 *
 * Ownership: the caller frees the builder with orm_select_free (NULL is a no-op).
 * Expressions passed in are stolen (see expr.h). A builder can be run any number of times.
 *
 * Thread safety: a builder belongs to one thread at a time.
 */
#ifndef ORM_SELECT_H
#define ORM_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/dialect.h"
#include "orm/expr.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/rows.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum orm_order { ORM_ASC = 0, ORM_DESC = 1 } orm_order;

typedef enum orm_join_kind { ORM_JOIN_INNER, ORM_JOIN_LEFT, ORM_JOIN_RIGHT } orm_join_kind;

/* A growable array of model structs, filled by orm_select_all.
 * Ownership: the caller's; orm_list_clear frees every struct's members and the array. */
typedef struct orm_list {
    void *items;              /* count structs of model->struct_size bytes */
    size_t count;
    size_t capacity;
    const orm_model *model;
} orm_list;

#define ORM_LIST_INIT { NULL, 0, 0, NULL }

/* Pointer to item i (no bounds check beyond an assert-free NULL for i >= count). */
ORM_API void *orm_list_at(const orm_list *list, size_t i);
/* Free the items and their members; the list is left empty and reusable. NULL is a no-op. */
ORM_API void orm_list_clear(orm_list *list);

ORM_API orm_select *orm_select_new(orm_session *s, const orm_model *model);
ORM_API void orm_select_free(orm_select *q);

/* Alias for the main table ("u" gives FROM "users" AS "u"). */
ORM_API int orm_select_alias(orm_select *q, const char *alias);
/* Select only these fields (of the main model) instead of all. Structs filled by get/all
 * have the other fields zeroed. */
ORM_API int orm_select_columns(orm_select *q, const char *const *fields, size_t n);
/* Add a computed column (an aggregate, arithmetic, raw), read back with orm_select_rows or
 * the scalar functions. `as` may be NULL. Stolen. */
ORM_API int orm_select_expr(orm_select *q, orm_expr *e, const char *as);
ORM_API int orm_select_distinct(orm_select *q);
/* Add a condition; several calls are joined with AND. Stolen. */
ORM_API int orm_select_where(orm_select *q, orm_expr *e);
ORM_API int orm_select_order_by(orm_select *q, const char *field, orm_order order);
ORM_API int orm_select_limit(orm_select *q, int64_t limit);
ORM_API int orm_select_offset(orm_select *q, int64_t offset);
ORM_API int orm_select_group_by(orm_select *q, const char *field);
ORM_API int orm_select_having(orm_select *q, orm_expr *e);
/* Join a registered model, with an optional alias and an ON condition (stolen). */
ORM_API int orm_select_join(orm_select *q, orm_join_kind kind, const orm_model *model,
                            const char *alias, orm_expr *on);
/* Join ... USING (columns): the fields must exist, by name, in both models. */
ORM_API int orm_select_join_using(orm_select *q, orm_join_kind kind, const orm_model *model,
                                  const char *alias, const char *const *fields, size_t n);

/* Render for a dialect (NULL: the session's). */
ORM_API int orm_select_to_sql(orm_select *q, const orm_dialect *d, orm_sql *out);

/* Run and map the first row into out (a zeroed struct of the model: cleared first with
 * orm_model_clear if it owns anything). ORM_ENOTFOUND when there is no row. */
ORM_API int orm_select_get(orm_select *q, orm_ctx *ctx, void *out);
/* Run and append every row to list (list->model is set; an empty list is ORM_OK).
 * On error the list is left as it was before the call. */
ORM_API int orm_select_all(orm_select *q, orm_ctx *ctx, orm_list *list);
/* Run and open a cursor over the raw rows. */
ORM_API int orm_select_rows(orm_select *q, orm_ctx *ctx, orm_rows **out);
/* Run and read the first column of the first row. is_null may be NULL (a NULL reads as 0).
 * ORM_ENOTFOUND when there is no row. */
ORM_API int orm_select_scalar_int(orm_select *q, orm_ctx *ctx, int64_t *out, bool *is_null);
ORM_API int orm_select_scalar_double(orm_select *q, orm_ctx *ctx, double *out, bool *is_null);
/* SELECT COUNT(*) over the query's FROM, joins and WHERE (ignoring columns, order, limit). */
ORM_API int orm_select_count(orm_select *q, orm_ctx *ctx, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
