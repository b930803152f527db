/* liborm — INSERT, UPDATE, DELETE builders. The one-struct shortcuts (orm_get,
 * orm_insert_one, orm_update_one ...) are in crud.h, which this header includes.
 *
 *     orm_update *up = orm_update_new(s, &user_model);
 *     orm_update_set_expr(up, "score", orm_binop(ORM_OP_ADD, orm_col("score"), orm_val(orm_double(1))));
 *     orm_update_where(up, orm_lt("age", orm_int(18)));
 *     int64_t n;
 *     orm_update_exec(up, NULL, &n);
 *     orm_update_free(up);
 *
 * Errors, ownership and thread safety are as for select.h: setters return a code and the
 * first error sticks; expressions are stolen; a builder belongs to one thread. Objects given
 * to orm_insert_add are borrowed until the builder is freed: keys the database assigns
 * (AUTOINCREMENT, RETURNING) are written back into them by orm_insert_exec.
 */
#ifndef ORM_WRITE_H
#define ORM_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/dialect.h"
#include "orm/expr.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/crud.h" /* the one-struct shortcuts were declared here first */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_insert orm_insert;
typedef struct orm_update orm_update;
typedef struct orm_delete orm_delete;

/* ---- INSERT ---- */

typedef enum orm_insert_mode {
    /* Every column, except an AUTOINCREMENT key whose value is 0 (the database assigns it). */
    ORM_INSERT_ALL = 0,
    /* Only the columns that are set: a NULL text/blob, a nullable scalar with has_ false, and
     * a zero AUTOINCREMENT key are left out, so the database's defaults apply. */
    ORM_INSERT_SET_ONLY = 1
} orm_insert_mode;

typedef enum orm_conflict_action { ORM_CONFLICT_NOTHING, ORM_CONFLICT_UPDATE } orm_conflict_action;

ORM_API orm_insert *orm_insert_new(orm_session *s, const orm_model *model);
ORM_API void orm_insert_free(orm_insert *q);
ORM_API int orm_insert_mode_set(orm_insert *q, orm_insert_mode mode);
/* Insert only these fields. */
ORM_API int orm_insert_columns(orm_insert *q, const char *const *fields, size_t n);
/* Add one row (borrowed) / n contiguous structs (borrowed). */
ORM_API int orm_insert_add(orm_insert *q, void *obj);
ORM_API int orm_insert_add_many(orm_insert *q, void *objs, size_t n);
/* ON CONFLICT (conflict fields) DO NOTHING | DO UPDATE SET f = excluded.f for each update
 * field (update_fields NULL: every inserted column that is not a conflict field). */
ORM_API int orm_insert_on_conflict(orm_insert *q, const char *const *conflict_fields, size_t n,
                                   orm_conflict_action action,
                                   const char *const *update_fields, size_t nupdate);
/* RETURNING these fields: after exec their values are written back into each added struct. */
ORM_API int orm_insert_returning(orm_insert *q, const char *const *fields, size_t n);
ORM_API int orm_insert_to_sql(orm_insert *q, const orm_dialect *d, orm_sql *out);
/* Run. Many rows go in multi-row statements (the batch path), as few as the backend's
 * parameter limit allows. affected may be NULL. An AUTOINCREMENT key is written back into
 * every added struct. With ON CONFLICT DO NOTHING, a skipped row's key is left as it was. */
ORM_API int orm_insert_exec(orm_insert *q, orm_ctx *ctx, int64_t *affected);

/* ---- UPDATE ---- */

ORM_API orm_update *orm_update_new(orm_session *s, const orm_model *model);
ORM_API void orm_update_free(orm_update *q);
ORM_API int orm_update_set(orm_update *q, const char *field, orm_value v);
ORM_API int orm_update_set_expr(orm_update *q, const char *field, orm_expr *e);
/* SET every listed field (NULL: every non-key field) from obj, WHERE key = obj's key. */
ORM_API int orm_update_from(orm_update *q, const void *obj, const char *const *fields, size_t n);
ORM_API int orm_update_where(orm_update *q, orm_expr *e);
ORM_API int orm_update_to_sql(orm_update *q, const orm_dialect *d, orm_sql *out);
ORM_API int orm_update_exec(orm_update *q, orm_ctx *ctx, int64_t *affected);

/* ---- DELETE ---- */

ORM_API orm_delete *orm_delete_new(orm_session *s, const orm_model *model);
ORM_API void orm_delete_free(orm_delete *q);
ORM_API int orm_delete_where(orm_delete *q, orm_expr *e);
/* WHERE key = obj's key. */
ORM_API int orm_delete_by_key(orm_delete *q, const void *obj);
ORM_API int orm_delete_to_sql(orm_delete *q, const orm_dialect *d, orm_sql *out);
ORM_API int orm_delete_exec(orm_delete *q, orm_ctx *ctx, int64_t *affected);

#ifdef __cplusplus
}
#endif
#endif
