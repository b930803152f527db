/* liborm internal — the SQL type name → orm field type table, shared by `ormctl generate`
 * (codegen/resolve.c, which picks a member's type from the schema) and orm_db_verify
 * (orm/schema_check.c, which checks a live column still has a type the field can hold), so
 * the two never disagree. The table itself is documented in codegen/README.md. */
#ifndef ORM_SQLTYPE_H
#define ORM_SQLTYPE_H

#include <stdbool.h>
#include <stddef.h>

#include "orm/model.h"

/* A type without its arguments and array suffixes, in upper case with single spaces:
 * "timestamp(3)  with time zone" -> "TIMESTAMP WITH TIME ZONE", "int[]" -> "INT" with
 * *array true. out always ends with a NUL (cap > 0). */
void orm__sqltype_base(const char *type, char *out, size_t cap, bool *array);

/* The field type of a base name (as orm__sqltype_base gives it, schema prefix removed) by the
 * table: an orm_field_type, or 0 when the table has no such name. */
int orm__sqltype_lookup(const char *base);

/* SQLite's type-affinity rules (https://sqlite.org/datatype3.html, 3.1) for a base name the
 * table does not cover: contains INT -> INT64; CHAR, CLOB or TEXT -> TEXT; BLOB or empty ->
 * BLOB; anything else DOUBLE. */
orm_field_type orm__sqltype_affinity(const char *base);

/* The whole mapping for a type text with no user-defined types in play: arrays are TEXT,
 * then the table, then affinity (*known false). sqltype NULL counts as "". */
orm_field_type orm__sqltype_class(const char *sqltype, bool *known);

#endif
