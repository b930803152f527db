/* liborm internal — the driver interface every backend implements.
 *
 * A driver owns connections (orm_conn) and, on each, at most one open cursor at a time
 * (a connection runs one statement at a time). Connections are used by one thread at a
 * time: the db (orm/db.c) hands them out. Drivers report errors with orm__error_set_db,
 * mapping their codes to ORM_E... in one table each.
 */
#ifndef ORM_DRIVER_H
#define ORM_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "orm/db.h"
#include "orm/query.h"
#include "orm/tx.h"
#include "orm/value.h"

typedef struct orm_conn orm_conn;     /* defined by each driver */
typedef struct orm_cursor orm_cursor; /* defined by each driver */

typedef struct orm_driver {
    const char *name; /* "sqlite", "postgres": also what orm_db_backend returns */

    /* Does this driver take the DSN? (prefix match, no I/O) */
    int (*accepts)(const char *dsn);
    /* deadline_us (CLOCK_MONOTONIC µs, 0: none): a server that does not answer by then
     * makes it ORM_ETIMEOUT (drivers without a network ignore it). */
    int (*open)(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline_us);
    void (*close)(orm_conn *c);

    /* Run a statement; res may be NULL. */
    int (*exec)(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_exec_result *res);
    /* Run a statement and open a cursor on its rows; the cursor is owned by the connection
     * and valid until cursor_close (which must come before the next call on c). */
    int (*query)(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_cursor **out);
    /* Run statements that take no arguments, separated by ';'. */
    int (*exec_script)(orm_conn *c, orm_ctx *ctx, const char *sql);

    /* 1: a row is there; 0: no more rows; < 0: an ORM_E... error. */
    int (*cursor_next)(orm_cursor *cur);
    size_t (*cursor_ncols)(orm_cursor *cur);
    const char *(*cursor_name)(orm_cursor *cur, size_t col);
    /* The column's value in the current row, in the type the backend holds it
     * (text and blob borrowed until the next cursor call). */
    orm_value (*cursor_value)(orm_cursor *cur, size_t col);
    void (*cursor_close)(orm_cursor *cur);

    /* Transactions: begin with options (NULL: defaults), commit, rollback. */
    int (*begin)(orm_conn *c, orm_ctx *ctx, const orm_tx_options *opts);
    int (*commit)(orm_conn *c, orm_ctx *ctx);
    int (*rollback)(orm_conn *c, orm_ctx *ctx);

    /* Largest number of bound parameters in one statement (batch sizing). */
    size_t max_params;

    /* The change feed (orm/feed.h), or NULL when the backend reports no changes. */
    const struct orm__feed_ops *feed;
} orm_driver;

extern const orm_driver orm__driver_sqlite;
#ifdef ORM_WITH_POSTGRES
extern const orm_driver orm__driver_postgres;
#endif

#endif
