/* liborm internal — a bounded LRU cache of prepared statements, keyed by SQL text.
 *
 * One per connection (so no locking): repeating a query does not re-parse it, and a stream of
 * distinct queries cannot grow memory without limit — past `capacity` the least recently used
 * statement is handed to the evict callback (sqlite3_finalize, DEALLOCATE ...).
 * The cache copies the SQL text; statements are opaque pointers it never touches.
 */
#ifndef ORM_STMT_CACHE_H
#define ORM_STMT_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct orm_stmt_cache orm_stmt_cache;

/* Called for each statement leaving the cache (evicted, or at free). */
typedef void (*orm_stmt_evict_cb)(void *stmt, void *userdata);

typedef struct orm_stmt_cache_stats {
    uint64_t hits, misses, evictions;
    size_t count, capacity;
} orm_stmt_cache_stats;

/* capacity 0 is treated as 1. ORM_ENOMEM on failure (*out NULL). */
int orm__stmt_cache_new(orm_stmt_cache **out, size_t capacity, orm_stmt_evict_cb evict,
                        void *userdata);
/* Evict every statement (callback) and free. NULL is a no-op. */
void orm__stmt_cache_free(orm_stmt_cache *c);
/* The statement for this SQL (hash = orm__sql_hash(sql, len)), made most recently used;
 * NULL on a miss (counted). */
void *orm__stmt_cache_get(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash);
/* Add a statement not in the cache; evicts the least recently used one when full. On
 * ORM_ENOMEM the statement is not kept (the caller still owns it). */
int orm__stmt_cache_put(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash, void *stmt);
/* Remove (without the callback) and return the statement for this SQL, or NULL. For a
 * statement that turned out broken. */
void *orm__stmt_cache_take(orm_stmt_cache *c, const char *sql, size_t len, uint64_t hash);
void orm__stmt_cache_stats_get(const orm_stmt_cache *c, orm_stmt_cache_stats *out);

#endif
