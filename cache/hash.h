/* liborm internal — the cache's key hash: 64 bits, well mixed, fast on the short keys a cache
 * sees ("users:42"). Used by the local backend (shard, table group and tag, sketch), the bloom
 * filter and the decorators' lock stripes. Inline, because it is a fifth of a cache hit's
 * instructions and a call would add a tenth to that. */
#ifndef ORM_CACHE_HASH_H
#define ORM_CACHE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t orm__hash_rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t orm__hash_rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t orm__hash_rotl64(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }

/* Keys are short (a table and an id), so the hash reads them in at most two fixed-size loads
 * per 16 bytes, the last ones overlapping, instead of a byte loop or a variable-length memcpy
 * (the old hash spent 60 instructions on a 12-byte key; this one about 20). Each word is
 * multiplied by an odd constant (a bijection) before they are combined, and a murmur3
 * finalizer spreads every input bit over the result. */
static inline uint64_t orm__cache_hash(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = (uint64_t)len * 0x9E3779B97F4A7C15ULL, a, b;
    if (len <= 16) {
        if (len >= 8) {
            a = orm__hash_rd64(p);
            b = orm__hash_rd64(p + len - 8);
        } else if (len >= 4) {
            a = orm__hash_rd32(p);
            b = orm__hash_rd32(p + len - 4);
        } else {
            a = len ? ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1] : 0;
            b = 0;
        }
    } else {
        size_t n = len;
        while (n > 16) {
            h = orm__hash_rotl64(h ^ orm__hash_rd64(p) * 0x87C37B91114253D5ULL ^ orm__hash_rotl64(orm__hash_rd64(p + 8) * 0x4CF5AD432745937FULL, 31), 27);
            h = h * 5 + 0x52DCE729;
            p += 16;
            n -= 16;
        }
        a = orm__hash_rd64(p + n - 16);
        b = orm__hash_rd64(p + n - 8);
    }
    h ^= a * 0x87C37B91114253D5ULL ^ orm__hash_rotl64(b * 0x4CF5AD432745937FULL, 31);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
