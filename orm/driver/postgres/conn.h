/* liborm internal — what the connection pool needs from a PostgreSQL connection beyond
 * orm/driver.h: a cheap liveness check of an idle connection and a reset before reuse.
 *
 * Thread safety: as every driver call, one thread at a time per connection.
 */
#ifndef ORM_PG_CONN_H
#define ORM_PG_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "orm/driver.h"

/* 1 when c looks usable, 0 when it is broken (closed by the server: terminated backend,
 * restart). Never blocks: it reads only what the socket already holds. */
int orm__pg_conn_alive(orm_conn *c);

/* Before handing c to the next user: close a cursor left open and roll back a transaction
 * left open or failed. ORM_OK, or ORM_ECONN when c must be discarded. */
int orm__pg_conn_reset(orm_conn *c);

/* A deadline (CLOCK_MONOTONIC microseconds, orm__pool_now_us; 0: none) for the following
 * calls on c: a statement still running then is cancelled on the server and returns
 * ORM_ETIMEOUT; one that would start after it returns ORM_ETIMEOUT without being sent.
 * Cleared by orm__pg_conn_reset. */
void orm__pg_conn_set_deadline(orm_conn *c, int64_t deadline_us);

/* The prepared-statement cache of c, for tests. */
void orm__pg_conn_stmt_stats(orm_conn *c, size_t *count, uint64_t *hits, uint64_t *misses);

/* Tests: call hook(arg) in every PostgreSQL commit between learning the transaction's id
 * and sending COMMIT (the fault tests freeze or kill the backend there); NULL: none. */
void orm__pg_test_before_commit(void (*hook)(void *arg), void *arg);

/* The driver's change feed (feed.c). */
extern const orm_driver_feed orm__pg_feed;

/* The facts (orm/driver/postgres/facts.c, built with or without libpq). */
const char *orm__pg_begin_sql(const orm_tx_options *opts, char *buf, size_t n);
void orm__pg_pool_defaults(const char *dsn, orm_driver_pool *out);
extern const orm_driver_columns orm__pg_columns;
extern const orm_driver_migrate orm__pg_migrate;

#endif
