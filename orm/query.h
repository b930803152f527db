/* liborm internal — a built statement, as it travels from the builders through the session
 * and the middleware chain to the driver. Built once and shared: nothing after the builder
 * modifies it (a middleware that rewrites the SQL, orm_stmt_set_sql, changes what the inner
 * layers see; the chain hands the driver a copy of the orm_query with the new text). The
 * kinds are orm_stmt_kind's values (middleware.h; orm/middleware.c asserts it). */
#ifndef ORM_QUERY_H
#define ORM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "orm/model.h"
#include "orm/value.h"

typedef enum orm_query_kind {
    ORM_QUERY_SELECT,
    ORM_QUERY_INSERT,
    ORM_QUERY_UPDATE,
    ORM_QUERY_DELETE,
    ORM_QUERY_RAW,
    ORM_QUERY_DDL,
    ORM_QUERY_BEGIN,
    ORM_QUERY_COMMIT,
    ORM_QUERY_ROLLBACK,
    ORM_QUERY_SAVEPOINT
} orm_query_kind;

typedef struct orm_query {
    orm_query_kind kind;
    const orm_model *model; /* NULL for raw and transaction statements */
    const char *sql;
    size_t sql_len;
    uint64_t sql_hash;      /* orm__sql_hash(sql, sql_len), or 0: computed by the driver */
    const orm_value *args;
    size_t nargs;
    const struct orm_stmt_intent *intent; /* what it is for (middleware.h); NULL: SQL only */
} orm_query;

/* What a statement that returns no rows reports. */
typedef struct orm_exec_result {
    int64_t affected;  /* rows changed */
    int64_t last_id;   /* SQLite: the last inserted rowid; PostgreSQL: 0 (use RETURNING) */
} orm_exec_result;

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
