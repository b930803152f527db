/* liborm codegen internal — from parsed tables to C: type mapping, member and struct names,
 * field flags, the normalized DDL and its fingerprint.
 *
 * Type mapping (SQL type, spelled either way, case-insensitive, arguments ignored):
 *   INT16      SMALLINT INT2 TINYINT SMALLSERIAL SERIAL2
 *   INT32      INT INTEGER INT4 MEDIUMINT SERIAL SERIAL4
 *   INT64      BIGINT INT8 BIGSERIAL SERIAL8 UNSIGNED BIG INT OID; and INTEGER when it is the
 *              whole primary key (SQLite's 64-bit rowid alias)
 *   DOUBLE     REAL FLOAT FLOAT4 FLOAT8 DOUBLE, DOUBLE PRECISION, NUMERIC DECIMAL DEC
 *   BOOL       BOOLEAN BOOL
 *   TEXT       TEXT VARCHAR CHAR CHARACTER, CHARACTER VARYING, VARYING CHARACTER, NCHAR
 *              NVARCHAR, NATIVE CHARACTER, NATIONAL CHARACTER [VARYING], CLOB CITEXT NAME UUID
 *              JSON JSONB XML INET CIDR MACADDR MACADDR8 MONEY TIME TIMETZ,
 *              TIME WITH[OUT] TIME ZONE, INTERVAL ..., BIT [VARYING] VARBIT TSVECTOR TSQUERY;
 *              any array (type[]); an enum type (CREATE TYPE ... AS ENUM)
 *   BLOB       BLOB BYTEA
 *   TIMESTAMP  DATE DATETIME TIMESTAMP TIMESTAMPTZ, TIMESTAMP WITH[OUT] TIME ZONE
 *   a domain (CREATE DOMAIN) maps as its base type.
 * Anything else follows SQLite's affinity rules (INT -> INT64; CHAR, CLOB, TEXT -> TEXT;
 * BLOB or no type -> BLOB; REAL, FLOA, DOUB -> DOUBLE; otherwise DOUBLE) with a warning
 * naming it, or is an error under strict.
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

/* FNV-1a, 64 bits. */
uint64_t orm__cg_fnv1a(const char *s);

#endif
