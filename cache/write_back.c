/* The write-back decorator: sets and deletes change the cache at once and are remembered as
 * dirty; a flush function writes them to the store of record in batches — when the inner
 * cache evicts or expires a dirty key (from its listener, before the evicting call returns),
 * on orm_cache_flush, every interval_ms on a thread, and on close.
 *
 * Kept true: a dirty key stays in the dirty table, holding its latest value, until a flush
 * that carried that very version succeeded; so nothing is lost when the inner cache drops an
 * entry, and a get that misses the inner cache is answered from the dirty table. Writes of one
 * key are serialized (stripe mutexes) so the cache and the dirty table agree on the latest
 * value. One flush runs at a time (flush_mu); the flush function is called with no lock but
 * flush_mu held. Lock order: stripe, then mu; flush_mu, then mu. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"

#define STRIPES 64
#define DIRTY_BUCKETS 1024

typedef struct dirty {
    struct dirty *next;
    char *key;
    uint32_t hash;
    orm_cache_ref *val; /* NULL: a delete to write */
    uint64_t version;
} dirty;

typedef struct wb {
    orm_cache base;
    orm_cache *inner;
    orm_cache_write_back_options o;
    pthread_mutex_t stripes[STRIPES];
    pthread_mutex_t mu; /* the dirty table */
    dirty *buckets[DIRTY_BUCKETS];
    size_t ndirty;
    uint64_t next_version;
    pthread_mutex_t flush_mu;
    /* the periodic flusher */
    pthread_t thread;
    int running, stop;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
} wb;

static const orm_cache_ops wb_ops;

static uint32_t key_hash(const char *key)
{
    uint64_t h = orm__cache_hash(key, strlen(key));
    return (uint32_t)(h ^ (h >> 32));
}

static dirty *dirty_find(wb *W, const char *key, uint32_t h)
{
    for (dirty *d = W->buckets[h % DIRTY_BUCKETS]; d; d = d->next)
        if (d->hash == h && strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

/* Remember key's latest value (NULL: deleted) as dirty. */
static int mark(wb *W, const char *key, orm_cache_ref *v)
{
    uint32_t h = key_hash(key);
    pthread_mutex_lock(&W->mu);
    dirty *d = dirty_find(W, key, h);
    if (!d) {
        d = orm__calloc(1, sizeof *d);
        if (!d || !(d->key = orm__strdup(key))) {
            orm__free(d);
            pthread_mutex_unlock(&W->mu);
            return orm__error_nomem("cache");
        }
        d->hash = h;
        d->next = W->buckets[h % DIRTY_BUCKETS];
        W->buckets[h % DIRTY_BUCKETS] = d;
        W->ndirty++;
    }
    orm_cache_ref_release(d->val);
    d->val = orm_cache_ref_retain(v);
    d->version = ++W->next_version;
    pthread_mutex_unlock(&W->mu);
    return ORM_OK;
}

static void dirty_remove(wb *W, dirty *d)
{
    for (dirty **pp = &W->buckets[d->hash % DIRTY_BUCKETS]; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    W->ndirty--;
    orm_cache_ref_release(d->val);
    orm__free(d->key);
    orm__free(d);
}

typedef struct snap {
    dirty *d; /* stays allocated: only a flusher (holding flush_mu) frees dirty entries */
    orm_cache_ref *val;
    uint64_t version;
} snap;

/* Write out the dirty entries (only key's when key is not NULL), batch by batch. Returns the
 * first flush error; *left (may be NULL) is how many stay dirty. Caller holds flush_mu. */
static int flush_locked(wb *W, const char *key, size_t *left)
{
    pthread_mutex_lock(&W->mu);
    size_t n = 0, cap = key ? 1 : W->ndirty;
    snap *s = cap ? orm__malloc(cap * sizeof *s) : NULL;
    if (cap && !s) {
        pthread_mutex_unlock(&W->mu);
        return orm__error_nomem("cache");
    }
    if (key) {
        dirty *d = dirty_find(W, key, key_hash(key));
        if (d)
            s[n++] = (snap){ d, orm_cache_ref_retain(d->val), d->version };
    } else {
        for (size_t b = 0; b < DIRTY_BUCKETS; b++)
            for (dirty *d = W->buckets[b]; d; d = d->next)
                s[n++] = (snap){ d, orm_cache_ref_retain(d->val), d->version };
    }
    pthread_mutex_unlock(&W->mu);

    int first_err = ORM_OK;
    orm_cache_wb_item *items = n ? orm__malloc((W->o.batch < n ? W->o.batch : n) * sizeof *items) : NULL;
    if (n && !items)
        first_err = orm__error_nomem("cache");
    for (size_t i = 0; items && i < n; i += W->o.batch) {
        size_t m = n - i < W->o.batch ? n - i : W->o.batch;
        for (size_t j = 0; j < m; j++)
            items[j] = (orm_cache_wb_item){ s[i + j].d->key, s[i + j].val };
        /* A flush function may return a code without setting a message: clear the last
         * error first, so what the caller reads is about this flush, never an older one. */
        orm_error_clear();
        int rc = W->o.flush(items, m, W->o.userdata);
        if (rc > 0)
            rc = orm__error_set(ORM_ERROR, "cache", "write-back flush returned %d", rc);
        else if (rc < 0 && orm_error_last()->code != rc)
            rc = orm__error_set(rc, "cache", "write-back flush returned %s (%d) without a message",
                                orm_strerror(rc), rc);
        if (rc != ORM_OK) {
            if (first_err == ORM_OK)
                first_err = rc;
            continue; /* stays dirty: retried by the next flush */
        }
        pthread_mutex_lock(&W->mu);
        for (size_t j = 0; j < m; j++)
            if (s[i + j].d->version == s[i + j].version) /* not written again meanwhile */
                dirty_remove(W, s[i + j].d);
        pthread_mutex_unlock(&W->mu);
    }
    for (size_t i = 0; i < n; i++)
        orm_cache_ref_release(s[i].val);
    orm__free(items);
    orm__free(s);
    if (left) {
        pthread_mutex_lock(&W->mu);
        *left = W->ndirty;
        pthread_mutex_unlock(&W->mu);
    }
    return first_err;
}

static int flush_some(wb *W, const char *key, size_t *left)
{
    pthread_mutex_lock(&W->flush_mu);
    int rc = flush_locked(W, key, left);
    pthread_mutex_unlock(&W->flush_mu);
    return rc;
}

/* The inner cache dropped an entry: write it out now if it is dirty. A failure keeps it
 * dirty (and readable here) for the next flush. */
static void on_inner_event(const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why, void *ud)
{
    wb *W = ud;
    if (why != ORM_CACHE_EVICTED && why != ORM_CACHE_EXPIRED)
        return;
    pthread_mutex_lock(&W->mu);
    int is_dirty = dirty_find(W, key, key_hash(key)) != NULL;
    pthread_mutex_unlock(&W->mu);
    if (is_dirty)
        flush_some(W, key, NULL);
}

static void *flusher_main(void *arg)
{
    wb *W = arg;
    pthread_mutex_lock(&W->stop_mu);
    while (!W->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (W->o.interval_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(W->o.interval_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        int rc = 0;
        while (!W->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&W->stop_cv, &W->stop_mu, &ts);
        if (W->stop)
            break;
        pthread_mutex_unlock(&W->stop_mu);
        flush_some(W, NULL, NULL);
        pthread_mutex_lock(&W->stop_mu);
    }
    pthread_mutex_unlock(&W->stop_mu);
    return NULL;
}

/* ---- ops ---- */

/* The deletion a load-and-delete records: a dirty mark with no value. */
static int mark_deleted(void *dec, const char *key) { return mark(dec, key, NULL); }

static pthread_mutex_t *stripe(wb *W, const char *key) { return &W->stripes[key_hash(key) % STRIPES]; }

static int wb_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    wb *W = (wb *)c;
    int rc = W->inner->ops->get(W->inner, key, out, meta);
    if (rc != ORM_ENOTFOUND)
        return rc;
    pthread_mutex_lock(&W->mu);
    dirty *d = dirty_find(W, key, key_hash(key));
    if (d && d->val) {
        *out = orm_cache_ref_retain(d->val);
        rc = ORM_OK;
        if (meta)
            memset(meta, 0, sizeof *meta);
    }
    pthread_mutex_unlock(&W->mu);
    return rc;
}

static int wb_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    wb *W = (wb *)c;
    if (!key || !v)
        return orm__error_set(ORM_EINVAL, "cache", "write-back set: NULL key or value");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    /* The cache first: a set it refuses (a value over the byte limit) changes nothing. Should
     * the policy evict the new entry at once, the dirty table still holds the value. */
    int rc = W->inner->ops->set(W->inner, key, v, ttl);
    if (rc == ORM_OK && (rc = mark(W, key, v)) != ORM_OK)
        W->inner->ops->del(W->inner, key); /* not dirty, so it must not look cached */
    pthread_mutex_unlock(m);
    return rc;
}

static int wb_del(orm_cache *c, const char *key)
{
    wb *W = (wb *)c;
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "write-back delete: NULL key");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = mark(W, key, NULL);
    if (rc == ORM_OK) {
        rc = W->inner->ops->del(W->inner, key);
        if (rc == ORM_ENOTFOUND)
            rc = ORM_OK; /* the delete still goes to the store */
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int wb_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                            int *loaded)
{
    wb *W = (wb *)c;
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "write-back load-or-store: NULL key");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = wb_get(c, key, out, NULL);
    if (rc == ORM_OK) {
        if (loaded)
            *loaded = 1;
    } else if (rc == ORM_ENOTFOUND) {
        rc = W->inner->ops->set(W->inner, key, v, ttl);
        if (rc == ORM_OK && (rc = mark(W, key, v)) != ORM_OK)
            W->inner->ops->del(W->inner, key);
        if (rc == ORM_OK) {
            *out = orm_cache_ref_retain(v);
            if (loaded)
                *loaded = 0;
        }
    }
    pthread_mutex_unlock(m);
    return rc;
}

static int wb_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    wb *W = (wb *)c;
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "write-back load-and-delete: NULL key");
    pthread_mutex_t *m = stripe(W, key);
    pthread_mutex_lock(m);
    int rc = orm__cache_take_recorded(c, W->inner, key, out, mark_deleted, W);
    pthread_mutex_unlock(m);
    return rc;
}

static int wb_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    return orm__error_set(ORM_EUNSUPPORTED, "cache", "incr/decr through a write-back cache");
}

static int wb_clear(orm_cache *c)
{
    return orm__error_set(ORM_EUNSUPPORTED, "cache", "clear through a write-back cache (it would drop unwritten "
                                                     "changes)");
}

static int wb_stats(orm_cache *c, orm_cache_stats *out) { return ((wb *)c)->inner->ops->stats(((wb *)c)->inner, out); }

static int wb_flush(orm_cache *c)
{
    wb *W = (wb *)c;
    int rc = flush_some(W, NULL, NULL);
    if (rc == ORM_OK)
        rc = W->inner->ops->flush(W->inner);
    return rc;
}

static int wb_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *ud)
{
    return ((wb *)c)->inner->ops->subscribe(((wb *)c)->inner, cb, ud);
}
static int64_t wb_now(orm_cache *c) { return ((wb *)c)->inner->ops->now(((wb *)c)->inner); }
static int wb_gen(orm_cache *c, const char *key, uint64_t *out)
{
    return ((wb *)c)->inner->ops->gen(((wb *)c)->inner, key, out);
}

/* A loader's value came from the store: cached, not dirty. A dirty key is newer than the
 * store, so a load never replaces it. */
static int wb_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    wb *W = (wb *)c;
    pthread_mutex_lock(&W->mu);
    int is_dirty = key && dirty_find(W, key, key_hash(key)) != NULL;
    pthread_mutex_unlock(&W->mu);
    if (is_dirty)
        return orm__error_set(ORM_EBUSY, "cache", "'%.64s' has unwritten changes", key);
    return W->inner->ops->set_if_gen(W->inner, key, v, ttl, gen);
}

size_t orm_cache_write_back_dirty(orm_cache *c)
{
    if (!c || c->ops != &wb_ops)
        return 0;
    wb *W = (wb *)c;
    pthread_mutex_lock(&W->mu);
    size_t n = W->ndirty;
    pthread_mutex_unlock(&W->mu);
    return n;
}

static void wb_free(wb *W)
{
    for (size_t b = 0; b < DIRTY_BUCKETS; b++)
        while (W->buckets[b])
            dirty_remove(W, W->buckets[b]);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&W->stripes[i]);
    pthread_mutex_destroy(&W->mu);
    pthread_mutex_destroy(&W->flush_mu);
    pthread_mutex_destroy(&W->stop_mu);
    pthread_cond_destroy(&W->stop_cv);
    orm__free(W);
}

static int wb_close(orm_cache *c)
{
    wb *W = (wb *)c;
    if (W->running) {
        pthread_mutex_lock(&W->stop_mu);
        W->stop = 1;
        pthread_cond_signal(&W->stop_cv);
        pthread_mutex_unlock(&W->stop_mu);
        pthread_join(W->thread, NULL);
    }
    size_t left = 0;
    int rc = flush_some(W, NULL, &left);
    if (rc == ORM_OK && left) /* written again while flushing: once more */
        rc = flush_some(W, NULL, &left);
    if (rc != ORM_OK)
        rc = orm__error_set(rc, "cache", "write-back close: %zu entries could not be written: %s", left,
                            orm_error_last()->message);
    /* Close the inner cache first: evictions it reports must not reach a freed table. The
     * listener only runs during calls, and none can come after close. */
    int irc = orm_cache_close(W->inner);
    wb_free(W);
    return rc != ORM_OK ? rc : irc;
}

static const orm_cache_ops wb_ops = {
    ORM_CACHE_OPS_VERSION, "write-back", wb_get, wb_set, wb_del, wb_load_or_store, wb_load_and_delete,
    wb_incr, wb_clear, wb_stats, wb_flush, wb_subscribe, wb_now, wb_gen, wb_set_if_gen, wb_close,
};

int orm_cache_write_back_new(orm_cache **out, orm_cache *inner, const orm_cache_write_back_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_write_back_new: NULL out");
    *out = NULL;
    if (!inner || !inner->ops || !opts || opts->version != ORM_CACHE_WRITE_BACK_OPTIONS_VERSION || !opts->flush ||
        opts->interval_ms < 0)
        return orm__error_set(ORM_EINVAL, "cache",
                              "orm_cache_write_back_new: needs an inner cache and options of version %u with a "
                              "flush function",
                              ORM_CACHE_WRITE_BACK_OPTIONS_VERSION);
    wb *W = orm__calloc(1, sizeof *W);
    if (!W)
        return orm__error_nomem("cache");
    W->base.ops = &wb_ops;
    W->inner = inner;
    W->o = *opts;
    if (!W->o.batch)
        W->o.batch = 100;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&W->stripes[i], NULL);
    pthread_mutex_init(&W->mu, NULL);
    pthread_mutex_init(&W->flush_mu, NULL);
    pthread_mutex_init(&W->stop_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&W->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (W->o.interval_ms > 0) {
        if (pthread_create(&W->thread, NULL, flusher_main, W) != 0) {
            wb_free(W);
            return orm__error_set(ORM_ERROR, "cache", "orm_cache_write_back_new: cannot start the flush thread");
        }
        W->running = 1;
    }
    /* last, so a failure leaves no listener pointing at a freed decorator */
    int rc = inner->ops->subscribe(inner, on_inner_event, W);
    if (rc != ORM_OK) {
        if (W->running) {
            pthread_mutex_lock(&W->stop_mu);
            W->stop = 1;
            pthread_cond_signal(&W->stop_cv);
            pthread_mutex_unlock(&W->stop_mu);
            pthread_join(W->thread, NULL);
        }
        wb_free(W);
        return rc;
    }
    *out = &W->base;
    return ORM_OK;
}
