/* liborm — values into struct members: the conversions and type checks of the row mapper.
 *
 * Keeps true: a conversion happens only when it is lossless (int to int16/int32 within range,
 * int to double, 0/1 to bool, microseconds or ISO text to timestamp, text to blob); anything
 * else is ORM_ETYPE naming table.column and both types. Text into a fixed text member is
 * copied whole or not at all: longer than capacity - 1 bytes is ORM_ERANGE, never truncated.
 * A failed store leaves the member as it was (new bytes are copied before old ones are
 * freed; the length is checked before a fixed member is written). A failed row leaves obj
 * cleared.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/rows_internal.h"
#include "orm/session_internal.h"
#include "orm/value_internal.h"

const char *orm__field_type_name(orm_field_type t)
{
    switch (t) {
    case ORM_FIELD_INT16: return "int16";
    case ORM_FIELD_INT32: return "int32";
    case ORM_FIELD_INT64: return "int64";
    case ORM_FIELD_DOUBLE: return "double";
    case ORM_FIELD_BOOL: return "bool";
    case ORM_FIELD_TEXT: return "text";
    case ORM_FIELD_BLOB: return "blob";
    case ORM_FIELD_TIMESTAMP: return "timestamp";
    case ORM_FIELD_FIXED_TEXT: return "fixed text";
    }
    return "unknown";
}

static int type_error(const orm_model *m, const orm_field *f, orm_value v)
{
    return orm__error_set(ORM_ETYPE, "mapper", "%s.%s: column holds %s, field is %s", m->table,
                          f->column, orm_value_type_name(v.type), orm__field_type_name(f->type));
}

static void set_has(const orm_field *f, char *obj, bool has)
{
    if (f->has_offset != ORM_NO_HAS)
        *(bool *)(obj + f->has_offset) = has;
}

static int store_null(const orm_model *m, const orm_field *f, char *obj)
{
    void *member = obj + f->offset;
    switch (f->type) {
    case ORM_FIELD_TEXT:
        orm__free(*(char **)member);
        *(char **)member = NULL;
        set_has(f, obj, false);
        return ORM_OK;
    case ORM_FIELD_BLOB: {
        orm_blob *b = member;
        orm__free(b->data);
        b->data = NULL;
        b->len = 0;
        set_has(f, obj, false);
        return ORM_OK;
    }
    default:
        break;
    }
    if (f->has_offset == ORM_NO_HAS)
        return orm__error_set(ORM_ENULL, "mapper", "%s.%s: NULL read into %s field %s.%s, "
                              "which cannot hold it (no has_%s companion)", m->table, f->column,
                              orm__field_type_name(f->type), m->name, f->name, f->name);
    /* Zero the member too, so a NULL never leaves a stale value behind has_ == false. */
    memset(member, 0, f->type == ORM_FIELD_INT16 ? sizeof(int16_t)
                      : f->type == ORM_FIELD_INT32 ? sizeof(int32_t)
                      : f->type == ORM_FIELD_BOOL ? sizeof(bool)
                      : f->type == ORM_FIELD_FIXED_TEXT ? f->capacity
                      : sizeof(int64_t)); /* int64, double, timestamp */
    set_has(f, obj, false);
    return ORM_OK;
}

int orm__map_value(const orm_model *m, void *objp, size_t field, orm_value v)
{
    if (!m || !objp || field >= m->nfields)
        return orm__error_set(ORM_EINVAL, "mapper", "%s: no field %zu", m ? m->table : "(null)",
                              field);
    const orm_field *f = &m->fields[field];
    char *obj = objp;
    void *member = obj + f->offset;
    if (v.type == ORM_VALUE_NULL)
        return store_null(m, f, obj);

    switch (f->type) {
    case ORM_FIELD_INT16:
    case ORM_FIELD_INT32:
    case ORM_FIELD_INT64: {
        if (v.type != ORM_VALUE_INT)
            return type_error(m, f, v);
        if (f->type == ORM_FIELD_INT16) {
            if (v.u.i < INT16_MIN || v.u.i > INT16_MAX)
                goto range;
            *(int16_t *)member = (int16_t)v.u.i;
        } else if (f->type == ORM_FIELD_INT32) {
            if (v.u.i < INT32_MIN || v.u.i > INT32_MAX)
                goto range;
            *(int32_t *)member = (int32_t)v.u.i;
        } else {
            *(int64_t *)member = v.u.i;
        }
        break;
    }
    case ORM_FIELD_DOUBLE:
        if (v.type == ORM_VALUE_DOUBLE)
            *(double *)member = v.u.d;
        else if (v.type == ORM_VALUE_INT)
            *(double *)member = (double)v.u.i;
        else
            return type_error(m, f, v);
        break;
    case ORM_FIELD_BOOL:
        if (v.type == ORM_VALUE_BOOL)
            *(bool *)member = v.u.b;
        else if (v.type == ORM_VALUE_INT && (v.u.i == 0 || v.u.i == 1))
            *(bool *)member = v.u.i == 1;
        else if (v.type == ORM_VALUE_INT)
            return orm__error_set(ORM_ETYPE, "mapper", "%s.%s: column holds %lld, field is bool",
                                  m->table, f->column, (long long)v.u.i);
        else
            return type_error(m, f, v);
        break;
    case ORM_FIELD_TIMESTAMP: {
        orm_timestamp ts;
        if (v.type != ORM_VALUE_TIMESTAMP && v.type != ORM_VALUE_INT &&
            v.type != ORM_VALUE_DOUBLE && v.type != ORM_VALUE_TEXT)
            return type_error(m, f, v);
        if (orm__timestamp_from_value(v, &ts) != 0) {
            if (v.type == ORM_VALUE_TEXT)
                return orm__error_set(ORM_ETYPE, "mapper",
                                      "%s.%s: column holds text that is not a timestamp: \"%.*s\"",
                                      m->table, f->column, (int)(v.len > 40 ? 40 : v.len), v.u.s);
            return orm__error_set(ORM_ETYPE, "mapper",
                                  "%s.%s: column holds a %s out of range for a timestamp",
                                  m->table, f->column, orm_value_type_name(v.type));
        }
        /* what a builder could not write back (PostgreSQL's infinity included) */
        if (ts < ORM_TIMESTAMP_MIN || ts > ORM_TIMESTAMP_MAX)
            return orm__error_set(ORM_ETYPE, "mapper", "%s.%s: timestamp %lld us is outside years 1..9999",
                                  m->table, f->column, (long long)ts);
        *(orm_timestamp *)member = ts;
        break;
    }
    case ORM_FIELD_TEXT: {
        if (v.type != ORM_VALUE_TEXT)
            return type_error(m, f, v);
        char *s = orm__strndup(v.u.s, v.len);
        if (!s)
            return orm__error_nomem("mapper");
        orm__free(*(char **)member);
        *(char **)member = s;
        break;
    }
    case ORM_FIELD_FIXED_TEXT: {
        if (v.type != ORM_VALUE_TEXT)
            return type_error(m, f, v);
        int rc = orm__fixed_text_fits(m, f, v.u.s, v.len, "mapper");
        if (rc != ORM_OK)
            return rc;
        memcpy(member, v.u.s, v.len); /* v.len < capacity: room for the NUL */
        ((char *)member)[v.len] = '\0';
        break;
    }
    case ORM_FIELD_BLOB: {
        if (v.type != ORM_VALUE_BLOB && v.type != ORM_VALUE_TEXT)
            return type_error(m, f, v);
        /* An empty blob still gets a (1-byte) allocation: data NULL means SQL NULL. */
        void *d = orm__malloc(v.len);
        if (!d)
            return orm__error_nomem("mapper");
        if (v.len)
            memcpy(d, v.u.p, v.len);
        orm_blob *b = member;
        orm__free(b->data);
        b->data = d;
        b->len = v.len;
        break;
    }
    default:
        return orm__error_set(ORM_EINVAL, "mapper", "%s.%s: unknown field type %d", m->table,
                              f->column, (int)f->type);
    }
    set_has(f, obj, true);
    return ORM_OK;

range:
    return orm__error_set(ORM_ETYPE, "mapper", "%s.%s: value %lld out of range for %s field",
                          m->table, f->column, (long long)v.u.i, orm__field_type_name(f->type));
}

int orm__fixed_text_fits(const orm_model *m, const orm_field *f, const char *s, size_t len,
                         const char *module)
{
    if (len >= f->capacity)
        return orm__error_set(ORM_ERANGE, module, "%s.%s: a text of %zu bytes does not fit the char[%zu] "
                              "field %s.%s (at most %zu bytes): not truncated", m->table, f->column, len,
                              (size_t)f->capacity, m->name, f->name, (size_t)f->capacity - 1);
    if (len && memchr(s, '\0', len))
        return orm__error_set(ORM_ETYPE, module, "%s.%s: text with a NUL byte inside (at byte %zu) "
                              "cannot be held by the NUL-terminated char[%zu] field %s.%s", m->table,
                              f->column, (size_t)((const char *)memchr(s, '\0', len) - s), (size_t)f->capacity,
                              m->name, f->name);
    return ORM_OK;
}

int orm__map_row(const orm_model *m, orm_rows *r, const size_t *fields, size_t ncols, void *obj)
{
    const orm_driver *drv = orm__rows_driver(r);
    orm_cursor *cur = orm__rows_cursor(r);
    if (drv->map_row) { /* the driver's own: e.g. each column read once, in its field's type */
        int rc = drv->map_row(cur, m, fields, ncols, obj);
        if (rc != ORM_OK)
            orm_model_clear(m, obj);
        return rc;
    }
    for (size_t k = 0; k < ncols; k++) {
        if (fields[k] == (size_t)-1)
            continue;
        int rc = orm__map_value(m, obj, fields[k], drv->cursor_value(cur, k));
        if (rc != ORM_OK) {
            orm_model_clear(m, obj);
            return rc;
        }
    }
    return ORM_OK;
}

int orm__map_list(orm_list *list, const orm_model *m, orm_rows *r, const size_t *fields,
                  size_t ncols, const char *module)
{
    size_t sz = m->struct_size, start = list->count;
    int rc;
    while ((rc = orm_rows_next(r)) == 1) {
        if (list->count == list->capacity) {
            size_t cap = list->capacity ? list->capacity * 2 : 16;
            void *items = cap <= SIZE_MAX / sz ? orm__realloc(list->items, cap * sz) : NULL;
            if (!items) {
                rc = orm__error_nomem(module);
                break;
            }
            list->items = items;
            list->capacity = cap;
        }
        void *obj = (char *)list->items + list->count * sz;
        memset(obj, 0, sz);
        if ((rc = orm__map_row(m, r, fields, ncols, obj)) != ORM_OK)
            break;
        list->count++;
    }
    if (rc < 0) {
        for (size_t i = start; i < list->count; i++)
            orm_model_clear(m, (char *)list->items + i * sz);
        list->count = start;
        return rc;
    }
    list->model = m;
    return ORM_OK;
}
