/* liborm — a cursor over result rows, for results that are not model structs (aggregates,
 * group by, ad-hoc columns).
 *
 *     orm_rows *r;
 *     if (orm_select_rows(q, NULL, &r) == ORM_OK) {
 *         int rc;
 *         while ((rc = orm_rows_next(r)) == 1)
 *             printf("%s %lld\n", orm_rows_text(r, 0, NULL), (long long)orm_rows_int(r, 1));
 *         orm_rows_free(r);
 *     }
 *
 * Ownership: the caller frees the cursor with orm_rows_free (NULL is a no-op). Text and blob
 * pointers are borrowed: valid until the next orm_rows_next or orm_rows_free.
 * While a cursor is open it holds its connection: free it before running the next statement
 * on the same session.
 *
 * Thread safety: a cursor belongs to one thread at a time.
 */
#ifndef ORM_ROWS_H
#define ORM_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/export.h"
#include "orm/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_rows orm_rows;

/* Step to the next row: 1 when there is one, 0 at the end, a negative ORM_E... code on error. */
ORM_API int orm_rows_next(orm_rows *r);
ORM_API size_t orm_rows_ncols(const orm_rows *r);
/* Column name, or NULL when col is out of range. */
ORM_API const char *orm_rows_name(const orm_rows *r, size_t col);
/* The type of the value in col of the current row (ORM_VALUE_NULL for NULL). */
ORM_API orm_value_type orm_rows_type(const orm_rows *r, size_t col);
ORM_API bool orm_rows_is_null(const orm_rows *r, size_t col);
/* Typed getters convert as the backend does (a double column read as int truncates).
 * NULL reads as 0 / NULL pointer. */
ORM_API int64_t orm_rows_int(const orm_rows *r, size_t col);
ORM_API double orm_rows_double(const orm_rows *r, size_t col);
ORM_API const char *orm_rows_text(const orm_rows *r, size_t col, size_t *len);
ORM_API const void *orm_rows_blob(const orm_rows *r, size_t col, size_t *len);
/* The current row's col as a timestamp into *out, from any form value.h reads: a
 * PostgreSQL timestamp, or SQLite text, an INTEGER (unix seconds) or a REAL (Julian day).
 * ORM_OK; ORM_ENULL for NULL; ORM_ETYPE (naming the column) for anything else; ORM_EINVAL
 * for a bad col. *out is set only on ORM_OK. */
ORM_API int orm_rows_timestamp(orm_timestamp *out, const orm_rows *r, size_t col);
/* The current row's col as a value (text and blob borrowed as above). A column of a table
 * declared as a timestamp is ORM_VALUE_TIMESTAMP on both backends (on SQLite: declared DATE,
 * DATETIME or TIMESTAMP..., and stored in a form value.h reads). */
ORM_API orm_value orm_rows_value(const orm_rows *r, size_t col);
ORM_API void orm_rows_free(orm_rows *r);

#ifdef __cplusplus
}
#endif
#endif
