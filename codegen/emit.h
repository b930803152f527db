/* liborm codegen internal — writing the C header and source for a resolved schema.
 *
 * Output (per table, in definition order): the struct, an enum of field indexes, a
 * fingerprint macro of the normalized DDL, the orm_model descriptor, typed clear/copy
 * wrappers; then one function registering every model with a db. The header refuses to
 * compile against a liborm whose ORM_MODEL_VERSION differs from the one it was made for.
 */
#ifndef ORM_CODEGEN_EMIT_H
#define ORM_CODEGEN_EMIT_H

#include "codegen/schema.h"

typedef struct orm__cg_emit_options {
    const char *base;          /* output path without .h/.c; its last component names things */
    const char *const *inputs; /* what the user named (files or folders), for the header comment */
    size_t ninputs;
} orm__cg_emit_options;

/* *h and *c are the caller's (orm__free). ORM_OK, ORM_EINVAL (a base name that gives no C
 * identifier), ORM_ENOMEM. */
int orm__cg_emit(const orm__cg_schema *s, const orm__cg_emit_options *opts, char **h, char **c);

#endif
