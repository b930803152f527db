/* liborm internal — reading a model struct's members without a call per field.
 *
 * orm_model_get's body, inline, so the one-struct fast paths (builder/crud.c) bind a row's
 * values without a function call per column, and the public function stays the same code.
 */
#ifndef ORM_MODEL_INTERNAL_H
#define ORM_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

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
    }
    return orm_null();
}

#endif
