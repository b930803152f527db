/* liborm — the bounded LRU cache of prepared statements (see stmt_cache.h).
 *
 * A uthash table (orm/hash.h) keyed by the SQL text, looked up and added by the caller's 64-bit
 * SQL hash folded to uthash's 32 bits (HASH_FIND_BYHASHVALUE / HASH_ADD_KEYPTR_BYHASHVALUE: the
 * text is never hashed again). A candidate is verified by the full 64-bit hash, the length and
 * the bytes; the bytes compare is skipped when the caller passes the very pointer the entry was
 * put with: the builders' rendered-once SQL lives at one address for the db's life, and a
 * different text at a reused address would need a 64-bit collision at the same length.
 *
 * Recency is uthash's own insertion order, the LRU idiom its documentation gives: a hit that is
 * not already the newest item is deleted and added again (so it becomes the table's tail), and
 * eviction takes the table's head, the least recently used. get, put and eviction are O(1).
 * Each entry is one allocation holding its SQL copy (the key uthash points at).
 *
 * Keeps true: count <= capacity at every return; every statement that leaves (evicted, dropped
 * by an out-of-memory re-add, or freed) goes to the evict callback exactly once, except those
 * handed back by take; a statement returned by get is in the cache.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/stmt_cache.h"

/* uthash compares a candidate whose folded hash and key length match the probe's with
 * HASH_KEYCMP. Ours also checks the full 64-bit hash (`hash64`, a variable every function that
 * finds declares) and takes the same-pointer shortcut; the macro expands in the caller. */
#define HASH_KEYCMP(stored, probe, n) key_cmp((const char *)(stored), (const char *)(probe), (n), hash64)
#include "orm/hash.h"

typedef struct entry {
    UT_hash_handle hh;         /* key: sql[0..len); insertion order is recency, oldest first */
    uint64_t hash;
    size_t len;
    const char *src;           /* the caller's text it was put with (compared, never read) */
    void *stmt;
    char sql[];
} entry;

struct orm_stmt_cache {
    entry *table;              /* uthash head; NULL when empty */
    size_t capacity;
    uint64_t hits, misses, evictions;
    orm_stmt_evict_cb evict;
    void *userdata;
};

static int key_cmp(const char *stored, const char *probe, size_t n, uint64_t hash64)
{
    const entry *e = (const entry *)(const void *)(stored - offsetof(entry, sql));
    if (e->hash != hash64 || e->len != n)
        return 1;
    return e->src == probe ? 0 : memcmp(stored, probe, n);
}

/* uthash's hash value is 32 bits: fold the 64 so both halves pick the bucket. */
static unsigned fold(uint64_t hash) { return (unsigned)(hash ^ (hash >> 32)); }

int orm__stmt_cache_new(orm_stmt_cache **out, size_t capacity, orm_stmt_evict_cb evict,
                        void *userdata)
{
    *out = NULL;
    orm_stmt_cache *c = orm__calloc(1, sizeof *c);
    if (!c)
        return orm__error_nomem("stmt_cache");
    c->capacity = capacity ? capacity : 1;
    c->evict = evict;
    c->userdata = userdata;
    *out = c;
    return ORM_OK;
}

static inline entry *find(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash64)
{
    entry *e = NULL;
    HASH_FIND_BYHASHVALUE(hh, c->table, sql, (unsigned)len, fold(hash64), e);
    return e;
}

/* Remove e from the table and free it; returns its statement. */
static void *remove_entry(orm_stmt_cache *c, entry *e)
{
    HASH_DELETE(hh, c->table, e);
    void *stmt = e->stmt;
    orm__free(e);
    return stmt;
}

void orm__stmt_cache_free(orm_stmt_cache *c)
{
    if (!c)
        return;
    entry *e, *tmp;
    HASH_ITER(hh, c->table, e, tmp) {
        void *stmt = remove_entry(c, e);
        if (c->evict)
            c->evict(stmt, c->userdata);
    }
    orm__free(c);
}

/* Out of line, so the hit path (already the newest: a statement repeated back to back) does
 * not pay for the registers the delete and add need. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int make_newest(orm_stmt_cache *c, entry *e)
{
    /* Delete and add again. e is not the only item (it is not the tail), so the delete keeps
     * the table, and the add puts e back into the bucket it just left, at the same count, so
     * it does not grow the buckets either: it allocates nothing (test_stmt_cache's
     * a_hit_never_allocates). Should a uthash release ever allocate here and fail, the
     * statement leaves the cache and the get is a miss. */
    int hash_oom = 0;
    HASH_DELETE(hh, c->table, e);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, c->table, e->sql, (unsigned)e->len, fold(e->hash), e);
    if (!hash_oom)
        return 1;
    void *stmt = e->stmt;
    orm__free(e);
    c->evictions++;
    if (c->evict)
        c->evict(stmt, c->userdata);
    return 0;
}

void *orm__stmt_cache_get(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash)
{
    entry *e = find(c, sql, len, hash);
    if (!e || (c->table->hh.tbl->tail != &e->hh && !make_newest(c, e))) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    return e->stmt;
}

int orm__stmt_cache_put(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash, void *stmt)
{
    if (find(c, sql, len, hash))
        return orm__error_set(ORM_EINVAL, "stmt_cache", "statement already cached");
    entry *e = orm__malloc(sizeof *e + len + 1);
    if (!e)
        return orm__error_nomem("stmt_cache");
    memset(&e->hh, 0, sizeof e->hh);
    e->hash = hash;
    e->len = len;
    e->src = sql;
    e->stmt = stmt;
    memcpy(e->sql, sql, len);
    e->sql[len] = '\0';
    /* Add first, so a failed add leaves the cache as it was; then evict from the head of
     * uthash's insertion order, the least recently used, until count <= capacity. */
    int hash_oom = 0;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, c->table, e->sql, (unsigned)len, fold(hash), e);
    if (hash_oom) {
        orm__free(e);
        return orm__error_nomem("stmt_cache");
    }
    while (HASH_COUNT(c->table) > c->capacity) {
        void *old = remove_entry(c, c->table);
        c->evictions++;
        if (c->evict)
            c->evict(old, c->userdata);
    }
    return ORM_OK;
}

void *orm__stmt_cache_take(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash)
{
    entry *e = find(c, sql, len, hash);
    return e ? remove_entry(c, e) : NULL;
}

void orm__stmt_cache_stats_get(const orm_stmt_cache *c, orm_stmt_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->count = HASH_COUNT(c->table);
    out->capacity = c->capacity;
}
