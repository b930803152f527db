/* liborm — cache patterns: decorators over any orm_cache (read-through with singleflight,
 * refresh-ahead, negative caching, TTL jitter, a bloom filter in front of the loader;
 * write-through; write-back), and the task pool the background work runs on.
 *
 *     orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
 *     lo.loader = load_user;            // fills misses, once per key however many wait
 *     lo.userdata = db;
 *     lo.ttl_ms = 60000;
 *     orm_cache *users;
 *     orm_cache_loading_new(&users, local, &lo);   // takes local: closing users closes it
 *     orm_cache_get(users, "users:42", &ref);       // hit, or one load shared by all
 *
 * Ownership: a decorator takes its inner cache; orm_cache_close on the decorator closes the
 * inner one too. A task pool passed in options is borrowed and must outlive the decorator.
 *
 * Thread safety: every decorator call may be made from any number of threads, as for
 * orm_cache. Callbacks (loader, store, flush) run on the calling thread or a pool worker, with
 * no cache lock held; they may be called concurrently for different keys.
 */
#ifndef ORM_CACHE_PATTERNS_H
#define ORM_CACHE_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "orm/cache.h"
#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- task pool ---- */

typedef struct orm_task_pool orm_task_pool;

/* A task: cancelled is 1 when the task will not run (its deadline passed before a worker
 * took it, or the pool closed without draining); the callback must still free arg. */
typedef void (*orm_task_cb)(void *arg, int cancelled);

/* N workers and a queue of at most queue_cap waiting tasks. */
ORM_API int orm_task_pool_new(orm_task_pool **out, unsigned workers, size_t queue_cap);
/* Queue a task. deadline_ms (on CLOCK_MONOTONIC, ms, as orm_task_pool_now; 0: none): the
 * latest time a worker may start it, else it is called cancelled. ORM_EBUSY when the queue is
 * full, ORM_ECANCELED after close began: then fn is never called. */
ORM_API int orm_task_pool_submit(orm_task_pool *p, orm_task_cb fn, void *arg, int64_t deadline_ms);
/* Monotonic milliseconds, the pool's clock for deadlines. */
ORM_API int64_t orm_task_pool_now(void);
/* Stop: drain 1 runs every queued task, drain 0 calls them cancelled; then joins the
 * workers and frees the pool. Running tasks always finish. NULL is a no-op. */
ORM_API void orm_task_pool_close(orm_task_pool *p, int drain);

/* ---- bloom filter ---- */

typedef struct orm_bloom orm_bloom;

/* Sized for expected keys at false-positive rate fp (0 < fp < 1): m = -n ln fp / ln^2 2 bits
 * (9.6 bits a key at 1%), k = m/n ln 2 hashes. */
ORM_API int orm_bloom_new(orm_bloom **out, size_t expected, double fp);
/* Thread-safe (atomic bit sets). */
ORM_API void orm_bloom_add(orm_bloom *b, const char *key);
/* 0: key was certainly never added; 1: it may have been. */
ORM_API int orm_bloom_maybe(const orm_bloom *b, const char *key);
ORM_API size_t orm_bloom_bits(const orm_bloom *b);
ORM_API void orm_bloom_free(orm_bloom *b);

/* ---- read-through (singleflight), refresh-ahead, negative caching, jitter, bloom ---- */

/* Load key: on ORM_OK *out is a new value (the decorator takes the reference) and *ttl_ms
 * may be changed from the default it holds on entry; ORM_ENOTFOUND when key has no value;
 * any other error is passed to every caller waiting on this load. A loader may use the cache,
 * but must not get its own key through this decorator (it would wait for itself). */
typedef int (*orm_cache_loader_cb)(const char *key, orm_cache_ref **out, int64_t *ttl_ms, void *userdata);

typedef enum orm_cache_load_mode {
    ORM_CACHE_LOAD_SYNC = 0,       /* a miss waits for the load (shared by every caller) */
    ORM_CACHE_LOAD_BACKGROUND = 1  /* a miss returns ORM_ENOTFOUND and a stale entry its old
                                      value at once; the load runs on the task pool */
} orm_cache_load_mode;

#define ORM_CACHE_LOADING_OPTIONS_VERSION 1u

typedef struct orm_cache_loading_options {
    unsigned version;              /* ORM_CACHE_LOADING_OPTIONS_VERSION */
    orm_cache_loader_cb loader;    /* required */
    void *userdata;
    orm_cache_load_mode mode;
    int64_t ttl_ms;                /* TTL of loaded values; 0: none */
    int64_t stale_ms;              /* BACKGROUND: how long past its TTL an entry is kept and
                                      served stale while it reloads */
    int64_t wait_timeout_ms;       /* longest a caller waits for another's load; <=0: forever.
                                      A waiter that times out gets ORM_ETIMEOUT and never
                                      starts a second load. */
    double refresh_ahead;          /* reload in the background when a hit finds less than
                                      this fraction of its TTL left (0: off; e.g. 0.2) */
    double xfetch_beta;            /* > 0: also reload earlier at random, XFetch-style
                                      (now - beta * load_time * ln(rand) >= expiry) */
    int64_t negative_ttl_ms;       /* cache ORM_ENOTFOUND for this long (0: off) */
    double jitter;                 /* TTLs stored are ttl * (1 +- jitter), uniformly */
    uint64_t jitter_seed;          /* 0: a fixed default */
    orm_bloom *bloom;              /* optional: keys it rules out are ORM_ENOTFOUND without a
                                      load (borrowed; add every key that exists to it) */
    orm_task_pool *pool;           /* required for BACKGROUND and refresh-ahead (borrowed) */
} orm_cache_loading_options;

#define ORM_CACHE_LOADING_OPTIONS_INIT \
    { ORM_CACHE_LOADING_OPTIONS_VERSION, NULL, NULL, ORM_CACHE_LOAD_SYNC, 0, 0, 0, 0, 0, 0, 0.1, 0, NULL, NULL }

/* A read-through decorator over inner (taken). Every load of a key runs once however many
 * callers miss on it, checks the cache again first, and does not install its value when the
 * key was written (set/delete/...) while it ran (orm_cache_set_if_gen). A failing loader fails
 * every waiter with its error and caches nothing. Stats add loads, load_errors and
 * load_time_ns to the inner cache's. On failure *out is NULL and inner is not taken. */
ORM_API int orm_cache_loading_new(orm_cache **out, orm_cache *inner, const orm_cache_loading_options *opts);

/* ---- write-through ---- */

/* Write key's new value (NULL: key was deleted) to the store of record. */
typedef int (*orm_cache_store_cb)(const char *key, orm_cache_ref *value, void *userdata);

/* Sets and deletes run store first; the cache changes only when it succeeded (else its error
 * is returned and the cache is unchanged). A value the store took but the cache refuses (over
 * its byte limit) returns the cache's error and leaves the key uncached. Writes of one key are serialized so the cache and
 * the store see them in the same order. incr/decr and clear are ORM_EUNSUPPORTED. */
ORM_API int orm_cache_write_through_new(orm_cache **out, orm_cache *inner, orm_cache_store_cb store, void *userdata);

/* ---- write-back ---- */

typedef struct orm_cache_wb_item {
    const char *key;
    orm_cache_ref *value; /* NULL: the key was deleted */
} orm_cache_wb_item;

/* Write a batch to the store of record: ORM_OK when all of it is written, else an error and
 * the whole batch stays dirty and is retried later. Runs with the decorator's flush lock held:
 * it must not write through the decorator. The items are borrowed for the call. */
typedef int (*orm_cache_flush_cb)(const orm_cache_wb_item *items, size_t n, void *userdata);

#define ORM_CACHE_WRITE_BACK_OPTIONS_VERSION 1u

typedef struct orm_cache_write_back_options {
    unsigned version;          /* ORM_CACHE_WRITE_BACK_OPTIONS_VERSION */
    orm_cache_flush_cb flush;  /* required */
    void *userdata;
    size_t batch;              /* entries per flush call; 0: 100 */
    int64_t interval_ms;       /* a thread flushes every interval_ms; 0: no thread */
} orm_cache_write_back_options;

#define ORM_CACHE_WRITE_BACK_OPTIONS_INIT { ORM_CACHE_WRITE_BACK_OPTIONS_VERSION, NULL, NULL, 100, 0 }

/* Sets and deletes go to the cache at once and are marked dirty; dirty entries are written by
 * flush in batches: when the inner cache evicts or expires one (before that eviction returns:
 * until it is written it stays readable through this decorator), on orm_cache_flush, every
 * interval_ms, and on close. A failed flush keeps its entries dirty for the next one. Close
 * flushes everything; what still cannot be written makes it return the flush error, with
 * the count in the message. incr/decr and clear are ORM_EUNSUPPORTED. */
ORM_API int orm_cache_write_back_new(orm_cache **out, orm_cache *inner, const orm_cache_write_back_options *opts);
/* How many keys are dirty now. */
ORM_API size_t orm_cache_write_back_dirty(orm_cache *c);

#ifdef __cplusplus
}
#endif
#endif
