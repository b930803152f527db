/* The two-level cache: a local cache in front of a Redis cache, kept coherent across processes
 * by Redis' server-assisted client-side caching, with an optional read-through loader that
 * loads a key once per process (singleflight) and once across processes (a lease in Redis).
 *
 * Invalidation. A listener thread holds one connection of its own, on which it runs
 * CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX <prefix> and then SUBSCRIBE
 * __redis__:invalidate (RESP2, as hiredis 0.14 speaks). Redis then sends it the name of every
 * key under the prefix that any client writes, or that expires or is evicted; the thread drops
 * each from the local level. While that connection is not up (not yet, or lost: Redis
 * restarted, the socket broke, a PING went unanswered), `tracking` is 0: the local level is
 * cleared and neither read nor filled, so it never serves what it could not hear about.
 *
 * A get that misses locally reads Redis and installs the value locally. An invalidation may
 * arrive between that read and the install, so the install is checked: each key maps to one
 * of INV_STRIPES counters that every invalidation (and every write made here) bumps before
 * dropping the key, and `epoch` is bumped by every clear of the local level. A getter reads
 * both before its Redis read and installs only when neither moved, checking and setting under
 * the stripe's lock, which invalidations and clears take too (so no other thread ever finds
 * an install that an invalidation had overtaken).
 *
 * Kept true: the local level holds a key only while tracking is up and no invalidation of it
 * arrived since the value was read from Redis; a miss in both levels calls the loader once per
 * process however many threads miss; Redis being down is a miss (then a load), never an error. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache_internal.h"
#include "cache/redis_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

#define INV_STRIPES 1024
#define INV_LOCKS 64 /* INV_STRIPES is a multiple: a stripe's lock is inv_lock[stripe % INV_LOCKS] */
#define FLIGHT_BUCKETS 64
#define PING_EVERY_MS 1000

typedef struct flight {
    struct flight *next;
    char *key;
    pthread_cond_t cv;
    int done, rc, refs;
    orm_cache_ref *val;
    char msg[160];
} flight;

typedef struct tl {
    orm_cache base;
    orm_cache *local, *remote;
    orm_cache_two_level_options o;
    orm__redis_pool *pool;
    char *prefix;
    size_t plen;
    pthread_t thr;
    atomic_int stop, tracking;
    atomic_ullong epoch;
    atomic_ullong inv[INV_STRIPES];
    pthread_mutex_t inv_lock[INV_LOCKS]; /* an install against an invalidation (install) */
    pthread_mutex_t mu; /* flights */
    flight *buckets[FLIGHT_BUCKETS];
    atomic_ullong remote_hits, loads, lease_waits, lease_timeouts, invalidations, local_clears,
        load_errors, load_ns, token_seq;
} tl;

static const orm_cache_ops tl_ops;

orm_cache *orm__two_level_remote(orm_cache *c) { return c && c->ops == &tl_ops ? ((tl *)c)->remote : NULL; }
int orm__cache_is_two_level(const orm_cache *c) { return c && c->ops == &tl_ops; }

static uint64_t khash(const char *key) { return orm__cache_hash(key, strlen(key)); }
static atomic_ullong *inv_of(tl *T, const char *key) { return &T->inv[khash(key) % INV_STRIPES]; }
static pthread_mutex_t *lock_of(tl *T, const atomic_ullong *inv)
{
    return &T->inv_lock[(size_t)(inv - T->inv) % INV_LOCKS];
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* Drop key from the local level because Redis changed it (or this process wrote it). The
 * stripe is bumped (a getter installing what it read before finds it moved) before the delete
 * and after it (a stamp read before the delete, orm__two_level_stamp, is stale), all under the
 * stripe's lock (install). */
static void invalidate(tl *T, const char *key)
{
    atomic_ullong *inv = inv_of(T, key);
    pthread_mutex_t *mu = lock_of(T, inv);
    pthread_mutex_lock(mu); /* no install of key in between (install) */
    atomic_fetch_add(inv, 1);
    T->local->ops->del(T->local, key);
    atomic_fetch_add(inv, 1);
    pthread_mutex_unlock(mu);
}

static void clear_local(tl *T)
{
    atomic_fetch_add(&T->epoch, 1);
    /* Each stripe's lock taken and released in turn, after the epoch moved: an install that
     * checked the old epoch under its lock has set its value by then, so the clear below
     * removes it, and any later install sees the new epoch and sets nothing (install). One
     * lock at a time: holding all of them at once is no safer, and ThreadSanitizer's
     * deadlock detector gives up past 64 locks held by a thread. */
    for (size_t i = 0; i < INV_LOCKS; i++) {
        pthread_mutex_lock(&T->inv_lock[i]);
        pthread_mutex_unlock(&T->inv_lock[i]);
    }
    T->local->ops->clear(T->local);
    atomic_fetch_add(&T->epoch, 1);
    atomic_fetch_add(&T->local_clears, 1);
}

uint64_t orm__two_level_stamp(orm_cache *c, const char *key)
{
    tl *T = (tl *)c;
    if (!atomic_load_explicit(&T->tracking, memory_order_acquire))
        return 0;
    uint64_t e = atomic_load(&T->epoch), i = atomic_load(inv_of(T, key));
    return UINT64_C(1) << 63 | (e & 0x7fffffffu) << 32 | (i & 0xffffffffu);
}

/* ---- the invalidation listener ---- */

static int cmd_ok(redisContext *ctx, int argc, const char **argv, long long *int_out)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
    if (!r)
        return 0;
    int ok = r->type != REDIS_REPLY_ERROR;
    if (ok && int_out)
        *int_out = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return ok;
}

/* One pub/sub message: ["message", "__redis__:invalidate", [keys] or nil (flush)]. */
static void on_message(tl *T, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0)
        return; /* the subscribe confirmation, a pong */
    redisReply *keys = r->element[2];
    if (keys->type != REDIS_REPLY_ARRAY) { /* FLUSHDB / FLUSHALL: every key went */
        clear_local(T);
        return;
    }
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len < T->plen || memcmp(k->str, T->prefix, T->plen) != 0 ||
            k->len == T->plen)
            continue;
        if (k->len >= 5 && memcmp(k->str, "\x01orm:", 5) == 0)
            continue; /* generations and leases (an empty prefix tracks them too) */
        invalidate(T, k->str + T->plen);
        atomic_fetch_add(&T->invalidations, 1);
    }
}

/* Open the tracking connection; NULL (with why) when it could not be set up. */
static redisContext *track_connect(tl *T, char *err, size_t errlen)
{
    redisContext *ctx = orm__redis_connect(&T->pool->conf, err, errlen);
    if (!ctx)
        return NULL;
    long long id = -1;
    const char *ida[2] = { "CLIENT", "ID" };
    char ids[32];
    if (!cmd_ok(ctx, 2, ida, &id) || id < 0)
        goto fail;
    snprintf(ids, sizeof ids, "%lld", id);
    const char *tr[8] = { "CLIENT", "TRACKING", "on", "REDIRECT", ids, "BCAST", "PREFIX", T->prefix };
    if (!cmd_ok(ctx, T->plen ? 8 : 6, tr, NULL))
        goto fail;
    const char *sub[2] = { "SUBSCRIBE", "__redis__:invalidate" };
    redisReply *r = redisCommandArgv(ctx, 2, sub, NULL);
    if (!r)
        goto fail;
    int ok = r->type == REDIS_REPLY_ARRAY;
    freeReplyObject(r);
    if (!ok)
        goto fail;
    return ctx;
fail:
    snprintf(err, errlen, "%s", ctx->err ? ctx->errstr : "CLIENT TRACKING refused (Redis 6 or later is needed)");
    redisFree(ctx);
    return NULL;
}

/* Read messages until the connection fails or close asks to stop. */
static void track_loop(tl *T, redisContext *ctx)
{
    int64_t last_io = orm__redis_now_ms(), ping_sent = 0;
    while (!atomic_load(&T->stop)) {
        void *reply = NULL;
        while (redisGetReplyFromReader(ctx, &reply) == REDIS_OK && reply) {
            on_message(T, reply);
            freeReplyObject(reply);
            reply = NULL;
            ping_sent = 0;
        }
        if (ctx->err)
            return;
        struct pollfd pfd = { ctx->fd, POLLIN, 0 };
        int n = poll(&pfd, 1, 100);
        int64_t now = orm__redis_now_ms();
        if (n > 0) {
            if (redisBufferRead(ctx) != REDIS_OK)
                return;
            last_io = now;
            continue;
        }
        if (n < 0)
            continue; /* EINTR */
        if (ping_sent && now - ping_sent > PING_EVERY_MS + T->pool->conf.command_timeout_ms)
            return; /* unanswered: the server or the path to it is gone */
        if (!ping_sent && now - last_io >= PING_EVERY_MS) {
            const char *pa[1] = { "PING" };
            int done = 0;
            if (redisAppendCommandArgv(ctx, 1, pa, NULL) != REDIS_OK)
                return;
            while (!done)
                if (redisBufferWrite(ctx, &done) != REDIS_OK)
                    return;
            ping_sent = now;
            last_io = now;
        }
    }
}

static void *track_main(void *arg)
{
    tl *T = arg;
    int64_t backoff = T->pool->conf.backoff_min_ms;
    int logged_down = 0;
    while (!atomic_load(&T->stop)) {
        char err[256];
        redisContext *ctx = track_connect(T, err, sizeof err);
        if (!ctx) {
            if (!logged_down) {
                orm__redis_log(&T->pool->conf,
                               "redis %s: no invalidation connection (%s); the local level is bypassed",
                               T->pool->where, err);
                logged_down = 1;
            }
            for (int64_t w = 0; w < backoff && !atomic_load(&T->stop); w += 10)
                sleep_ms(10);
            backoff = backoff * 2 > T->pool->conf.backoff_max_ms ? T->pool->conf.backoff_max_ms : backoff * 2;
            continue;
        }
        backoff = T->pool->conf.backoff_min_ms;
        /* Whatever changed while no one listened is unknown: start the local level empty. */
        clear_local(T);
        atomic_store(&T->tracking, 1);
        if (logged_down)
            orm__redis_log(&T->pool->conf, "redis %s: invalidations arrive again; the local level is in use",
                           T->pool->where);
        logged_down = 0;
        track_loop(T, ctx);
        atomic_store(&T->tracking, 0);
        clear_local(T);
        if (!atomic_load(&T->stop)) {
            orm__redis_log(&T->pool->conf, "redis %s: invalidation connection lost (%s); the local level is cleared "
                                           "and bypassed until it is back",
                           T->pool->where, ctx->err ? ctx->errstr : "no answer to PING");
            logged_down = 1;
        }
        redisFree(ctx);
    }
    return NULL;
}

/* ---- Redis reads the loader path needs ---- */

/* Fill the local level with v, read from Redis with `remaining` ms left (<= 0: none), unless an
 * invalidation of key or a clear came since e0 / i0 were read. */
static void install(tl *T, const char *key, orm_cache_ref *v, int64_t remaining, uint64_t e0, uint64_t i0)
{
    int64_t ttl = T->o.local_ttl_ms;
    if (remaining > 0 && remaining < ttl)
        ttl = remaining;
    /* Checked and set under the stripe's lock, never set first and dropped after a failed
     * check: between the two, another thread's local get would find the value an
     * invalidation had already overtaken (a row older than a write that had returned, or a
     * model generation counter older than a drop that had returned: a reader that got one
     * put it in row_cache_shared.c's mirror, stamped as current, and served rows stamped with
     * it until the stripe moved again). invalidate holds the lock across its bumps and its
     * delete, clear_local passes through every stripe's lock after moving the epoch, so a
     * value set here is either removed by the invalidation or clear that follows it, or not
     * set at all. */
    atomic_ullong *inv = inv_of(T, key);
    pthread_mutex_t *mu = lock_of(T, inv);
    pthread_mutex_lock(mu);
    if (atomic_load(&T->epoch) == e0 && atomic_load(inv) == i0 && atomic_load(&T->tracking))
        T->local->ops->set(T->local, key, v, ttl);
    pthread_mutex_unlock(mu);
}

/* Redis get, installing a hit locally when tracking was up before the read. */
static int remote_get(tl *T, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    int trk = atomic_load(&T->tracking);
    uint64_t e0 = atomic_load(&T->epoch), i0 = atomic_load(inv_of(T, key));
    orm_cache_meta m = { 0, 0, 0 };
    int rc = T->remote->ops->get(T->remote, key, out, &m);
    if (rc != ORM_OK)
        return rc;
    atomic_fetch_add(&T->remote_hits, 1);
    if (trk)
        install(T, key, *out, m.expires_ms ? m.expires_ms - m.now_ms : 0, e0, i0);
    if (meta)
        *meta = m;
    return ORM_OK;
}

/* One command on a pooled connection; NULL when Redis is bypassed. */
static redisReply *pool_cmd(tl *T, int argc, const char **argv, const size_t *lens)
{
    redisContext *ctx = orm__redis_acquire(T->pool);
    if (!ctx)
        return NULL;
    redisReply *r = orm__redis_run(ctx, argc, argv, lens);
    orm__redis_release(T->pool, ctx, r == NULL);
    return r;
}

/* Try to take key's lease. 1: taken (or Redis is bypassed: no one can be waited for), 0: held
 * by another process. */
static int lease_take(tl *T, const char *lkey, const char *token)
{
    char px[24];
    snprintf(px, sizeof px, "%" PRId64, T->o.lease_ms);
    const char *a[6] = { "SET", lkey, token, "NX", "PX", px };
    redisReply *r = pool_cmd(T, 6, a, NULL);
    if (!r)
        return 1;
    int taken = r->type != REDIS_REPLY_NIL;
    freeReplyObject(r);
    return taken;
}

static void lease_drop(tl *T, const char *lkey, const char *token)
{
    redisContext *ctx = orm__redis_acquire(T->pool);
    if (!ctx)
        return;
    const char *a[2] = { lkey, token };
    redisReply *r = orm__redis_eval(T->pool, ctx, ORM__RS_UNLEASE, 1, 2, a, NULL);
    orm__redis_release(T->pool, ctx, r == NULL);
    if (r)
        freeReplyObject(r);
}

/* 1 while key's lease exists (or Redis cannot tell). */
static int lease_held(tl *T, const char *lkey)
{
    const char *a[2] = { "EXISTS", lkey };
    redisReply *r = pool_cmd(T, 2, a, NULL);
    if (!r)
        return 0;
    int held = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return held;
}

static int call_loader(tl *T, const char *key, uint64_t gen, orm_cache_ref **out)
{
    int64_t ttl = T->o.ttl_ms;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    atomic_fetch_add(&T->loads, 1);
    *out = NULL;
    int rc = T->o.loader(key, out, &ttl, T->o.userdata);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_fetch_add(&T->load_ns, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec)));
    if (rc != ORM_OK) {
        orm_cache_ref_release(*out);
        *out = NULL;
        if (rc != ORM_ENOTFOUND)
            atomic_fetch_add(&T->load_errors, 1);
        return rc;
    }
    if (!*out)
        return orm__error_set(ORM_ERROR, "cache", "loader of '%.64s' returned ORM_OK without a value", key);
    if (ttl < 0)
        ttl = 0;
    /* The value goes to Redis (where every process finds it); the write's own invalidation
     * keeps this process's local level out of it until the next get reads it back. */
    T->remote->ops->set_if_gen(T->remote, key, *out, ttl, gen);
    atomic_fetch_add(inv_of(T, key), 1);
    return ORM_OK;
}

/* The flight owner's work: Redis again, then the lease, then the loader. */
static int load_shared(tl *T, const char *key, orm_cache_ref **out)
{
    uint64_t gen = 0;
    T->remote->ops->gen(T->remote, key, &gen);
    int rc = remote_get(T, key, out, NULL);
    if (rc == ORM_OK)
        return ORM_OK;
    char *lkey = orm__redis_lease_key(T->remote, key);
    if (!lkey)
        return orm__error_nomem("cache");
    char token[64];
    snprintf(token, sizeof token, "%ld-%" PRIu64 "-%ld", (long)getpid(), (uint64_t)atomic_fetch_add(&T->token_seq, 1),
             (long)orm__redis_now_ms());
    int64_t deadline = orm__redis_now_ms() + T->o.lease_wait_ms;
    int waited = 0;
    for (;;) {
        if (lease_take(T, lkey, token)) {
            rc = call_loader(T, key, gen, out);
            if (rc != ORM_OK) /* let a waiting process try at once */
                lease_drop(T, lkey, token);
            /* on success the lease stays until it expires: a process that misses in the
             * meantime finds the value in Redis, not a free lease */
            break;
        }
        if (!waited++)
            atomic_fetch_add(&T->lease_waits, 1);
        /* another process loads: wait for its value, or for the lease to go */
        while (orm__redis_now_ms() < deadline) {
            sleep_ms(T->o.lease_poll_ms);
            rc = remote_get(T, key, out, NULL);
            if (rc == ORM_OK || rc != ORM_ENOTFOUND)
                goto out;
            if (!lease_held(T, lkey))
                break;
        }
        if (orm__redis_now_ms() >= deadline) {
            atomic_fetch_add(&T->lease_timeouts, 1);
            rc = call_loader(T, key, gen, out);
            break;
        }
    }
out:
    orm__free(lkey);
    return rc;
}

/* ---- singleflight (per process) ---- */

static flight **bucket(tl *T, const char *key) { return &T->buckets[khash(key) % FLIGHT_BUCKETS]; }

static void flight_put(flight *f)
{
    if (--f->refs)
        return;
    pthread_cond_destroy(&f->cv);
    orm_cache_ref_release(f->val);
    orm__free(f->key);
    orm__free(f);
}

static int load_once(tl *T, const char *key, orm_cache_ref **out)
{
    pthread_mutex_lock(&T->mu);
    flight *f;
    for (f = *bucket(T, key); f && strcmp(f->key, key) != 0; f = f->next) {
    }
    if (f) { /* another thread of this process loads it: wait */
        f->refs++;
        while (!f->done)
            pthread_cond_wait(&f->cv, &T->mu);
        int rc = f->rc;
        if (rc == ORM_OK)
            *out = orm_cache_ref_retain(f->val);
        else
            orm__error_set(rc, "cache", "%s", f->msg);
        flight_put(f);
        pthread_mutex_unlock(&T->mu);
        return rc;
    }
    f = orm__calloc(1, sizeof *f);
    if (!f || !(f->key = orm__strdup(key))) {
        orm__free(f);
        pthread_mutex_unlock(&T->mu);
        return orm__error_nomem("cache");
    }
    pthread_cond_init(&f->cv, NULL);
    f->refs = 1;
    f->next = *bucket(T, key);
    *bucket(T, key) = f;
    pthread_mutex_unlock(&T->mu);

    int rc = load_shared(T, key, out);

    pthread_mutex_lock(&T->mu);
    f->done = 1;
    f->rc = rc;
    f->val = rc == ORM_OK ? orm_cache_ref_retain(*out) : NULL;
    if (rc != ORM_OK)
        snprintf(f->msg, sizeof f->msg, "%s", orm_error_last()->message);
    for (flight **pp = bucket(T, key); *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    pthread_cond_broadcast(&f->cv);
    flight_put(f);
    pthread_mutex_unlock(&T->mu);
    return rc;
}

/* ---- ops ---- */

static int tl_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    tl *T = (tl *)c;
    *out = NULL;
    if (atomic_load_explicit(&T->tracking, memory_order_acquire)) {
        /* a hit is counted by the local cache itself (its stats' hits are the local hits) */
        int rc = T->local->ops->get(T->local, key, out, meta);
        if (rc != ORM_ENOTFOUND)
            return rc;
    } else if (!key || !*key)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_get: empty key");
    int rc = remote_get(T, key, out, meta);
    if (rc != ORM_ENOTFOUND || !T->o.loader)
        return rc;
    if (meta)
        memset(meta, 0, sizeof *meta);
    return load_once(T, key, out);
}

/* After a write to Redis: drop key here too (the invalidation will come, but a get of this
 * process right after the write must not read the old value). */
int orm__two_level_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len)
{
    tl *T = (tl *)c;
    if (atomic_load_explicit(&T->tracking, memory_order_acquire) && orm__cache_is_local(T->local)) {
        int rc = orm__cache_local_get_copy(T->local, key, buf, cap, len);
        if (rc != ORM_ENOTFOUND)
            return rc;
    }
    orm_cache_ref *r;
    int rc = tl_get(c, key, &r, NULL);
    if (rc)
        return rc;
    rc = orm__cache_ref_copy_to(r, key, buf, cap, len);
    orm_cache_ref_release(r);
    return rc;
}

static int after_write(tl *T, const char *key, int rc)
{
    if (key && *key)
        invalidate(T, key);
    return rc;
}

static int tl_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->set(T->remote, key, v, ttl));
}

static int tl_del(orm_cache *c, const char *key)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->del(T->remote, key));
}

static int tl_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                            int *loaded)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->load_or_store(T->remote, key, v, ttl, out, loaded));
}

static int tl_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->load_and_delete(T->remote, key, out));
}

static int tl_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->incr(T->remote, key, delta, ttl, out));
}

static int tl_clear(orm_cache *c)
{
    tl *T = (tl *)c;
    int rc = T->remote->ops->clear(T->remote);
    clear_local(T);
    return rc;
}

static int tl_stats(orm_cache *c, orm_cache_stats *out)
{
    tl *T = (tl *)c;
    orm_cache_stats r;
    int rc = T->local->ops->stats(T->local, out);
    if (rc || (rc = T->remote->ops->stats(T->remote, &r)))
        return rc;
    /* a local miss that Redis answered is a hit of the cache */
    out->hits += atomic_load(&T->remote_hits); /* the local level's hits, and Redis' */
    out->misses = r.misses;
    out->loads = atomic_load(&T->loads);
    out->load_errors = atomic_load(&T->load_errors);
    out->load_time_ns = atomic_load(&T->load_ns);
    return ORM_OK;
}

static int tl_flush(orm_cache *c) { return ORM_OK; }

static int tl_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *ud)
{
    tl *T = (tl *)c;
    return T->remote->ops->subscribe(T->remote, cb, ud);
}

static int64_t tl_now(orm_cache *c) { return orm__redis_now_ms(); }

static int tl_gen(orm_cache *c, const char *key, uint64_t *out)
{
    tl *T = (tl *)c;
    return T->remote->ops->gen(T->remote, key, out);
}

static int tl_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    tl *T = (tl *)c;
    return after_write(T, key, T->remote->ops->set_if_gen(T->remote, key, v, ttl, gen));
}

static int tl_close(orm_cache *c)
{
    tl *T = (tl *)c;
    atomic_store(&T->stop, 1);
    pthread_join(T->thr, NULL);
    int rc = orm_cache_close(T->local);
    int rc2 = orm_cache_close(T->remote);
    for (size_t i = 0; i < INV_LOCKS; i++)
        pthread_mutex_destroy(&T->inv_lock[i]);
    pthread_mutex_destroy(&T->mu);
    orm__free(T->prefix);
    orm__free(T);
    return rc ? rc : rc2;
}

static const orm_cache_ops tl_ops = {
    ORM_CACHE_OPS_VERSION, "two_level", tl_get, tl_set, tl_del, tl_load_or_store, tl_load_and_delete, tl_incr,
    tl_clear, tl_stats, tl_flush, tl_subscribe, tl_now, tl_gen, tl_set_if_gen, tl_close,
};

int orm_cache_two_level_new(orm_cache **out, orm_cache *local, orm_cache *redis,
                            const orm_cache_two_level_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_two_level_new: NULL out");
    *out = NULL;
    orm_cache_two_level_options d = ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
    if (!opts)
        opts = &d;
    if (!local || !local->ops || !redis || redis->ops != &orm__cache_redis_ops)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_two_level_new: needs a local cache and a Redis cache");
    if (opts->version != ORM_CACHE_TWO_LEVEL_OPTIONS_VERSION || opts->local_ttl_ms < 0 || opts->ttl_ms < 0 ||
        opts->lease_ms < 0 || opts->lease_wait_ms < 0 || opts->lease_poll_ms < 0)
        return orm__error_set(ORM_EINVAL, "cache",
                              "orm_cache_two_level_options: version %u expected, and no negative times",
                              ORM_CACHE_TWO_LEVEL_OPTIONS_VERSION);
    tl *T = orm__calloc(1, sizeof *T);
    if (!T)
        return orm__error_nomem("cache");
    T->base.ops = &tl_ops;
    T->local = local;
    T->remote = redis;
    T->o = *opts;
    if (!T->o.local_ttl_ms)
        T->o.local_ttl_ms = 60000;
    if (!T->o.lease_ms)
        T->o.lease_ms = 2000;
    if (!T->o.lease_wait_ms)
        T->o.lease_wait_ms = T->o.lease_ms;
    if (!T->o.lease_poll_ms)
        T->o.lease_poll_ms = 2;
    T->pool = orm__redis_cache_pool(redis);
    T->prefix = orm__strdup(orm__redis_cache_prefix(redis));
    if (!T->prefix) {
        orm__free(T);
        return orm__error_nomem("cache");
    }
    T->plen = strlen(T->prefix);
    pthread_mutex_init(&T->mu, NULL);
    for (size_t i = 0; i < INV_LOCKS; i++)
        pthread_mutex_init(&T->inv_lock[i], NULL);
    if (pthread_create(&T->thr, NULL, track_main, T) != 0) {
        for (size_t i = 0; i < INV_LOCKS; i++)
            pthread_mutex_destroy(&T->inv_lock[i]);
        pthread_mutex_destroy(&T->mu);
        orm__free(T->prefix);
        orm__free(T);
        return orm__error_set(ORM_ERROR, "cache", "orm_cache_two_level_new: cannot start the invalidation thread");
    }
    *out = &T->base;
    return ORM_OK;
}

int orm_cache_two_level_stats_get(orm_cache *c, orm_cache_two_level_stats *out)
{
    if (!c || c->ops != &tl_ops || !out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_two_level_stats_get: needs a two-level cache");
    tl *T = (tl *)c;
    orm_cache_stats ls;
    int rc = T->local->ops->stats(T->local, &ls);
    if (rc)
        return rc;
    /* the local level is read only here: its hits are this cache's local hits, and its
     * misses are the local misses that went on to Redis */
    out->local_hits = ls.hits;
    out->remote_hits = atomic_load(&T->remote_hits);
    out->loads = atomic_load(&T->loads);
    out->lease_waits = atomic_load(&T->lease_waits);
    out->lease_timeouts = atomic_load(&T->lease_timeouts);
    out->invalidations = atomic_load(&T->invalidations);
    out->local_clears = atomic_load(&T->local_clears);
    out->tracking = atomic_load(&T->tracking);
    return ORM_OK;
}
