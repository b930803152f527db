/* liborm — the Redis cache backend, and a two-level cache (a local cache in front of Redis)
 * shared by every process of a service. Built when liborm is configured with ORM_WITH_REDIS
 * (the default; needs hiredis).
 *
 *     orm_cache_redis_options ro = ORM_CACHE_REDIS_OPTIONS_INIT;
 *     ro.url = "redis://127.0.0.1:6379/0";
 *     ro.prefix = "shop:";                    // every key lives under it
 *     orm_cache *remote, *local, *shared;
 *     orm_cache_redis_new(&remote, &ro);
 *     orm_cache_local_new(&local, NULL);
 *     orm_cache_two_level_options to = ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
 *     to.loader = load_user;                  // optional read-through: one load per key for
 *     to.userdata = db;                       // all processes (a lease in Redis)
 *     to.ttl_ms = 60000;
 *     orm_cache_two_level_new(&shared, local, remote, &to);   // takes both
 *     orm_cache_get(shared, "users:42", &ref);
 *
 * Redis is never a cause of failure: when it is down, slow (past command_timeout_ms) or
 * restarting, a get is a miss, a write is dropped (ORM_OK), both counted; the state change is
 * logged once, and a background thread reconnects with exponential backoff. incr/decr, which
 * cannot be faked, fail with ORM_ECONN then. A delete, overwrite or clear that could not reach
 * Redis is remembered (up to replay_keys_max keys, then as a clear of the prefix) and replayed
 * when Redis answers again, before anything is read from it: a server that kept its data
 * through the outage (a partition, a pause) does not serve the value those writes replaced.
 *
 * Values: bytes are stored after a one-byte tag and the TTL they were stored with (9 bytes);
 * counters as Redis integers (so INCRBY works on them); typed objects through their type's
 * encode, after the tag, TTL and the type's fingerprint. A get decodes an object only through
 * a type registered with orm_cache_redis_add_type whose fingerprint matches; any other entry
 * is a miss, counted in stale_reads.
 *
 * Thread safety: as orm_cache; orm_cache_redis_add_type may be called at any time.
 */
#ifndef ORM_CACHE_REDIS_H
#define ORM_CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A line saying the connection to Redis changed state (down, up again); NULL: stderr. */
typedef void (*orm_cache_log_cb)(const char *line, void *userdata);

#define ORM_CACHE_REDIS_OPTIONS_VERSION 2u /* 1: without replay_keys_max (still accepted) */

typedef struct orm_cache_redis_options {
    unsigned version;           /* ORM_CACHE_REDIS_OPTIONS_VERSION */
    /* redis://[[user]:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N]
     * (NULL: redis://127.0.0.1:6379/0) */
    const char *url;
    const char *prefix;         /* namespace of every key; NULL: "orm:" */
    int64_t connect_timeout_ms; /* 0: 200 */
    int64_t command_timeout_ms; /* a slower reply counts as Redis down; 0: 100 */
    unsigned pool_size;         /* connections kept; 0: 4 */
    int64_t backoff_min_ms;     /* first wait before reconnecting; 0: 50 */
    int64_t backoff_max_ms;     /* the wait doubles up to this; 0: 2000 */
    orm_cache_log_cb log;       /* state changes; NULL: a line on stderr */
    void *log_userdata;
    /* Version 2. Deletes and overwrites that cannot reach Redis (down, slow) are remembered
     * and replayed (the keys deleted) when it answers again, before anything is read from it;
     * past this many distinct keys the whole prefix is cleared instead. 0: 4096 */
    unsigned replay_keys_max;
} orm_cache_redis_options;

#define ORM_CACHE_REDIS_OPTIONS_INIT { ORM_CACHE_REDIS_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, 0 }

/* A Redis cache. It connects lazily: a server that is not up yet is not an error (the cache
 * is bypassed until it is). ORM_EINVAL for a bad URL or options. */
ORM_API int orm_cache_redis_new(orm_cache **out, const orm_cache_redis_options *opts);

/* Let gets decode objects of type (borrowed: it must outlive the cache). The type needs
 * obj_size, copy, fingerprint, encode and decode. c may be a Redis cache or a two-level cache
 * (passed to its Redis level). At most 256 types. */
ORM_API int orm_cache_redis_add_type(orm_cache *c, const orm_cache_type *type);

typedef struct orm_cache_redis_stats {
    uint64_t bypassed;     /* operations answered without Redis (down, slow, restarting) */
    uint64_t errors;       /* connection or protocol failures seen */
    uint64_t down_events;  /* times the cache went from up to down */
    uint64_t reconnects;   /* connections opened */
    uint64_t stale_reads;  /* entries read as a miss: unknown fingerprint or undecodable */
    uint64_t script_loads; /* Lua scripts (re)loaded (at connect, after NOSCRIPT) */
    int up;                /* 1 while Redis answers */
    /* Drops remembered while Redis was unreachable, replayed when it answers again: */
    uint64_t replays;       /* replays done (each: a clear if remembered, then the keys) */
    uint64_t replayed_keys; /* keys deleted by them */
    uint64_t replay_clears; /* of which cleared the whole prefix (past replay_keys_max, a clear
                               that failed, or no memory to remember a key) */
    int replay_pending;     /* 1 while drops wait for Redis: the cache is bypassed meanwhile */
} orm_cache_redis_stats;

/* c: a Redis cache or a two-level cache (its Redis level). The struct grew in version 2 of the
 * options (the replay fields): a caller compiled against the older header must be rebuilt. */
ORM_API int orm_cache_redis_stats_get(orm_cache *c, orm_cache_redis_stats *out);

/* ---- two levels ---- */

#define ORM_CACHE_TWO_LEVEL_OPTIONS_VERSION 1u

typedef struct orm_cache_two_level_options {
    unsigned version;            /* ORM_CACHE_TWO_LEVEL_OPTIONS_VERSION */
    int64_t local_ttl_ms;        /* longest a value stays in the local level; 0: 60000 */
    /* Optional read-through: a miss in both levels loads once per process (singleflight)
     * and once across processes (a lease in Redis), and stores the value in Redis. */
    orm_cache_loader_cb loader;
    void *userdata;
    int64_t ttl_ms;              /* TTL of loaded values in Redis; 0: none */
    int64_t lease_ms;            /* how long a lease holds other processes off; 0: 2000 */
    int64_t lease_wait_ms;       /* longest a process waits for another's load before it
                                    loads itself; 0: lease_ms */
    int64_t lease_poll_ms;       /* how often a waiting process looks for the value; 0: 2 */
} orm_cache_two_level_options;

#define ORM_CACHE_TWO_LEVEL_OPTIONS_INIT { ORM_CACHE_TWO_LEVEL_OPTIONS_VERSION, 0, NULL, NULL, 0, 0, 0, 0 }

/* A local cache in front of a Redis cache (both taken: closing the two-level cache closes
 * them). A hit in local costs what the local cache costs; a miss asks Redis, then the loader.
 * Every write goes to Redis and drops the key from local. Other processes' writes reach the
 * local level through Redis' server-assisted client-side caching (CLIENT TRACKING BCAST on
 * the prefix, redirected to a connection subscribed to __redis__:invalidate); while that
 * connection is down, the local level is cleared and bypassed. On failure *out is NULL and
 * neither cache is taken. */
ORM_API int orm_cache_two_level_new(orm_cache **out, orm_cache *local, orm_cache *redis,
                                    const orm_cache_two_level_options *opts);

typedef struct orm_cache_two_level_stats {
    uint64_t local_hits;         /* gets answered by the local level (its own hit count) */
    uint64_t remote_hits;        /* by Redis */
    uint64_t loads;              /* loader calls in this process */
    uint64_t lease_waits;        /* misses that waited for another process's load */
    uint64_t lease_timeouts;     /* of which gave up and loaded themselves */
    uint64_t invalidations;      /* keys Redis said changed (any client's writes, this
                                    process's too, expiries, evictions) */
    uint64_t local_clears;       /* times the local level was cleared (tracking lost, flush) */
    int tracking;                /* 1 while invalidations arrive (the local level is used) */
} orm_cache_two_level_stats;

ORM_API int orm_cache_two_level_stats_get(orm_cache *c, orm_cache_two_level_stats *out);

#ifdef __cplusplus
}
#endif
#endif
