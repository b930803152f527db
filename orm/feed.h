/* liborm internal — the db's side of the change feed. The feed itself (orm_driver_feed, its
 * sink, options, listener and cell) is part of the public driver interface,
 * include/orm/sys/driver.h: every driver, built-in or registered, offers it the same way.
 * This adds what the layer above (the row cache, cache/row_cache_notify.c) calls, so that it
 * never names a backend, and the cell's definition.
 *
 * Keeps true: a db's cell holds its sink only while a listener runs (published before start,
 * cleared before stop), so a connection hook never calls a sink that is being freed.
 */
#ifndef ORM_FEED_H
#define ORM_FEED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/driver.h"
#include "orm/model.h"

/* The db's cell (opaque to drivers: orm_driver_feed_cell_sink reads it). */
struct orm_driver_feed_cell {
    _Atomic(const orm_driver_feed_sink *) sink;
};

/* ---- the db's side (orm/feed.c) ---- */

/* Whether db's backend has a feed: 0 (and an ORM_EINVAL error naming the backend) if not. */
int orm__db_feed_ok(orm_db *db);
int orm__db_feed_install(orm_db *db, orm_ctx *ctx, const orm_model *m, const char *prefix,
                         size_t row_limit);
int orm__db_feed_remove(orm_db *db, orm_ctx *ctx, const orm_model *m);
/* Publish sink to every connection of db (now and later) and start the listener. */
int orm__db_feed_start(orm_db *db, orm_driver_listener **out, const orm_driver_feed_sink *sink,
                       const orm_driver_feed_options *o);
/* The listener's synchronous check (feed->check), when it has one. */
void orm__db_feed_check(orm_db *db, orm_driver_listener *l);
/* Stop: no callback runs after this returns. */
void orm__db_feed_stop(orm_db *db, orm_driver_listener *l);
/* 1 when rowid reports of table name column (its single-column key), 0 if not, < 0 error. */
int orm__db_feed_rowid_is(orm_db *db, const char *table, const char *column);

/* 1 when every key column of m has an exact SQL text form of the row cache's key encoding
 * (row_cache.h "Keys"), so a trigger can name each row's key; 0 when one is a double or a
 * timestamp (their text in SQL differs), and the built-in feeds report the table whole. */
int orm__feed_keys_exact(const orm_model *m);

/* db.c: the cell every connection of db watches. */
orm_driver_feed_cell *orm__db_feed_cell(orm_db *db);
const char *orm__db_dsn(const orm_db *db);

#endif
