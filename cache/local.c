/* The local backend: a sharded hash table of reference-counted values, one eviction policy
 * for the whole cache, a timer wheel for expiry, and listeners called outside the locks.
 * This file holds the operations (get, set, load-or-store, generations, incr, delete, clear,
 * stats) and the eviction that keeps the limits; the other jobs have files of their own
 * (local_internal.h lists them): the reader lock and stripes, the timer wheel, the deferred
 * frees, making and closing.
 *
 * Locking. Each shard has a reader-writer lock over its hash table, its reader counts spread
 * over per-thread stripes (see "shard locks" in local_internal.h); the policy (queues, sketch,
 * counts, byte totals, timer wheel) has one mutex, pol_mu. A hit takes only its shard's read
 * lock: it records the access in its stripe's small lossy ring buffer, and every few reads
 * tries (never waits for) pol_mu to apply the buffered accesses to the policy, as Caffeine
 * does. Every structural change takes pol_mu first, then shard write locks (this order,
 * always). A ring may hold an entry after its removal, so removed entries are freed only once
 * every ring has been drained since (see local_free.c): a ring never holds a freed entry.
 *
 * Kept true: count and bytes are exact under pol_mu and never exceed the limits once a write
 * returns; an expired entry is never returned (every get checks); removed entries are chained
 * on a private list and their listeners called after every lock is released; no request does
 * O(n) work (tables grow incrementally, see ctable.c; the sweep is bounded per call). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/local_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

size_t orm_cache_local_overhead(void) { return OVERHEAD; }

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
        orm__local_wr_lock(L, s);
        orm__local_detach(L, s, v, ORM_CACHE_EVICTED, d);
        wr_unlock(s);
    }
    orm__cpolicy_maintain(&L->pol);
}

/* ---- operations ---- */

/* Remove key's entry if it has expired (a get found it so, without the locks to remove it). */
static void remove_expired(local *L, shard *s, uint32_t h, const char *key, size_t klen)
{
    dead_list d = { NULL, NULL };
    orm__local_pol_lock_write(L);
    orm__local_wr_lock(L, s);
    orm__centry *e = find(s, h, key, klen);
    if (e && is_expired(e, now_ms(L)))
        orm__local_detach(L, s, e, ORM_CACHE_EXPIRED, &d);
    wr_unlock(s);
    pthread_mutex_unlock(&L->pol_mu);
    orm__local_bury(L, &d);
}

/* ORM_ENOTFOUND naming the key (its first 64 bytes), the message made without printf: every
 * miss reports it, and a row cache miss misses three lookups on its way to the load (with
 * the whole-buffer copy error.c made then, about 3,000 instructions of its 17,700). */
static int no_entry(const char *key, size_t klen)
{
    static const char head[] = "no cache entry for key '";
    char msg[sizeof head + 64];
    size_t n = klen < 64 ? klen : 64;
    memcpy(msg, head, sizeof head - 1);
    memcpy(msg + sizeof head - 1, key, n);
    msg[sizeof head - 1 + n] = '\'';
    return orm__error_set_text(ORM_ENOTFOUND, "cache", msg, sizeof head + n);
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
static ORM__HOT_INLINE int lookup_len(local *L, const char *key, size_t klen, hit *h);
static ORM__HOT_INLINE int lookup(local *L, const char *key, hit *h)
{
    size_t klen = 0;
    int rc = check_key(key, &klen);
    return rc ? rc : lookup_len(L, key, klen, h);
}
/* lookup of a key whose length is known and in range. */
static ORM__HOT_INLINE int lookup_len(local *L, const char *key, size_t klen, hit *h)
{
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
    return no_entry(key, klen);
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
            orm__local_drain(L, st);
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

int orm__cache_local_read(orm_cache *c, const char *key, size_t klen, orm__cache_reader fn, void *arg)
{
    local *L = (local *)c;
    hit h = { 0 }; /* zeroed only for -Wmaybe-uninitialized: lookup sets it when it succeeds */
    int rc = check_klen(klen);
    if (!rc)
        rc = lookup_len(L, key, klen, &h);
    if (rc)
        return rc;
    rc = fn(h.e->val, arg);
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
    orm__local_wheel_add(L, e);
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
    orm__local_wheel_del(e);
    ne->val = orm_cache_ref_retain(v);
    ne->charge = charge;
    set_expiry(ne, now, ttl);
    orm__local_wheel_add(L, ne);
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
            orm__local_entry_drop(prebuilt);
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

    orm__local_pol_lock_write(L);
    int64_t now = now_ms(L);
    orm__local_wr_lock(L, s);
    orm__ctable_step(&s->tab);
    orm__centry *e = find(s, h, key, klen);
    if (e && mode == MODE_LOAD_OR_STORE && !is_expired(e, now)) {
        *out = orm_cache_ref_retain(e->val);
        *loaded = 1;
        orm__cpolicy_access(&L->pol, e);
        wr_unlock(s);
        pthread_mutex_unlock(&L->pol_mu);
        orm__local_entry_drop(ne);
        return ORM_OK;
    }
    if (mode == MODE_SET_IF_GEN && *gen_of(s, h) != gen) {
        wr_unlock(s);
        pthread_mutex_unlock(&L->pol_mu);
        orm__local_entry_drop(ne);
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
        orm__local_wheel_del(e);
        set_expiry(e, now, ttl);
        orm__local_wheel_add(L, e);
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
        orm__local_entry_drop(ne);
    if (rc) {
        orm__local_bury(L, &d);
        return rc;
    }
    if (out) {
        *out = orm_cache_ref_retain(v);
        *loaded = 0;
    }
    if (old) {
        orm__local_notify(L, key, old, why == ORM_CACHE_REPLACED ? v : NULL, why);
        orm_cache_ref_release(old);
        orm_cache_ref_release(v);
    }
    if (swapped) { /* notified above, with its successor's value */
        swapped->next = d.silent;
        d.silent = swapped;
    }
    orm__local_bury(L, &d);
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

/* A new entry for key (klen bytes, hash h) into *out with the value of src built into it, *v
 * its value (two references: the caller's and the block's own, dropped by entry_drop). */
static int entry_new_embedded(const char *key, size_t klen, uint32_t h, const orm__cache_src *src,
                              orm__centry **out, orm_cache_ref **v)
{
    size_t off = embed_offset(klen);
    orm__centry *ne = orm__malloc(off + ORM__CACHE_REF_HEADER + orm__cache_src_payload(src));
    if (!ne)
        return orm__error_nomem("cache");
    memset(ne, 0, offsetof(orm__centry, key));
    memcpy(ne->key, key, klen + 1);
    ne->klen = (uint16_t)klen;
    ne->hash = h;
    ne->flags = ORM__E_EMBEDDED;
    int rc = orm__cache_ref_embed((char *)ne + off, off, src, 2, v);
    if (rc) {
        orm__free(ne);
        return rc;
    }
    *out = ne;
    return ORM_OK;
}

/* A load's install (the loading layer's, the row cache's). A typed value made on its own is
 * copied into the entry it is stored in, as set_obj's are: a hit then reads the entry and the
 * value from neighbouring lines, where it chased the entry's pointer to a block elsewhere, one
 * dependent cache miss more (W5 at 50,000 rows: a third of a hit's time was such misses). The
 * copy is made once per load, on the miss path, which has just read the database. */
static int local_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    local *L = (local *)c;
    size_t klen = 0;
    if (!v || ORM__REF_KIND(v) != ORM__REF_OBJ || (v->kind & ORM__REF_EMBEDDED) || ttl < 0 || check_key(key, &klen))
        return store(L, key, v, ttl, MODE_SET_IF_GEN, NULL, NULL, gen, NULL); /* store says what is wrong */
    orm__cache_src src = { NULL, 0, v->u.type, v->data };
    orm_cache_ref *mine = NULL;
    orm__centry *ne = NULL;
    int rc = entry_new_embedded(key, klen, hash32(key, klen), &src, &ne, &mine);
    if (rc)
        return rc;
    rc = store(L, key, mine, ttl, MODE_SET_IF_GEN, NULL, NULL, gen, ne);
    orm_cache_ref_release(mine);
    return rc;
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
        if ((rc = entry_new_embedded(key, klen, h, src, &ne, &v)))
            return rc;
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
    orm__local_pol_lock_write(L);
    int64_t now = now_ms(L);
    orm__local_wr_lock(L, s);
    orm__centry *e = find(s, h, key, klen);
    int found = e && !is_expired(e, now);
    ++*gen_of(s, h);
    if (e) {
        if (found && out)
            *out = orm_cache_ref_retain(e->val);
        orm__local_detach(L, s, e, found ? ORM_CACHE_DELETED : ORM_CACHE_EXPIRED, &d);
    }
    wr_unlock(s);
    pthread_mutex_unlock(&L->pol_mu);
    orm__local_bury(L, &d);
    if (!found)
        return no_entry(key, klen);
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
    orm__local_pol_lock_write(L);
    int64_t now = now_ms(L);
    orm__local_wr_lock(L, s);
    orm__ctable_step(&s->tab);
    orm__centry *e = find(s, h, key, klen);
    if (e && is_expired(e, now)) {
        orm__local_detach(L, s, e, ORM_CACHE_EXPIRED, &d);
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
        orm__local_notify(L, key, old, nv, ORM_CACHE_REPLACED);
        orm_cache_ref_release(old);
    }
    orm_cache_ref_release(nv);
    orm__local_bury(L, &d);
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
        orm__local_wr_lock(L, s);
        for (int g = 0; g < GEN_STRIPES; g++)
            s->gens[g]++;
        clearing cl = { L, &d };
        orm__ctable_drain(&s->tab, clear_one, &cl);
        wr_unlock(s);
    }
    orm__cpolicy_reset(&L->pol);
    orm__local_wheel_reset(L);
    L->count = L->bytes = 0;
    pthread_mutex_unlock(&L->pol_mu);
    orm__local_bury(L, &d);
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

static int local_close(orm_cache *c) { return orm__local_close((local *)c); }

const orm_cache_ops orm__cache_local_ops = {
    ORM_CACHE_OPS_VERSION, "local", local_get, local_set, local_del, local_load_or_store,
    local_load_and_delete, local_incr, local_clear, local_stats, local_flush, local_subscribe,
    local_now, local_gen, local_set_if_gen, local_close,
};

