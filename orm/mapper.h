/* liborm internal — mapping result rows into model structs.
 *
 * The mapper type-checks every value against its field: text in an int column is ORM_ETYPE
 * naming table.column; NULL in a field that cannot hold it is ORM_ENULL; NULL in a nullable
 * one clears has_<field> (or leaves the pointer NULL).
 */
#ifndef ORM_MAPPER_H
#define ORM_MAPPER_H

#include <stddef.h>

#include "orm/model.h"
#include "orm/rows.h"
#include "orm/select.h" /* orm_list */
#include "orm/value.h"

/* Store v into field i of obj: the conversions and checks above (text and blob copied).
 * The same as orm_model_set. */
int orm__map_value(const orm_model *m, void *obj, size_t field, orm_value v);

/* ORM_OK when len bytes of text at s fit fixed text field f (shorter than its capacity, no
 * NUL inside); else ORM_ERANGE (too long) or ORM_ETYPE (a NUL inside) naming table.column and
 * the lengths, set by module. */
int orm__fixed_text_fits(const orm_model *m, const orm_field *f, const char *s, size_t len,
                         const char *module);

/* "int32", "text", ... for messages. */
const char *orm__field_type_name(orm_field_type t);

/* Map the current row of r into obj (zeroed by the caller): column k goes to field
 * fields[k]; a fields entry of (size_t)-1 skips the column. On error obj is cleared. */
int orm__map_row(const orm_model *m, orm_rows *r, const size_t *fields, size_t ncols, void *obj);

/* Append every remaining row of r to list, each mapped as orm__map_row does (the one list
 * fill of orm_select_all and orm_raw_all). ORM_OK with list->model set; on error (ORM_ENOMEM
 * named after `module`, or the row's error) the rows appended are cleared and list->count is
 * as it was. The caller has checked that the list holds m or nothing. */
int orm__map_list(orm_list *list, const orm_model *m, orm_rows *r, const size_t *fields,
                  size_t ncols, const char *module);

#endif
