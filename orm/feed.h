/* liborm internal — the change feed: how a driver tells the layer above (the row cache) which
 * rows and tables other writers changed, without that layer naming a backend.
 *
 * A driver that can report changes sets orm_driver.feed. Three sources, one sink:
 *   - triggers (PostgreSQL): install / remove per table; they send the row cache key of each
 *     changed row, or the table when a statement touches more than row_limit rows;
 *   - a listener (started once per db, its own connection and thread): delivers what the
 *     triggers sent, and reports `lost` when it may have missed some (connection lost);
 *   - connection hooks (SQLite): every connection the db opens reports the (table, rowid) of
 *     each row written through it, after the commit; a poller reports `lost` when another
 *     process committed to the file.
 * The sink's callbacks run on the listener's thread or on the committing thread, never with a
 * lock of the caller held: they may take their own.
 */
#ifndef ORM_FEED_H
#define ORM_FEED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/driver.h"
#include "orm/model.h"

typedef struct orm__feed_sink {
    /* key (NUL-terminated): a row cache key ("<escaped table>:<encoded pk>", row_cache.h "Keys") */
    void (*key)(void *ud, const char *key, size_t len);
    /* prefix (NUL-terminated): "<escaped table>:" — every row of that table */
    void (*table)(void *ud, const char *prefix, size_t len);
    /* table (as SQLite names it) and the rowid of a committed change; whole: too many rows
     * changed, every row of the table */
    void (*rowid)(void *ud, const char *table, int64_t rowid, int whole);
    /* changes may have been missed: drop everything listened. connected 1: the listener
     * (re)connected and listens now; 0: it lost its connection, or another process changed
     * the file (SQLite) */
    void (*lost)(void *ud, int connected);
    /* a line for the log (reconnects, losses) */
    void (*event)(void *ud, const char *msg);
    void *ud;
} orm__feed_sink;

typedef struct orm__feed_options {
    int64_t poll_ms;        /* SQLite: PRAGMA data_version period; < 0: no poller */
    int64_t backoff_max_ms; /* PostgreSQL: longest wait between reconnects */
} orm__feed_options;

typedef struct orm__feed orm__feed; /* a running listener / poller, defined by each driver */
typedef _Atomic(const orm__feed_sink *) orm__feed_cell;

typedef struct orm__feed_ops {
    /* Triggers on model's table sending prefix + key; NULL when the backend needs none. */
    int (*install)(orm_conn *c, const orm_model *m, const char *prefix, size_t row_limit);
    int (*remove)(orm_conn *c, const orm_model *m);
    /* Start the db's listener on dsn reporting to sink (valid until stop). */
    int (*start)(orm__feed **out, const char *dsn, const orm__feed_sink *sink,
                 const orm__feed_options *o);
    void (*stop)(orm__feed *f);
    /* Check now, on the caller's thread, what the listener checks periodically (SQLite:
     * data_version), reporting to the sink before it returns; NULL when there is nothing to
     * check synchronously. */
    void (*check)(orm__feed *f);
    /* Hook a connection the db opened to the db's cell (NULL when none is needed); what it
     * keeps is freed by the driver's close. ORM_ENOMEM: close the connection. */
    int (*watch_conn)(orm_conn *c, orm__feed_cell *cell);
    /* 1 when column of table is the table's rowid (rowid reports name the key), else 0. */
    int (*rowid_is)(orm_conn *c, const char *table, const char *column);
} orm__feed_ops;

/* ---- the db's side (orm/feed.c) ---- */

/* Whether db's backend has a feed: 0 (and an ORM_EINVAL error naming the backend) if not. */
int orm__db_feed_ok(orm_db *db);
int orm__db_feed_install(orm_db *db, orm_ctx *ctx, const orm_model *m, const char *prefix,
                         size_t row_limit);
int orm__db_feed_remove(orm_db *db, orm_ctx *ctx, const orm_model *m);
/* Publish sink to every connection of db (now and later) and start the listener. */
int orm__db_feed_start(orm_db *db, orm__feed **out, const orm__feed_sink *sink,
                       const orm__feed_options *o);
/* The listener's synchronous check (ops->check), when it has one. */
void orm__db_feed_check(orm_db *db, orm__feed *f);
/* Stop: no callback runs after this returns. */
void orm__db_feed_stop(orm_db *db, orm__feed *f);
/* 1 when rowid reports of table name column (its single-column key), 0 if not, < 0 error. */
int orm__db_feed_rowid_is(orm_db *db, const char *table, const char *column);

/* db.c: the cell every connection of db watches. */
orm__feed_cell *orm__db_feed_cell(orm_db *db);
const char *orm__db_dsn(const orm_db *db);

#endif
