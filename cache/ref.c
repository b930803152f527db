/* Cache values: immutable, reference-counted blobs holding bytes, a counter or a deep copy of
 * a typed object.
 *
 * Kept true: a ref's contents never change after orm_cache_ref_new_* returns, so any number
 * of threads may read one without locks; the count is atomic, and the last release frees
 * (clearing a typed object through its type first). The header is 16 bytes and the payload
 * follows it at a 16-byte-aligned offset, so objects of any C type can live there. */
#include <stdatomic.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

enum { KIND_BYTES = ORM__REF_BYTES, KIND_INT = ORM__REF_INT, KIND_OBJ = ORM__REF_OBJ };

/* kind: bits 0-6 the kind (ORM__REF_KIND), bit 7 set for a value built inside a local-cache
 * entry, bits 8-31 then how far before the value its block starts (freed with the last
 * reference). */
#define KIND_EMBEDDED ORM__REF_EMBEDDED
#define KIND(r) ORM__REF_KIND(r)

_Static_assert(sizeof(struct orm_cache_ref) == ORM__CACHE_REF_HEADER, "ref header size");

static orm_cache_ref *ref_alloc(uint32_t kind, size_t payload)
{
    orm_cache_ref *r = orm__malloc(sizeof *r + payload);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->kind = kind;
    return r;
}

/* Fill r (header and payload) from src; on failure r holds nothing to clear. */
static int fill(orm_cache_ref *r, const orm__cache_src *src)
{
    if (!src->type) {
        r->u.len = src->len;
        if (src->len)
            memcpy(r->data, src->data, src->len);
        return ORM_OK;
    }
    r->u.type = src->type;
    memset(r->data, 0, src->type->obj_size);
    int rc = src->type->copy(r->data, src->obj, src->type->userdata);
    if (rc != ORM_OK)
        return rc < 0 ? rc : orm__error_set(ORM_ERROR, "cache", "orm_cache_type copy failed (%d)", rc);
    return ORM_OK;
}

int orm__cache_src_check(const orm__cache_src *src, const char *fn)
{
    if (!src->type)
        return src->data || !src->len ? ORM_OK : orm__error_set(ORM_EINVAL, "cache", "%s: NULL argument", fn);
    if (!src->obj || !src->type->copy || !src->type->obj_size)
        return orm__error_set(ORM_EINVAL, "cache", "%s: NULL argument, or a type without copy/obj_size", fn);
    return ORM_OK;
}

size_t orm__cache_src_payload(const orm__cache_src *src) { return src->type ? src->type->obj_size : src->len; }

int orm__cache_ref_new_src(orm_cache_ref **out, const orm__cache_src *src)
{
    *out = NULL;
    orm_cache_ref *r = ref_alloc(src->type ? KIND_OBJ : KIND_BYTES, orm__cache_src_payload(src));
    if (!r)
        return orm__error_nomem("cache");
    int rc = fill(r, src);
    if (rc) {
        orm__free(r);
        return rc;
    }
    *out = r;
    return ORM_OK;
}

int orm__cache_ref_embed(void *at, size_t offset, const orm__cache_src *src, unsigned refs, orm_cache_ref **out)
{
    orm_cache_ref *r = at;
    atomic_init(&r->refs, refs);
    r->kind = (src->type ? KIND_OBJ : KIND_BYTES) | KIND_EMBEDDED | (uint32_t)offset << 8;
    int rc = fill(r, src);
    *out = rc ? NULL : r;
    return rc;
}

int orm_cache_ref_new_bytes(orm_cache_ref **out, const void *data, size_t len)
{
    orm__cache_src src = { data, len, NULL, NULL };
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_ref_new_bytes: NULL argument");
    *out = NULL;
    int rc = orm__cache_src_check(&src, "orm_cache_ref_new_bytes");
    return rc ? rc : orm__cache_ref_new_src(out, &src);
}

int orm_cache_ref_new_int(orm_cache_ref **out, int64_t v)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_ref_new_int: NULL out");
    *out = NULL;
    orm_cache_ref *r = ref_alloc(KIND_INT, sizeof v);
    if (!r)
        return orm__error_nomem("cache");
    r->u.len = sizeof v;
    memcpy(r->data, &v, sizeof v);
    *out = r;
    return ORM_OK;
}

int orm_cache_ref_new_obj(orm_cache_ref **out, const orm_cache_type *type, const void *obj)
{
    orm__cache_src src = { NULL, 0, type, obj };
    if (!out || !type)
        return orm__error_set(ORM_EINVAL, "cache",
                              "orm_cache_ref_new_obj: NULL argument, or a type without copy/obj_size");
    *out = NULL;
    int rc = orm__cache_src_check(&src, "orm_cache_ref_new_obj");
    return rc ? rc : orm__cache_ref_new_src(out, &src);
}

orm_cache_ref *orm_cache_ref_retain(orm_cache_ref *r) { return r ? orm__cache_ref_retain(r) : NULL; }

void orm_cache_ref_release(orm_cache_ref *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (KIND(r) == KIND_OBJ && r->u.type->clear)
        r->u.type->clear(r->data, r->u.type->userdata);
    orm__free(r->kind & KIND_EMBEDDED ? (void *)((char *)r - (r->kind >> 8)) : (void *)r);
}

const void *orm_cache_ref_data(const orm_cache_ref *r) { return r ? r->data : NULL; }

size_t orm_cache_ref_size(const orm_cache_ref *r)
{
    if (!r)
        return 0;
    if (KIND(r) != KIND_OBJ)
        return r->u.len;
    return r->u.type->size ? r->u.type->size(r->data, r->u.type->userdata) : r->u.type->obj_size;
}

const orm_cache_type *orm_cache_ref_type(const orm_cache_ref *r)
{
    return r && KIND(r) == KIND_OBJ ? r->u.type : NULL;
}

int orm_cache_ref_int(const orm_cache_ref *r, int64_t *out)
{
    if (!r || KIND(r) != KIND_INT)
        return 0;
    if (out)
        memcpy(out, r->data, sizeof *out);
    return 1;
}

int orm_cache_ref_copy(const orm_cache_ref *r, void *dst)
{
    if (!r || !dst)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_ref_copy: NULL argument");
    if (KIND(r) != KIND_OBJ) {
        if (r->u.len)
            memcpy(dst, r->data, r->u.len);
        return ORM_OK;
    }
    memset(dst, 0, r->u.type->obj_size);
    int rc = r->u.type->copy(dst, r->data, r->u.type->userdata);
    if (rc != ORM_OK)
        return rc < 0 ? rc : orm__error_set(ORM_ERROR, "cache", "orm_cache_type copy failed (%d)", rc);
    return ORM_OK;
}

int orm__cache_ref_copy_to(const orm_cache_ref *r, const char *key, void *buf, size_t cap, size_t *len)
{
    if (orm__cache_ref_copy_flat(r, buf, cap, len))
        return ORM_OK;
    size_t need = KIND(r) == KIND_OBJ ? r->u.type->obj_size : r->u.len;
    if (len)
        *len = need;
    if (need > cap || (need && !buf))
        return orm__error_set(ORM_EINVAL, "cache", "value of key '%.64s' takes %zu bytes, the buffer holds %zu%s", key,
                              need, cap, buf ? "" : " (NULL)");
    return orm_cache_ref_copy(r, buf);
}
