/* liborm internal — what the cache's files share: the layout of values, the local backend's
 * entry record, the eviction policy and the key hash. */
#ifndef ORM_CACHE_INTERNAL_H
#define ORM_CACHE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cache/hash.h"
#include "orm/cache.h"

#define ORM__CACHE_REF_HEADER 16u

/* A value: its contents never change after orm_cache_ref_new_* returns (see ref.c). */
struct orm_cache_ref {
    atomic_uint refs;
    uint32_t kind; /* the kind, and where the block is for a value built into an entry (ref.c) */
    union {
        const orm_cache_type *type; /* KIND_OBJ */
        size_t len;                 /* KIND_BYTES */
    } u;
    unsigned char data[];
};

/* A value's kind: the low 7 bits of its kind field (ref.c says what the rest holds). */
enum { ORM__REF_BYTES = 0, ORM__REF_INT = 1, ORM__REF_OBJ = 2 };
#define ORM__REF_KIND(r) ((r)->kind & 0x7fu)
/* Set in kind for a value built inside a local-cache entry (ref.c says what the rest holds). */
#define ORM__REF_EMBEDDED 0x80u

/* orm_cache_ref_copy of r into buf, which holds cap bytes: *len (may be NULL) is what the
 * copy takes (the length, 8 for a counter, the type's obj_size for an object), and a buf too
 * small for it is ORM_EINVAL naming key, with nothing copied. */
int orm__cache_ref_copy_to(const orm_cache_ref *r, const char *key, void *buf, size_t cap, size_t *len);

/* The common case of orm__cache_ref_copy_to, inline for the local cache's get_copy: a bytes
 * or counter value that fits. 1 when copied (*len set), 0 when the full call is needed. */
static inline int orm__cache_ref_copy_flat(const orm_cache_ref *r, void *buf, size_t cap, size_t *len)
{
    size_t n = r->u.len;
    if (ORM__REF_KIND(r) == ORM__REF_OBJ || n > cap || (n && !buf))
        return 0;
    if (len)
        *len = n;
    if (n)
        memcpy(buf, r->data, n);
    return 1;
}

/* A value still to be made: bytes (type NULL) or a deep copy of obj through type. The front
 * door's set_bytes / set_obj pass one to the local backend, which builds the value inside the
 * entry it is stored in (one allocation, and a hit reads the entry and the value from
 * neighbouring lines). */
typedef struct orm__cache_src {
    const void *data;
    size_t len;
    const orm_cache_type *type;
    const void *obj;
} orm__cache_src;

/* ORM_EINVAL (naming fn) for a NULL data/obj or an incomplete type. */
int orm__cache_src_check(const orm__cache_src *src, const char *fn);
/* The payload bytes of the value src makes (len, or type->obj_size). */
size_t orm__cache_src_payload(const orm__cache_src *src);
/* A standalone value from src, count 1. */
int orm__cache_ref_new_src(orm_cache_ref **out, const orm__cache_src *src);
/* Build the value of src at `at`, 16-byte aligned, inside a block that starts `offset` bytes
 * before it and has room for the header and orm__cache_src_payload(src) bytes. Its count
 * starts at refs; the release that takes it to zero frees the whole block. On failure *out is
 * NULL and there is nothing to undo. */
int orm__cache_ref_embed(void *at, size_t offset, const orm__cache_src *src, unsigned refs, orm_cache_ref **out);

/* set_bytes / set_obj on a local cache: as orm_cache_set with the value made from src, built
 * into the new entry when the key is new. */
int orm__cache_local_set_src(orm_cache *c, const char *key, const orm__cache_src *src, int64_t ttl_ms);
/* orm_cache_get_copy on a local cache. */
int orm__cache_local_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len);
/* Run fn on key's value (klen bytes, as strlen(key)) in a local cache, under its shard's read
 * lock, and return what fn returns (or the lookup's error: ORM_ENOTFOUND on a miss, with the
 * message set). For the library's own short reads of a value (the row cache's hit copies the
 * row out): no count is taken and dropped, two atomic read-modify-writes a hit did on the
 * value's line. fn must not call into the cache, and should be brief, as a writer of the
 * shard waits for it. */
typedef int (*orm__cache_reader)(const orm_cache_ref *v, void *arg);
int orm__cache_local_read(orm_cache *c, const char *key, size_t klen, orm__cache_reader fn, void *arg);
/* 1 when c is a local cache (orm__cache_local_set_src and _get_copy apply). */
extern const orm_cache_ops orm__cache_local_ops;
static inline int orm__cache_is_local(const orm_cache *c) { return c && c->ops == &orm__cache_local_ops; }

/* orm_cache_get_copy on a two-level cache: the local level's get_copy while it is in use
 * (two_level.c, built with ORM_WITH_REDIS). */
int orm__cache_is_two_level(const orm_cache *c);
int orm__two_level_get_copy(orm_cache *c, const char *key, void *buf, size_t cap, size_t *len);

/* orm_cache_ref_retain of a ref known not to be NULL, inline for the local cache's hits. */
static inline orm_cache_ref *orm__cache_ref_retain(orm_cache_ref *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

#define ORM__CACHE_KEY_MAX 65535u

/* A removed local-cache entry is freed once every read buffer has been drained since (a
 * buffer may hold it); buffers of threads that stopped reading hold back at most this many
 * removed entries before a write drains them itself (local.c, "deferred frees"). */
#define ORM__CACHE_LIMBO_MAX 1024

/* One local-cache entry: 72 bytes before the key (see orm_cache_local_overhead). The fields a
 * lookup reads come last, right before the key, and start 48 bytes in: malloc aligns to 16,
 * so the 24 hot bytes and a short key share one cache line for half of the entries. */
typedef struct orm__centry {
    /* cold: the policy's and the wheel's, under the policy lock */
    struct orm__centry *prev, *next;  /* policy queue (next: the dead list once removed) */
    union {
        struct {
            struct orm__centry *wprev, *wnext; /* timer-wheel slot; NULL: none */
        };
        uint64_t retired; /* once removed and notified: the epoch it was retired in (local.c) */
    };
    uint32_t ttl;                     /* the TTL stored with, ms, saturated */
    uint32_t charge;                  /* bytes charged: key + value + overhead */
    uint32_t stamp;                   /* its queue's push clock when it was last pushed */
    /* hot: what a lookup reads */
    orm_cache_ref *val;               /* under the shard lock */
    int64_t expires;                  /* 0: never; under the shard lock */
    uint32_t hash;                    /* the key hash, 32 bits */
    uint16_t klen;
    uint8_t queue;                    /* ORM__Q_*: which policy queue holds it */
    uint8_t flags;                    /* ORM__E_*, under the policy lock */
    char key[];                       /* klen bytes and a NUL */
} orm__centry;

enum { ORM__Q_NONE = 0, ORM__Q_WINDOW = 1, ORM__Q_PROBATION = 2, ORM__Q_PROTECTED = 3 };
/* flags: bits 0-1 and 7 below; bits 2-3 the sketch era (1..3) in which the entry's four
 * counters were all at 15, 0 when not; bits 4-6 the removal reason once dead */
enum {
    ORM__E_DEAD = 1,
    ORM__E_REFERENCED = 2, /* hit while in protected, since its last move */
    ORM__E_EMBEDDED = 0x80 /* its allocation also holds a value (see orm__cache_src) */
};
#define ORM__E_REASON(e) ((orm_cache_reason)(((e)->flags >> 4) & 7))
#define ORM__E_SATURATED_SHIFT 2
#define ORM__E_SATURATED_MASK (3u << ORM__E_SATURATED_SHIFT)

/* A circular list with a sentinel (only prev/next of the sentinel are used). */
typedef struct orm__clist {
    orm__centry *h;
    uint64_t n;      /* entries on the list */
    uint32_t clock;  /* pushes so far (wraps); an entry's stamp is the clock at its push */
} orm__clist;

typedef struct orm__sketch {
    uint64_t *table; /* 4 rows of width 4-bit counters, 16 per word; 64-byte aligned */
    void *table_mem; /* the allocation behind table */
    uint64_t mask;   /* width - 1 (counters per row) */
    uint64_t additions, sample_size;
    uint64_t halvings;
    uint8_t era;     /* halvings % 3 + 1: marks entries whose counters are all 15 (flags) */
} orm__sketch;

/* The eviction policy. Every function is called under the cache's policy lock. Weights are
 * 1 per entry when the cache has a count limit, else the entry's charge. */
typedef struct orm__cpolicy {
    int kind; /* orm_cache_policy */
    int by_bytes;
    uint64_t max;                   /* weight capacity */
    orm__clist window, probation, protected_;
    orm__centry *sentinels; /* the three lists' sentinels */
    uint64_t wweight, pweight, protweight;
    uint64_t window_max, protected_max;
    orm__centry *cand;              /* newest admission candidate (from the window), or NULL */
    uint64_t ncand;
    orm__sketch sketch;
    /* ghosts of recent evictions: rejected candidates (0) and main victims (1); they move
     * the window/main boundary (policy.c) */
    uint64_t *ghost;
    uint64_t ghost_mask;
    uint32_t ghost_clock[2];
    uint64_t ghost_span;
    uint64_t ghost_evictions[2]; /* evictions of each kind, halved every GHOST_DECAY x max */
    double ghost_credit;         /* window change owed, in weight, below one entry's */
    /* the LRU shadow: an LRU simulated on a hash sample of the keys (policy.c); a key is in
     * the sample when orm__cpolicy_sampled says so; shadow_thresh 0: no shadow */
    struct orm__cshadow *shadow;
    uint32_t shadow_thresh;
    uint32_t lru_ahead; /* sampled accesses left in which main victims' ghosts do not shrink the window */
    uint64_t rng;
} orm__cpolicy;

int orm__cpolicy_init(orm__cpolicy *p, int kind, int by_bytes, uint64_t max, uint64_t expected_entries);
void orm__cpolicy_free(orm__cpolicy *p);
/* Forget every entry (they are freed by the caller). */
void orm__cpolicy_reset(orm__cpolicy *p);
void orm__cpolicy_insert(orm__cpolicy *p, orm__centry *e);
void orm__cpolicy_access(orm__cpolicy *p, orm__centry *e);

/* Queues shorter than this keep exact LRU order (see policy.c). */
#define ORM__NEAR_EXACT 256

/* Whether the key of hash is in the LRU shadow's sample (policy.c). */
static inline int orm__cpolicy_sampled(const orm__cpolicy *p, uint32_t hash)
{
    return p->shadow_thresh && hash * 0x9E3779B1u <= p->shadow_thresh;
}

/* The common case of orm__cpolicy_access, inline for the read-buffer drain: under W-TinyLFU,
 * an entry of a long protected or probation queue already marked referenced, whose sketch
 * counters are all 15 in this era. Such an access changes nothing and writes nothing.
 * Returns 0 when the full orm__cpolicy_access is needed. */
static inline int orm__cpolicy_access_quick(const orm__cpolicy *p, const orm__centry *e)
{
    unsigned want = ORM__E_REFERENCED | (unsigned)p->sketch.era << ORM__E_SATURATED_SHIFT;
    if ((e->flags & 0x0fu) != want || p->kind != ORM_CACHE_TINYLFU)
        return 0;
    if (orm__cpolicy_sampled(p, e->hash)) /* the LRU shadow must see every access of its keys */
        return 0;
    if (e->queue == ORM__Q_PROTECTED ? p->protected_.n < ORM__NEAR_EXACT
                                      : e->queue != ORM__Q_PROBATION || p->probation.n < ORM__NEAR_EXACT)
        return 0;
    return 1;
}
void orm__cpolicy_remove(orm__cpolicy *p, orm__centry *e);
/* e takes old's place: its queue, position and marks (same key; old leaves the policy). */
void orm__cpolicy_replace(orm__cpolicy *p, orm__centry *old, orm__centry *e);
/* The weight of e changed from old_charge to its current charge (a replaced value). */
void orm__cpolicy_reweigh(orm__cpolicy *p, orm__centry *e, uint32_t old_charge);
/* Called while the cache is over a limit: unlinks and returns the entry to evict, or NULL
 * when the policy holds nothing. */
orm__centry *orm__cpolicy_victim(orm__cpolicy *p);
/* End of an eviction pass: forget candidates; bring protected back within its share. */
void orm__cpolicy_maintain(orm__cpolicy *p);
uint64_t orm__cpolicy_weight(const orm__cpolicy *p, const orm__centry *e);

/* load-and-delete for the write decorators (write-through, write-back), called with the
 * key's stripe lock held: read the value through `from`, record the deletion with
 * record(dec, key) (the store's delete, or a dirty mark) and only then drop the key from
 * inner, so a failed record leaves the cache as it was. On failure *out is NULL. */
int orm__cache_take_recorded(orm_cache *from, orm_cache *inner, const char *key,
                             orm_cache_ref **out, int (*record)(void *dec, const char *key),
                             void *dec);


/* Little-endian 64-bit fields of the wire forms kept in Redis (the value header, the row
 * cache's generations): the same bytes on every host that shares the cache. */
static inline void orm__cache_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t orm__cache_get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#endif
