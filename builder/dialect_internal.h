/* liborm builder internal — what a dialect knows. Dialects are immutable singletons. */
#ifndef ORM_BUILDER_DIALECT_INTERNAL_H
#define ORM_BUILDER_DIALECT_INTERNAL_H

#include <stddef.h>

#include "orm/db.h"
#include "orm/dialect.h"

struct orm_dialect {
    const char *name;          /* "sqlite", "postgres" */
    int numbered_params;       /* 0: ?   1: $1, $2 ... */
    const char *true_lit;      /* boolean literals for constant predicates */
    const char *false_lit;
    int has_returning;         /* INSERT/UPDATE ... RETURNING */
    int has_last_insert_id;    /* the driver reports the last inserted rowid */
    int needs_limit_for_offset;/* OFFSET needs a LIMIT before it (SQLite: LIMIT -1) */
    size_t max_params;         /* bound parameters per statement */
    int has_upsert;            /* ON CONFLICT (...) DO NOTHING / DO UPDATE SET c = excluded.c
                                  (both dialects have it; the insert builder does not ask) */
    /* A multi-row INSERT that leaves the integer key to the database gets consecutive keys
     * ending at the last insert id (SQLite's rowid rule: max(rowid) + 1 per row), so keys
     * can be written back without RETURNING, which costs SQLite ~1.5 us a row. */
    int sequential_rowids;
};

/* The dialect of a db's backend (PostgreSQL for "postgres", SQLite otherwise). */
const orm_dialect *orm__dialect_for_db(orm_db *db);

/* Rows per multi-row INSERT at most, so statement caches keep a few shapes, not thousands. */
#define ORM_INSERT_MAX_ROWS 500

#endif
