/* liborm — typed results: rows of a select or a raw query, one at a time or all at once,
 * mapped into the structs of any model by column name.
 *
 *     orm_iter *it;
 *     user u = { 0 };
 *     if (orm_select_iter(&it, q, NULL, NULL) == ORM_OK) {      // the select's own model
 *         int rc;
 *         while ((rc = orm_iter_next(it, &u)) == 1)
 *             printf("%s\n", u.name);
 *         orm_iter_free(it);                                    // u is cleared at the end
 *     }
 *
 * The model a row is mapped into ("into") may be the select's model or any other: a "view"
 * model, hand-written or generated, describing a report row (a join's columns, aggregates
 * named with orm_select_expr(q, e, "as")). It needs no table and no registration: a result
 * column maps to the field of its name (or column name); a column without a field is
 * ORM_EUNKNOWN_FIELD naming it, before any row is read, unless ignore_unknown. Generated
 * field enums name fields for builders through orm_model_field_name(&m, M_FIELD_X).
 *
 * Ownership: an iterator holds its connection (like orm_rows) until orm_iter_free.
 */
#ifndef ORM_ITER_H
#define ORM_ITER_H

#include <stdbool.h>
#include <stddef.h>

#include "orm/export.h"
#include "orm/raw.h"
#include "orm/select.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_iter orm_iter;

/* Run q and open a typed cursor over its rows, mapped into into's structs (NULL: q's
 * model). ignore_unknown: skip result columns into has no field for. */
ORM_API int orm_select_iter(orm_iter **out, orm_select *q, orm_ctx *ctx, const orm_model *into,
                            bool ignore_unknown);
/* The same over a raw query (placeholders as orm_raw_exec takes them). */
ORM_API int orm_raw_iter(orm_iter **out, orm_session *s, orm_ctx *ctx, const orm_model *into,
                         const char *sql, const orm_value *args, size_t nargs, bool ignore_unknown);
/* The next row into obj: 1, 0 at the end, or a negative ORM_E... code. obj must be zeroed
 * before the first call; each call first frees what obj owns (orm_model_clear), so a row
 * kept must be copied (orm_model_copy) or moved out (and obj zeroed). At the end (0) and on
 * error obj is left cleared. */
ORM_API int orm_iter_next(orm_iter *it, void *obj);
/* The underlying cursor (column names, orm_rows_* getters of the current row). */
ORM_API orm_rows *orm_iter_rows(orm_iter *it);
ORM_API void orm_iter_free(orm_iter *it);

/* Run q and append every row to list as into's structs (NULL: q's model); list as
 * orm_select_all leaves it (as it was on error). */
ORM_API int orm_select_all_into(orm_select *q, orm_ctx *ctx, const orm_model *into, orm_list *list);

/* The name of field i of model (for builders, from a generated field enum), or NULL. */
ORM_API const char *orm_model_field_name(const orm_model *model, size_t i);

#ifdef __cplusplus
}
#endif
#endif
