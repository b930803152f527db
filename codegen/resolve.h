/* liborm codegen internal — from parsed tables to C: type mapping, member and struct names,
 * field flags, the normalized DDL and its fingerprint.
 *
 * The type mapping table, with the affinity fallback, is documented in codegen/README.md
 * (type_table in resolve.c is the code); an unknown type warns, or fails under strict.
 *
 * Names: a struct is named by @orm:struct or prefix + table; a member by @orm:field or the
 * column; characters C does not allow become '_', C keywords get a trailing '_', and clashes
 * (compared without case, has_ companions included) get _2, _3 ...
 */
#ifndef ORM_CODEGEN_RESOLVE_H
#define ORM_CODEGEN_RESOLVE_H

#include "codegen/schema.h"

/* The orm field type of a SQL type. *known is false when the mapping table lacks it (the
 * affinity fallback answered). */
orm_field_type orm__cg_map_type(const orm__cg_schema *s, const char *sqltype, bool *known);

/* Fills the resolve fields of every table and column. prefix (may be NULL) goes before
 * struct names that no annotation gives. ORM_OK, ORM_EPARSE (strict type fallback, name
 * clashes an annotation caused, a table with nothing left to model), ORM_ENOMEM. */
int orm__cg_resolve(orm__cg_schema *s, const char *prefix);

/* Every file-scope name the output for base identifier id declares (structs, enum tags and
 * constants, descriptors, functions, macros) is distinct without case and none is reserved
 * (liborm's orm_ prefix, the names stddef/stdint/stdbool define): else ORM_EPARSE with
 * file:line naming the table(s). ORM_ENOMEM. */
int orm__cg_check_names(const orm__cg_schema *s, const char *id);

/* FNV-1a, 64 bits. */
uint64_t orm__cg_fnv1a(const char *s);

#endif
