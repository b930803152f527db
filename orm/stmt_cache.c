/* liborm — the bounded LRU cache of prepared statements (see stmt_cache.h).
 *
 * A chained hash table keyed by the caller's 64-bit SQL hash (verified by length and bytes;
 * the bytes compare is skipped when the caller passes the very pointer the entry was put
 * with and hash and length match: the builders' rendered-once SQL lives at one address for
 * the db's life, and a different text at a reused address would need a 64-bit collision at
 * the same length)
 * plus a doubly linked list in recency order: get, put and eviction are O(1). Each entry is
 * one allocation holding its SQL copy. Keeps true: count <= capacity at every return; every
 * statement that leaves (evicted or freed) goes to the evict callback exactly once, except
 * those handed back by take.
 */
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/stmt_cache.h"

typedef struct entry {
    struct entry *hnext;       /* bucket chain */
    struct entry *prev, *next; /* recency list: head is most recent */
    uint64_t hash;
    size_t len;
    const char *src;           /* the caller's text it was put with (compared, never read) */
    void *stmt;
    char sql[];
} entry;

struct orm_stmt_cache {
    entry **buckets;
    size_t mask;
    entry *head, *tail;
    size_t count, capacity;
    uint64_t hits, misses, evictions;
    orm_stmt_evict_cb evict;
    void *userdata;
};

/* Bucket counts beyond this stop growing with capacity: chains just get longer. */
#define MAX_BUCKETS ((size_t)1 << 16)

int orm__stmt_cache_new(orm_stmt_cache **out, size_t capacity, orm_stmt_evict_cb evict,
                        void *userdata)
{
    *out = NULL;
    if (capacity == 0)
        capacity = 1;
    size_t nb = 8;
    while (nb < capacity && nb < MAX_BUCKETS)
        nb <<= 1;
    orm_stmt_cache *c = orm__calloc(1, sizeof *c);
    if (!c)
        return orm__error_nomem("stmt_cache");
    c->buckets = orm__calloc(nb, sizeof *c->buckets);
    if (!c->buckets) {
        orm__free(c);
        return orm__error_nomem("stmt_cache");
    }
    c->mask = nb - 1;
    c->capacity = capacity;
    c->evict = evict;
    c->userdata = userdata;
    *out = c;
    return ORM_OK;
}

static entry **slot_of(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash)
{
    entry **pp = &c->buckets[(size_t)(hash ^ (hash >> 29)) & c->mask];
    for (; *pp; pp = &(*pp)->hnext) {
        entry *e = *pp;
        if (e->hash == hash && e->len == len && (e->src == sql || memcmp(e->sql, sql, len) == 0))
            return pp;
    }
    return pp;
}

static void list_unlink(orm_stmt_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(orm_stmt_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

/* Remove e from the bucket and the list and free it; returns its statement. */
static void *remove_entry(orm_stmt_cache *c, entry *e)
{
    entry **pp = slot_of(c, e->sql, e->len, e->hash);
    *pp = e->hnext;
    list_unlink(c, e);
    c->count--;
    void *stmt = e->stmt;
    orm__free(e);
    return stmt;
}

void orm__stmt_cache_free(orm_stmt_cache *c)
{
    if (!c)
        return;
    entry *e = c->head;
    while (e) {
        entry *next = e->next;
        if (c->evict)
            c->evict(e->stmt, c->userdata);
        orm__free(e);
        e = next;
    }
    orm__free(c->buckets);
    orm__free(c);
}

void *orm__stmt_cache_get(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash)
{
    entry *e = *slot_of(c, sql, len, hash);
    if (!e) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    if (c->head != e) {
        list_unlink(c, e);
        list_push_front(c, e);
    }
    return e->stmt;
}

int orm__stmt_cache_put(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash, void *stmt)
{
    entry **pp = slot_of(c, sql, len, hash);
    if (*pp)
        return orm__error_set(ORM_EINVAL, "stmt_cache", "statement already cached");
    entry *e = orm__malloc(sizeof *e + len + 1);
    if (!e)
        return orm__error_nomem("stmt_cache");
    e->hash = hash;
    e->len = len;
    e->src = sql;
    e->stmt = stmt;
    memcpy(e->sql, sql, len);
    e->sql[len] = '\0';
    /* Evict first, then link: eviction may change the chain pp points into. */
    while (c->count >= c->capacity && c->tail) {
        void *old = remove_entry(c, c->tail);
        c->evictions++;
        if (c->evict)
            c->evict(old, c->userdata);
    }
    pp = slot_of(c, sql, len, hash);
    e->hnext = NULL;
    *pp = e;
    list_push_front(c, e);
    c->count++;
    return ORM_OK;
}

void *orm__stmt_cache_take(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash)
{
    entry *e = *slot_of(c, sql, len, hash);
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
    out->count = c->count;
    out->capacity = c->capacity;
}
