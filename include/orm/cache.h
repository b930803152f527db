/* liborm — the cache: an interface (a vtable), immutable reference-counted values, and the
 * local in-memory backend.
 *
 *     orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
 *     o.max_entries = 100000;
 *     orm_cache *c;
 *     if (orm_cache_local_new(&c, &o) != ORM_OK) ...
 *     orm_cache_set_obj(c, "users:42", &user_cache_type, &user, 60000);  // deep copy, 60 s
 *     orm_cache_ref *r;
 *     if (orm_cache_get(c, "users:42", &r) == ORM_OK) {
 *         orm_cache_ref_copy(r, &out_user);  // deep copy out (or read orm_cache_ref_data)
 *         orm_cache_ref_release(r);
 *     }
 *     orm_cache_close(c);
 *
 * Values. A value is an orm_cache_ref: immutable once made, reference counted, shared by the
 * cache and every reader holding it. It holds bytes, an int64 counter (incr/decr), or a typed
 * object (a C struct) deep-copied with the copy/clear/size callbacks of an orm_cache_type, so
 * the cache owns its copy and knows its exact size. A reader never sees a value change under
 * it: set makes a new value, and the old one lives until its last holder releases it. The
 * local cache is such a holder a little past a removal: a value built into its entry (set_bytes,
 * set_obj) is freed, and its type's clear called, once every thread's read buffer has moved
 * past the entry, which a later write notices (at most 1,024 removed entries wait so; close
 * frees the rest). Listeners are called at the removal itself.
 *
 * Keys are NUL-terminated strings of 1 to 65535 bytes, e.g. "users:42".
 *
 * Time is in milliseconds from the cache's clock (monotonic; injectable for tests). A TTL of
 * 0 means no expiry. An expired entry is never returned.
 *
 * Ownership: orm_cache_*_new give the caller a cache to close with orm_cache_close (which
 * frees it). A ref returned through an `out` argument is the caller's: release it with
 * orm_cache_ref_release. Refs passed in are borrowed: the cache retains what it keeps.
 *
 * Thread safety: every orm_cache call may be made from any number of threads at once, except
 * orm_cache_subscribe (call it before the cache is shared) and orm_cache_close (once, when no
 * other thread uses the cache). Refs may be retained, read and released from any thread.
 * Listeners run on the thread that caused the event, outside every cache lock, so they may
 * call the cache.
 */
#ifndef ORM_CACHE_H
#define ORM_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "orm/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orm_cache orm_cache;
typedef struct orm_cache_ref orm_cache_ref;

/* ---- values ---- */

/* How the cache copies, frees and weighs a typed object (a model struct). */
typedef struct orm_cache_type {
    size_t obj_size; /* bytes of the struct; the cache allocates this much for its copy */
    /* Deep-copy src into dst (obj_size bytes, zeroed). On failure return a negative ORM_E
     * code and leave dst owning nothing. */
    int (*copy)(void *dst, const void *src, void *userdata);
    /* Free what obj owns (not obj itself). May be NULL when the struct owns nothing. */
    void (*clear)(void *obj, void *userdata);
    /* The deep size in bytes, obj_size included. NULL: obj_size. Must not change for an
     * object that is not modified. */
    size_t (*size)(const void *obj, void *userdata);
    void *userdata;
    /* Optional, for caches that keep values outside the process (the Redis backend): a
     * compact encoding of the object and a fingerprint of its layout. Leave them NULL (as
     * older initializers do) for a type that only a local cache holds. */
    /* A number that changes whenever the encoding would: an entry written under another
     * fingerprint is never decoded (a Redis get reads it as a miss, and counts it). */
    uint64_t (*fingerprint)(void *userdata);
    /* Encode obj into buf (cap bytes); *len is the size the encoding takes, set also when
     * cap is too small (then call again with a buffer of *len bytes). */
    int (*encode)(const void *obj, unsigned char *buf, size_t cap, size_t *len, void *userdata);
    /* Decode len bytes into dst (obj_size bytes, zeroed). On failure (ORM_EPARSE for bytes
     * that are not an encoding of this type) return a negative ORM_E code, dst owning
     * nothing. */
    int (*decode)(void *dst, const unsigned char *data, size_t len, void *userdata);
} orm_cache_type;

/* Fill *type from a model descriptor: copy, clear and size through orm_model_copy/_clear/
 * _size, and a versioned binary codec (encode/decode) with a fingerprint of the descriptor
 * (its name, table, fields, their types, offsets and flags, struct size, and the generated
 * DDL fingerprint when the model has one), so a changed model never decodes an entry its
 * predecessor wrote. The model must outlive the type. ORM_EINVAL for an invalid model. */
struct orm_model;
ORM_API int orm_cache_type_from_model(orm_cache_type *type, const struct orm_model *model);
/* The fingerprint orm_cache_type_from_model gives the model's type. */
ORM_API uint64_t orm_cache_model_fingerprint(const struct orm_model *model);

/* A new value holding a deep copy of obj (type must outlive the value). */
ORM_API int orm_cache_ref_new_obj(orm_cache_ref **out, const orm_cache_type *type, const void *obj);
/* A new value holding a copy of len bytes (len may be 0). */
ORM_API int orm_cache_ref_new_bytes(orm_cache_ref **out, const void *data, size_t len);
/* A new counter value. */
ORM_API int orm_cache_ref_new_int(orm_cache_ref **out, int64_t v);
/* Take one more reference; returns r. NULL-safe. */
ORM_API orm_cache_ref *orm_cache_ref_retain(orm_cache_ref *r);
/* Drop one reference; the last frees the value. NULL-safe. */
ORM_API void orm_cache_ref_release(orm_cache_ref *r);
/* The bytes, the object, or the int64_t counter; valid while r is held. Never to be
 * modified. */
ORM_API const void *orm_cache_ref_data(const orm_cache_ref *r);
/* The value's size in bytes: length of bytes, the type's deep size, or 8 for a counter. */
ORM_API size_t orm_cache_ref_size(const orm_cache_ref *r);
/* The object's type, or NULL for bytes and counters. */
ORM_API const orm_cache_type *orm_cache_ref_type(const orm_cache_ref *r);
/* 1 when r is a counter (made by orm_cache_ref_new_int or incr), its value in *out. */
ORM_API int orm_cache_ref_int(const orm_cache_ref *r, int64_t *out);
/* Copy the value out: a typed object is deep-copied into dst (obj_size bytes, which this
 * zeroes first; the caller then owns what dst points to), bytes and counters are memcpy'd
 * (orm_cache_ref_size bytes). */
ORM_API int orm_cache_ref_copy(const orm_cache_ref *r, void *dst);

/* ---- events, stats ---- */

typedef enum orm_cache_reason {
    ORM_CACHE_EXPIRED = 0,  /* its TTL passed (seen by a get or the background sweep) */
    ORM_CACHE_EVICTED = 1,  /* removed by the policy to respect a limit */
    ORM_CACHE_DELETED = 2,  /* delete or load-and-delete */
    ORM_CACHE_REPLACED = 3, /* set, incr or decr over a live value (new_value is given) */
    ORM_CACHE_CLEARED = 4,  /* clear */
    ORM_CACHE_REASON_COUNT
} orm_cache_reason;

/* Called once per event, on the thread that caused it, outside the cache's locks. old and
 * new_value are borrowed for the call (retain to keep); new_value is NULL except for
 * ORM_CACHE_REPLACED. */
typedef void (*orm_cache_listener_cb)(const char *key, orm_cache_ref *old, orm_cache_ref *new_value,
                                      orm_cache_reason reason, void *userdata);

typedef struct orm_cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t loads;           /* loader calls (read-through decorators) */
    uint64_t load_errors;     /* of which failed (not-found excluded) */
    uint64_t load_time_ns;    /* total time spent in loaders */
    uint64_t removals[ORM_CACHE_REASON_COUNT]; /* events by reason (evictions: [ORM_CACHE_EVICTED]) */
    uint64_t count;           /* entries now */
    uint64_t bytes;           /* bytes now: keys, values and per-entry overhead */
} orm_cache_stats;

/* What a get can tell about the entry besides its value. */
typedef struct orm_cache_meta {
    int64_t expires_ms; /* absolute, on the cache's clock; 0: never */
    int64_t ttl_ms;     /* the TTL it was stored with; 0: none */
    int64_t now_ms;     /* the clock when it was read (0 when it was not needed) */
} orm_cache_meta;

/* The cache's clock: monotonic milliseconds. */
typedef int64_t (*orm_cache_clock_cb)(void *userdata);

/* ---- the interface, for backend and decorator authors ---- */

#define ORM_CACHE_OPS_VERSION 1u

/* Each op behaves as the orm_cache_* function of the same name documented below. */
typedef struct orm_cache_ops {
    unsigned version; /* ORM_CACHE_OPS_VERSION */
    const char *name; /* "local", "singleflight", ... */
    int (*get)(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta);
    int (*set)(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms);
    int (*del)(orm_cache *c, const char *key);
    int (*load_or_store)(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms,
                         orm_cache_ref **out, int *loaded);
    int (*load_and_delete)(orm_cache *c, const char *key, orm_cache_ref **out);
    int (*incr)(orm_cache *c, const char *key, int64_t delta, int64_t ttl_ms, int64_t *out);
    int (*clear)(orm_cache *c);
    int (*stats)(orm_cache *c, orm_cache_stats *out);
    int (*flush)(orm_cache *c);
    int (*subscribe)(orm_cache *c, orm_cache_listener_cb cb, void *userdata);
    int64_t (*now)(orm_cache *c);
    int (*gen)(orm_cache *c, const char *key, uint64_t *out);
    int (*set_if_gen)(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms, uint64_t gen);
    int (*close)(orm_cache *c); /* frees c */
} orm_cache_ops;

/* Every cache starts with this; a backend embeds it as its first member. */
struct orm_cache {
    const orm_cache_ops *ops;
};

/* ---- operations (any backend or decorator) ---- */

/* Look key up. ORM_OK with *out a new reference; ORM_ENOTFOUND (and *out NULL) on a miss or
 * an expired entry. meta may be NULL. */
ORM_API int orm_cache_get(orm_cache *c, const char *key, orm_cache_ref **out);
ORM_API int orm_cache_get_meta(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta);
/* Look key up and copy its value into buf, which holds cap bytes, as orm_cache_get followed
 * by orm_cache_ref_copy would: bytes and counters are memcpy'd, a typed object is deep-copied
 * (the caller then owns what buf points to). *len (may be NULL) is the size the copy takes
 * (the length, 8 for a counter, the type's obj_size), set also when buf is too small, which
 * is ORM_EINVAL with nothing copied (buf NULL and cap 0 ask only for the size). ORM_ENOTFOUND
 * on a miss. On a local cache a bytes or counter value is copied under the shard's read lock,
 * so the hit takes no reference: the value's count is a line every reader of a hot key
 * writes, and without it threads reading the same keys write nothing another reads. For
 * small values this is the fastest read; an object's copy callback runs outside every lock. */
ORM_API int orm_cache_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len);
/* Store value under key (retained, not copied), replacing any old one. ttl_ms 0: no expiry.
 * ORM_EINVAL for a bad key, a negative TTL, or a value larger than the byte limit. The new
 * entry may be evicted at once when the policy judges it colder than what is there. */
ORM_API int orm_cache_set(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms);
/* set with a fresh copy of bytes / of a typed object. */
ORM_API int orm_cache_set_bytes(orm_cache *c, const char *key, const void *data, size_t len, int64_t ttl_ms);
ORM_API int orm_cache_set_obj(orm_cache *c, const char *key, const orm_cache_type *type,
                              const void *obj, int64_t ttl_ms);
/* Remove key. ORM_ENOTFOUND when there was none. */
ORM_API int orm_cache_delete(orm_cache *c, const char *key);
/* Atomically: when key holds a live value, *out is it and *loaded 1; else value is stored,
 * *out is value (a new reference) and *loaded 0. loaded may be NULL. */
ORM_API int orm_cache_load_or_store(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms,
                                    orm_cache_ref **out, int *loaded);
/* Atomically remove key and give its value. ORM_ENOTFOUND when there was none. */
ORM_API int orm_cache_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out);
/* Atomically add delta to the counter at key (a missing key starts at 0 and is stored with
 * ttl_ms; an existing one keeps its expiry). *out (may be NULL) is the new value. ORM_EINVAL
 * when key holds a value that is not a counter. */
ORM_API int orm_cache_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl_ms, int64_t *out);
ORM_API int orm_cache_decr(orm_cache *c, const char *key, int64_t delta, int64_t ttl_ms, int64_t *out);
/* Remove every entry (listeners see ORM_CACHE_CLEARED). */
ORM_API int orm_cache_clear(orm_cache *c);
ORM_API int orm_cache_stats_get(orm_cache *c, orm_cache_stats *out);
/* Write pending work out (write-back decorators); ORM_OK for caches that have none. */
ORM_API int orm_cache_flush(orm_cache *c);
/* Add a listener (at most 8 per cache). Not thread-safe: call before sharing the cache.
 * Decorators pass it to the cache they wrap. */
ORM_API int orm_cache_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *userdata);
/* The cache's clock, in milliseconds. */
ORM_API int64_t orm_cache_now(orm_cache *c);
/* Invalidation guard for loaders (a per-key generation): *out is a number that every write
 * of key (set, delete, incr, clear, ...) changes; set_if_gen stores value only when it has not
 * changed since, atomically, else ORM_EBUSY. A load that began before a write so never
 * installs what it read before that write. Distinct keys may share a generation (a false
 * ORM_EBUSY only skips caching one load). A generation read is never 0: 0 is what a cache
 * that could not read it gives (Redis unreachable: still ORM_OK, as every Redis call is), and
 * set_if_gen against 0 never stores (ORM_EBUSY). So 0 must not be taken as equal to another
 * 0: two reads that both failed say nothing about a write in between. */
ORM_API int orm_cache_gen(orm_cache *c, const char *key, uint64_t *out);
ORM_API int orm_cache_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *value, int64_t ttl_ms, uint64_t gen);
/* Stop background work, flush (write-back), free the cache and what it holds. NULL is a
 * no-op. ORM_OK, or the error of what could not be flushed (the cache is freed anyway).
 * Listeners are not called for the entries freed by close. */
ORM_API int orm_cache_close(orm_cache *c);

/* ---- the local backend ---- */

typedef enum orm_cache_policy {
    ORM_CACHE_TINYLFU = 0, /* W-TinyLFU with an adaptive window (the default) */
    ORM_CACHE_LRU = 1
} orm_cache_policy;

#define ORM_CACHE_LOCAL_OPTIONS_VERSION 1u

typedef struct orm_cache_local_options {
    unsigned version;            /* ORM_CACHE_LOCAL_OPTIONS_VERSION */
    size_t max_entries;          /* 0: no count limit */
    size_t max_bytes;            /* 0: no byte limit (keys, values and overhead counted) */
    orm_cache_policy policy;     /* which entries go when a limit is reached */
    unsigned shards;             /* hash-table shards, a power of two; 0: 4 x CPUs (8..64) */
    int64_t tick_ms;             /* resolution of the expiry timer wheel; 0: 1000 */
    int background_sweep;        /* 1: a thread sweeps expired entries every tick_ms */
    unsigned sweep_max_entries;  /* bound on entries examined per sweep; 0: 1024 */
    int64_t sweep_max_us;        /* bound on time per sweep; 0: 1000 */
    orm_cache_clock_cb clock;    /* NULL: CLOCK_MONOTONIC */
    void *clock_userdata;
    orm_cache_listener_cb listener; /* may be NULL; more with orm_cache_subscribe */
    void *listener_userdata;
} orm_cache_local_options;

#define ORM_CACHE_LOCAL_OPTIONS_INIT                                                   \
    { ORM_CACHE_LOCAL_OPTIONS_VERSION, 0, 0, ORM_CACHE_TINYLFU, 0, 0, 1, 0, 0, NULL, \
      NULL, NULL, NULL }

ORM_API int orm_cache_local_options_init(orm_cache_local_options *opts, unsigned version);

/* A new local cache. opts NULL: defaults (unbounded). On failure *out is NULL. */
ORM_API int orm_cache_local_new(orm_cache **out, const orm_cache_local_options *opts);

/* Run one bounded sweep of the timer wheel now (what the background thread does each tick);
 * *expired (may be NULL) is how many entries it removed. ORM_EINVAL for a cache that is not
 * local. */
ORM_API int orm_cache_local_sweep(orm_cache *c, size_t *expired);

/* Bytes the local cache spends per entry besides its key and value (and charges against
 * max_bytes): the entry record (72), its share of the hash table at the load the table is
 * sized for (12) and the value header (16). W-TinyLFU adds at most 12 bytes per unit of
 * capacity for its sketch and ghosts, and a count-limited cache at most 12 KB for its LRU
 * shadow (16 bytes per unit of capacity at most below 1,024), not charged per entry. */
ORM_API size_t orm_cache_local_overhead(void);

#ifdef __cplusplus
}
#endif
#endif
