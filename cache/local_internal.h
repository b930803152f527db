/* liborm internal — what the local cache's files share (see local.c for the whole picture).
 *
 * The local backend is split by job, each file keeping its own part true:
 *   local.c          the operations (get, set, load-or-store, incr, delete, clear, stats) and
 *                    the eviction that keeps the limits;
 *   local_stripes.c  the reader lock spread over per-thread stripes, the stripes' read buffers
 *                    drained into the policy, and a thread's exit giving its stripes back;
 *   local_wheel.c    the timer wheel and its bounded sweep (and the sweep thread);
 *   local_free.c     removal, notification and deferred frees (the limbo);
 *   local_new.c      making and closing a cache.
 * This header holds the structs, the constants, and the functions a hit runs, as static inline
 * functions, so the hit path compiles to what it did when the backend was one file.
 */
#ifndef ORM_CACHE_LOCAL_INTERNAL_H
#define ORM_CACHE_LOCAL_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cache/cache_internal.h"
#include "cache/ctable.h"
#include "orm/error_internal.h"

#define GEN_STRIPES 16
#define RING 64 /* buffered reads per stripe; each drain moves policy lines between CPUs, so fewer drains let two threads scale (W6 Zipf: 1.1-1.9x with 16, about 2x with 64) */
#define WHEEL_SLOTS 512
#define MAX_LISTENERS 8
#define OVERHEAD (sizeof(orm__centry) + ORM__CTABLE_SHARE + ORM__CACHE_REF_HEADER)

/* A part of the key space with its own table and lock. Hits only read it: its reader counts
 * live in the stripes, so two threads reading one shard do not pass a cache line back and
 * forth. */
typedef struct shard {
    _Alignas(64) atomic_uint writer; /* 1 while a writer holds or waits for the shard */
    uint32_t index;
    orm__ctable tab;
    uint64_t gens[GEN_STRIPES]; /* bumped by every write of a key of the stripe; under lock */
} shard;

/* What one thread writes on every hit, in lines of its own (as Caffeine stripes its read
 * buffers by thread): its read buffer, its hit and miss counts, and its reader count of every
 * shard. Threads are numbered in the order they first use a cache (any cache). The first
 * half of the stripes can each be owned by one thread, the first thread numbered to it that
 * hits; the owner alone writes it, so its counts need no locked instruction but the one that
 * fences the shard lock (a locked add costs some 5 ns here, and a hit made five). A thread
 * whose stripe another owns uses a shared stripe of the second half, with atomic
 * read-modify-writes. A thread gives its stripes back when it exits (stripe_release_all). */
typedef struct stripe {
    _Alignas(64) atomic_ullong ring_w; /* reads buffered so far (hits, when tracking) */
    atomic_ullong hits, misses;
    atomic_uint owner;                 /* the owning thread's number; 0: none. Shared: unused */
    uint32_t index;                    /* its place among the cache's stripes */
    _Atomic(orm__centry *) ring[RING];
    atomic_uint readers[];             /* per shard: this stripe's threads inside it */
} stripe;

/* ---- shard locks ----
 * A reader-writer lock spread over the stripes (a "big reader" lock, as Linux's percpu-rwsem):
 * a reader adds one to its stripe's count for the shard and then checks the shard's writer
 * flag; a writer sets the flag and then waits until every stripe's count for the shard is
 * zero. Both sides write first and read second, all sequentially consistent, so at least one
 * of them sees the other (Dekker). Writers never contend with each other (every structural
 * change holds pol_mu first), and readers back off while the flag is up, so writers do not
 * starve. A hit writes only its own stripe's line. */

static inline void spin_wait(int i)
{
    if (i > 64)
        sched_yield();
#if defined(__x86_64__) || defined(__i386__)
    else
        __builtin_ia32_pause();
#endif
}


typedef struct listener {
    orm_cache_listener_cb cb;
    void *userdata;
} listener;

typedef struct local {
    orm_cache base;
    orm_cache_local_options o;
    pthread_mutex_t pol_mu;
    orm__cpolicy pol;
    int tracking;            /* 1 when accesses matter (the cache has a limit) */
    uint64_t count, bytes;   /* under pol_mu */
    uint64_t removals[ORM_CACHE_REASON_COUNT];
    unsigned shard_bits;
    unsigned shard_shift;    /* 32 - shard_bits: a hash's top bits pick its shard */
    void *shard_mem;
    shard *shards;
    void *stripe_mem;
    char *stripes;           /* 2 x (stripe_mask + 1) stripes of stripe_size bytes: owned, shared */
    size_t stripe_size;
    unsigned stripe_mask;
    unsigned nstripes;
    struct local *live_prev, *live_next; /* the caches alive (stripe_release_all), under live_mu */
    /* deferred frees (see "removal, notification and deferred frees"), under pol_mu */
    uint64_t epoch;          /* retirements so far, plus one */
    uint64_t *drained;       /* per stripe: the epoch when its read buffer was last drained */
    orm__centry *limbo, *limbo_tail; /* retired entries, oldest first, linked by next */
    uint64_t nlimbo, limbo_bytes;    /* how many, and the bytes of their built-in values */
    /* timer wheel, under pol_mu */
    orm__centry *wheel;      /* WHEEL_SLOTS sentinels */
    int64_t cursor;          /* next tick to process */
    listener listeners[MAX_LISTENERS];
    atomic_int nlisteners;
    /* background sweep */
    pthread_t sweeper;
    int sweeper_running;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
} local;

/* ---- clock, hash ---- */

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t now_ms(local *L)
{
    return L->o.clock ? L->o.clock(L->o.clock_userdata) : mono_ms();
}

static inline uint32_t hash32(const char *key, size_t len)
{
    uint64_t h = orm__cache_hash(key, len);
    return (uint32_t)(h ^ (h >> 32));
}

static inline stripe *stripe_at(const local *L, unsigned i) { return (stripe *)(L->stripes + (size_t)i * L->stripe_size); }

/* initial-exec: a hit reads this on every call, and the default model for a shared library
 * costs a call to __tls_get_addr each time; one unsigned fits the static TLS surplus. */
#if defined(__GNUC__)
#define ORM_TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define ORM_TLS_FAST
#endif
/* The calling thread's number (0: not numbered yet), and how many threads were numbered
 * (local_stripes.c defines them). */
extern _Thread_local unsigned orm__local_thread_number ORM_TLS_FAST;
extern atomic_uint orm__local_threads_numbered;

/* A thread claimed a stripe: make sure its exit gives it back (local_stripes.c). */
void orm__local_stripe_claimed(void);

/* The caller's stripe, and *owned 1 when it is the caller's alone. */
static ORM__HOT_INLINE stripe *my_stripe(const local *L, int *owned)
{
    unsigned n = orm__local_thread_number;
    if (!n)
        n = orm__local_thread_number =
            atomic_fetch_add_explicit(&orm__local_threads_numbered, 1, memory_order_relaxed) + 1;
    stripe *st = stripe_at(L, n & L->stripe_mask);
    unsigned owner = atomic_load_explicit(&st->owner, memory_order_relaxed);
    if (owner != n) {
        if (owner || !atomic_compare_exchange_strong_explicit(&st->owner, &owner, n, memory_order_acquire,
                                                              memory_order_relaxed))
            return *owned = 0, stripe_at(L, L->stripe_mask + 1 + (n & L->stripe_mask));
        orm__local_stripe_claimed();
    }
    *owned = 1;
    return st;
}

/* Add one to a stripe's counter and return what it was: the owner alone writes it, so a load
 * and a store do. */
static ORM__HOT_INLINE uint64_t stripe_inc(atomic_ullong *c, int owned)
{
    if (!owned)
        return atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    uint64_t v = atomic_load_explicit(c, memory_order_relaxed);
    atomic_store_explicit(c, v + 1, memory_order_relaxed);
    return v;
}

/* A reader's hold on a shard: its stripe, and whether it owns it. */
typedef struct rd_hold {
    stripe *st;
    int owned;
} rd_hold;

static ORM__HOT_INLINE rd_hold rd_lock(const local *L, shard *s)
{
    rd_hold r;
    r.st = my_stripe(L, &r.owned);
    atomic_uint *n = &r.st->readers[s->index];
    for (int i = 0;;) {
        /* a locked add even when owned: it is the fence between this store and the load of
         * the writer flag that the Dekker handshake needs */
        atomic_fetch_add_explicit(n, 1, memory_order_seq_cst);
        if (!atomic_load_explicit(&s->writer, memory_order_seq_cst))
            return r;
        atomic_fetch_sub_explicit(n, 1, memory_order_release);
        while (atomic_load_explicit(&s->writer, memory_order_relaxed))
            spin_wait(i++);
    }
}

static ORM__HOT_INLINE void rd_unlock(rd_hold r, const shard *s)
{
    atomic_uint *n = &r.st->readers[s->index];
    if (r.owned)
        atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) - 1, memory_order_release);
    else
        atomic_fetch_sub_explicit(n, 1, memory_order_release);
}

static inline uint64_t *gen_of(shard *s, uint32_t h) { return &s->gens[(h >> 12) & (GEN_STRIPES - 1)]; }

static inline shard *shard_of(local *L, uint32_t h)
{
    return &L->shards[(uint64_t)h >> L->shard_shift]; /* 64-bit: a shift by 32 gives shard 0 */
}

/* A key of n bytes is storable: 1..ORM__CACHE_KEY_MAX. */
static inline int check_klen(size_t n)
{
    if (n == 0 || n > ORM__CACHE_KEY_MAX)
        return orm__error_set(ORM_EINVAL, "cache", "cache key length %zu outside 1..65535", n);
    return ORM_OK;
}

static inline int check_key(const char *key, size_t *klen)
{
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "cache key is NULL");
    size_t n = strlen(key);
    int rc = check_klen(n);
    if (!rc)
        *klen = n;
    return rc;
}

static ORM__HOT_INLINE orm__centry *find(shard *s, uint32_t h, const char *key, size_t klen)
{
    return orm__ctable_find(&s->tab, h, key, klen);
}


static inline int is_expired(const orm__centry *e, int64_t now) { return e->expires && e->expires <= now; }

static inline void wr_unlock(shard *s) { atomic_store_explicit(&s->writer, 0, memory_order_release); }

/* ---- local_stripes.c ---- */

/* Take shard s's write lock: raise its writer flag, wait for its readers to leave. Caller
 * holds pol_mu (so writers never contend). */
void orm__local_wr_lock(const local *L, shard *s);
/* Apply stripe s's buffered reads to the policy; caller holds pol_mu. */
void orm__local_drain(local *L, stripe *s);
/* Lock pol_mu for a write, the caller's own buffered reads applied first. */
void orm__local_pol_lock_write(local *L);
/* The caches alive, for a thread's exit to give its stripes back in each. */
void orm__local_live_add(local *L);
void orm__local_live_remove(local *L);

/* ---- local_wheel.c (under pol_mu) ---- */

static inline int64_t tick_of(local *L, int64_t t) { return t / L->o.tick_ms; }
void orm__local_wheel_add(local *L, orm__centry *e);
void orm__local_wheel_del(orm__centry *e);
void orm__local_wheel_reset(local *L);
/* The background sweep thread's body (arg: the cache). */
void *orm__local_sweeper_main(void *arg);

/* ---- local_free.c ---- */

/* ---- removal, notification and deferred frees ----
 * A removed entry may still sit in a thread's read buffer, which a later drain reads (its
 * flags say it is dead, and the policy skips it). So it is not freed when it is removed: once
 * its listeners have run it is retired, stamped with the current epoch, and freed when every
 * stripe that ever buffered a read has been drained since (each drain records the epoch it
 * ran at). Slots holding it were filled before its removal, since no reader finds it after,
 * and a drain clears every slot. Readers drain their own buffers as they go (hit_done), so a
 * write touches no other thread's buffer: draining them all on every write cost a write up to
 * stripes x 64 slots, most of them lines another CPU had just written. A buffer whose thread
 * stopped reading would hold the retired entries back for ever, so past LIMBO_MAX entries (or
 * LIMBO_MAX_BYTES of built-in values) the write that retires drains the laggards itself. */
#define RECLAIM_BATCH 32           /* retired entries between looks at the stripes */
#define LIMBO_MAX ORM__CACHE_LIMBO_MAX /* retired entries kept at most before laggards are drained */
#define LIMBO_MAX_BYTES (1u << 20) /* ... and bytes of the values built into them */

typedef struct dead_list {
    orm__centry *head;   /* removed: the listeners hear of each, then it is retired */
    orm__centry *silent; /* replaced by another entry and already notified: only retired */
} dead_list;

/* Where an embedded entry's value starts: after the key, 16-byte aligned. */
static inline size_t embed_offset(size_t klen) { return (offsetof(orm__centry, key) + klen + 1 + 15) & ~(size_t)15; }

/* Free an entry that nothing reaches any more (see local_free.c). */
void orm__local_entry_drop(orm__centry *e);
/* orm__local_entry_drop every entry of a chain linked by next. */
void orm__local_drop_chain(orm__centry *e);
/* Unlink e from everything and chain it on d with its reason. Caller holds pol_mu and the
 * write lock of e's shard. */
void orm__local_detach(local *L, shard *s, orm__centry *e, orm_cache_reason why, dead_list *d);
/* Call the listeners. No lock may be held. */
void orm__local_notify(local *L, const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why);
/* Call the listeners for every removed entry on d, release its value, retire the entries.
 * No lock may be held. */
void orm__local_bury(local *L, dead_list *d);

/* ---- local_new.c ---- */

/* Free everything of a cache no thread uses any more (also a half-made one). */
void orm__local_free_all(local *L);
/* Stop the sweep thread, forget the cache, free it. */
int orm__local_close(local *L);

#endif
