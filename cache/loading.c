/* The read-through decorator: singleflight loads, background (stale-while-refresh) loads,
 * refresh-ahead and XFetch early refresh, negative caching, TTL jitter and a bloom filter in
 * front of the loader.
 *
 * A flight is one load of one key. The table of flights (a mutex and a small chained hash)
 * holds each key's flight while it runs; a caller that misses joins the running flight and
 * waits on its condition variable (bounded by wait_timeout_ms) instead of loading again. The
 * flight's owner reads the key's generation (orm_cache_gen), checks the cache again (a caller
 * that missed just after a flight ended finds its value), calls the loader with no lock held,
 * and installs with orm_cache_set_if_gen, so a load that overlapped a write of its key never
 * installs what it read. Background work (refreshes, BACKGROUND loads) is a flight created
 * when the work is queued, so a key is reloaded by one task however many readers see it stale.
 *
 * Kept true: every flight completes (done, with a result or an error) exactly once, waking
 * all waiters; a flight is freed when its owner and its last waiter have let go; close waits
 * for the background tasks it queued before closing the inner cache. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"

#define FLIGHT_BUCKETS 64

typedef struct flight {
    struct flight *next;
    char *key;
    uint32_t hash;
    pthread_cond_t cv;
    int done, rc, refresh, refs;
    orm_cache_ref *val;
    char msg[160];
} flight;

typedef struct loading {
    orm_cache base;
    orm_cache *inner;
    orm_cache_loading_options o;
    pthread_mutex_t mu;
    pthread_cond_t idle; /* signalled when pending reaches 0 */
    flight *buckets[FLIGHT_BUCKETS];
    int pending; /* queued background tasks, under mu */
    atomic_ullong loads, load_errors, load_time_ns, last_load_ns, rng;
    /* the owner's re-check of the inner cache before it loads: the caller's get already
     * counted its miss there, so these are taken out of the inner stats */
    atomic_ullong recheck_hits, recheck_misses;
} loading;

typedef struct bg_task {
    loading *L;
    flight *f;
} bg_task;

static const orm_cache_ops loading_ops;

/* ---- small helpers ---- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A uniform double in (0, 1], from a splitmix64 sequence shared by all threads. */
static double rand01(loading *L)
{
    uint64_t z = atomic_fetch_add_explicit(&L->rng, 0x9E3779B97F4A7C15ULL, memory_order_relaxed);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 1.0) / 9007199254740992.0;
}

static int64_t jittered(loading *L, int64_t ttl)
{
    if (ttl <= 0 || L->o.jitter <= 0)
        return ttl;
    double f = 1.0 + L->o.jitter * (2.0 * rand01(L) - 1.0);
    int64_t t = (int64_t)((double)ttl * f);
    return t < 1 ? 1 : t;
}

/* The TTL to store: jittered, plus the stale window of BACKGROUND mode. */
static int64_t store_ttl(loading *L, int64_t ttl)
{
    if (ttl <= 0)
        return ttl;
    ttl = jittered(L, ttl);
    if (L->o.mode == ORM_CACHE_LOAD_BACKGROUND && L->o.stale_ms > 0)
        ttl += L->o.stale_ms;
    return ttl;
}

/* The value negative caching stores for "not found". */
static int neg_copy(void *dst, const void *src, void *ud)
{
    (void)src;
    (void)ud;
    *(char *)dst = 0;
    return ORM_OK;
}
static const orm_cache_type negative_type = { 1, neg_copy, NULL, NULL, NULL, NULL, NULL, NULL };
static int is_negative(const orm_cache_ref *r) { return orm_cache_ref_type(r) == &negative_type; }

/* ---- flights (under L->mu) ---- */

static flight *flight_find(loading *L, const char *key, uint32_t h)
{
    for (flight *f = L->buckets[h % FLIGHT_BUCKETS]; f; f = f->next)
        if (f->hash == h && strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static flight *flight_new(loading *L, const char *key, uint32_t h, int refresh)
{
    flight *f = orm__calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (!(f->key = orm__strdup(key))) {
        orm__free(f);
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    f->hash = h;
    f->refresh = refresh;
    f->refs = 1; /* the owner */
    f->next = L->buckets[h % FLIGHT_BUCKETS];
    L->buckets[h % FLIGHT_BUCKETS] = f;
    return f;
}

static void flight_put(flight *f)
{
    if (--f->refs)
        return;
    pthread_cond_destroy(&f->cv);
    orm_cache_ref_release(f->val);
    orm__free(f->key);
    orm__free(f);
}

/* Record the outcome, take the flight out of the table, wake every waiter. */
static void flight_complete(loading *L, flight *f, int rc, orm_cache_ref *val)
{
    pthread_mutex_lock(&L->mu);
    f->done = 1;
    f->rc = rc;
    f->val = val;
    if (rc != ORM_OK)
        snprintf(f->msg, sizeof f->msg, "%s", orm_error_last()->message);
    for (flight **pp = &L->buckets[f->hash % FLIGHT_BUCKETS]; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&L->mu);
}

/* The owner's work: check again, load, install unless the key was written meanwhile. Returns
 * the result with a new reference in *out (NULL on error). */
static int flight_run(loading *L, flight *f, orm_cache_ref **out)
{
    orm_cache *in = L->inner;
    orm_cache_ref *r = NULL;
    uint64_t gen = 0;
    int rc = in->ops->gen(in, f->key, &gen);
    if (rc == ORM_OK && !f->refresh) {
        rc = in->ops->get(in, f->key, &r, NULL);
        atomic_fetch_add_explicit(rc == ORM_OK ? &L->recheck_hits : &L->recheck_misses, 1,
                                  memory_order_relaxed);
        if (rc == ORM_OK && is_negative(r)) {
            orm_cache_ref_release(r);
            r = NULL;
            rc = orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s' (cached not-found)", f->key);
            goto done;
        }
        if (rc == ORM_OK)
            goto done;
        rc = ORM_OK;
    }
    if (rc == ORM_OK) {
        int64_t ttl = L->o.ttl_ms;
        int64_t t0 = mono_ns();
        rc = L->o.loader(f->key, &r, &ttl, L->o.userdata);
        int64_t dt = mono_ns() - t0;
        atomic_fetch_add_explicit(&L->loads, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&L->load_time_ns, (uint64_t)dt, memory_order_relaxed);
        atomic_store_explicit(&L->last_load_ns, (uint64_t)dt, memory_order_relaxed);
        if (rc == ORM_OK && !r)
            rc = orm__error_set(ORM_ERROR, "cache", "loader returned ORM_OK without a value for '%.64s'", f->key);
        if (rc == ORM_OK) {
            /* ORM_EBUSY (written meanwhile) or a value too large: not cached, still returned */
            in->ops->set_if_gen(in, f->key, r, store_ttl(L, ttl), gen);
        } else {
            orm_cache_ref_release(r);
            r = NULL;
            if (rc == ORM_ENOTFOUND) {
                orm_cache_ref *neg;
                char z = 0;
                if (L->o.negative_ttl_ms > 0 && orm_cache_ref_new_obj(&neg, &negative_type, &z) == ORM_OK) {
                    in->ops->set_if_gen(in, f->key, neg, L->o.negative_ttl_ms, gen);
                    orm_cache_ref_release(neg);
                }
                rc = orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s'", f->key);
            } else {
                atomic_fetch_add_explicit(&L->load_errors, 1, memory_order_relaxed);
                if (rc > 0)
                    rc = orm__error_set(ORM_ERROR, "cache", "loader for '%.64s' returned %d", f->key, rc);
            }
        }
    }
done:
    *out = orm_cache_ref_retain(r);
    flight_complete(L, f, rc, r);
    return rc;
}

/* Wait for f (a reference held) and take its outcome; drops the reference. Under L->mu. */
static int flight_wait(loading *L, flight *f, const char *key, orm_cache_ref **out)
{
    struct timespec dl;
    int timed = L->o.wait_timeout_ms > 0;
    if (timed) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        int64_t ns = dl.tv_nsec + (L->o.wait_timeout_ms % 1000) * 1000000;
        dl.tv_sec += (time_t)(L->o.wait_timeout_ms / 1000 + ns / 1000000000);
        dl.tv_nsec = (long)(ns % 1000000000);
    }
    int wrc = 0;
    while (!f->done && wrc == 0)
        wrc = timed ? pthread_cond_timedwait(&f->cv, &L->mu, &dl) : pthread_cond_wait(&f->cv, &L->mu);
    int rc;
    if (!f->done)
        rc = orm__error_set(ORM_ETIMEOUT, "cache", "waited %lld ms for the load of '%.64s'",
                            (long long)L->o.wait_timeout_ms, key);
    else if (f->rc != ORM_OK)
        rc = orm__error_set(f->rc, "cache", "%s", f->msg);
    else {
        rc = ORM_OK;
        *out = orm_cache_ref_retain(f->val);
    }
    flight_put(f);
    return rc;
}

/* ---- background work ---- */

static void bg_run(void *arg, int cancelled)
{
    bg_task *t = arg;
    loading *L = t->L;
    if (cancelled) {
        orm__error_set(ORM_ECANCELED, "cache", "background load of '%.64s' cancelled", t->f->key);
        flight_complete(L, t->f, ORM_ECANCELED, NULL);
    } else {
        orm_cache_ref *r = NULL;
        flight_run(L, t->f, &r);
        orm_cache_ref_release(r);
    }
    pthread_mutex_lock(&L->mu);
    flight_put(t->f);
    if (--L->pending == 0)
        pthread_cond_broadcast(&L->idle);
    pthread_mutex_unlock(&L->mu);
    orm__free(t);
}

/* Queue a load of key on the pool unless one is queued or running. Best effort: a full
 * queue or no memory just skips it (the value stays as it is). */
static void schedule(loading *L, const char *key, uint32_t h, int refresh)
{
    if (!L->o.pool)
        return;
    pthread_mutex_lock(&L->mu);
    if (flight_find(L, key, h)) {
        pthread_mutex_unlock(&L->mu);
        return;
    }
    bg_task *t = orm__malloc(sizeof *t);
    flight *f = t ? flight_new(L, key, h, refresh) : NULL;
    if (!f) {
        pthread_mutex_unlock(&L->mu);
        orm__free(t);
        return;
    }
    t->L = L;
    t->f = f;
    L->pending++;
    pthread_mutex_unlock(&L->mu);
    if (orm_task_pool_submit(L->o.pool, bg_run, t, 0) != ORM_OK)
        bg_run(t, 1);
}

/* ---- ops ---- */

static uint32_t key_hash(const char *key)
{
    uint64_t h = orm__cache_hash(key, strlen(key));
    return (uint32_t)(h ^ (h >> 32));
}

/* Should a hit be reloaded ahead of its expiry? */
static int wants_refresh(loading *L, const orm_cache_meta *m, int64_t now)
{
    if (!m->expires_ms || !L->o.pool)
        return 0;
    int64_t expiry = m->expires_ms;
    if (L->o.mode == ORM_CACHE_LOAD_BACKGROUND && L->o.stale_ms > 0) {
        expiry -= L->o.stale_ms;
        if (now >= expiry)
            return 1; /* stale: serve it and reload */
    }
    int64_t ttl = m->ttl_ms - (L->o.mode == ORM_CACHE_LOAD_BACKGROUND ? L->o.stale_ms : 0);
    if (L->o.refresh_ahead > 0 && ttl > 0 && (double)(expiry - now) < L->o.refresh_ahead * (double)ttl)
        return 1;
    if (L->o.xfetch_beta > 0) {
        double delta_ms = (double)atomic_load_explicit(&L->last_load_ns, memory_order_relaxed) / 1e6;
        if ((double)now - delta_ms * L->o.xfetch_beta * log(rand01(L)) >= (double)expiry)
            return 1;
    }
    return 0;
}

static int loading_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    loading *L = (loading *)c;
    orm_cache_meta m = { 0, 0, 0 };
    *out = NULL;
    int rc = L->inner->ops->get(L->inner, key, out, &m);
    if (rc == ORM_OK) {
        if (is_negative(*out)) {
            orm_cache_ref_release(*out);
            *out = NULL;
            return orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s' (cached not-found)", key);
        }
        if (m.expires_ms) {
            int64_t now = m.now_ms ? m.now_ms : L->inner->ops->now(L->inner);
            if (wants_refresh(L, &m, now))
                schedule(L, key, key_hash(key), 1);
        }
        if (meta)
            *meta = m;
        return ORM_OK;
    }
    if (rc != ORM_ENOTFOUND)
        return rc;
    if (L->o.bloom && !orm_bloom_maybe(L->o.bloom, key))
        return orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s' (bloom filter)", key);
    uint32_t h = key_hash(key);
    if (L->o.mode == ORM_CACHE_LOAD_BACKGROUND) {
        schedule(L, key, h, 0);
        return orm__error_set(ORM_ENOTFOUND, "cache", "'%.64s' is loading in the background", key);
    }
    pthread_mutex_lock(&L->mu);
    flight *f = flight_find(L, key, h);
    if (f) {
        f->refs++;
        rc = flight_wait(L, f, key, out);
        pthread_mutex_unlock(&L->mu);
        return rc;
    }
    f = flight_new(L, key, h, 0);
    pthread_mutex_unlock(&L->mu);
    if (!f)
        return orm__error_nomem("cache");
    rc = flight_run(L, f, out);
    pthread_mutex_lock(&L->mu);
    flight_put(f);
    pthread_mutex_unlock(&L->mu);
    if (meta)
        memset(meta, 0, sizeof *meta);
    return rc;
}

static int loading_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    loading *L = (loading *)c;
    return L->inner->ops->set(L->inner, key, v, ttl < 0 ? ttl : store_ttl(L, ttl));
}

static int loading_del(orm_cache *c, const char *key)
{
    loading *L = (loading *)c;
    return L->inner->ops->del(L->inner, key);
}

static int loading_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                                 int *loaded)
{
    loading *L = (loading *)c;
    return L->inner->ops->load_or_store(L->inner, key, v, ttl < 0 ? ttl : store_ttl(L, ttl), out, loaded);
}

static int loading_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    loading *L = (loading *)c;
    return L->inner->ops->load_and_delete(L->inner, key, out);
}

static int loading_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    loading *L = (loading *)c;
    return L->inner->ops->incr(L->inner, key, delta, ttl, out);
}

static int loading_clear(orm_cache *c)
{
    loading *L = (loading *)c;
    return L->inner->ops->clear(L->inner);
}

static int loading_stats(orm_cache *c, orm_cache_stats *out)
{
    loading *L = (loading *)c;
    int rc = L->inner->ops->stats(L->inner, out);
    if (rc)
        return rc;
    /* each load's re-check is not a caller's get (saturating: another user of the inner
     * cache may have reset or shares its counters) */
    uint64_t rh = atomic_load(&L->recheck_hits), rm = atomic_load(&L->recheck_misses);
    out->hits = out->hits > rh ? out->hits - rh : 0;
    out->misses = out->misses > rm ? out->misses - rm : 0;
    out->loads += atomic_load(&L->loads);
    out->load_errors += atomic_load(&L->load_errors);
    out->load_time_ns += atomic_load(&L->load_time_ns);
    return ORM_OK;
}

static int loading_flush(orm_cache *c) { return ((loading *)c)->inner->ops->flush(((loading *)c)->inner); }

static int loading_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *ud)
{
    loading *L = (loading *)c;
    return L->inner->ops->subscribe(L->inner, cb, ud);
}

static int64_t loading_now(orm_cache *c) { return ((loading *)c)->inner->ops->now(((loading *)c)->inner); }

static int loading_gen(orm_cache *c, const char *key, uint64_t *out)
{
    loading *L = (loading *)c;
    return L->inner->ops->gen(L->inner, key, out);
}

static int loading_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    loading *L = (loading *)c;
    return L->inner->ops->set_if_gen(L->inner, key, v, ttl < 0 ? ttl : store_ttl(L, ttl), gen);
}

static int loading_close(orm_cache *c)
{
    loading *L = (loading *)c;
    pthread_mutex_lock(&L->mu);
    while (L->pending)
        pthread_cond_wait(&L->idle, &L->mu);
    pthread_mutex_unlock(&L->mu);
    int rc = orm_cache_close(L->inner);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->idle);
    orm__free(L);
    return rc;
}

static const orm_cache_ops loading_ops = {
    ORM_CACHE_OPS_VERSION, "loading", loading_get, loading_set, loading_del, loading_load_or_store,
    loading_load_and_delete, loading_incr, loading_clear, loading_stats, loading_flush, loading_subscribe,
    loading_now, loading_gen, loading_set_if_gen, loading_close,
};

int orm_cache_loading_new(orm_cache **out, orm_cache *inner, const orm_cache_loading_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_loading_new: NULL out");
    *out = NULL;
    if (!inner || !inner->ops || !opts || opts->version != ORM_CACHE_LOADING_OPTIONS_VERSION || !opts->loader)
        return orm__error_set(ORM_EINVAL, "cache",
                              "orm_cache_loading_new: needs an inner cache and options of version %u with a loader",
                              ORM_CACHE_LOADING_OPTIONS_VERSION);
    if ((opts->mode == ORM_CACHE_LOAD_BACKGROUND || opts->refresh_ahead > 0 || opts->xfetch_beta > 0) && !opts->pool)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_loading_options: background loads need a task pool");
    if (opts->jitter < 0 || opts->jitter >= 1 || opts->refresh_ahead < 0 || opts->refresh_ahead >= 1 ||
        opts->ttl_ms < 0 || opts->stale_ms < 0 || opts->negative_ttl_ms < 0)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_loading_options: a negative TTL, or jitter or "
                                                   "refresh_ahead outside [0, 1)");
    loading *L = orm__calloc(1, sizeof *L);
    if (!L)
        return orm__error_nomem("cache");
    L->base.ops = &loading_ops;
    L->inner = inner;
    L->o = *opts;
    atomic_init(&L->rng, opts->jitter_seed ? opts->jitter_seed : 0x853c49e6748fea9bULL);
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->idle, NULL);
    *out = &L->base;
    return ORM_OK;
}
