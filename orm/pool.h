/* liborm internal — a connection pool, generic over the connection (callbacks open / close /
 * alive / reset), as database/sql's pool is generic over drivers.
 *
 * How orm/db.c uses it (one pool per db):
 *
 *     orm_pool_callbacks cb = { open_cb, close_cb, alive_cb, reset_cb, db };
 *     orm_pool_config cfg = ORM_POOL_CONFIG_INIT;  cfg.max_open = 8;
 *     orm__pool_new(&db->pool, &cfg, &cb);
 *     ...
 *     void *c;
 *     rc = orm__pool_acquire(db->pool, deadline_us, &c);     // ORM_ETIMEOUT, or open's error
 *     rc = driver->exec((orm_conn *)c, ...);
 *     orm__pool_release(db->pool, c, rc == ORM_ECONN);        // broken: closed, not reused
 *     ...
 *     orm__pool_stats(db->pool, &st);                         // for orm_db_stats
 *     orm__pool_free(db->pool);                               // at orm_db_close
 *
 * Idle connections are handed out most recently used first. When one is taken it is checked
 * lazily (as database/sql does): past max_lifetime or idle_timeout it is closed, and the
 * alive callback (non-blocking: "did the server close it?") weeds out connections a server
 * restart or pg_terminate_backend broke; the caller gets a fresh one instead of an error.
 * Expired idle connections are also swept on every acquire, release and stats call (there
 * is no background thread).
 *
 * Deadlines are absolute, on CLOCK_MONOTONIC, in microseconds (orm__pool_now_us); 0 is none.
 *
 * Ownership: the pool owns the connections it opened; a caller borrows one between acquire
 * and release. Thread safety: every function is safe from any thread, except
 * orm__pool_free, called once when no other thread uses the pool. Callbacks run without
 * the pool's lock held, on a connection no other thread holds.
 */
#ifndef ORM_POOL_H
#define ORM_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct orm_pool orm_pool;

typedef struct orm_pool_callbacks {
    /* Open a connection: ORM_OK and *out, or an ORM_E... code with the last error set. */
    int (*open)(void **out, void *userdata);
    void (*close)(void *conn, void *userdata);
    /* 1 when an idle connection is usable, 0 when broken. Must not block. NULL: always 1. */
    int (*alive)(void *conn, void *userdata);
    /* Ready a released connection for the next user (roll back a transaction left open).
     * ORM_OK to keep it, anything else closes it. NULL: nothing to do. */
    int (*reset)(void *conn, void *userdata);
    void *userdata;
} orm_pool_callbacks;

typedef struct orm_pool_config {
    size_t max_open;         /* connections open at once, in use or idle; 0: no limit */
    size_t max_idle;         /* idle connections kept; more are closed at release */
    int64_t idle_timeout_us; /* an idle connection older than this is closed; 0: never */
    int64_t max_lifetime_us; /* a connection older than this is closed when idle; 0: never */
} orm_pool_config;

/* database/sql's defaults: no limit on open, 2 idle, no timeouts. */
#define ORM_POOL_CONFIG_INIT { 0, 2, 0, 0 }

typedef struct orm_pool_stats {
    size_t max_open;              /* the limit (0: none) */
    size_t open;                  /* in use + idle (+ being opened) */
    size_t in_use;
    size_t idle;
    uint64_t opened;              /* connections opened since the pool was made */
    uint64_t waits;               /* acquires that had to wait for a connection */
    int64_t wait_us;              /* total time spent waiting */
    uint64_t timeouts;            /* acquires that gave up at their deadline */
    uint64_t closed_max_idle;     /* closed at release: max_idle idle already */
    uint64_t closed_idle_timeout; /* closed: idle longer than idle_timeout */
    uint64_t closed_lifetime;     /* closed: older than max_lifetime */
    uint64_t closed_broken;       /* closed: released as broken, failed alive or reset */
} orm_pool_stats;

/* Make a pool (no connection is opened yet). ORM_EINVAL for a NULL open/close callback,
 * ORM_ENOMEM; on failure *out is NULL. */
int orm__pool_new(orm_pool **out, const orm_pool_config *cfg, const orm_pool_callbacks *cb);

/* Close every connection and free the pool. Connections still acquired are closed too:
 * call it when no other thread uses the pool. NULL is a no-op. */
void orm__pool_free(orm_pool *p);

/* Take a connection: an idle one that passes the lazy checks, else a new one when under
 * max_open, else wait for a release until deadline_us (0: no deadline).
 * ORM_OK, ORM_ETIMEOUT (the deadline passed while waiting), or the open callback's error
 * (ORM_ECONN ...). On failure *out is NULL. */
int orm__pool_acquire(orm_pool *p, int64_t deadline_us, void **out);

/* Give back a connection from orm__pool_acquire. broken: it failed (ORM_ECONN) and is closed
 * instead of reused. This function can't fail. */
void orm__pool_release(orm_pool *p, void *conn, int broken);

/* A snapshot of the counters (after sweeping expired idle connections). */
void orm__pool_stats(orm_pool *p, orm_pool_stats *out);

/* Now on the clock deadlines use: CLOCK_MONOTONIC, microseconds. */
int64_t orm__pool_now_us(void);

#endif
