/* The local backend: a sharded hash table of reference-counted values, one eviction policy
 * for the whole cache, a timer wheel for expiry, and listeners called outside the locks.
 *
 * Locking. Each shard has a reader-writer lock over its hash table, its reader counts spread
 * over per-thread stripes (see "shard locks"); the policy (queues, sketch, counts, byte
 * totals, timer wheel) has one mutex, pol_mu. A hit takes only its shard's read lock: it
 * records the access in its stripe's small lossy ring buffer, and every few reads tries (never
 * waits for) pol_mu to apply the buffered accesses to the policy, as Caffeine does. Every
 * structural change takes pol_mu first, then shard write locks (this order, always). A ring
 * may hold an entry after its removal, so removed entries are freed only once every ring has
 * been drained since (see "deferred frees"): a ring never holds a freed entry.
 *
 * Kept true: count and bytes are exact under pol_mu and never exceed the limits once a write
 * returns; an expired entry is never returned (every get checks); removed entries are chained
 * on a private list and their listeners called after every lock is released; no request does
 * O(n) work (tables grow incrementally, see ctable.c; the sweep is bounded per call). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache_internal.h"
#include "cache/ctable.h"
#include "orm/alloc.h"
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

static void spin_wait(int i)
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

size_t orm_cache_local_overhead(void) { return OVERHEAD; }

/* ---- clock, hash ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(local *L)
{
    return L->o.clock ? L->o.clock(L->o.clock_userdata) : mono_ms();
}

static uint32_t hash32(const char *key, size_t len)
{
    uint64_t h = orm__cache_hash(key, len);
    return (uint32_t)(h ^ (h >> 32));
}

static stripe *stripe_at(const local *L, unsigned i) { return (stripe *)(L->stripes + (size_t)i * L->stripe_size); }

/* initial-exec: a hit reads this on every call, and the default model for a shared library
 * costs a call to __tls_get_addr each time; one unsigned fits the static TLS surplus. */
#if defined(__GNUC__)
#define ORM_TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define ORM_TLS_FAST
#endif
static _Thread_local unsigned thread_number ORM_TLS_FAST; /* 0: not numbered yet */
static atomic_uint threads_numbered;

static void stripe_claimed(void);

/* The caller's stripe, and *owned 1 when it is the caller's alone. */
static ORM__HOT_INLINE stripe *my_stripe(const local *L, int *owned)
{
    unsigned n = thread_number;
    if (!n)
        n = thread_number = atomic_fetch_add_explicit(&threads_numbered, 1, memory_order_relaxed) + 1;
    stripe *st = stripe_at(L, n & L->stripe_mask);
    unsigned owner = atomic_load_explicit(&st->owner, memory_order_relaxed);
    if (owner != n) {
        if (owner || !atomic_compare_exchange_strong_explicit(&st->owner, &owner, n, memory_order_acquire,
                                                              memory_order_relaxed))
            return *owned = 0, stripe_at(L, L->stripe_mask + 1 + (n & L->stripe_mask));
        stripe_claimed();
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

/* ---- a thread's exit gives its stripes back ----
 * Thread numbers are never reused, so a stripe owned by a thread that has exited would serve
 * no one: the exit hook (a pthread key destructor, set up by a thread's first claim) clears
 * the thread's ownership in every live cache. Should the hook not be set up (no memory), the
 * stripe stays taken and later threads numbered to it use a shared one. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static local *live_caches; /* under live_mu */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_key_made;
static _Thread_local int exit_hooked;

static void stripe_release_all(void *unused)
{
    (void)unused;
    unsigned n = thread_number;
    pthread_mutex_lock(&live_mu);
    for (local *L = live_caches; L; L = L->live_next)
        for (unsigned k = 0; k <= L->stripe_mask; k++) {
            stripe *st = stripe_at(L, k);
            if (atomic_load_explicit(&st->owner, memory_order_relaxed) == n)
                atomic_store_explicit(&st->owner, 0, memory_order_release); /* its counts, to the next owner */
        }
    pthread_mutex_unlock(&live_mu);
}

static void exit_key_make(void) { exit_key_made = pthread_key_create(&exit_key, stripe_release_all) == 0; }

#if defined(__GNUC__)
/* A library unloaded while threads live must not leave them a destructor in unmapped code. */
__attribute__((destructor)) static void exit_key_unmake(void)
{
    if (exit_key_made)
        pthread_key_delete(exit_key);
}
#endif

static void stripe_claimed(void)
{
    if (exit_hooked)
        return;
    pthread_once(&exit_once, exit_key_make);
    if (exit_key_made && pthread_setspecific(exit_key, &exit_hooked) == 0)
        exit_hooked = 1;
}

static void live_add(local *L)
{
    pthread_mutex_lock(&live_mu);
    L->live_next = live_caches;
    if (live_caches)
        live_caches->live_prev = L;
    live_caches = L;
    pthread_mutex_unlock(&live_mu);
}

static void live_remove(local *L)
{
    pthread_mutex_lock(&live_mu);
    if (L->live_prev)
        L->live_prev->live_next = L->live_next;
    else
        live_caches = L->live_next;
    if (L->live_next)
        L->live_next->live_prev = L->live_prev;
    pthread_mutex_unlock(&live_mu);
}

static void wr_lock(const local *L, shard *s)
{
    atomic_store_explicit(&s->writer, 1, memory_order_seq_cst);
    for (unsigned k = 0; k < L->nstripes; k++) {
        atomic_uint *n = &stripe_at(L, k)->readers[s->index];
        for (int i = 0; atomic_load_explicit(n, memory_order_seq_cst); i++)
            spin_wait(i);
    }
}

static void wr_unlock(shard *s) { atomic_store_explicit(&s->writer, 0, memory_order_release); }

static uint64_t *gen_of(shard *s, uint32_t h) { return &s->gens[(h >> 12) & (GEN_STRIPES - 1)]; }

static shard *shard_of(local *L, uint32_t h)
{
    return &L->shards[(uint64_t)h >> L->shard_shift]; /* 64-bit: a shift by 32 gives shard 0 */
}

static int check_key(const char *key, size_t *klen)
{
    if (!key)
        return orm__error_set(ORM_EINVAL, "cache", "cache key is NULL");
    size_t n = strlen(key);
    if (n == 0 || n > ORM__CACHE_KEY_MAX)
        return orm__error_set(ORM_EINVAL, "cache", "cache key length %zu outside 1..65535", n);
    *klen = n;
    return ORM_OK;
}

static ORM__HOT_INLINE orm__centry *find(shard *s, uint32_t h, const char *key, size_t klen)
{
    return orm__ctable_find(&s->tab, h, key, klen);
}

/* ---- read buffers ---- */

/* Apply a stripe's buffered reads to the policy, and record the epoch it was drained at (see
 * "deferred frees"). Caller holds pol_mu. Every entry in a ring is allocated then, but may
 * have been removed: the policy skips those (their flags say dead). */
static void drain(local *L, stripe *s)
{
    L->drained[s->index] = L->epoch;
    for (int i = 0; i < RING; i++) {
        /* A load and a store, not an exchange: a hit that fills the slot in between is
         * lost, which a lossy buffer allows, and costs no locked instruction per slot. */
        orm__centry *e = atomic_load_explicit(&s->ring[i], memory_order_acquire);
        if (!e)
            continue;
        atomic_store_explicit(&s->ring[i], NULL, memory_order_relaxed);
        if (!orm__cpolicy_access_quick(&L->pol, e))
            orm__cpolicy_access(&L->pol, e);
    }
}

/* Lock pol_mu for a write, and apply the caller's own buffered reads first, so a thread's
 * write is ordered after its reads (other threads' reads reach the policy when their buffers
 * are drained: a lossy buffer keeps no order between threads). */
static void pol_lock_write(local *L)
{
    int owned;
    pthread_mutex_lock(&L->pol_mu);
    stripe *st = my_stripe(L, &owned);
    if (atomic_load_explicit(&st->ring_w, memory_order_relaxed))
        drain(L, st);
}

/* ---- timer wheel (under pol_mu) ---- */

static int64_t tick_of(local *L, int64_t t) { return t / L->o.tick_ms; }

static void wheel_add(local *L, orm__centry *e)
{
    if (!e->expires)
        return;
    int64_t tick = tick_of(L, e->expires);
    if (tick < L->cursor)
        tick = L->cursor;
    orm__centry *head = &L->wheel[tick & (WHEEL_SLOTS - 1)];
    e->wnext = head;
    e->wprev = head->wprev;
    head->wprev->wnext = e;
    head->wprev = e;
}

static void wheel_del(orm__centry *e)
{
    if (!e->wnext)
        return;
    e->wprev->wnext = e->wnext;
    e->wnext->wprev = e->wprev;
    e->wprev = e->wnext = NULL;
}

static void wheel_reset(local *L)
{
    for (int i = 0; i < WHEEL_SLOTS; i++)
        L->wheel[i].wprev = L->wheel[i].wnext = &L->wheel[i];
}

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
static size_t embed_offset(size_t klen) { return (offsetof(orm__centry, key) + klen + 1 + 15) & ~(size_t)15; }

/* Free an entry that no lock, table or read buffer reaches any more (its value reference is
 * released apart). An embedded entry drops the hold its block has on the value built into it:
 * the block goes with the last reference, so a caller still holding that value keeps it. */
static void entry_drop(orm__centry *e)
{
    if (e->flags & ORM__E_EMBEDDED)
        orm_cache_ref_release((orm_cache_ref *)((char *)e + embed_offset(e->klen)));
    else
        orm__free(e);
}

/* entry_drop every entry of a chain linked by next. */
static void drop_chain(orm__centry *e)
{
    while (e) {
        orm__centry *next = e->next;
        entry_drop(e);
        e = next;
    }
}

/* Unlink e from everything and chain it on d with its reason. Caller holds pol_mu and the
 * write lock of e's shard. */
static void detach(local *L, shard *s, orm__centry *e, orm_cache_reason why, dead_list *d)
{
    orm__ctable_remove(&s->tab, e);
    orm__cpolicy_remove(&L->pol, e);
    wheel_del(e);
    L->count--;
    L->bytes -= e->charge;
    L->removals[why]++;
    e->flags = (uint8_t)((e->flags & ORM__E_EMBEDDED) | ORM__E_DEAD | (why << 4));
    e->next = d->head; /* off the policy's queues now, so its link is free */
    d->head = e;
}

static void notify(local *L, const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why)
{
    int n = atomic_load_explicit(&L->nlisteners, memory_order_acquire);
    for (int i = 0; i < n; i++)
        L->listeners[i].cb(key, old, nv, why, L->listeners[i].userdata);
}

/* Chain the retired entries that no read buffer can hold any more on *out. Caller holds
 * pol_mu. Looks at the stripes once per RECLAIM_BATCH retirements; drains the stripes that
 * hold the limbo back when it is over its bounds. */
static void reclaim(local *L, orm__centry **out)
{
    if (L->nlimbo < RECLAIM_BATCH)
        return;
    int force = L->nlimbo >= LIMBO_MAX || L->limbo_bytes >= LIMBO_MAX_BYTES;
    uint64_t safe = L->epoch; /* entries retired before this epoch may go */
    for (unsigned k = 0; k < L->nstripes; k++) {
        stripe *st = stripe_at(L, k);
        if (!atomic_load_explicit(&st->ring_w, memory_order_relaxed) || L->drained[k] >= safe)
            continue; /* never buffered a read, or drained since every retirement */
        if (force)
            drain(L, st);
        else
            safe = L->drained[k];
    }
    orm__centry *e;
    while ((e = L->limbo) && e->retired < safe) {
        L->limbo = e->next;
        L->nlimbo--;
        if (e->flags & ORM__E_EMBEDDED)
            L->limbo_bytes -= e->charge;
        e->next = *out;
        *out = e;
    }
    if (!L->limbo)
        L->limbo_tail = NULL;
}

/* Put the entries of list (linked by next) at the limbo's tail, retired in epoch. Caller
 * holds pol_mu. */
static void limbo_append(local *L, orm__centry *list, uint64_t epoch)
{
    for (orm__centry *e = list, *next; e; e = next) {
        next = e->next;
        e->retired = epoch;
        e->next = NULL;
        if (L->limbo_tail)
            L->limbo_tail->next = e;
        else
            L->limbo = e;
        L->limbo_tail = e;
        L->nlimbo++;
        if (e->flags & ORM__E_EMBEDDED)
            L->limbo_bytes += e->charge;
    }
}

/* Retire the entries of two lists (linked by next): each is freed once no read buffer can
 * hold it. */
static void retire(local *L, orm__centry *list, orm__centry *more)
{
    if (!list && !more)
        return;
    orm__centry *freed = NULL;
    pthread_mutex_lock(&L->pol_mu);
    uint64_t epoch = L->epoch++;
    limbo_append(L, list, epoch);
    limbo_append(L, more, epoch);
    reclaim(L, &freed);
    pthread_mutex_unlock(&L->pol_mu);
    drop_chain(freed); /* outside the lock: a built-in object's free callback is the caller's code */
}

/* Call the listeners for every removed entry on d and release its value, then retire the
 * entries of d. No lock may be held. */
static void bury(local *L, dead_list *d)
{
    for (orm__centry *e = d->head; e; e = e->next) {
        notify(L, e->key, e->val, NULL, ORM__E_REASON(e));
        orm_cache_ref_release(e->val);
    }
    retire(L, d->head, d->silent);
    d->head = d->silent = NULL;
}

static int over_limits(const local *L)
{
    return (L->o.max_entries && L->count > L->o.max_entries) || (L->o.max_bytes && L->bytes > L->o.max_bytes);
}

/* Evict until the limits hold. Caller holds pol_mu and no shard lock. */
static void enforce_limits(local *L, dead_list *d)
{
    while (over_limits(L)) {
        orm__centry *v = orm__cpolicy_victim(&L->pol);
        if (!v)
            break;
        shard *s = shard_of(L, v->hash);
        wr_lock(L, s);
        detach(L, s, v, ORM_CACHE_EVICTED, d);
        wr_unlock(s);
    }
    orm__cpolicy_maintain(&L->pol);
}

static int is_expired(const orm__centry *e, int64_t now) { return e->expires && e->expires <= now; }

/* ---- operations ---- */

/* Remove key's entry if it has expired (a get found it so, without the locks to remove it). */
static void remove_expired(local *L, shard *s, uint32_t h, const char *key, size_t klen)
{
    dead_list d = { NULL, NULL };
    pol_lock_write(L);
    wr_lock(L, s);
    orm__centry *e = find(s, h, key, klen);
    if (e && is_expired(e, now_ms(L)))
        detach(L, s, e, ORM_CACHE_EXPIRED, &d);
    wr_unlock(s);
    pthread_mutex_unlock(&L->pol_mu);
    bury(L, &d);
}

/* A hit found by lookup(): the entry, with its shard's read lock held through the stripe. */
typedef struct hit {
    orm__centry *e;
    shard *s;
    rd_hold rd;
    int64_t now; /* the clock when the entry has an expiry, else 0 */
} hit;

/* Find key's live entry. ORM_OK: *h holds it with the shard's read lock held, which the
 * caller ends with hit_done() once it has read the entry. Otherwise no lock is held. */
static ORM__HOT_INLINE int lookup(local *L, const char *key, hit *h)
{
    size_t klen = 0;
    int rc = check_key(key, &klen);
    if (rc)
        return rc;
    uint32_t hv = hash32(key, klen);
    shard *s = shard_of(L, hv);
    rd_hold rd = rd_lock(L, s);
    orm__centry *e = find(s, hv, key, klen);
    int64_t now = e && e->expires ? now_ms(L) : 0;
    if (e && !is_expired(e, now)) {
        *h = (hit){ e, s, rd, now };
        return ORM_OK;
    }
    rd_unlock(rd, s);
    if (e) /* expired: remove it now, so the listener hears of it and its memory goes */
        remove_expired(L, s, hv, key, klen);
    (void)stripe_inc(&rd.st->misses, rd.owned);
    return orm__error_set(ORM_ENOTFOUND, "cache", "no cache entry for key '%.64s'", key);
}

/* The end of a hit: record the access for the policy (or count it), and release the read
 * lock. The entry may not be read after this. */
static ORM__HOT_INLINE void hit_done(local *L, const hit *h)
{
    stripe *st = h->rd.st;
    if (L->tracking) {
        uint64_t i = stripe_inc(&st->ring_w, h->rd.owned);
        atomic_store_explicit(&st->ring[i & (RING - 1)], h->e, memory_order_release);
        if ((i & (RING - 1)) == RING - 1 && pthread_mutex_trylock(&L->pol_mu) == 0) {
            drain(L, st);
            orm__cpolicy_maintain(&L->pol);
            pthread_mutex_unlock(&L->pol_mu);
        }
    } else {
        (void)stripe_inc(&st->hits, h->rd.owned);
    }
    rd_unlock(h->rd, h->s);
}

static int local_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    local *L = (local *)c;
    hit h = { 0 }; /* zeroed only for -Wmaybe-uninitialized: lookup sets it when it succeeds */
    *out = NULL;
    int rc = lookup(L, key, &h);
    if (rc)
        return rc;
    *out = orm__cache_ref_retain(h.e->val);
    if (meta) {
        meta->expires_ms = h.e->expires;
        meta->ttl_ms = h.e->ttl;
        meta->now_ms = h.now;
    }
    hit_done(L, &h);
    return ORM_OK;
}

int orm__cache_local_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len)
{
    local *L = (local *)c;
    hit h = { 0 }; /* zeroed only for -Wmaybe-uninitialized: lookup sets it when it succeeds */
    int rc = lookup(L, key, &h);
    if (rc)
        return rc;
    orm_cache_ref *v = h.e->val;
    if (ORM__REF_KIND(v) == ORM__REF_OBJ) {
        /* The type's copy is the caller's code: it runs outside the lock, on a held value. */
        orm__cache_ref_retain(v);
        hit_done(L, &h);
        rc = orm__cache_ref_copy_to(v, key, buf, cap, len);
        orm_cache_ref_release(v);
        return rc;
    }
    /* Bytes and counters are copied under the read lock: no count to take and drop, so
     * threads reading one hot key write nothing the others read. */
    rc = orm__cache_ref_copy_flat(v, buf, cap, len) ? ORM_OK : orm__cache_ref_copy_to(v, key, buf, cap, len);
    hit_done(L, &h);
    return rc;
}

/* The bytes a value of this key costs, or an error when it can never fit. */
static int charge_of(local *L, size_t klen, orm_cache_ref *v, uint32_t *out)
{
    uint64_t ch = (uint64_t)klen + 1 + orm_cache_ref_size(v) + OVERHEAD;
    if (ch > UINT32_MAX || (L->o.max_bytes && ch > L->o.max_bytes))
        return orm__error_set(ORM_EINVAL, "cache", "value of %llu bytes exceeds the cache's byte limit",
                              (unsigned long long)ch);
    *out = (uint32_t)ch;
    return ORM_OK;
}

static orm__centry *entry_new(const char *key, size_t klen, uint32_t h)
{
    orm__centry *e = orm__malloc(offsetof(orm__centry, key) + klen + 1);
    if (!e)
        return NULL;
    memset(e, 0, offsetof(orm__centry, key));
    memcpy(e->key, key, klen + 1);
    e->klen = (uint16_t)klen;
    e->hash = h;
    return e;
}

static void set_expiry(orm__centry *e, int64_t now, int64_t ttl)
{
    e->ttl = ttl > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)ttl;
    e->expires = ttl == 0 ? 0 : (ttl > INT64_MAX - now ? INT64_MAX : now + ttl);
}

/* Link a new entry holding v into shard s (write-locked) and the policy (pol_mu held), and
 * charge it to the cache's count and bytes. ORM_ENOMEM (and nothing changed) when the shard's
 * table is full and cannot grow. */
static int link_new(local *L, shard *s, orm__centry *e, orm_cache_ref *v, uint32_t charge,
                    int64_t now, int64_t ttl)
{
    int rc = orm__ctable_insert(&s->tab, e);
    if (rc)
        return rc;
    e->val = orm_cache_ref_retain(v);
    e->charge = charge;
    set_expiry(e, now, ttl);
    L->count++;
    L->bytes += charge;
    orm__cpolicy_insert(&L->pol, e);
    wheel_add(L, e);
    return ORM_OK;
}

enum { MODE_SET, MODE_LOAD_OR_STORE, MODE_SET_IF_GEN };

/* ne takes e's place (same key): in the table, the policy's queue and the wheel; e's shell is
 * left to the caller to drop once no lock is held, and e->val to the caller's notification.
 * Used when either entry has a value built in, so such an entry never outlives its value. */
static void swap_entry(local *L, shard *s, orm__centry *e, orm__centry *ne, orm_cache_ref *v, uint32_t charge,
                       int64_t now, int64_t ttl)
{
    orm__ctable_replace(&s->tab, e, ne);
    orm__cpolicy_replace(&L->pol, e, ne);
    wheel_del(e);
    ne->val = orm_cache_ref_retain(v);
    ne->charge = charge;
    set_expiry(ne, now, ttl);
    wheel_add(L, ne);
    L->bytes = L->bytes - e->charge + charge;
    orm__cpolicy_reweigh(&L->pol, ne, e->charge);
    orm__cpolicy_access(&L->pol, ne);
}

/* set and load-or-store. prebuilt: the entry to link if the key is new (its value built in
 * as v), or NULL to allocate one; store owns it in every case. */
static int store(local *L, const char *key, orm_cache_ref *v, int64_t ttl, int mode, orm_cache_ref **out, int *loaded,
                 uint64_t gen, orm__centry *prebuilt)
{
    /* a prebuilt entry carries the key, already checked, and its hash */
    size_t klen = prebuilt ? prebuilt->klen : 0;
    uint32_t charge = 0;
    int rc = prebuilt ? ORM_OK : check_key(key, &klen);
    if (!rc && (!v || ttl < 0))
        rc = orm__error_set(ORM_EINVAL, "cache", "set '%.64s': NULL value or negative TTL", key);
    if (!rc)
        rc = charge_of(L, klen, v, &charge);
    if (rc) {
        if (prebuilt)
            entry_drop(prebuilt);
        return rc;
    }
    uint32_t h = prebuilt ? prebuilt->hash : hash32(key, klen);
    shard *s = shard_of(L, h);
    orm__centry *ne = prebuilt ? prebuilt : entry_new(key, klen, h);
    if (!ne)
        return orm__error_nomem("cache");
    orm__centry *swapped = NULL;
    dead_list d = { NULL, NULL };
    orm_cache_ref *old = NULL;
    orm_cache_reason why = ORM_CACHE_REPLACED;

    pol_lock_write(L);
    int64_t now = now_ms(L);
    wr_lock(L, s);
    orm__ctable_step(&s->tab);
    orm__centry *e = find(s, h, key, klen);
    if (e && mode == MODE_LOAD_OR_STORE && !is_expired(e, now)) {
        *out = orm_cache_ref_retain(e->val);
        *loaded = 1;
        orm__cpolicy_access(&L->pol, e);
        wr_unlock(s);
        pthread_mutex_unlock(&L->pol_mu);
        entry_drop(ne);
        return ORM_OK;
    }
    if (mode == MODE_SET_IF_GEN && *gen_of(s, h) != gen) {
        wr_unlock(s);
        pthread_mutex_unlock(&L->pol_mu);
        entry_drop(ne);
        return orm__error_set(ORM_EBUSY, "cache", "'%.64s' was written while its value was loaded", key);
    }
    ++*gen_of(s, h);
    if (e && ((e->flags | ne->flags) & ORM__E_EMBEDDED)) {
        why = is_expired(e, now) ? ORM_CACHE_EXPIRED : ORM_CACHE_REPLACED;
        old = e->val;
        swap_entry(L, s, e, ne, v, charge, now, ttl);
        L->removals[why]++;
        e->flags |= ORM__E_DEAD; /* read buffers may still hold it: the policy skips it */
        swapped = e;
        ne = NULL;
    } else if (e) {
        why = is_expired(e, now) ? ORM_CACHE_EXPIRED : ORM_CACHE_REPLACED;
        old = e->val;
        e->val = orm_cache_ref_retain(v);
        uint32_t old_charge = e->charge;
        e->charge = charge;
        L->bytes = L->bytes - old_charge + charge;
        wheel_del(e);
        set_expiry(e, now, ttl);
        wheel_add(L, e);
        orm__cpolicy_reweigh(&L->pol, e, old_charge);
        orm__cpolicy_access(&L->pol, e);
        L->removals[why]++;
    } else if ((rc = link_new(L, s, ne, v, charge, now, ttl)) == ORM_OK) {
        ne = NULL;
    }
    wr_unlock(s);
    if (old)
        orm_cache_ref_retain(v); /* for the notification below */
    enforce_limits(L, &d);
    pthread_mutex_unlock(&L->pol_mu);

    if (ne)
        entry_drop(ne);
    if (rc) {
        bury(L, &d);
        return rc;
    }
    if (out) {
        *out = orm_cache_ref_retain(v);
        *loaded = 0;
    }
    if (old) {
        notify(L, key, old, why == ORM_CACHE_REPLACED ? v : NULL, why);
        orm_cache_ref_release(old);
        orm_cache_ref_release(v);
    }
    if (swapped) { /* notified above, with its successor's value */
        swapped->next = d.silent;
        d.silent = swapped;
    }
    bury(L, &d);
    return ORM_OK;
}

static int local_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    return store((local *)c, key, v, ttl, MODE_SET, NULL, NULL, 0, NULL);
}

static int local_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                               int *loaded)
{
    int dummy;
    *out = NULL;
    return store((local *)c, key, v, ttl, MODE_LOAD_OR_STORE, out, loaded ? loaded : &dummy, 0, NULL);
}

static int local_gen(orm_cache *c, const char *key, uint64_t *out)
{
    local *L = (local *)c;
    size_t klen = 0;
    int rc = check_key(key, &klen);
    if (rc)
        return rc;
    uint32_t h = hash32(key, klen);
    shard *s = shard_of(L, h);
    rd_hold rd = rd_lock(L, s);
    *out = *gen_of(s, h);
    rd_unlock(rd, s);
    return ORM_OK;
}

static int local_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    return store((local *)c, key, v, ttl, MODE_SET_IF_GEN, NULL, NULL, gen, NULL);
}

int orm__cache_local_set_src(orm_cache *c, const char *key, const orm__cache_src *src, int64_t ttl)
{
    local *L = (local *)c;
    size_t klen = 0;
    int rc = check_key(key, &klen);
    if (rc)
        return rc;
    if (ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "set '%.64s': negative TTL", key);
    if ((rc = orm__cache_src_check(src, src->type ? "orm_cache_set_obj" : "orm_cache_set_bytes")))
        return rc;
    /* Only a new key gets its value built into its entry; for a cached key the value is made
     * on its own and replaces the old one (in place, or by an entry swap when the old entry
     * had its value built in). The look is only a hint: a key that appears meanwhile costs
     * store a swap, nothing more. */
    uint32_t h = hash32(key, klen);
    shard *s = shard_of(L, h);
    rd_hold rd = rd_lock(L, s);
    int present = find(s, h, key, klen) != NULL;
    rd_unlock(rd, s);
    orm_cache_ref *v = NULL;
    orm__centry *ne = NULL;
    if (present) {
        rc = orm__cache_ref_new_src(&v, src);
    } else {
        size_t off = embed_offset(klen);
        ne = orm__malloc(off + ORM__CACHE_REF_HEADER + orm__cache_src_payload(src));
        if (!ne)
            return orm__error_nomem("cache");
        memset(ne, 0, offsetof(orm__centry, key));
        memcpy(ne->key, key, klen + 1);
        ne->klen = (uint16_t)klen;
        ne->hash = h;
        ne->flags = ORM__E_EMBEDDED;
        /* two references: the caller's (released below) and the block's own (entry_drop) */
        rc = orm__cache_ref_embed((char *)ne + off, off, src, 2, &v);
        if (rc) {
            orm__free(ne);
            return rc;
        }
    }
    if (rc)
        return rc;
    rc = store(L, key, v, ttl, MODE_SET, NULL, NULL, 0, ne);
    orm_cache_ref_release(v);
    return rc;
}

/* delete and load-and-delete. */
static int remove_key(local *L, const char *key, orm_cache_ref **out)
{
    size_t klen = 0;
    int rc = check_key(key, &klen);
    if (rc)
        return rc;
    uint32_t h = hash32(key, klen);
    shard *s = shard_of(L, h);
    dead_list d = { NULL, NULL };
    pol_lock_write(L);
    int64_t now = now_ms(L);
    wr_lock(L, s);
    orm__centry *e = find(s, h, key, klen);
    int found = e && !is_expired(e, now);
    ++*gen_of(s, h);
    if (e) {
        if (found && out)
            *out = orm_cache_ref_retain(e->val);
        detach(L, s, e, found ? ORM_CACHE_DELETED : ORM_CACHE_EXPIRED, &d);
    }
    wr_unlock(s);
    pthread_mutex_unlock(&L->pol_mu);
    bury(L, &d);
    if (!found)
        return orm__error_set(ORM_ENOTFOUND, "cache", "no cache entry for key '%.64s'", key);
    return ORM_OK;
}

static int local_del(orm_cache *c, const char *key) { return remove_key((local *)c, key, NULL); }

static int local_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    *out = NULL;
    return remove_key((local *)c, key, out);
}

static int local_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    local *L = (local *)c;
    size_t klen = 0;
    uint32_t charge = 0;
    int rc = check_key(key, &klen);
    if (rc)
        return rc;
    if (ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "incr '%.64s': negative TTL", key);
    uint32_t h = hash32(key, klen);
    shard *s = shard_of(L, h);
    orm__centry *ne = entry_new(key, klen, h);
    orm_cache_ref *nv = NULL, *old = NULL;
    if (!ne)
        return orm__error_nomem("cache");
    dead_list d = { NULL, NULL };
    int64_t cur = 0;
    /* The new value depends on the old one, so it is made under the lock (a counter is
     * 24 bytes). */
    pol_lock_write(L);
    int64_t now = now_ms(L);
    wr_lock(L, s);
    orm__ctable_step(&s->tab);
    orm__centry *e = find(s, h, key, klen);
    if (e && is_expired(e, now)) {
        detach(L, s, e, ORM_CACHE_EXPIRED, &d);
        e = NULL;
    }
    ++*gen_of(s, h);
    if (e && !orm_cache_ref_int(e->val, &cur))
        rc = orm__error_set(ORM_EINVAL, "cache", "incr '%.64s': the value is not a counter", key);
    if (!rc)
        rc = orm_cache_ref_new_int(&nv, (int64_t)((uint64_t)cur + (uint64_t)delta));
    if (!rc && !e)
        rc = charge_of(L, klen, nv, &charge);
    if (!rc && e) {
        old = e->val;
        e->val = orm_cache_ref_retain(nv);
        L->removals[ORM_CACHE_REPLACED]++;
        orm__cpolicy_access(&L->pol, e);
    } else if (!rc && (rc = link_new(L, s, ne, nv, charge, now, ttl)) == ORM_OK) {
        ne = NULL;
    }
    wr_unlock(s);
    if (!rc)
        enforce_limits(L, &d);
    pthread_mutex_unlock(&L->pol_mu);
    orm__free(ne);
    if (!rc && out)
        orm_cache_ref_int(nv, out);
    if (old) {
        notify(L, key, old, nv, ORM_CACHE_REPLACED);
        orm_cache_ref_release(old);
    }
    orm_cache_ref_release(nv);
    bury(L, &d);
    return rc;
}

typedef struct clearing {
    local *L;
    dead_list *d;
} clearing;

static void clear_one(orm__centry *e, void *arg)
{
    clearing *cl = arg;
    e->flags = (uint8_t)((e->flags & ORM__E_EMBEDDED) | ORM__E_DEAD | (ORM_CACHE_CLEARED << 4));
    e->queue = ORM__Q_NONE; /* the policy forgets every entry at once (orm__cpolicy_reset) */
    e->next = cl->d->head;
    cl->d->head = e;
    cl->L->removals[ORM_CACHE_CLEARED]++;
}

static int local_clear(orm_cache *c)
{
    local *L = (local *)c;
    dead_list d = { NULL, NULL };
    pthread_mutex_lock(&L->pol_mu);
    for (size_t i = 0; i < ((size_t)1 << L->shard_bits); i++) {
        shard *s = &L->shards[i];
        wr_lock(L, s);
        for (int g = 0; g < GEN_STRIPES; g++)
            s->gens[g]++;
        clearing cl = { L, &d };
        orm__ctable_drain(&s->tab, clear_one, &cl);
        wr_unlock(s);
    }
    orm__cpolicy_reset(&L->pol);
    wheel_reset(L);
    L->count = L->bytes = 0;
    pthread_mutex_unlock(&L->pol_mu);
    bury(L, &d);
    return ORM_OK;
}

static int local_stats(orm_cache *c, orm_cache_stats *out)
{
    local *L = (local *)c;
    memset(out, 0, sizeof *out);
    for (unsigned k = 0; k < L->nstripes; k++) {
        stripe *st = stripe_at(L, k);
        out->hits += atomic_load_explicit(L->tracking ? &st->ring_w : &st->hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&st->misses, memory_order_relaxed);
    }
    pthread_mutex_lock(&L->pol_mu);
    memcpy(out->removals, L->removals, sizeof out->removals);
    out->count = L->count;
    out->bytes = L->bytes;
    pthread_mutex_unlock(&L->pol_mu);
    return ORM_OK;
}

static int local_flush(orm_cache *c)
{
    (void)c;
    return ORM_OK;
}

static int local_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *userdata)
{
    local *L = (local *)c;
    int n = atomic_load(&L->nlisteners);
    if (!cb || n >= MAX_LISTENERS)
        return orm__error_set(ORM_EINVAL, "cache", "subscribe: NULL listener or more than %d", MAX_LISTENERS);
    L->listeners[n].cb = cb;
    L->listeners[n].userdata = userdata;
    atomic_store_explicit(&L->nlisteners, n + 1, memory_order_release);
    return ORM_OK;
}

static int64_t local_now(orm_cache *c) { return now_ms((local *)c); }

/* One bounded pass of the wheel: process the slots from the cursor up to now, removing what
 * expired; stop after sweep_max_entries entries examined or sweep_max_us microseconds, and
 * resume there next time. Entries of later rounds found in a slot move to its tail, so the
 * expired ones behind them are reached. */
static size_t sweep(local *L, dead_list *d)
{
    size_t seen = 0, removed = 0;
    int64_t deadline = mono_us() + L->o.sweep_max_us;
    pthread_mutex_lock(&L->pol_mu);
    int64_t now = now_ms(L);
    int64_t target = tick_of(L, now);
    if (target - L->cursor > WHEEL_SLOTS)
        L->cursor = target - WHEEL_SLOTS;
    for (;;) {
        orm__centry *head = &L->wheel[L->cursor & (WHEEL_SLOTS - 1)];
        orm__centry *first_kept = NULL, *e;
        int out_of_budget = 0;
        while ((e = head->wnext) != head && e != first_kept) {
            if (seen >= L->o.sweep_max_entries || ((seen & 31) == 31 && mono_us() > deadline)) {
                out_of_budget = 1;
                break;
            }
            seen++;
            if (is_expired(e, now)) {
                shard *s = shard_of(L, e->hash);
                wr_lock(L, s);
                detach(L, s, e, ORM_CACHE_EXPIRED, d);
                wr_unlock(s);
                removed++;
            } else {
                wheel_del(e);
                e->wnext = head;
                e->wprev = head->wprev;
                head->wprev->wnext = e;
                head->wprev = e;
                if (!first_kept)
                    first_kept = e;
            }
        }
        if (out_of_budget || L->cursor >= target)
            break;
        L->cursor++;
    }
    pthread_mutex_unlock(&L->pol_mu);
    return removed;
}

int orm_cache_local_sweep(orm_cache *c, size_t *expired)
{
    if (!c || c->ops != &orm__cache_local_ops)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_sweep: not a local cache");
    local *L = (local *)c;
    dead_list d = { NULL, NULL };
    size_t n = sweep(L, &d);
    bury(L, &d);
    if (expired)
        *expired = n;
    return ORM_OK;
}

static void *sweeper_main(void *arg)
{
    local *L = arg;
    pthread_mutex_lock(&L->stop_mu);
    while (!L->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (L->o.tick_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(L->o.tick_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        int rc = 0;
        while (!L->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&L->stop_cv, &L->stop_mu, &ts);
        if (L->stop)
            break;
        pthread_mutex_unlock(&L->stop_mu);
        dead_list d = { NULL, NULL };
        sweep(L, &d);
        bury(L, &d);
        pthread_mutex_lock(&L->stop_mu);
    }
    pthread_mutex_unlock(&L->stop_mu);
    return NULL;
}

static void free_entry(orm__centry *e, void *arg)
{
    (void)arg;
    orm_cache_ref_release(e->val);
    entry_drop(e);
}

static void free_all(local *L)
{
    drop_chain(L->limbo); /* no thread reads a closed cache: its buffers are dead too */
    L->limbo = NULL;
    if (L->shards) {
        for (size_t i = 0; i < ((size_t)1 << L->shard_bits); i++) {
            shard *s = &L->shards[i];
            orm__ctable_drain(&s->tab, free_entry, NULL);
            orm__ctable_free(&s->tab);
        }
    }
    orm__cpolicy_free(&L->pol);
    orm__free(L->shard_mem);
    orm__free(L->stripe_mem);
    orm__free(L->drained);
    orm__free(L->wheel);
    pthread_mutex_destroy(&L->pol_mu);
    pthread_mutex_destroy(&L->stop_mu);
    pthread_cond_destroy(&L->stop_cv);
    orm__free(L);
}

static int local_close(orm_cache *c)
{
    local *L = (local *)c;
    live_remove(L);
    if (L->sweeper_running) {
        pthread_mutex_lock(&L->stop_mu);
        L->stop = 1;
        pthread_cond_signal(&L->stop_cv);
        pthread_mutex_unlock(&L->stop_mu);
        pthread_join(L->sweeper, NULL);
    }
    free_all(L);
    return ORM_OK;
}

const orm_cache_ops orm__cache_local_ops = {
    ORM_CACHE_OPS_VERSION, "local", local_get, local_set, local_del, local_load_or_store,
    local_load_and_delete, local_incr, local_clear, local_stats, local_flush, local_subscribe,
    local_now, local_gen, local_set_if_gen, local_close,
};

int orm_cache_local_options_init(orm_cache_local_options *opts, unsigned version)
{
    if (!opts || version != ORM_CACHE_LOCAL_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options_init: unknown version %u", version);
    orm_cache_local_options d = ORM_CACHE_LOCAL_OPTIONS_INIT;
    *opts = d;
    return ORM_OK;
}

static int init_shards(local *L, unsigned n)
{
    unsigned bits = 0;
    while ((1u << bits) < n && bits < 12)
        bits++;
    L->shard_bits = bits;
    L->shard_shift = 32 - bits;
    size_t count = (size_t)1 << bits;
    L->shard_mem = orm__calloc(1, count * sizeof(shard) + 64);
    if (!L->shard_mem)
        return orm__error_nomem("cache");
    /* Cache-line aligned, so shards do not share lines. */
    L->shards = (shard *)(((uintptr_t)L->shard_mem + 63) & ~(uintptr_t)63);
    /* A count-limited cache sizes its tables for its limit (2.5% over the mean share, three
     * standard deviations at 12,500 entries a shard), so they never grow. */
    uint64_t per = L->o.max_entries ? L->o.max_entries / count + L->o.max_entries / count / 40 + 1 : 0;
    for (size_t i = 0; i < count; i++) {
        shard *s = &L->shards[i];
        if (orm__ctable_init(&s->tab, per) != ORM_OK) {
            for (size_t j = 0; j < i; j++)
                orm__ctable_free(&L->shards[j].tab);
            L->shards = NULL;
            return orm__error_nomem("cache");
        }
        s->index = (uint32_t)i;
        atomic_init(&s->writer, 0);
    }
    /* Stripes: the next power of two at or above twice the CPUs, 2..64. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned stripes = 2;
    while (stripes < 64 && (long)stripes < 2 * cpus)
        stripes *= 2;
    L->stripe_mask = stripes - 1;
    L->nstripes = 2 * stripes; /* the ownable ones, then as many shared */
    L->stripe_size = (sizeof(stripe) + count * sizeof(atomic_uint) + 63) & ~(size_t)63;
    L->stripe_mem = orm__calloc(1, L->nstripes * L->stripe_size + 64);
    if (!L->stripe_mem)
        return orm__error_nomem("cache"); /* free_all frees the shards' tables */
    L->stripes = (char *)(((uintptr_t)L->stripe_mem + 63) & ~(uintptr_t)63);
    for (unsigned k = 0; k < L->nstripes; k++)
        stripe_at(L, k)->index = k;
    L->epoch = 1; /* drained[k] == 0: never drained, before every retirement */
    if (!(L->drained = orm__calloc(L->nstripes, sizeof *L->drained)))
        return orm__error_nomem("cache");
    return ORM_OK;
}

int orm_cache_local_new(orm_cache **out, const orm_cache_local_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_new: NULL out");
    *out = NULL;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    if (opts) {
        if (opts->version != ORM_CACHE_LOCAL_OPTIONS_VERSION)
            return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options: unknown version %u", opts->version);
        o = *opts;
    }
    if (o.policy != ORM_CACHE_TINYLFU && o.policy != ORM_CACHE_LRU)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options.policy: unknown policy %d", (int)o.policy);
    if (o.tick_ms < 0 || o.sweep_max_us < 0)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options: negative tick_ms or sweep_max_us");
    if (!o.shards) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o.shards = cpus > 0 && cpus < 16 ? (unsigned)cpus * 4 : 64;
        if (o.shards < 8)
            o.shards = 8;
    }
    if (!o.tick_ms)
        o.tick_ms = 1000;
    if (!o.sweep_max_entries)
        o.sweep_max_entries = 1024;
    if (!o.sweep_max_us)
        o.sweep_max_us = 1000;

    local *L = orm__calloc(1, sizeof *L);
    if (!L)
        return orm__error_nomem("cache");
    L->base.ops = &orm__cache_local_ops;
    L->o = o;
    pthread_mutex_init(&L->pol_mu, NULL);
    pthread_mutex_init(&L->stop_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&L->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    int by_bytes = o.max_entries == 0 && o.max_bytes != 0;
    uint64_t max = o.max_entries ? o.max_entries : o.max_bytes;
    uint64_t expected = o.max_entries ? o.max_entries : (o.max_bytes ? o.max_bytes / 256 + 1 : 0);
    if (expected > (1u << 26))
        expected = 1u << 26;
    L->tracking = max != 0;
    int rc = orm__cpolicy_init(&L->pol, (int)o.policy, by_bytes, max, expected);
    if (!rc)
        rc = init_shards(L, o.shards);
    if (!rc && !(L->wheel = orm__calloc(WHEEL_SLOTS, sizeof *L->wheel)))
        rc = orm__error_nomem("cache");
    if (rc) {
        free_all(L);
        return rc;
    }
    wheel_reset(L);
    L->cursor = tick_of(L, now_ms(L));
    if (o.listener)
        local_subscribe(&L->base, o.listener, o.listener_userdata);
    if (o.background_sweep) {
        if (pthread_create(&L->sweeper, NULL, sweeper_main, L) != 0) {
            free_all(L);
            return orm__error_set(ORM_ERROR, "cache", "orm_cache_local_new: cannot start the sweep thread");
        }
        L->sweeper_running = 1;
    }
    live_add(L);
    *out = &L->base;
    return ORM_OK;
}
