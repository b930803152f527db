/* liborm — model descriptors: validation and the generic struct operations (clear, deep copy,
 * size, get, set) every module uses to handle a model's structs without knowing their C type.
 *
 * Keeps true: a validated descriptor never makes these functions touch memory outside
 * struct_size; text and blob members are the only owned memory (a fixed text member lives in
 * the struct and is copied with it); copy is all-or-nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/mapper.h"
#include "orm/model_internal.h"
#include "orm/model.h"

/* Bytes of the member: its type's size, or a fixed text field's capacity. */
static size_t member_size(const orm_field *f)
{
    switch (f->type) {
    case ORM_FIELD_INT16: return sizeof(int16_t);
    case ORM_FIELD_INT32: return sizeof(int32_t);
    case ORM_FIELD_INT64: return sizeof(int64_t);
    case ORM_FIELD_DOUBLE: return sizeof(double);
    case ORM_FIELD_BOOL: return sizeof(bool);
    case ORM_FIELD_TEXT: return sizeof(char *);
    case ORM_FIELD_BLOB: return sizeof(orm_blob);
    case ORM_FIELD_TIMESTAMP: return sizeof(orm_timestamp);
    case ORM_FIELD_FIXED_TEXT: return f->capacity;
    }
    return 0;
}

static size_t member_align(orm_field_type t)
{
    switch (t) {
    case ORM_FIELD_INT16: return _Alignof(int16_t);
    case ORM_FIELD_INT32: return _Alignof(int32_t);
    case ORM_FIELD_INT64: return _Alignof(int64_t);
    case ORM_FIELD_DOUBLE: return _Alignof(double);
    case ORM_FIELD_BOOL: return _Alignof(bool);
    case ORM_FIELD_TEXT: return _Alignof(char *);
    case ORM_FIELD_BLOB: return _Alignof(orm_blob);
    case ORM_FIELD_TIMESTAMP: return _Alignof(orm_timestamp);
    case ORM_FIELD_FIXED_TEXT: return 1;
    }
    return 1;
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
    if (f->type == ORM_FIELD_FIXED_TEXT && f->capacity < 2)
        return bad(m, "field %s: a fixed text field needs a capacity of at least 2 bytes (the "
                   "NUL included), got %llu", f->name, f->capacity);
    if (f->type != ORM_FIELD_FIXED_TEXT && f->capacity != 0)
        return bad(m, "field %s: capacity %llu is only for ORM_FIELD_FIXED_TEXT", f->name, f->capacity);
    const size_t sz = member_size(f);
    if (sz == 0)
        return bad(m, "field %s has unknown type %llu", f->name, (unsigned)f->type);
    if (f->offset > m->struct_size || sz > m->struct_size - f->offset)
        return bad(m, "field %s lies outside the struct (offset %llu)", f->name, f->offset);
    if (f->offset % member_align(f->type) != 0)
        return bad(m, "field %s is misaligned for its type (offset %llu)", f->name, f->offset);
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
    bool in_pk = false;
    for (size_t k = 0; k < m->npk; k++)
        in_pk |= m->pk[k] == i;
    if (in_pk != ((f->flags & ORM_FIELD_PK) != 0))
        return bad(m, in_pk ? "field %s is in the primary key (pk[]) but lacks ORM_FIELD_PK%.0llu"
                            : "field %s is flagged ORM_FIELD_PK but is not in the primary key (pk[])%.0llu",
                   f->name, 0);
    if (f->flags & ORM_FIELD_AUTOINCREMENT) {
        if (!is_int(f->type))
            return bad(m, "field %s: AUTOINCREMENT needs an integer type%.0llu", f->name, 0);
        if (m->npk != 1 || m->pk[0] != i)
            return bad(m, "field %s: AUTOINCREMENT only on a single-field integer primary key%.0llu", f->name,
                       0);
    }
    return ORM_OK;
}

/* One byte range of the struct a field owns: the member, or its has_ flag. */
typedef struct span {
    size_t start, end; /* [start, end) */
    size_t field;
    bool has;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static const char *span_what(const orm_model *m, const span *s, char *buf, size_t n)
{
    snprintf(buf, n, "%sfield %s", s->has ? "the has_ flag of " : "", m->fields[s->field].name);
    return buf;
}

/* No two members (or a member and a has_ flag) share a byte: the mapper writes them all. */
static int check_overlaps(const orm_model *m)
{
    size_t n = 0;
    span stack[64], *sp = stack;
    if (m->nfields * 2 > sizeof stack / sizeof stack[0]) {
        sp = orm__malloc(m->nfields * 2 * sizeof *sp);
        if (!sp)
            return orm__error_nomem("model");
    }
    for (size_t i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        sp[n++] = (span){ f->offset, f->offset + member_size(f), i, false };
        if (f->has_offset != ORM_NO_HAS)
            sp[n++] = (span){ f->has_offset, f->has_offset + sizeof(bool), i, true };
    }
    qsort(sp, n, sizeof *sp, cmp_span);
    int rc = ORM_OK;
    for (size_t k = 1; k < n && rc == ORM_OK; k++)
        if (sp[k].start < sp[k - 1].end) {
            char a[300], b[300];
            rc = orm__error_set(ORM_EINVAL, "model", "model %s (table %s): %s overlaps %s (offsets %zu and %zu)",
                                m->name, m->table, span_what(m, &sp[k], a, sizeof a),
                                span_what(m, &sp[k - 1], b, sizeof b), sp[k].start, sp[k - 1].start);
        }
    if (sp != stack)
        orm__free(sp);
    return rc;
}

int orm_model_validate(const orm_model *m)
{
    if (!m)
        return orm__error_set(ORM_EINVAL, "model", "model is NULL");
    if (m->version == 1) /* its orm_field array has another layout: do not read it */
        return bad(m, "descriptor version %s%llu is from an older liborm (fields had no capacity): "
                   "rebuild it against this liborm's orm/model.h (regenerate generated models)", "",
                   m->version);
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
    if (m->npk && !m->pk) /* no key at all (npk 0) is allowed: insert and query only */
        return bad(m, "npk is %s%llu but the primary key array pk is NULL", "", m->npk);
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
    return check_overlaps(m);
}

orm_value orm__model_fixed_member(const void *mem, size_t cap)
{
    const char *nul = memchr(mem, 0, cap);
    return orm_text_n(mem, nul ? (size_t)(nul - (const char *)mem) : cap);
}

int orm__model_unterminated(const orm_model *m, size_t i)
{
    const orm_field *f = &m->fields[i];
    return orm__error_set(ORM_ERANGE, "model", "%s.%s: the char[%zu] member %s.%s holds no NUL, so its "
                          "value is at least %zu bytes and the field holds at most %zu: not written",
                          m->table, f->column, (size_t)f->capacity, m->name, f->name, (size_t)f->capacity,
                          (size_t)f->capacity - 1);
}

int orm__model_check_fixed(const orm_model *m, const void *obj)
{
    for (size_t i = 0; i < m->nfields; i++) {
        orm_value v;
        int rc = orm__model_member_w(m, obj, i, &v);
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
    /* One test a field (a row cache hit's caller runs this after every get). */
    _Static_assert(ORM_FIELD_BLOB == ORM_FIELD_TEXT + 1, "TEXT and BLOB adjacent");
    for (const orm_field *f = m->fields, *end = f + m->nfields; f < end; f++)
        if ((unsigned)f->type - ORM_FIELD_TEXT <= 1u)
            orm__free(*orm__model_owned_slot(f, obj));
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
