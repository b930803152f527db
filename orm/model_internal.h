/* liborm internal — reading a model struct's members without a call per field.
 *
 * orm_model_get's body, inline, so the one-struct fast paths (builder/crud.c) bind a row's
 * values without a function call per column, and the public function stays the same code.
 * orm__model_member_w is what every write of a struct binds with: the same value, and
 * ORM_ERANGE for a fixed text member with no NUL in its capacity (never sent cut short).
 */
#ifndef ORM_MODEL_INTERNAL_H
#define ORM_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "orm/error.h"
#include "orm/model.h"
#include "orm/value.h"

/* Field i of obj as a value (text and blob point into obj); m, obj and i must be valid. */
static inline orm_value orm__model_member(const orm_model *m, const void *objp, size_t i)
{
    const char *obj = objp;
    const orm_field *f = &m->fields[i];
    const void *mem = obj + f->offset;
    if (f->has_offset != ORM_NO_HAS && !*(const bool *)(obj + f->has_offset))
        return orm_null();
    switch (f->type) {
    case ORM_FIELD_INT16: return orm_int(*(const int16_t *)mem);
    case ORM_FIELD_INT32: return orm_int(*(const int32_t *)mem);
    case ORM_FIELD_INT64: return orm_int(*(const int64_t *)mem);
    case ORM_FIELD_DOUBLE: return orm_double(*(const double *)mem);
    case ORM_FIELD_BOOL: return orm_bool(*(const bool *)mem);
    case ORM_FIELD_TEXT: return orm_text(*(char *const *)mem);
    case ORM_FIELD_BLOB: {
        const orm_blob *b = mem;
        return b->data ? orm_blob_n(b->data, b->len) : orm_null();
    }
    case ORM_FIELD_TIMESTAMP: return orm_timestamp_us(*(const orm_timestamp *)mem);
    case ORM_FIELD_FIXED_TEXT: {
        const char *nul = memchr(mem, 0, f->capacity);
        return orm_text_n(mem, nul ? (size_t)(nul - (const char *)mem) : f->capacity);
    }
    }
    return orm_null();
}

/* ORM_ERANGE naming table.column: field i is fixed text with no NUL in its capacity. */
int orm__model_unterminated(const orm_model *m, size_t i);

/* Field i of obj into *out, for writing it: ORM_ERANGE (and *out unusable) when a fixed text
 * member holds no NUL, so the value would need capacity + 1 bytes. */
static inline int orm__model_member_w(const orm_model *m, const void *obj, size_t i, orm_value *out)
{
    *out = orm__model_member(m, obj, i);
    if (m->fields[i].type == ORM_FIELD_FIXED_TEXT && out->len >= m->fields[i].capacity)
        return orm__model_unterminated(m, i);
    return ORM_OK;
}

/* ORM_OK, or ORM_ERANGE for the first fixed text member of obj with no NUL in its capacity
 * (for the paths that bind through orm_model_get). */
int orm__model_check_fixed(const orm_model *m, const void *obj);

#endif
