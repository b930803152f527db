/* liborm internal — what the SQLite driver offers beyond orm_driver: introspection for the
 * tests and the bench. */
#ifndef ORM_DRIVER_SQLITE_H
#define ORM_DRIVER_SQLITE_H

#include "orm/driver.h"
#include "orm/stmt_cache.h"

struct sqlite3;

/* The statement cache counters of a SQLite connection. */
void orm__sqlite_stmt_cache_stats(orm_conn *c, orm_stmt_cache_stats *out);

/* The sqlite3 * handle of a connection (for tests that need a second look). */
void *orm__sqlite_handle(orm_conn *c);

/* 1 when the SQLite DSN (with or without "sqlite:") names a private database that lives
 * and dies with its one connection: ":memory:", a file: URI whose path is ":memory:" or that
 * says mode=memory, or an empty name (a private temporary file). A path that merely holds
 * ":memory:" is a file. (orm/driver/sqlite/dsn.c) */
int orm__sqlite_dsn_private(const char *dsn);

/* The driver's change feed (feed.c). */
extern const orm_driver_feed orm__sqlite_feed;

/* The change feed's connection hooks (orm/driver/sqlite/feed.c). */
typedef struct orm__sqlite_watch orm__sqlite_watch;
int orm__sqlite_feed_watch(orm__sqlite_watch **out, struct sqlite3 *db, const orm_driver_feed_cell *cell);
void orm__sqlite_feed_unwatch(orm__sqlite_watch *w);
/* After a statement returned: report what a commit it ended wrote. */
void orm__sqlite_feed_after(orm__sqlite_watch *w);
/* driver.c: the file a DSN names, its options ("?mode=..." etc.) removed, allocated
 * (orm__free); NULL with the error set for a malformed DSN or no memory. */
char *orm__sqlite_dsn_path(const char *dsn);
/* driver.c: hook c (its sqlite3 handle) to cell. */
int orm__sqlite_conn_watch(orm_conn *c, const orm_driver_feed_cell *cell);

/* The driver's row mapper (orm_driver.map_row): reads each column once in the type its field
 * wants and hands anything unusual (NULL, conversions, errors) to orm__map_value. */
int orm__sqlite_map_row(orm_cursor *cur, const orm_model *m, const size_t *fields, size_t ncols,
                        void *obj);

/* The facts (orm/driver/sqlite/facts.c). */
const char *orm__sqlite_begin_sql(const orm_tx_options *opts, char *buf, size_t n);
void orm__sqlite_pool_defaults(const char *dsn, orm_driver_pool *out);
extern const orm_driver_columns orm__sqlite_columns;
extern const orm_driver_migrate orm__sqlite_migrate;

#endif
