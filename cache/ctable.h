/* liborm internal — the local cache's per-shard hash table: entry pointers in cache-line
 * groups, each lane tagged with 8 bits of its key's hash, grown incrementally.
 *
 * Why not chaining: a chained hit reads the bucket, then every entry ahead of the match in
 * its chain, each a likely cache miss on a big cache. Here a hit reads one 64-byte group
 * (seven lanes and their tags; a tag mismatch costs no memory access) and then only the
 * matching entry. Groups are probed linearly; a group's overflow count says how many entries
 * passed it while probing, so a lookup stops at the first group with none, and a delete needs
 * no tombstone (as Folly's F14 does).
 *
 * Why not uthash, which the library's other tables use (orm/hash.h): a uthash hit walks a
 * bucket's chain of handles, each a pointer chase to another line, then compares the key; its
 * handle costs 56 bytes an entry; and it may not be read while it is written, where a shard
 * here is read under the striped read lock while a writer waits. W6 (orm-bench --db cache)
 * times this cache's get against a uthash table read with no lock at all: 0.65-0.82x uthash's
 * ns/op on one thread, locks, policy and reference counts included.
 *
 * Not thread-safe by itself: the shard's lock covers it (lookups under the read lock,
 * everything else under the write lock). */
#ifndef ORM_CACHE_CTABLE_H
#define ORM_CACHE_CTABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache/cache_internal.h"

#define ORM__CGROUP_LANES 7

typedef struct orm__cgroup {
    uint8_t tag[ORM__CGROUP_LANES]; /* 0: empty lane */
    uint8_t overflow;               /* entries whose probe went past this group; sticks at 255 */
    orm__centry *slot[ORM__CGROUP_LANES];
} orm__cgroup;

typedef struct orm__ctable {
    orm__cgroup *g[2];  /* g[1]: the table being grown into, else NULL */
    void *mem[2];       /* the allocations behind g (g is 64-byte aligned inside) */
    uint32_t n[2];      /* groups */
    uint64_t used[2];   /* entries */
    int64_t cursor;     /* next group of g[0] to move into g[1]; -1: not growing */
} orm__ctable;

/* Sized for `expected` entries without growing (0: a small table). ORM_OK or ORM_ENOMEM. */
int orm__ctable_init(orm__ctable *t, uint64_t expected);
void orm__ctable_free(orm__ctable *t);

/* Add e (not present; e->hash and e->key set). Starts growing when the table is getting full;
 * ORM_ENOMEM only when it is full and the larger table could not be allocated. */
int orm__ctable_insert(orm__ctable *t, orm__centry *e);

/* Remove e, which must be present. */
void orm__ctable_remove(orm__ctable *t, orm__centry *e);

/* Put e where old is: same key and hash, O(1) expected. */
void orm__ctable_replace(orm__ctable *t, orm__centry *old, orm__centry *e);

/* While growing, move a few more groups into the larger table (bounded work per call). */
void orm__ctable_step(orm__ctable *t);

/* Empty the table, calling fn on every entry it held. O(size): clear() only. */
void orm__ctable_drain(orm__ctable *t, void (*fn)(orm__centry *e, void *arg), void *arg);

/* ---- lookup: inline, as it is most of a cache hit ---- */

#if defined(__GNUC__)
#define ORM__HOT_INLINE inline __attribute__((always_inline))
#else
#define ORM__HOT_INLINE inline
#endif

/* ---- hash bits: the shard uses the top bits of h; the home group and the tag come from two
 * different odd multiples of h, so they vary within a shard and from each other. ---- */

static inline uint8_t ctab_tag(uint32_t h)
{
    uint8_t t = (uint8_t)((h * 0x9E3779B1u) >> 24);
    return t ? t : 1;
}

static inline uint32_t ctab_home(uint32_t h, uint32_t n) { return (uint32_t)(((uint64_t)(h * 0x85EBCA77u) * n) >> 32); }

static inline uint32_t ctab_next(uint32_t i, uint32_t n) { return i + 1 == n ? 0 : i + 1; }

/* The lanes of g whose tag may equal tag: one bit per lane (bit 7 of the lane's byte). SWAR on
 * little-endian machines; a candidate can be false (a borrow from a lower lane), never missed,
 * so every candidate is checked. */
static inline uint64_t ctab_candidates(const orm__cgroup *g, uint8_t tag)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, g->tag, 8);
    uint64_t x = w ^ (0x0101010101010101ULL * tag);
    return (x - 0x0101010101010101ULL) & ~x & 0x0080808080808080ULL;
#else
    uint64_t m = 0;
    for (int k = 0; k < ORM__CGROUP_LANES; k++)
        if (g->tag[k] == tag)
            m |= 0x80ULL << (8 * k);
    return m;
#endif
}

static inline int ctab_lane(uint64_t m) { return __builtin_ctzll(m) >> 3; }

/* The n key bytes at a and b are equal (both hold n bytes and a NUL): word compares, the last
 * one overlapping, instead of a call to memcmp. */
static inline int ctab_key_eq(const char *a, const char *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (orm__hash_rd64(x + i) != orm__hash_rd64(y + i))
                return 0;
        return orm__hash_rd64(x + n - 8) == orm__hash_rd64(y + n - 8);
    }
    if (n >= 4)
        return orm__hash_rd32(x) == orm__hash_rd32(y) && orm__hash_rd32(x + n - 4) == orm__hash_rd32(y + n - 4);
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

/* ---- one array of groups ---- */

static ORM__HOT_INLINE orm__centry *ctab_find_in(const orm__cgroup *g, uint32_t n, uint32_t h, const char *key, size_t klen)
{
    uint8_t tag = ctab_tag(h);
    uint32_t i = ctab_home(h, n);
    for (uint32_t probes = 0; probes < n; probes++) {
        const orm__cgroup *gr = &g[i];
        for (uint64_t m = ctab_candidates(gr, tag); m; m &= m - 1) {
            orm__centry *e = gr->slot[ctab_lane(m)];
            if (e && e->hash == h && e->klen == klen && ctab_key_eq(e->key, key, klen))
                return e;
        }
        if (!gr->overflow)
            return NULL;
        i = ctab_next(i, n);
    }
    return NULL;
}

/* The entry for key (klen bytes, hash h), or NULL. */
static ORM__HOT_INLINE orm__centry *orm__ctable_find(const orm__ctable *t, uint32_t h, const char *key, size_t klen)
{
    if (t->cursor < 0) /* not growing: one table (the common case, kept short) */
        return ctab_find_in(t->g[0], t->n[0], h, key, klen);
    /* Growing: the groups of g[0] before the cursor have moved to g[1], and growth moves on
     * only with writes, so a table may stay part-moved through a long run of reads. A key whose
     * home group is past the cursor is most likely still in g[0]: look there first (looking in
     * g[1] first cost such a hit a wasted group, a cache miss on a big table). */
    int first = ctab_home(h, t->n[0]) >= (uint64_t)t->cursor ? 0 : 1;
    orm__centry *e = ctab_find_in(t->g[first], t->n[first], h, key, klen);
    return e ? e : ctab_find_in(t->g[!first], t->n[!first], h, key, klen);
}

/* Bytes the table charges per entry: a group's 64 bytes over its lanes at the load it is
 * sized for. */
#define ORM__CTABLE_SHARE 12u

#endif
