/* The row cache over a cache that processes share (Redis, or two levels in front of Redis):
 * the cached value's wire encoding, and the model generations kept in that cache.
 *
 * Encoding of a cached value (the rc_hdr then the row), behind the Redis backend's tag, TTL and
 * fingerprint: a version byte, found (1 byte), the model generation, the insert generation and
 * the key generation (8 bytes little-endian each), then, when found, the model row codec's
 * encoding of the row (codec.c). Its fingerprint mixes the row codec's with this layout's, so a
 * changed model or a changed layout reads an old entry as a miss (counted as a stale read).
 *
 * Generations. In one process a whole-model drop bumps an atomic; processes sharing a Redis
 * must see each other's drops, so there the model's generation (and its insert generation, for
 * not-found answers) is a counter in the shared cache itself, under "<table>:#g" and
 * "<table>:#i" ('#' starts no key component, so these never meet a row key). A drop is an
 * INCR; a read of a row reads the counters with it (on Redis one MGET: one round trip, and
 * atomic, so a row and the generation it is checked against are of one moment); a load stamps
 * the generations it read before its database read.
 *
 * Kept true: a counter only grows while it exists, and a counter that was lost (Redis
 * restarted or evicted it) comes back at a fresh random value of at least 2^40, never at a value
 * it had before (a value below 2^40 is not taken as a generation: an INCR of a lost counter
 * starts at 1, and is replaced at once); a generation that could not be read is 0, which no
 * counter ever equals, so a value stamped with it is never served and a read without it is a
 * miss. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#ifdef ORM_WITH_REDIS
#include "cache/cache_internal.h"
#include "cache/redis_internal.h"
#include "orm/cache_redis.h"
#endif

#define VALUE_VERSION 1u
#define HEAD (1 + 1 + 3 * 8)
#define GEN_FLOOR (UINT64_C(1) << 40)

/* ---- the value's encoding ---- */

static uint64_t value_fp(void *ud) { return ((const rc_model *)ud)->fp; }

static int value_encode(const void *obj, unsigned char *buf, size_t cap, size_t *len, void *ud)
{
    const rc_model *m = ud;
    const rc_hdr *h = obj;
    size_t body = 0;
    if (h->found) {
        const void *row = h->indirect ? h->row : (const char *)obj + RC_ROW_OFF;
        unsigned char *at = buf && cap > HEAD ? buf + HEAD : NULL;
        int rc = m->rowt.encode(row, at, at ? cap - HEAD : 0, &body, m->rowt.userdata);
        if (rc)
            return rc;
    }
    *len = HEAD + body;
    if (!buf || cap < *len)
        return ORM_OK;
    buf[0] = VALUE_VERSION;
    buf[1] = h->found ? 1 : 0;
    orm__cache_put_le64(buf + 2, h->mgen);
    orm__cache_put_le64(buf + 10, h->igen);
    orm__cache_put_le64(buf + 18, h->kgen);
    return ORM_OK;
}

static int value_decode(void *dst, const unsigned char *data, size_t len, void *ud)
{
    const rc_model *m = ud;
    rc_hdr *h = dst;
    if (len < HEAD || data[0] != VALUE_VERSION || data[1] > 1)
        return orm__error_set(ORM_EPARSE, "row_cache", "a cached row of \"%s\": not this layout", m->model->table);
    h->mgen = orm__cache_get_le64(data + 2);
    h->igen = orm__cache_get_le64(data + 10);
    h->kgen = orm__cache_get_le64(data + 18);
    h->indirect = 0;
    h->row = NULL;
    h->found = 0;
    if (!data[1])
        return len == HEAD ? ORM_OK
                           : orm__error_set(ORM_EPARSE, "row_cache", "a cached not-found of \"%s\" with a row",
                                            m->model->table);
    /* The codec gives a struct owning its text and blobs; the cached value is packed (as
     * value_copy makes it), so decode aside and pack it in. */
    void *row = orm__calloc(1, m->model->struct_size);
    if (!row)
        return orm__error_nomem("row_cache");
    int rc = m->rowt.decode(row, data + HEAD, len - HEAD, m->rowt.userdata);
    if (rc == ORM_OK) {
        h->found = 1;
        rc = orm__rc_pack(m, h, row);
    }
    orm_model_clear(m->model, row);
    orm__free(row);
    return rc;
}

int orm__rc_shared_type(rc_model *m)
{
    int rc = orm_cache_type_from_model(&m->rowt, m->model);
    if (rc)
        return rc;
    /* the row codec's fingerprint, mixed with this layout's version (FNV-1a step) */
    m->fp = (orm_cache_model_fingerprint(m->model) ^ (0x72635f76616cULL + VALUE_VERSION)) * 0x100000001b3ULL;
    m->type.fingerprint = value_fp;
    m->type.encode = value_encode;
    m->type.decode = value_decode;
    return ORM_OK;
}

/* ---- which caches are shared ---- */

int orm__rc_cache_is_shared(const orm_cache *c, int *redis)
{
    *redis = 0;
#ifdef ORM_WITH_REDIS
    if (c && c->ops == &orm__cache_redis_ops) {
        *redis = 1;
        return 1;
    }
    return orm__cache_is_two_level(c);
#else
    (void)c;
    return 0;
#endif
}

int orm__rc_shared_keys(rc_model *m)
{
    size_t n = m->prefix_len + 3;
    m->gkey = orm__malloc(n);
    m->ikey = orm__malloc(n);
    if (!m->gkey || !m->ikey)
        return orm__error_nomem("row_cache");
    snprintf(m->gkey, n, "%s#g", m->prefix);
    snprintf(m->ikey, n, "%s#i", m->prefix);
    return ORM_OK;
}

int orm__rc_shared_register(rc_model *m)
{
#ifdef ORM_WITH_REDIS
    return orm_cache_redis_add_type(m->rc->cache, &m->type);
#else
    (void)m;
    return ORM_OK;
#endif
}

/* ---- generations ---- */

static uint64_t fresh_gen(void)
{
    static _Atomic uint64_t seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 20) ^
                 (atomic_fetch_add(&seq, 1) * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; /* splitmix64's finalizer */
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return GEN_FLOOR + (z >> 2) % ((UINT64_C(1) << 62) - GEN_FLOOR);
}

/* The counter value of r, or 0 when r is not a counter of a generation's range. */
static uint64_t gen_of(const orm_cache_ref *r)
{
    int64_t v;
    return r && orm_cache_ref_int(r, &v) && (uint64_t)v >= GEN_FLOOR ? (uint64_t)v : 0;
}

/* A lost (or never made) counter gets a fresh value: stored if none is there (another process
 * may have just made one: then that one), or over a value below the floor. 0 when Redis does
 * not answer. */
static uint64_t gen_renew(orm_cache *c, const char *gkey, int overwrite)
{
    orm_cache_ref *v = NULL, *got = NULL;
    if (orm_cache_ref_new_int(&v, (int64_t)fresh_gen()) != ORM_OK)
        return 0;
    uint64_t g = 0;
    if (overwrite) {
        if (orm_cache_set(c, gkey, v, 0) == ORM_OK)
            g = gen_of(v);
    } else if (orm_cache_load_or_store(c, gkey, v, 0, &got, NULL) == ORM_OK) {
        g = gen_of(got);
    }
    orm_cache_ref_release(got);
    orm_cache_ref_release(v);
    return g;
}

/* One generation read alone (two levels: usually the local level's copy). */
static uint64_t gen_read(orm_cache *c, const char *gkey)
{
    orm_cache_ref *r = NULL;
    int rc = orm_cache_get(c, gkey, &r);
    uint64_t g = rc == ORM_OK ? gen_of(r) : 0;
    int have = rc == ORM_OK;
    orm_cache_ref_release(r);
    if (g)
        return g;
    /* ORM_ENOTFOUND is also what a bypassed Redis answers: then the renewal is dropped too */
    return rc == ORM_OK || rc == ORM_ENOTFOUND ? gen_renew(c, gkey, have) : 0;
}

/* A generation over two levels: the counter read last, while the local level's stamp of its
 * key has not moved (no invalidation of the key, no clear, tracking up), else read again
 * through the local level. This spares a hit a second hash lookup and clock read; it is as
 * current as the local level's own copy (orm__two_level_stamp). */
static uint64_t gen_mirrored(const rc_model *m, struct rc_mirror *mr, const char *gkey)
{
    orm_cache *c = m->rc->cache;
#ifdef ORM_WITH_REDIS
    uint64_t s0 = m->rc->redis ? 0 : orm__two_level_stamp(c, gkey);
    uint64_t q = atomic_load_explicit(&mr->seq, memory_order_acquire);
    if (s0 && !(q & 1)) {
        uint64_t g = atomic_load_explicit(&mr->gen, memory_order_relaxed);
        uint64_t st = atomic_load_explicit(&mr->stamp, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&mr->seq, memory_order_relaxed) == q && st == s0 && g)
            return g;
    }
    uint64_t g = gen_read(c, gkey);
    /* one writer at a time; a thread that loses the race just does not record its read */
    if (s0 && g && !(q & 1) &&
        atomic_compare_exchange_strong_explicit(&mr->seq, &q, q + 1, memory_order_acquire, memory_order_relaxed)) {
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&mr->gen, g, memory_order_relaxed);
        atomic_store_explicit(&mr->stamp, s0, memory_order_relaxed);
        atomic_store_explicit(&mr->seq, q + 2, memory_order_release);
    }
    return g;
#else
    (void)mr;
    return gen_read(c, gkey);
#endif
}

void orm__rc_shared_gens(const rc_model *m, rc_gens *g)
{
    g->mgen = gen_mirrored(m, (struct rc_mirror *)&m->gm, m->gkey);
    g->igen = m->o.negative ? gen_mirrored(m, (struct rc_mirror *)&m->im, m->ikey) : 0;
}

int orm__rc_shared_get(const rc_model *m, const char *key, orm_cache_ref **out, rc_gens *g)
{
    orm_cache *c = m->rc->cache;
    *out = NULL;
#ifdef ORM_WITH_REDIS
    if (m->rc->redis) { /* one round trip: the counters and the row together */
        const char *keys[3] = { m->gkey, m->ikey, key };
        orm_cache_ref *refs[3] = { NULL, NULL, NULL };
        size_t n = m->o.negative ? 3 : 2;
        if (!m->o.negative)
            keys[1] = key;
        int rc = orm__redis_mget(c, keys, n, refs);
        if (rc != ORM_OK)
            return rc;
        g->mgen = gen_of(refs[0]);
        g->igen = m->o.negative ? gen_of(refs[1]) : 0;
        *out = refs[n - 1];
        for (size_t i = 0; i + 1 < n; i++)
            orm_cache_ref_release(refs[i]);
        if (!g->mgen || (m->o.negative && !g->igen)) { /* lost: make them anew, read as a miss */
            orm__rc_shared_gens(m, g);
            orm_cache_ref_release(*out);
            *out = NULL;
        }
        return ORM_OK;
    }
#endif
    orm__rc_shared_gens(m, g);
    if (!g->mgen)
        return orm__error_set(ORM_ENOTFOUND, "row_cache", "the shared generation of \"%s\" is not readable",
                              m->model->table);
    int rc = orm_cache_get(c, key, out);
    return rc == ORM_ENOTFOUND ? ORM_OK : rc;
}

void orm__rc_shared_bump(const rc_model *m, int inserts)
{
    orm_cache *c = m->rc->cache;
    const char *k = inserts ? m->ikey : m->gkey;
    int64_t v = 0;
    int rc = orm_cache_incr(c, k, 1, 0, &v);
    if (rc == ORM_OK && (uint64_t)v < GEN_FLOOR)
        gen_renew(c, k, 1); /* the counter had been lost: INCR made it anew at 1 */
    else if (rc != ORM_OK)
        /* Redis unreachable (or the counter unreadable): drop the counter instead. The Redis
         * backend remembers a delete it cannot send and replays it before Redis is read again;
         * a dropped counter comes back at a fresh random value, so every row stamped with the
         * old one is stale, as after the INCR. */
        orm_cache_delete(c, k);
}
