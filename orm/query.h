/* liborm internal — a built statement (orm_query, defined for drivers in orm/sys/driver.h)
 * as it travels from the builders through the session and the middleware chain to the
 * driver. Built once and shared: nothing after the builder modifies it (a middleware that
 * rewrites the SQL, orm_stmt_set_sql, changes what the inner layers see; the chain hands the
 * driver a copy of the orm_query with the new text). The kinds are orm_stmt_kind's values
 * (middleware.h; orm/middleware.c asserts it). */
#ifndef ORM_QUERY_H
#define ORM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "orm/model.h"
#include "orm/sys/driver.h"
#include "orm/value.h"

/* FNV-1a 64 over the SQL text: the key of the prepared-statement caches. */
static inline uint64_t orm__sql_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

#endif
