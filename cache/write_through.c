/* The write-through decorator: every set and delete runs the store function first and
 * changes the cache only when the store succeeded.
 *
 * Kept true: writes of one key are serialized (a mutex per stripe of key hashes, held across
 * the store call and the cache update), so the store and the cache see the writes of a key in
 * the same order; a failed store leaves the cache as it was; a value the store took but the
 * cache refuses (over its byte limit) leaves the key uncached, never stale. Reads do not lock. A listener of
 * the inner cache must not write through this decorator (it may run under a stripe lock). */
#include <pthread.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"

#define STRIPES 64

typedef struct wt {
    orm_cache base;
    orm_cache *inner;
    orm_cache_store_cb store;
    void *ud;
    pthread_mutex_t stripes[STRIPES];
} wt;

static pthread_mutex_t *stripe(wt *W, const char *key)
{
    return &W->stripes[orm__cache_hash(key, strlen(key)) % STRIPES];
}

static int run_store(wt *W, const char *key, orm_cache_ref *v)
{
    int rc = W->store(key, v, W->ud);
    if (rc > 0)
        rc = orm__error_set(ORM_ERROR, "cache", "write-through store of '%.64s' returned %d", key, rc);
    return rc;
}

/* The deletion a load-and-delete writes to the store first. */
static int store_deleted(void *dec, const char *key) { return run_store(dec, key, NULL); }

static int wt_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    wt *W = (wt *)c;
    return W->inner->ops->get(W->inner, key, out, meta);
}

static int wt_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    wt *W = (wt *)c;
    if (!key || !v || ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "write-through set: NULL key or value, or negative TTL");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = run_store(W, key, v);
    if (rc == ORM_OK && (rc = W->inner->ops->set(W->inner, key, v, ttl)) != ORM_OK) {
        /* The store has the new value but the cache refused it (too large): drop the old one
         * so the cache never answers what the store no longer holds. */
        W->inner->ops->del(W->inner, key);
        orm__error_set(rc, "cache", "write-through '%.64s': stored, but not cached (the cache refused it)", key);
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int wt_del(orm_cache *c, const char *key)
{
    wt *W = (wt *)c;
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "write-through delete: NULL key");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = run_store(W, key, NULL);
    if (rc == ORM_OK) {
        rc = W->inner->ops->del(W->inner, key);
        if (rc == ORM_ENOTFOUND) /* deleted in the store; the cache simply did not hold it */
            rc = ORM_OK;
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int wt_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                            int *loaded)
{
    wt *W = (wt *)c;
    if (!key || ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "write-through load-or-store: NULL key or negative TTL");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = W->inner->ops->get(W->inner, key, out, NULL);
    if (rc == ORM_OK) {
        if (loaded)
            *loaded = 1;
    } else if (rc == ORM_ENOTFOUND) {
        rc = run_store(W, key, v);
        if (rc == ORM_OK && (rc = W->inner->ops->set(W->inner, key, v, ttl)) != ORM_OK)
            orm__error_set(rc, "cache", "write-through '%.64s': stored, but not cached (the cache refused it)", key);
        if (rc == ORM_OK) {
            *out = orm_cache_ref_retain(v);
            if (loaded)
                *loaded = 0;
        }
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int wt_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    wt *W = (wt *)c;
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "write-through load-and-delete: NULL key");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = orm__cache_take_recorded(W->inner, W->inner, key, out, store_deleted, W);
    pthread_mutex_unlock(m);
    return rc;
}

static int wt_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    return orm__error_set(ORM_EUNSUPPORTED, "cache", "incr/decr through a write-through cache");
}

static int wt_clear(orm_cache *c)
{
    return orm__error_set(ORM_EUNSUPPORTED, "cache", "clear through a write-through cache (it would not "
                                                     "reach the store)");
}

static int wt_stats(orm_cache *c, orm_cache_stats *out) { return ((wt *)c)->inner->ops->stats(((wt *)c)->inner, out); }
static int wt_flush(orm_cache *c) { return ((wt *)c)->inner->ops->flush(((wt *)c)->inner); }
static int wt_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *ud)
{
    return ((wt *)c)->inner->ops->subscribe(((wt *)c)->inner, cb, ud);
}
static int64_t wt_now(orm_cache *c) { return ((wt *)c)->inner->ops->now(((wt *)c)->inner); }
static int wt_gen(orm_cache *c, const char *key, uint64_t *out)
{
    return ((wt *)c)->inner->ops->gen(((wt *)c)->inner, key, out);
}
/* What a loader installs came from the store: it is not written back. */
static int wt_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    return ((wt *)c)->inner->ops->set_if_gen(((wt *)c)->inner, key, v, ttl, gen);
}

static int wt_close(orm_cache *c)
{
    wt *W = (wt *)c;
    int rc = orm_cache_close(W->inner);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&W->stripes[i]);
    orm__free(W);
    return rc;
}

static const orm_cache_ops wt_ops = {
    ORM_CACHE_OPS_VERSION, "write-through", wt_get, wt_set, wt_del, wt_load_or_store, wt_load_and_delete,
    wt_incr, wt_clear, wt_stats, wt_flush, wt_subscribe, wt_now, wt_gen, wt_set_if_gen, wt_close,
};

int orm_cache_write_through_new(orm_cache **out, orm_cache *inner, orm_cache_store_cb store, void *userdata)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_write_through_new: NULL out");
    *out = NULL;
    if (!inner || !inner->ops || !store)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_write_through_new: needs an inner cache and a store");
    wt *W = orm__calloc(1, sizeof *W);
    if (!W)
        return orm__error_nomem("cache");
    W->base.ops = &wt_ops;
    W->inner = inner;
    W->store = store;
    W->ud = userdata;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&W->stripes[i], NULL);
    *out = &W->base;
    return ORM_OK;
}
