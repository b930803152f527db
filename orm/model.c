/* liborm — model descriptors: validation and the generic struct operations (clear, deep copy,
 * size, get, set) every module uses to handle a model's structs without knowing their C type.
 *
 * Keeps true: a validated descriptor never makes these functions touch memory outside
 * struct_size; text and blob members are the only owned memory; copy is all-or-nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/model_internal.h"
#include "orm/model.h"

static size_t member_size(orm_field_type t)
{
    switch (t) {
    case ORM_FIELD_INT16: return sizeof(int16_t);
    case ORM_FIELD_INT32: return sizeof(int32_t);
    case ORM_FIELD_INT64: return sizeof(int64_t);
    case ORM_FIELD_DOUBLE: return sizeof(double);
    case ORM_FIELD_BOOL: return sizeof(bool);
    case ORM_FIELD_TEXT: return sizeof(char *);
    case ORM_FIELD_BLOB: return sizeof(orm_blob);
    case ORM_FIELD_TIMESTAMP: return sizeof(orm_timestamp);
    }
    return 0;
}

static bool is_int(orm_field_type t)
{
    return t == ORM_FIELD_INT16 || t == ORM_FIELD_INT32 || t == ORM_FIELD_INT64;
}

#define KNOWN_FLAGS                                                                      \
    (ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT | ORM_FIELD_NOT_NULL | ORM_FIELD_UNIQUE |   \
     ORM_FIELD_HAS_DEFAULT)

static int bad(const orm_model *m, const char *fmt, const char *a, unsigned long long b)
{
    char detail[256];
    snprintf(detail, sizeof detail, fmt, a, b);
    return orm__error_set(ORM_EINVAL, "model", "model %s (table %s): %s",
                          m->name ? m->name : "(unnamed)", m->table ? m->table : "(null)", detail);
}

static int validate_field(const orm_model *m, size_t i)
{
    const orm_field *f = &m->fields[i];
    if (!f->name || !*f->name)
        return bad(m, "field %s#%llu has no name", "", i);
    if (!f->column || !*f->column)
        return bad(m, "field %s has no column%.0llu", f->name, 0);
    const size_t sz = member_size(f->type);
    if (sz == 0)
        return bad(m, "field %s has unknown type %llu", f->name, (unsigned)f->type);
    if (f->offset > m->struct_size || sz > m->struct_size - f->offset)
        return bad(m, "field %s lies outside the struct (offset %llu)", f->name, f->offset);
    if (f->has_offset != ORM_NO_HAS &&
        (f->has_offset > m->struct_size || sizeof(bool) > m->struct_size - f->has_offset))
        return bad(m, "field %s: has_ companion lies outside the struct (offset %llu)", f->name,
                   f->has_offset);
    if (f->flags & ~(unsigned)KNOWN_FLAGS)
        return bad(m, "field %s has unknown flags 0x%llx", f->name, f->flags);
    for (size_t j = 0; j < i; j++) {
        if (strcmp(m->fields[j].name, f->name) == 0)
            return bad(m, "duplicate field name %s (field %llu)", f->name, i);
        if (strcmp(m->fields[j].column, f->column) == 0)
            return bad(m, "duplicate column %s (field %llu)", f->column, i);
    }
    if (f->flags & ORM_FIELD_AUTOINCREMENT) {
        if (!is_int(f->type))
            return bad(m, "field %s: AUTOINCREMENT needs an integer type%.0llu", f->name, 0);
        if (m->npk != 1 || m->pk[0] != i)
            return bad(m, "field %s: AUTOINCREMENT only on a single-field integer primary key%.0llu", f->name,
                       0);
    }
    return ORM_OK;
}

int orm_model_validate(const orm_model *m)
{
    if (!m)
        return orm__error_set(ORM_EINVAL, "model", "model is NULL");
    if (m->version != ORM_MODEL_VERSION)
        return bad(m, "unknown descriptor version %s%llu", "", m->version);
    if (!m->name || !*m->name)
        return bad(m, "no struct name%s%.0llu", "", 0);
    if (!m->table || !*m->table)
        return bad(m, "no table name%s%.0llu", "", 0);
    if (!m->fields || m->nfields == 0)
        return bad(m, "no fields%s%.0llu", "", 0);
    if (m->struct_size == 0)
        return bad(m, "struct_size is 0%s%.0llu", "", 0);
    if (!m->pk || m->npk == 0)
        return bad(m, "no primary key%s%.0llu", "", 0);
    for (size_t k = 0; k < m->npk; k++) {
        if (m->pk[k] >= m->nfields)
            return bad(m, "primary key part %s%llu is not a field index", "", k);
        for (size_t j = 0; j < k; j++)
            if (m->pk[j] == m->pk[k])
                return bad(m, "field %s appears twice in the primary key%.0llu",
                           m->fields[m->pk[k]].name ? m->fields[m->pk[k]].name : "?", 0);
    }
    for (size_t i = 0; i < m->nfields; i++) {
        int rc = validate_field(m, i);
        if (rc != ORM_OK)
            return rc;
    }
    return ORM_OK;
}

int orm_model_field_index(const orm_model *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (size_t i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i].name, name) == 0)
            return (int)i;
    for (size_t i = 0; i < m->nfields; i++)
        if (strcmp(m->fields[i].column, name) == 0)
            return (int)i;
    return -1;
}

void orm_model_clear(const orm_model *m, void *objp)
{
    if (!m || !objp)
        return;
    char *obj = objp;
    for (size_t i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        if (f->type == ORM_FIELD_TEXT)
            orm__free(*(char **)(obj + f->offset));
        else if (f->type == ORM_FIELD_BLOB)
            orm__free(((orm_blob *)(obj + f->offset))->data);
    }
    memset(obj, 0, m->struct_size);
}

int orm_model_copy(const orm_model *m, void *dstp, const void *srcp)
{
    if (!m || !dstp || !srcp)
        return orm__error_set(ORM_EINVAL, "model", "orm_model_copy: NULL argument");
    if (dstp == srcp)
        return ORM_OK;
    char *dst = dstp;
    memcpy(dst, srcp, m->struct_size);
    size_t i;
    for (i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        if (f->type == ORM_FIELD_TEXT) {
            char **s = (char **)(dst + f->offset);
            if (*s && !(*s = orm__strdup(*s)))
                goto nomem;
        } else if (f->type == ORM_FIELD_BLOB) {
            orm_blob *b = (orm_blob *)(dst + f->offset);
            if (b->data) {
                void *d = orm__malloc(b->len);
                if (!d) {
                    b->data = NULL;
                    goto nomem;
                }
                if (b->len)
                    memcpy(d, b->data, b->len);
                b->data = d;
            }
        }
    }
    return ORM_OK;

nomem:
    /* Fields before i hold our copies; i and later still point into src. */
    for (size_t j = 0; j < i; j++) {
        const orm_field *f = &m->fields[j];
        if (f->type == ORM_FIELD_TEXT)
            orm__free(*(char **)(dst + f->offset));
        else if (f->type == ORM_FIELD_BLOB)
            orm__free(((orm_blob *)(dst + f->offset))->data);
    }
    memset(dst, 0, m->struct_size);
    return orm__error_nomem("model");
}

size_t orm_model_size(const orm_model *m, const void *objp)
{
    if (!m || !objp)
        return 0;
    const char *obj = objp;
    size_t n = m->struct_size;
    for (size_t i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        if (f->type == ORM_FIELD_TEXT) {
            const char *s = *(char *const *)(obj + f->offset);
            if (s)
                n += strlen(s);
        } else if (f->type == ORM_FIELD_BLOB) {
            const orm_blob *b = (const orm_blob *)(obj + f->offset);
            if (b->data)
                n += b->len;
        }
    }
    return n;
}

orm_value orm_model_get(const orm_model *m, const void *objp, size_t i)
{
    if (!m || !objp || i >= m->nfields)
        return orm_null();
    return orm__model_member(m, objp, i);
}

int orm_model_set(const orm_model *m, void *obj, size_t i, orm_value v)
{
    return orm__map_value(m, obj, i, v);
}
