/* The orm_cache front door: argument checks, then the backend's or decorator's vtable.
 * Kept true: a NULL cache or missing out argument is ORM_EINVAL, never a crash. */
#include <stddef.h>

#include "cache/cache_internal.h"
#include "orm/error_internal.h"

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c) || !(c)->ops)                                                            \
            return orm__error_set(ORM_EINVAL, "cache", "%s: NULL cache", __func__);       \
    } while (0)

int orm_cache_get(orm_cache *c, const char *key, orm_cache_ref **out)
{
    CHECK(c);
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_get: NULL out");
    return c->ops->get(c, key, out, NULL);
}

int orm_cache_get_meta(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    CHECK(c);
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_get_meta: NULL out");
    return c->ops->get(c, key, out, meta);
}

int orm_cache_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len)
{
    CHECK(c);
    if (orm__cache_is_local(c))
        return orm__cache_local_get_copy(c, key, buf, cap, len);
#ifdef ORM_WITH_REDIS
    if (orm__cache_is_two_level(c))
        return orm__two_level_get_copy(c, key, buf, cap, len);
#endif
    orm_cache_ref *r;
    int rc = c->ops->get(c, key, &r, NULL);
    if (rc)
        return rc;
    rc = orm__cache_ref_copy_to(r, key, buf, cap, len);
    orm_cache_ref_release(r);
    return rc;
}

int orm_cache_set(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms)
{
    CHECK(c);
    return c->ops->set(c, key, value, ttl_ms);
}

int orm_cache_set_bytes(orm_cache *c, const char *key, const void *data, size_t len, int64_t ttl_ms)
{
    CHECK(c);
    if (orm__cache_is_local(c)) {
        orm__cache_src src = { data, len, NULL, NULL };
        return orm__cache_local_set_src(c, key, &src, ttl_ms);
    }
    orm_cache_ref *r;
    int rc = orm_cache_ref_new_bytes(&r, data, len);
    if (rc)
        return rc;
    rc = c->ops->set(c, key, r, ttl_ms);
    orm_cache_ref_release(r);
    return rc;
}

int orm_cache_set_obj(orm_cache *c, const char *key, const orm_cache_type *type, const void *obj, int64_t ttl_ms)
{
    CHECK(c);
    if (orm__cache_is_local(c) && type) {
        orm__cache_src src = { NULL, 0, type, obj };
        return orm__cache_local_set_src(c, key, &src, ttl_ms);
    }
    orm_cache_ref *r;
    int rc = orm_cache_ref_new_obj(&r, type, obj);
    if (rc)
        return rc;
    rc = c->ops->set(c, key, r, ttl_ms);
    orm_cache_ref_release(r);
    return rc;
}

int orm_cache_delete(orm_cache *c, const char *key)
{
    CHECK(c);
    return c->ops->del(c, key);
}

int orm_cache_load_or_store(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms,
                            orm_cache_ref **out, int *loaded)
{
    CHECK(c);
    if (!out || !value)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_load_or_store: NULL value or out");
    return c->ops->load_or_store(c, key, value, ttl_ms, out, loaded);
}

int orm_cache_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    CHECK(c);
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_load_and_delete: NULL out");
    return c->ops->load_and_delete(c, key, out);
}

int orm_cache_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl_ms, int64_t *out)
{
    CHECK(c);
    return c->ops->incr(c, key, delta, ttl_ms, out);
}

int orm_cache_decr(orm_cache *c, const char *key, int64_t delta, int64_t ttl_ms, int64_t *out)
{
    CHECK(c);
    return c->ops->incr(c, key, (int64_t)(0 - (uint64_t)delta), ttl_ms, out);
}

int orm_cache_clear(orm_cache *c)
{
    CHECK(c);
    return c->ops->clear(c);
}

int orm_cache_stats_get(orm_cache *c, orm_cache_stats *out)
{
    CHECK(c);
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_stats_get: NULL out");
    return c->ops->stats(c, out);
}

int orm_cache_flush(orm_cache *c)
{
    CHECK(c);
    return c->ops->flush(c);
}

int orm_cache_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *userdata)
{
    CHECK(c);
    return c->ops->subscribe(c, cb, userdata);
}

int64_t orm_cache_now(orm_cache *c)
{
    return c && c->ops ? c->ops->now(c) : 0;
}

int orm_cache_gen(orm_cache *c, const char *key, uint64_t *out)
{
    CHECK(c);
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_gen: NULL out");
    return c->ops->gen(c, key, out);
}

int orm_cache_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms, uint64_t gen)
{
    CHECK(c);
    return c->ops->set_if_gen(c, key, value, ttl_ms, gen);
}

int orm_cache_close(orm_cache *c)
{
    if (!c || !c->ops)
        return ORM_OK;
    return c->ops->close(c);
}

int orm__cache_take_recorded(orm_cache *from, orm_cache *inner, const char *key,
                             orm_cache_ref **out, int (*record)(void *dec, const char *key),
                             void *dec)
{
    int rc = from->ops->get(from, key, out, NULL);
    if (rc != ORM_OK)
        return rc;
    rc = record(dec, key);
    if (rc == ORM_OK) {
        int drc = inner->ops->del(inner, key);
        if (drc != ORM_OK && drc != ORM_ENOTFOUND)
            rc = drc;
    }
    if (rc != ORM_OK) {
        orm_cache_ref_release(*out);
        *out = NULL;
    }
    return rc;
}
