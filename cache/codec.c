/* The model row codec: an orm_cache_type made from an orm_model descriptor, whose encode and
 * decode write a row as compact bytes (for caches that keep values outside the process) and
 * whose fingerprint identifies the descriptor.
 *
 * Encoding (version 1): a version byte, the field count (varint), then each field in
 * descriptor order: integers zigzag varints, a double its 8 bytes little-endian, a bool one
 * byte, text and blob a varint of length + 1 (0: NULL) and the bytes, a timestamp a zigzag
 * varint, fixed text a varint of its length and the bytes up to its NUL (no allocation
 * either way). A nullable scalar or fixed text (one with a has_ companion) is preceded by a
 * presence byte.
 *
 * Kept true: decode never reads past len and never trusts a length it was given (a truncated,
 * padded or foreign encoding is ORM_EPARSE, dst owning nothing, and so is fixed text that
 * would not fit its capacity or holds a NUL); the fingerprint covers every part of the
 * descriptor the encoding depends on (a fixed text field's capacity too), so a row is never
 * decoded into a struct of another layout. */
#include <stdbool.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/cache.h"
#include "orm/error_internal.h"
#include "orm/model.h"

#define CODEC_VERSION 1u

/* ---- fingerprint ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) { return fnv(h, s ? s : "", (s ? strlen(s) : 0) + 1); }

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fnv(h, b, 8);
}

uint64_t orm_cache_model_fingerprint(const orm_model *m)
{
    if (!m)
        return 0;
    uint64_t h = fnv_u64(0xcbf29ce484222325ULL, CODEC_VERSION);
    h = fnv_str(h, m->name);
    h = fnv_str(h, m->table);
    h = fnv_str(h, m->fingerprint);
    h = fnv_u64(h, m->struct_size);
    h = fnv_u64(h, m->nfields);
    for (size_t i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        h = fnv_str(h, f->name);
        h = fnv_str(h, f->column);
        h = fnv_u64(h, (uint64_t)f->type);
        h = fnv_u64(h, f->offset);
        h = fnv_u64(h, f->has_offset);
        h = fnv_u64(h, f->flags);
        if (f->type == ORM_FIELD_FIXED_TEXT) /* only here, so other models keep their value */
            h = fnv_u64(h, f->capacity);
    }
    return h;
}

/* ---- a bounded writer and reader ---- */

typedef struct wbuf {
    unsigned char *p;
    size_t cap, n; /* n counts every byte, also those past cap (the size asked for) */
} wbuf;

static void put(wbuf *w, const void *src, size_t len)
{
    if (w->n + len <= w->cap && len)
        memcpy(w->p + w->n, src, len);
    w->n += len;
}

static void put_byte(wbuf *w, unsigned char b) { put(w, &b, 1); }

static void put_varint(wbuf *w, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    put(w, b, n);
}

static void put_zigzag(wbuf *w, int64_t v) { put_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }

typedef struct rbuf {
    const unsigned char *p;
    size_t len, at;
} rbuf;

static int get_bytes(rbuf *r, void *dst, size_t n)
{
    if (r->len - r->at < n)
        return -1;
    if (n)
        memcpy(dst, r->p + r->at, n);
    r->at += n;
    return 0;
}

static int get_varint(rbuf *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->at >= r->len)
            return -1;
        unsigned char b = r->p[r->at++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static int get_zigzag(rbuf *r, int64_t *out)
{
    uint64_t u;
    if (get_varint(r, &u))
        return -1;
    *out = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
    return 0;
}

/* ---- the type's callbacks (userdata: the model) ---- */

static int model_copy(void *dst, const void *src, void *ud) { return orm_model_copy(ud, dst, src); }
static void model_clear(void *obj, void *ud) { orm_model_clear(ud, obj); }
static size_t model_size(const void *obj, void *ud) { return orm_model_size(ud, obj); }
static uint64_t model_fp(void *ud) { return orm_cache_model_fingerprint(ud); }

static int model_encode(const void *objp, unsigned char *buf, size_t cap, size_t *len, void *ud)
{
    const orm_model *m = ud;
    const char *obj = objp;
    wbuf w = { buf, buf ? cap : 0, 0 };
    put_byte(&w, CODEC_VERSION);
    put_varint(&w, m->nfields);
    for (size_t i = 0; i < m->nfields; i++) {
        const orm_field *f = &m->fields[i];
        const char *at = obj + f->offset;
        if (f->has_offset != ORM_NO_HAS) {
            bool has;
            memcpy(&has, obj + f->has_offset, sizeof has);
            put_byte(&w, has ? 1 : 0);
            if (!has)
                continue;
        }
        switch (f->type) {
        case ORM_FIELD_INT16: {
            int16_t v;
            memcpy(&v, at, sizeof v);
            put_zigzag(&w, v);
            break;
        }
        case ORM_FIELD_INT32: {
            int32_t v;
            memcpy(&v, at, sizeof v);
            put_zigzag(&w, v);
            break;
        }
        case ORM_FIELD_INT64:
        case ORM_FIELD_TIMESTAMP: {
            int64_t v;
            memcpy(&v, at, sizeof v);
            put_zigzag(&w, v);
            break;
        }
        case ORM_FIELD_DOUBLE: {
            double d;
            uint64_t u;
            memcpy(&d, at, sizeof d);
            memcpy(&u, &d, sizeof u);
            unsigned char b[8];
            for (int k = 0; k < 8; k++)
                b[k] = (unsigned char)(u >> (8 * k));
            put(&w, b, 8);
            break;
        }
        case ORM_FIELD_BOOL: {
            bool v;
            memcpy(&v, at, sizeof v);
            put_byte(&w, v ? 1 : 0);
            break;
        }
        case ORM_FIELD_TEXT: {
            const char *s;
            memcpy(&s, at, sizeof s);
            size_t n = s ? strlen(s) : 0;
            put_varint(&w, s ? (uint64_t)n + 1 : 0);
            put(&w, s, n);
            break;
        }
        case ORM_FIELD_FIXED_TEXT: {
            const char *nul = memchr(at, 0, f->capacity);
            if (!nul) /* what every write refuses: never cached cut short */
                return orm__error_set(ORM_ERANGE, "cache", "model %s field %s: the char[%zu] member holds no NUL",
                                      m->name, f->name, (size_t)f->capacity);
            size_t n = (size_t)(nul - at);
            put_varint(&w, n);
            put(&w, at, n);
            break;
        }
        case ORM_FIELD_BLOB: {
            orm_blob b;
            memcpy(&b, at, sizeof b);
            put_varint(&w, b.data ? (uint64_t)b.len + 1 : 0);
            if (b.data)
                put(&w, b.data, b.len);
            break;
        }
        default:
            return orm__error_set(ORM_EINVAL, "cache", "model %s field %s: unknown type %d", m->name, f->name,
                                  (int)f->type);
        }
    }
    if (len)
        *len = w.n;
    return ORM_OK;
}

/* Read a text or blob body: n bytes plus a NUL, owned. */
static int get_owned(rbuf *r, size_t n, char **out)
{
    if (r->len - r->at < n)
        return -1;
    char *s = orm__malloc(n + 1);
    if (!s)
        return -2;
    memcpy(s, r->p + r->at, n);
    s[n] = 0;
    r->at += n;
    *out = s;
    return 0;
}

static int model_decode(void *dstp, const unsigned char *data, size_t len, void *ud)
{
    const orm_model *m = ud;
    char *dst = dstp;
    rbuf r = { data, len, 0 };
    unsigned char ver;
    uint64_t nf;
    int bad = 0;
    size_t i = 0;
    if (get_bytes(&r, &ver, 1) || ver != CODEC_VERSION || get_varint(&r, &nf) || nf != m->nfields) {
        bad = -1;
        goto out;
    }
    for (; i < m->nfields && !bad; i++) {
        const orm_field *f = &m->fields[i];
        char *at = dst + f->offset;
        if (f->has_offset != ORM_NO_HAS) {
            unsigned char has;
            if (get_bytes(&r, &has, 1) || has > 1) {
                bad = -1;
                break;
            }
            bool b = has;
            memcpy(dst + f->has_offset, &b, sizeof b);
            if (!has)
                continue;
        }
        int64_t v = 0;
        uint64_t n = 0;
        switch (f->type) {
        case ORM_FIELD_INT16:
            if (get_zigzag(&r, &v) || v < INT16_MIN || v > INT16_MAX)
                bad = -1;
            else {
                int16_t x = (int16_t)v;
                memcpy(at, &x, sizeof x);
            }
            break;
        case ORM_FIELD_INT32:
            if (get_zigzag(&r, &v) || v < INT32_MIN || v > INT32_MAX)
                bad = -1;
            else {
                int32_t x = (int32_t)v;
                memcpy(at, &x, sizeof x);
            }
            break;
        case ORM_FIELD_INT64:
        case ORM_FIELD_TIMESTAMP:
            if (get_zigzag(&r, &v))
                bad = -1;
            else
                memcpy(at, &v, sizeof v);
            break;
        case ORM_FIELD_DOUBLE: {
            unsigned char b[8];
            if (get_bytes(&r, b, 8)) {
                bad = -1;
                break;
            }
            uint64_t u = 0;
            for (int k = 0; k < 8; k++)
                u |= (uint64_t)b[k] << (8 * k);
            double d;
            memcpy(&d, &u, sizeof d);
            memcpy(at, &d, sizeof d);
            break;
        }
        case ORM_FIELD_BOOL: {
            unsigned char b;
            if (get_bytes(&r, &b, 1) || b > 1) {
                bad = -1;
                break;
            }
            bool x = b;
            memcpy(at, &x, sizeof x);
            break;
        }
        case ORM_FIELD_FIXED_TEXT:
            /* straight into the member: shorter than its capacity, no NUL inside */
            if (get_varint(&r, &n) || n >= f->capacity || n > r.len - r.at ||
                (n && memchr(r.p + r.at, 0, (size_t)n))) {
                bad = -1;
                break;
            }
            memcpy(at, r.p + r.at, (size_t)n);
            memset(at + n, 0, f->capacity - (size_t)n);
            r.at += (size_t)n;
            break;
        case ORM_FIELD_TEXT:
        case ORM_FIELD_BLOB: {
            if (get_varint(&r, &n) || n > r.len - r.at + 1) {
                bad = -1;
                break;
            }
            if (!n)
                break; /* NULL: the member stays zeroed */
            char *s = NULL;
            bad = get_owned(&r, (size_t)n - 1, &s);
            if (bad)
                break;
            if (f->type == ORM_FIELD_TEXT) {
                if (memchr(s, 0, (size_t)n - 1)) { /* a NUL inside text: not ours */
                    orm__free(s);
                    bad = -1;
                    break;
                }
                memcpy(at, &s, sizeof s);
            } else {
                orm_blob b = { s, (size_t)n - 1 };
                memcpy(at, &b, sizeof b);
            }
            break;
        }
        default:
            bad = -1;
        }
    }
    if (!bad && r.at != r.len)
        bad = -1;
out:
    if (!bad)
        return ORM_OK;
    orm_model_clear(m, dst);
    if (bad == -2)
        return orm__error_nomem("cache");
    return orm__error_set(ORM_EPARSE, "cache", "model %s: %zu bytes are not a version-%u row encoding (field %zu)",
                          m->name, len, CODEC_VERSION, i);
}

int orm_cache_type_from_model(orm_cache_type *type, const orm_model *model)
{
    if (!type || !model)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_type_from_model: NULL argument");
    int rc = orm_model_validate(model);
    if (rc)
        return rc;
    memset(type, 0, sizeof *type);
    type->obj_size = model->struct_size;
    type->copy = model_copy;
    type->clear = model_clear;
    type->size = model_size;
    type->userdata = (void *)model;
    type->fingerprint = model_fp;
    type->encode = model_encode;
    type->decode = model_decode;
    return ORM_OK;
}
