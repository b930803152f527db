/* liborm codegen — what `ormctl generate` calls: read schema files or migrations folders,
 * model their tables, and produce the C header and source.
 *
 * Ownership: the schema (tables, warnings) is the caller's, freed with orm__cg_schema_free
 * also after an error; *h and *c are the caller's (orm__free).
 * Thread safety: no shared state; errors go to the calling thread's orm_error_last().
 */
#ifndef ORM_CODEGEN_H
#define ORM_CODEGEN_H

#include <stdbool.h>
#include <stddef.h>

#include "codegen/schema.h"

typedef struct orm__codegen_options {
    const char *base;            /* output path without extension ("models") */
    const char *const *inputs;   /* .sql files and/or migrations folders, applied in this order */
    size_t ninputs;
    bool strict;                 /* a type outside the mapping table is an error */
    const char *prefix;          /* prepended to struct names no annotation sets; may be NULL */
    int dialect;                 /* ORM_CG_DIALECT_* (schema.h); 0: auto */
} orm__codegen_options;

/* Reads one input: a file is parsed whole; a folder is replayed as migrations, every
 * NNNN_name.up.sql in ascending version order (other files ignored; two files with one
 * version are an error). ORM_OK, ORM_EIO (naming the path), ORM_EPARSE, ORM_ENOMEM. */
int orm__codegen_load(orm__cg_schema *s, const char *path);

/* Loads every input into s, resolves it and emits. ORM_EPARSE also when the inputs define
 * no table. Warnings are in s->warnings whatever the result. */
int orm__codegen_run(const orm__codegen_options *opts, orm__cg_schema *s, char **h, char **c);

#endif
