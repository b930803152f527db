/* A bloom filter of cache keys, to answer "certainly absent" without a load.
 *
 * m = -n ln(fp) / ln(2)^2 bits rounded up to whole words, k = round(m/n ln 2) probes by double
 * hashing of the 64-bit key hash (Kirsch-Mitzenmacher). Kept true: bits are only ever set,
 * with atomic OR, so concurrent adds and lookups need no lock and a key once added always
 * answers "maybe". */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"

struct orm_bloom {
    uint64_t m; /* bits */
    unsigned k;
    _Atomic uint64_t *words;
};

int orm_bloom_new(orm_bloom **out, size_t expected, double fp)
{
    if (!out || !expected || !(fp > 0 && fp < 1))
        return orm__error_set(ORM_EINVAL, "cache", "orm_bloom_new: needs expected > 0 and 0 < fp < 1");
    *out = NULL;
    double ln2 = log(2.0);
    double bits = -(double)expected * log(fp) / (ln2 * ln2);
    uint64_t words = (uint64_t)ceil(bits / 64.0);
    orm_bloom *b = orm__calloc(1, sizeof *b);
    if (!b)
        return orm__error_nomem("cache");
    b->words = orm__calloc(words, sizeof *b->words);
    if (!b->words) {
        orm__free(b);
        return orm__error_nomem("cache");
    }
    b->m = words * 64;
    double k = round((double)b->m / (double)expected * ln2);
    b->k = k < 1 ? 1 : k > 16 ? 16 : (unsigned)k;
    *out = b;
    return ORM_OK;
}

static void probes(const orm_bloom *b, const char *key, uint64_t *h1, uint64_t *h2)
{
    uint64_t h = orm__cache_hash(key, strlen(key));
    *h1 = h;
    *h2 = (h >> 32 | h << 32) * 0x9E3779B97F4A7C15ULL | 1;
}

void orm_bloom_add(orm_bloom *b, const char *key)
{
    if (!b || !key)
        return;
    uint64_t h1, h2;
    probes(b, key, &h1, &h2);
    for (unsigned i = 0; i < b->k; i++) {
        uint64_t bit = (h1 + i * h2) % b->m;
        atomic_fetch_or_explicit(&b->words[bit / 64], (uint64_t)1 << (bit % 64), memory_order_relaxed);
    }
}

int orm_bloom_maybe(const orm_bloom *b, const char *key)
{
    if (!b || !key)
        return 1;
    uint64_t h1, h2;
    probes(b, key, &h1, &h2);
    for (unsigned i = 0; i < b->k; i++) {
        uint64_t bit = (h1 + i * h2) % b->m;
        if (!(atomic_load_explicit(&b->words[bit / 64], memory_order_relaxed) & ((uint64_t)1 << (bit % 64))))
            return 0;
    }
    return 1;
}

size_t orm_bloom_bits(const orm_bloom *b) { return b ? (size_t)b->m : 0; }

void orm_bloom_free(orm_bloom *b)
{
    if (!b)
        return;
    orm__free((void *)b->words);
    orm__free(b);
}
