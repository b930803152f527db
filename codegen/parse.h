/* liborm codegen internal — reading SQL schema text into the table model.
 *
 * Understood: CREATE TABLE (every column and table constraint SQLite and PostgreSQL accept),
 * ALTER TABLE (ADD/DROP/RENAME/ALTER COLUMN, ADD/DROP CONSTRAINT, RENAME TO), DROP TABLE,
 * CREATE TYPE ... AS ENUM and CREATE DOMAIN (so columns of those types map sensibly).
 * Everything else is skipped without error, COPY ... FROM stdin data blocks included.
 * Anything CREATE/ALTER TABLE holds that cannot be parsed is ORM_EPARSE naming
 * file:line:column and the token.
 */
#ifndef ORM_CODEGEN_PARSE_H
#define ORM_CODEGEN_PARSE_H

#include <stddef.h>

#include "codegen/schema.h"

/* Applies the statements of src (len bytes, file names it in messages) to s. The file name
 * is copied into s->files. ORM_OK, ORM_EPARSE, ORM_ENOMEM. On error s holds whatever the
 * statements before the failing one did; it is still freed normally. */
int orm__cg_parse(orm__cg_schema *s, const char *file, const char *src, size_t len);

#endif
