/* liborm internal — reading a model struct's members without a call per field.
 *
 * orm_model_get's body, inline, so the one-struct fast paths (builder/crud.c) bind a row's
 * values without a function call per column, and the public function stays the same code.
 * Every write of a struct checks what it binds with orm__model_member_w or
 * orm__model_arg_check: ORM_ERANGE for a fixed text member with no NUL in its capacity (never
 * sent cut short).
 */
#ifndef ORM_MODEL_INTERNAL_H
#define ORM_MODEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "orm/error.h"
#include "orm/model.h"
#include "orm/value.h"

/* The pointer a text or blob field owns in obj: a text member is that pointer, and a blob's is
 * orm_blob's first member, so both are the member itself (orm_model_clear frees it, the row
 * cache's hit sets it). */
_Static_assert(offsetof(orm_blob, data) == 0, "orm_blob.data first");
static inline void **orm__model_owned_slot(const orm_field *f, void *obj)
{
    return (void **)((char *)obj + f->offset);
}

/* A fixed text member of capacity cap as a value: its text up to the NUL, or all cap bytes
 * when it has none. Out of line, so orm__model_member stays small enough to inline into the
 * fast paths' loops. */
orm_value orm__model_fixed_member(const void *mem, size_t cap);

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
    case ORM_FIELD_FIXED_TEXT: return orm__model_fixed_member(mem, f->capacity);
    }
    return orm_null();
}

/* ORM_ERANGE naming table.column: field i is fixed text with no NUL in its capacity. */
int orm__model_unterminated(const orm_model *m, size_t i);

/* v, the value of field i of some struct, about to be written: ORM_ERANGE when the field is
 * fixed text whose member holds no NUL (the value would need capacity + 1 bytes). */
static inline int orm__model_arg_check(const orm_model *m, size_t i, const orm_value *v)
{
    if (m->fields[i].type == ORM_FIELD_FIXED_TEXT && v->len >= m->fields[i].capacity)
        return orm__model_unterminated(m, i);
    return ORM_OK;
}

/* Field i of obj into *out, for writing it: orm__model_member, then orm__model_arg_check. */
static inline int orm__model_member_w(const orm_model *m, const void *obj, size_t i, orm_value *out)
{
    *out = orm__model_member(m, obj, i);
    return orm__model_arg_check(m, i, out);
}

/* ORM_OK, or ORM_ERANGE for the first fixed text member of obj with no NUL in its capacity
 * (for the paths that bind through orm_model_get). */
int orm__model_check_fixed(const orm_model *m, const void *obj);

#endif
