/* liborm — raw SQL on a session: for the statements the builders do not express.
 *
 *     orm_value args[] = { orm_int(30) };
 *     int64_t n;
 *     orm_raw_exec(s, NULL, "UPDATE users SET score = score + 1 WHERE age > ?", args, 1, &n);
 *
 *     // a join mapped into a struct of its own (columns matched to fields by name)
 *     orm_list rows = ORM_LIST_INIT;
 *     orm_raw_all(s, NULL, &user_post_model, &rows,
 *                 "SELECT u.name AS name, p.title AS title FROM users u JOIN posts p "
 *                 "ON p.user_id = u.id ORDER BY p.id", NULL, 0, NULL);
 *
 *     orm_rows *r;                  // ad-hoc rows: next, ncols, name, type, getters (rows.h)
 *     orm_raw_rows(s, NULL, "SELECT count(*) FROM users", NULL, 0, &r);
 *
 * Placeholders are the backend's own: "?" on SQLite, "$1" on PostgreSQL. Values are bound,
 * never pasted into the text. Every raw statement passes through the db's middleware chain
 * as kind ORM_STMT_RAW with no model.
 *
 * Mapping (orm_raw_get, orm_raw_all): each result column goes to the model field with that
 * name (or column name); a column no field has is ORM_EUNKNOWN_FIELD naming it, unless
 * opts->ignore_unknown. Two columns for one field (SELECT name, email AS name) are ORM_EINVAL
 * naming both. Fields without a column are left zeroed. The model does not need to
 * be registered with the db (a join's result struct usually is not); it must be valid
 * (orm_model_validate).
 *
 * Ownership: as in select.h: orm_raw_get fills a struct the caller clears with
 * orm_model_clear; orm_raw_all appends to a list the caller clears with orm_list_clear; the
 * cursor from orm_raw_rows is freed with orm_rows_free. sql and args are borrowed for the call.
 *
 * Thread safety: as the session: a db session from any thread, a tx session from its owner.
 */
#ifndef ORM_RAW_H
#define ORM_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/export.h"
#include "orm/model.h"
#include "orm/rows.h"
#include "orm/select.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ORM_RAW_OPTIONS_VERSION 1u

typedef struct orm_raw_options {
    unsigned version;     /* ORM_RAW_OPTIONS_VERSION */
    int ignore_unknown;   /* skip result columns the model has no field for */
    int allow_unsafe;     /* the guard middleware lets this UPDATE/DELETE without WHERE pass */
} orm_raw_options;

#define ORM_RAW_OPTIONS_INIT { ORM_RAW_OPTIONS_VERSION, 0, 0 }

/* Run a statement that returns no rows; affected (may be NULL) gets the rows changed. */
ORM_API int orm_raw_exec(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                         size_t nargs, int64_t *affected);
/* As orm_raw_exec, with options (NULL: defaults). */
ORM_API int orm_raw_exec_opts(orm_session *s, orm_ctx *ctx, const char *sql,
                              const orm_value *args, size_t nargs, int64_t *affected,
                              const orm_raw_options *opts);

/* Run a query and map its first row into out (zeroed, or cleared first if it owns anything).
 * ORM_ENOTFOUND when there is no row. opts NULL: defaults. */
ORM_API int orm_raw_get(orm_session *s, orm_ctx *ctx, const orm_model *model, void *out,
                        const char *sql, const orm_value *args, size_t nargs,
                        const orm_raw_options *opts);

/* Run a query and append every row to list (list->model is set). On error the list is left
 * as it was. An empty result is ORM_OK. */
ORM_API int orm_raw_all(orm_session *s, orm_ctx *ctx, const orm_model *model, orm_list *list,
                        const char *sql, const orm_value *args, size_t nargs,
                        const orm_raw_options *opts);

/* Run a query and open a cursor over its rows (see rows.h). */
ORM_API int orm_raw_rows(orm_session *s, orm_ctx *ctx, const char *sql, const orm_value *args,
                         size_t nargs, orm_rows **out);

#ifdef __cplusplus
}
#endif
#endif
