/* liborm — the PostgreSQL driver (libpq) behind orm/driver.h.
 *
 * DSNs: "postgres://...", "postgresql://..." and libpq keyword strings ("host=... dbname=...").
 * Every session runs with TimeZone=UTC and client_encoding=UTF8, so timestamps in text form
 * and timestamp-without-time-zone columns both mean UTC.
 *
 * Statements: each SQL text is PQprepare'd once per connection under a name "orm_<n>" and
 * kept in the connection's LRU (orm/stmt_cache.h); an evicted statement is DEALLOCATEd.
 * Parameters are bound with the type OID of the first call's values and sent binary when a
 * value matches that type, as text otherwise (see orm/driver/postgres/codec.c). Results come back as
 * text the first time a statement runs; from then on binary when every column has a type
 * the codec decodes from binary (all the mapped types below), text otherwise.
 * Transaction statements, DDL and scripts go through the simple or unnamed path, uncached.
 *
 * Type mapping (column type -> orm_value):
 *   int2, int4, int8, oid          -> INT
 *   float4, float8                 -> DOUBLE (exact)
 *   numeric                        -> DOUBLE, the correctly rounded nearest double. Loss rule:
 *                                     a numeric keeps up to 131072 digits, a double about 15-17
 *                                     significant ones: digits past the 17th are lost, values
 *                                     beyond +-1.8e308 become +-inf, NaN stays NaN. Keep money
 *                                     in int8 cents (or read numeric as text with ::text).
 *   bool                           -> BOOL
 *   text, varchar, bpchar, name    -> TEXT
 *   bytea                          -> BLOB
 *   timestamp, timestamptz, date   -> TIMESTAMP, microseconds since 1970-01-01 UTC (the server's
 *                                     binary form counts from 2000-01-01; +-infinity become
 *                                     INT64_MAX / INT64_MIN)
 *   NULL                           -> NULL; any other type -> TEXT in the server's text form
 * Values bound: INT as int8, DOUBLE as float8, BOOL as bool, BLOB as bytea, TIMESTAMP as
 * timestamptz, TEXT and NULL as "unknown" (the server takes the column's type).
 *
 * Errors: orm/driver/postgres/error.c maps SQLSTATEs (23xxx ORM_ECONSTRAINT naming the constraint,
 * 40001/40P01 ORM_ERETRY, 57014 ORM_ETIMEOUT or ORM_ECANCELED, a lost connection ORM_ECONN).
 * Deadlines (see orm/driver/postgres/cancel.h and README "What a deadline guarantees"): the connection is
 * non-blocking, so sending, waiting, cancelling and connecting are all bounded by the call's
 * deadline; a server that has not ended a cancelled statement CANCEL_GRACE_US after it gets
 * the connection given up (marked lost, handed to the reaper at close).
 * What stays true: a connection runs one statement at a time; after any call returns, no
 * result is pending on the connection (every PGresult is drained), so the next call can
 * start, unless the call gave the connection up (then every later call is ORM_ECONN and the
 * pool discards it).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, poll */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/driver.h"
#include "orm/query.h"
#include "orm/error_internal.h"
#include "orm/driver/postgres/cancel.h"
#include "orm/driver/postgres/conn.h"
#include "orm/driver/postgres/pg.h"
#include "orm/stmt_cache.h"

#define MODULE "postgres"

typedef struct pg_stmt {
    char name[24];
    int nparams;
    int result_format; /* -1: not run yet (text), 0 text, 1 binary */
    Oid types[];
} pg_stmt;

struct orm_cursor {
    orm_conn *conn;
    PGresult *res;
    int row, nrows, ncols, format;
    unsigned char **scratch; /* per column, bytea decoded from text; NULL until needed */
};

struct orm_conn {
    PGconn *pg;
    orm_stmt_cache *stmts;
    unsigned next_id;
    int closing;      /* at close: evicted statements are not DEALLOCATEd one by one */
    int fatal;        /* the server sent a FATAL error outside a statement, or did not answer
                         a cancel: the connection is lost */
    int abandoned;    /* a statement was still running when the call gave up on it: close
                         hands the connection to the reaper (orm/driver/postgres/cancel.h) */
    int sent;         /* the last run() sent its statement to the server */
    int unsent;       /* the server stopped taking the statement (frozen) before the deadline:
                         the connection is lost, nothing runs on it */
    int64_t call_deadline_us; /* the deadline of the call in progress (call_deadline) */
    orm_pg_cancel cancel; /* cancel requests that never block (orm/driver/postgres/cancel.c) */
    char *dsn;        /* to ask a fresh connection how a commit ended */
    int64_t deadline_us; /* orm__pg_conn_set_deadline; 0: none */
    orm_ctx *call_ctx;   /* the ctx of the call in progress (set by call_deadline), or NULL */
    orm_cursor cur;   /* the one cursor a connection has open at a time */
    /* Parameter arrays and the scratch their encoded values live in, grown as needed. */
    const char **vals;
    int *lens, *fmts;
    size_t pcap;
    char *buf;
    size_t bufcap;
};

/* ---- time and waiting ---- */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* After the deadline (or a ctx cancel), how long to wait for the server to end the cancelled
 * statement before giving up on the connection: the call returns then whatever the server
 * does, and the statement (if it still runs) is left to the reaper. Long enough that a
 * loaded but healthy server (PostgreSQL forks a process per cancel request) keeps its
 * connection; short enough to be a bound a caller can plan with. */
#define CANCEL_GRACE_US INT64_C(250000)
/* With a ctx, how often a wait wakes to look at its cancel flag. */
#define CANCEL_POLL_US INT64_C(20000)
/* A statement still running this long after its cancel was acknowledged: the cancel was lost
 * (it reached the backend while it was reading the command, or went astray): send again. */
#define CANCEL_RESEND_US INT64_C(30000)
/* How long the reaper keeps cancelling an abandoned statement before closing anyway. */
#define REAP_LIMIT_US INT64_C(60000000)

/* The deadline of a call on the CLOCK_MONOTONIC microsecond scale (orm__pool_now_us), 0 for
 * none: the earlier of the connection's own (orm__pg_conn_set_deadline) and the ctx's. A ctx
 * already cancelled gives a deadline in the past, so the statement is not sent (the session
 * reports ORM_ECANCELED); one cancelled while the statement runs is noticed by the wait,
 * which polls the ctx's flag and cancels the statement itself. */
static int64_t call_deadline(orm_conn *c, orm_ctx *ctx)
{
    int64_t d = c->deadline_us;
    c->call_ctx = ctx;
    if (ctx) {
        int64_t cd = orm_ctx_deadline(ctx);
        if (cd && (!d || cd < d))
            d = cd;
        if (orm_ctx_err(ctx) == ORM_ECANCELED)
            d = 1;
    }
    c->call_deadline_us = d;
    return d;
}

/* Wait (poll) for the connection's socket and the cancel request in flight, until `wake`. */
static int wait_io(orm_conn *c, int64_t wake, int64_t now)
{
    struct pollfd p[2] = { { PQsocket(c->pg), POLLIN, 0 }, { -1, 0, 0 } };
    p[1].fd = orm__pg_cancel_pollfd(&c->cancel, &p[1].events);
    int ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
    int n = poll(p, 2, ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (p[0].revents && !PQconsumeInput(c->pg))
        return -1;
    return 0;
}

/* Push the statement out: the connection is non-blocking, so libpq queues what the socket
 * does not take. 0 when all is sent, -1 when the connection failed, 1 when the deadline
 * passed (or the ctx was cancelled) first: the server stopped reading (frozen) and has half
 * a message, so the connection is lost, but no statement runs on it. */
static int flush_out(orm_conn *c, int64_t deadline)
{
    orm_ctx *ctx = c->call_ctx;
    for (;;) {
        int f = PQflush(c->pg);
        if (f <= 0)
            return f;
        int64_t now = now_us();
        if ((deadline && now >= deadline) || (ctx && orm_ctx_err(ctx) == ORM_ECANCELED))
            return 1;
        int ms = -1;
        if (deadline)
            ms = (int)((deadline - now + 999) / 1000);
        if (ctx && (ms < 0 || ms > CANCEL_POLL_US / 1000))
            ms = (int)(CANCEL_POLL_US / 1000);
        struct pollfd p = { PQsocket(c->pg), POLLIN | POLLOUT, 0 };
        if (poll(&p, 1, ms) < 0 && errno != EINTR)
            return -1;
        if ((p.revents & POLLIN) && !PQconsumeInput(c->pg)) /* the server may answer early */
            return -1;
    }
}

/* Wait for the statement sent on c and return its result (the first error when several
 * statements ran, else the last result), having drained every result so the connection is
 * free again. NULL when the connection failed (its error is in PQerrorMessage) or was given
 * up. When the deadline passes (or the ctx is cancelled) the statement is cancelled on the
 * server, again whenever a cancel was acknowledged and it still runs; *timed_out is set for
 * the deadline. CANCEL_GRACE_US after that, a statement still running makes the wait give
 * up: the connection is marked lost and abandoned (close hands it to the reaper). */
static PGresult *wait_result(orm_conn *c, int64_t deadline, int *timed_out)
{
    PGconn *pg = c->pg;
    orm_ctx *ctx = c->call_ctx;
    *timed_out = 0;
    int f = flush_out(c, deadline);
    if (f != 0) {
        c->fatal = 1;
        if (f > 0) {
            c->unsent = 1;
            *timed_out = deadline && now_us() >= deadline;
        }
        return NULL;
    }
    if (deadline || ctx) {
        int64_t give_up = 0; /* set once the statement is being stopped */
        int64_t acked = 0;   /* when the last cancel was seen acknowledged */
        while (PQisBusy(pg)) {
            int64_t now = now_us();
            if (!give_up) {
                if (deadline && now >= deadline)
                    *timed_out = 1;
                if (*timed_out || (ctx && orm_ctx_err(ctx) == ORM_ECANCELED)) {
                    give_up = now + CANCEL_GRACE_US;
                    orm__pg_cancel_send(&c->cancel);
                }
            } else if (orm__pg_cancel_busy(&c->cancel)) {
                acked = 0;
            } else if (!acked) {
                acked = now;
            } else if (now - acked >= CANCEL_RESEND_US) {
                orm__pg_cancel_send(&c->cancel);
                acked = 0;
            }
            if (give_up && now >= give_up) {
                c->fatal = 1;
                c->abandoned = 1;
                return NULL;
            }
            int64_t wake = give_up ? now + CANCEL_POLL_US / 4 : deadline ? deadline : now + CANCEL_POLL_US;
            if (give_up && wake > give_up)
                wake = give_up;
            if (ctx && !give_up && wake > now + CANCEL_POLL_US)
                wake = now + CANCEL_POLL_US;
            if (wait_io(c, wake, now) != 0)
                break;
        }
        /* A request still in flight could reach the backend during the next statement and
         * cancel that one instead: let the postmaster acknowledge it first, or give up on
         * the connection. */
        while (give_up && orm__pg_cancel_busy(&c->cancel)) {
            int64_t now = now_us();
            if (now >= give_up) {
                c->fatal = 1;
                break;
            }
            struct pollfd p = { -1, 0, 0 };
            p.fd = orm__pg_cancel_pollfd(&c->cancel, &p.events);
            poll(&p, p.fd >= 0 ? 1 : 0, (int)((give_up - now + 999) / 1000) > 5 ? 5 : 1);
        }
    }
    PGresult *keep = NULL, *r;
    while ((r = PQgetResult(pg)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        int failed = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
        if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
            PQclear(r); /* keep the first error */
        } else if (!keep || failed || st != PGRES_EMPTY_QUERY) {
            PQclear(keep);
            keep = r;
        } else {
            PQclear(r);
        }
        if (PQstatus(pg) == CONNECTION_BAD)
            break;
    }
    return keep;
}

/* SQLSTATE class 57P (operator intervention, the session ends): 57P01 admin_shutdown,
 * 57P02 crash_shutdown, 57P03 cannot_connect_now, 57P04 database_dropped, 57P05
 * idle_session_timeout. The backend exits right after sending it. */
static int ends_session(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && strncmp(state, "57P", 3) == 0;
}

/* Turn a finished result into ORM_OK or an error; res NULL means the connection failed. */
static int check(orm_conn *c, PGresult *res, int timed_out, const char *what)
{
    if (res) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY)
            return ORM_OK;
    }
    if (!res && c->unsent)
        return orm__error_set(timed_out ? ORM_ETIMEOUT : ORM_ECANCELED, MODULE,
                              "%s: %s before the server took the whole statement (it stopped "
                              "reading): the connection is given up", what,
                              timed_out ? "the deadline passed" : "cancelled");
    if (!res && c->abandoned)
        return orm__error_set(timed_out ? ORM_ETIMEOUT : ORM_ECANCELED, MODULE,
                              "%s: %s, and the server did not end the statement within %d ms of "
                              "the cancel: the connection is given up", what,
                              timed_out ? "the deadline passed" : "cancelled",
                              (int)(CANCEL_GRACE_US / 1000));
    if (ends_session(res))
        c->fatal = 1; /* (ORM_ECONN: the pool discards it; a transaction's later calls fail) */
    return orm__pg_error(c->pg, res, what, timed_out);
}

/* ---- prepared statements ---- */

static void stmt_evict(void *stmt, void *userdata)
{
    orm_conn *c = userdata;
    pg_stmt *st = stmt;
    if (!c->closing && !c->fatal && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_ACTIVE) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", st->name);
        /* Bounded by the call's deadline like its statement; failing leaves a harmless
         * unused name on the server. */
        int timed_out;
        if (PQsendQuery(c->pg, sql))
            PQclear(wait_result(c, c->call_deadline_us, &timed_out));
    }
    orm__free(st);
}

static int stmt_prepare(orm_conn *c, const orm_query *q, int64_t deadline, uint64_t hash,
                        pg_stmt **out)
{
    if (q->nargs > 65535)
        return orm__error_set(ORM_EINVAL, MODULE, "%zu parameters: the most is 65535", q->nargs);
    pg_stmt *st = orm__malloc(sizeof *st + (q->nargs ? q->nargs : 1) * sizeof(Oid));
    if (!st)
        return orm__error_nomem(MODULE);
    snprintf(st->name, sizeof st->name, "orm_%u", ++c->next_id);
    st->nparams = (int)q->nargs;
    st->result_format = -1;
    for (size_t i = 0; i < q->nargs; i++)
        st->types[i] = orm__pg_param_oid(&q->args[i]);
    /* The SQL must be NUL-terminated for libpq; orm_query's sql always is. */
    if (!PQsendPrepare(c->pg, st->name, q->sql, st->nparams, st->types)) {
        orm__free(st);
        return orm__pg_error(c->pg, NULL, "prepare", 0);
    }
    int timed_out;
    PGresult *res = wait_result(c, deadline, &timed_out);
    int rc = check(c, res, timed_out, "prepare");
    PQclear(res);
    if (rc != ORM_OK) {
        orm__free(st);
        return rc;
    }
    if (orm__stmt_cache_put(c->stmts, q->sql, q->sql_len, hash, st) != ORM_OK) {
        stmt_evict(st, c);
        return orm__error_nomem(MODULE);
    }
    *out = st;
    return ORM_OK;
}

static int grow_params(orm_conn *c, size_t n, size_t room)
{
    if (n > c->pcap) {
        size_t cap = n < 16 ? 16 : n;
        const char **v = orm__malloc(cap * sizeof *v);
        int *l = orm__malloc(cap * sizeof *l), *f = orm__malloc(cap * sizeof *f);
        if (!v || !l || !f) {
            orm__free((void *)v), orm__free(l), orm__free(f);
            return orm__error_nomem(MODULE);
        }
        orm__free((void *)c->vals), orm__free(c->lens), orm__free(c->fmts);
        c->vals = v, c->lens = l, c->fmts = f, c->pcap = cap;
    }
    if (room > c->bufcap) {
        size_t cap = room < 1024 ? 1024 : room + room / 2;
        char *b = orm__malloc(cap);
        if (!b)
            return orm__error_nomem(MODULE);
        orm__free(c->buf);
        c->buf = b, c->bufcap = cap;
    }
    return ORM_OK;
}

static int bind_params(orm_conn *c, const pg_stmt *st, const orm_query *q)
{
    size_t room = 0;
    for (size_t i = 0; i < q->nargs; i++)
        room += orm__pg_param_room(&q->args[i], st->types[i]);
    int rc = grow_params(c, q->nargs, room);
    if (rc != ORM_OK)
        return rc;
    char *dst = c->buf;
    for (size_t i = 0; i < q->nargs; i++) {
        pg_param p;
        size_t r = orm__pg_param_room(&q->args[i], st->types[i]);
        if ((rc = orm__pg_param_encode(&q->args[i], st->types[i], dst, &p)) != ORM_OK)
            return orm__error_set(rc, MODULE, "parameter $%zu: %s", i + 1, orm_error_last()->message);
        c->vals[i] = p.value, c->lens[i] = p.length, c->fmts[i] = p.format;
        dst += r;
    }
    return ORM_OK;
}

/* A cached statement the server can no longer run as prepared: "cached plan must not change
 * result type" (the table changed shape under it, 0A000) or gone (a raw DEALLOCATE ALL or
 * DISCARD ALL, 26000). */
static int plan_changed(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0);
}

static int uses_cache(orm_query_kind k)
{
    return k == ORM_QUERY_SELECT || k == ORM_QUERY_INSERT || k == ORM_QUERY_UPDATE ||
           k == ORM_QUERY_DELETE || k == ORM_QUERY_RAW;
}

static const char *kind_name(orm_query_kind k)
{
    static const char *names[] = { "select", "insert", "update", "delete", "query", "ddl",
                                   "begin", "commit", "rollback", "savepoint" };
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "query";
}

/* Run q and return its finished result in *out (the caller PQclears it). */
static int run(orm_conn *c, orm_ctx *ctx, const orm_query *q, PGresult **out)
{
    int64_t deadline = call_deadline(c, ctx);
    const char *what = kind_name(q->kind);
    int timed_out = 0;
    *out = NULL;
    c->sent = 0;
    if (PQstatus(c->pg) != CONNECTION_OK)
        return orm__pg_error(c->pg, NULL, what, 0);
    if (c->fatal)
        return orm__error_set(ORM_ECONN, MODULE, "%s: the connection was lost", what);
    if (deadline && now_us() >= deadline)
        return orm__error_set(ORM_ETIMEOUT, MODULE, "%s: the deadline passed before it ran", what);
    if (!uses_cache(q->kind)) {
        int rc = ORM_OK;
        if (q->nargs) {
            pg_stmt *st = orm__malloc(sizeof *st + q->nargs * sizeof(Oid));
            if (!st)
                return orm__error_nomem(MODULE);
            for (size_t i = 0; i < q->nargs; i++)
                st->types[i] = orm__pg_param_oid(&q->args[i]);
            rc = bind_params(c, st, q);
            if (rc == ORM_OK &&
                !PQsendQueryParams(c->pg, q->sql, (int)q->nargs, st->types, c->vals, c->lens,
                                   c->fmts, 0))
                rc = orm__pg_error(c->pg, NULL, what, 0);
            orm__free(st);
        } else if (!PQsendQueryParams(c->pg, q->sql, 0, NULL, NULL, NULL, NULL, 0)) {
            rc = orm__pg_error(c->pg, NULL, what, 0);
        }
        if (rc != ORM_OK)
            return rc;
        c->sent = 1;
        PGresult *res = wait_result(c, deadline, &timed_out);
        if ((rc = check(c, res, timed_out, what)) != ORM_OK) {
            PQclear(res);
            return rc;
        }
        *out = res;
        return ORM_OK;
    }
    uint64_t hash = q->sql_hash ? q->sql_hash : orm__sql_hash(q->sql, q->sql_len);
    for (int attempt = 0;; attempt++) {
        pg_stmt *st = orm__stmt_cache_get(c->stmts, q->sql, q->sql_len, hash);
        int rc = ORM_OK;
        if (!st && (rc = stmt_prepare(c, q, deadline, hash, &st)) != ORM_OK)
            return rc;
        if (c->fatal) /* an eviction's DEALLOCATE ran into the deadline, or lost the server */
            return c->abandoned || c->unsent
                       ? orm__error_set(ORM_ETIMEOUT, MODULE, "%s: the deadline passed before it ran", what)
                       : orm__error_set(ORM_ECONN, MODULE, "%s: the connection was lost", what);
        if (st->nparams != (int)q->nargs)
            return orm__error_set(ORM_EINVAL, MODULE, "%s: %zu arguments for %d parameters", what,
                                  q->nargs, st->nparams);
        if ((rc = bind_params(c, st, q)) != ORM_OK)
            return rc;
        if (!PQsendQueryPrepared(c->pg, st->name, st->nparams, c->vals, c->lens, c->fmts,
                                 st->result_format == 1))
            return orm__pg_error(c->pg, NULL, what, 0);
        c->sent = 1;
        PGresult *res = wait_result(c, deadline, &timed_out);
        if ((rc = check(c, res, timed_out, what)) != ORM_OK) {
            /* A cached statement whose table changed shape: prepare it anew, once, when no
             * transaction was aborted by the failure. */
            if (attempt == 0 && plan_changed(res) && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
                PQclear(res);
                stmt_evict(orm__stmt_cache_take(c->stmts, q->sql, q->sql_len, hash), c);
                continue; /* (DEALLOCATE of a vanished name fails harmlessly) */
            }
            PQclear(res);
            return rc;
        }
        if (st->result_format < 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
            int fmt = 1;
            for (int i = 0; i < PQnfields(res); i++)
                if (!orm__pg_binary_ok(PQftype(res, i)))
                    fmt = 0;
            st->result_format = fmt;
        }
        *out = res;
        return ORM_OK;
    }
}

/* ---- the driver interface ---- */

static int simple(orm_conn *c, orm_ctx *ctx, orm_query_kind kind, const char *sql,
                  PGresult **keep);

static int pg_accepts(const char *dsn)
{
    if (!dsn)
        return 0;
    if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
        return 1;
    /* A keyword string: starts with "keyword =" (letters and underscores). */
    const char *p = dsn;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *start = p;
    while ((*p >= 'a' && *p <= 'z') || *p == '_')
        p++;
    if (p == start)
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '=';
}

static void pg_close(orm_conn *c)
{
    if (!c)
        return;
    if (c->cur.res) {
        PQclear(c->cur.res);
        c->cur.res = NULL;
    }
    orm__free(c->cur.scratch);
    c->closing = 1;
    orm__stmt_cache_free(c->stmts); /* the server forgets them with the session */
    if (c->abandoned && c->pg && PQstatus(c->pg) == CONNECTION_OK)
        orm__pg_cancel_reap(c->pg, &c->cancel, REAP_LIMIT_US); /* it closes pg */
    else
        PQfinish(c->pg);
    orm__pg_cancel_free(&c->cancel);
    orm__free((void *)c->vals), orm__free(c->lens), orm__free(c->fmts), orm__free(c->buf);
    orm__free(c->dsn);
    orm__free(c);
}

/* Notices are dropped; an error arriving while no statement runs is the server saying
 * goodbye (FATAL: terminated backend, shutdown), which marks the connection dead. So does a
 * notice of class 57P whatever its severity: a backend the postmaster ends for a crash of
 * another one (57P02) or an immediate shutdown (57P01) sends a WARNING, not a FATAL, and
 * then closes; libpq sees that close only on a later read, so without this the alive check
 * found such an idle connection fine and the pool handed it out again. */
static void on_notice(void *arg, const PGresult *res)
{
    orm_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if ((sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0)) || ends_session(res))
        c->fatal = 1;
}

/* The connect_timeout the DSN sets (seconds; libpq's rule: below 2 counts as 2), else 10:
 * libpq enforces it only in its blocking connect, so the polling loop here does. */
static int64_t connect_timeout_us(PGconn *pg)
{
    long secs = 10;
    PQconninfoOption *opts = PQconninfo(pg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
            secs = strtol(o->val, NULL, 10);
            if (secs > 0 && secs < 2)
                secs = 2;
        }
    PQconninfoFree(opts);
    return secs > 0 ? (int64_t)secs * 1000000 : 0;
}

/* Connect without blocking past `deadline` (0: only connect_timeout bounds it): libpq's
 * PQconnectStart / PQconnectPoll, waiting on the socket in between. A server that does not
 * answer (frozen, unreachable) makes it ORM_ETIMEOUT at the deadline. Host names are still
 * resolved by PQconnectStart itself (getaddrinfo blocks). */
static int connect_until(PGconn **out, const char *dsn, int64_t deadline)
{
    /* Later keywords override earlier ones: the DSN may set connect_timeout, never the
     * encoding (the library speaks UTF-8). */
    const char *keys[] = { "connect_timeout", "dbname", "client_encoding", NULL };
    const char *vals[] = { "10", dsn, "UTF8", NULL };
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    *out = pg;
    if (!pg)
        return orm__error_nomem(MODULE);
    if (PQstatus(pg) == CONNECTION_BAD)
        return orm__pg_error(pg, NULL, "connect", 0);
    int64_t limit = connect_timeout_us(pg);
    int64_t start = now_us();
    int by_deadline = deadline && (!limit || deadline < start + limit);
    int64_t until = by_deadline ? deadline : limit ? start + limit : 0;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED)
            return orm__pg_error(pg, NULL, "connect", 0);
        int64_t now = now_us();
        if (until && now >= until)
            return orm__error_set(by_deadline ? ORM_ETIMEOUT : ORM_ECONN, MODULE,
                                  "connect: no answer from the server %s", by_deadline
                                  ? "before the deadline" : "within connect_timeout");
        struct pollfd p = { PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0 };
        int ms = until ? (int)((until - now + 999) / 1000) : -1;
        int n = poll(&p, 1, ms);
        if (n < 0 && errno != EINTR)
            return orm__error_set(ORM_ECONN, MODULE, "connect: poll: %s", strerror(errno));
        if (n > 0)
            st = PQconnectPoll(pg);
    }
    return ORM_OK;
}

static int pg_open(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline)
{
    *out = NULL;
    if (!pg_accepts(dsn))
        return orm__error_set(ORM_EINVAL, MODULE, "not a PostgreSQL DSN");
    int rc = orm__pg_dsn_check(dsn); /* malformed: ORM_EINVAL, not a failed connection */
    if (rc != ORM_OK)
        return rc;
    orm_conn *c = orm__calloc(1, sizeof *c);
    if (!c)
        return orm__error_nomem(MODULE);
    c->cancel.fd = -1;
    size_t cap = opts && opts->stmt_cache_size ? opts->stmt_cache_size : 128;
    size_t dlen = strlen(dsn) + 1;
    if (!(c->dsn = orm__malloc(dlen)) ||
        orm__stmt_cache_new(&c->stmts, cap, stmt_evict, c) != ORM_OK) {
        orm__free(c->dsn);
        orm__free(c);
        return orm__error_nomem(MODULE);
    }
    memcpy(c->dsn, dsn, dlen);
    rc = connect_until(&c->pg, dsn, deadline);
    if (rc == ORM_OK)
        rc = orm__pg_cancel_init(&c->cancel, c->pg);
    if (rc != ORM_OK) {
        pg_close(c);
        return rc;
    }
    /* libpq prints notices and asynchronous errors to stderr by default; the library never
     * prints, and whatever matters reaches the caller as an error. */
    PQsetNoticeReceiver(c->pg, on_notice, c);
    /* Sending never blocks either: wait_result flushes, bounded by the deadline. */
    if (PQsetnonblocking(c->pg, 1) != 0) {
        rc = orm__pg_error(c->pg, NULL, "connect", 0);
        pg_close(c);
        return rc;
    }
    c->deadline_us = deadline;
    rc = simple(c, NULL, ORM_QUERY_DDL, "SET TimeZone TO 'UTC'", NULL);
    c->deadline_us = 0;
    if (rc != ORM_OK) {
        pg_close(c);
        return rc == ORM_ETIMEOUT ? orm__error_set(ORM_ETIMEOUT, MODULE,
                                                   "connect: no answer from the server before the deadline")
                                  : rc;
    }
    *out = c;
    return ORM_OK;
}

static int pg_exec(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    PGresult *r;
    int rc = run(c, ctx, q, &r);
    if (rc != ORM_OK)
        return rc;
    if (res) {
        const char *n = PQcmdTuples(r);
        res->affected = *n ? strtoll(n, NULL, 10) : 0;
        res->last_id = 0;
    }
    PQclear(r);
    return ORM_OK;
}

static int pg_query(orm_conn *c, orm_ctx *ctx, const orm_query *q, orm_cursor **out)
{
    *out = NULL;
    if (c->cur.res)
        return orm__error_set(ORM_EINVAL, MODULE, "a cursor is still open on this connection");
    PGresult *r;
    int rc = run(c, ctx, q, &r);
    if (rc != ORM_OK)
        return rc;
    orm_cursor *cur = &c->cur;
    cur->conn = c;
    cur->res = r;
    cur->row = -1;
    cur->nrows = PQntuples(r);
    cur->ncols = PQnfields(r);
    cur->format = cur->ncols ? PQfformat(r, 0) : 0;
    cur->scratch = NULL;
    *out = cur;
    return ORM_OK;
}

static int pg_exec_script(orm_conn *c, orm_ctx *ctx, const char *sql)
{
    int64_t deadline = call_deadline(c, ctx);
    int timed_out;
    if (c->fatal)
        return orm__error_set(ORM_ECONN, MODULE, "script: the connection was lost");
    if (deadline && now_us() >= deadline)
        return orm__error_set(ORM_ETIMEOUT, MODULE, "script: the deadline passed before it ran");
    if (!PQsendQuery(c->pg, sql))
        return orm__pg_error(c->pg, NULL, "script", 0);
    PGresult *res = wait_result(c, deadline, &timed_out);
    int rc = check(c, res, timed_out, "script");
    PQclear(res);
    return rc;
}

static void free_scratch(orm_cursor *cur)
{
    if (!cur->scratch)
        return;
    for (int i = 0; i < cur->ncols; i++)
        if (cur->scratch[i]) {
            PQfreemem(cur->scratch[i]);
            cur->scratch[i] = NULL;
        }
}

static int pg_cursor_next(orm_cursor *cur)
{
    free_scratch(cur);
    if (cur->row + 1 >= cur->nrows) {
        cur->row = cur->nrows;
        return 0;
    }
    cur->row++;
    return 1;
}

static size_t pg_cursor_ncols(orm_cursor *cur) { return (size_t)cur->ncols; }

static const char *pg_cursor_name(orm_cursor *cur, size_t col)
{
    return col < (size_t)cur->ncols ? PQfname(cur->res, (int)col) : NULL;
}

static orm_value pg_cursor_value(orm_cursor *cur, size_t col)
{
    if (col >= (size_t)cur->ncols || cur->row < 0 || cur->row >= cur->nrows ||
        PQgetisnull(cur->res, cur->row, (int)col))
        return orm_null();
    Oid oid = PQftype(cur->res, (int)col);
    unsigned char *none = NULL, **scratch = &none;
    if (oid == PG_OID_BYTEA && cur->format == 0) {
        if (!cur->scratch && !(cur->scratch = orm__calloc((size_t)cur->ncols, sizeof *cur->scratch)))
            return orm_null();
        scratch = &cur->scratch[col];
    }
    return orm__pg_decode(oid, cur->format, PQgetvalue(cur->res, cur->row, (int)col),
                          PQgetlength(cur->res, cur->row, (int)col), scratch);
}

static void pg_cursor_close(orm_cursor *cur)
{
    if (!cur)
        return;
    free_scratch(cur);
    orm__free(cur->scratch);
    cur->scratch = NULL;
    PQclear(cur->res);
    cur->res = NULL;
}

static int simple(orm_conn *c, orm_ctx *ctx, orm_query_kind kind, const char *sql,
                  PGresult **keep)
{
    orm_query q = { .kind = kind, .sql = sql, .sql_len = strlen(sql) };
    PGresult *r;
    int rc = run(c, ctx, &q, &r);
    if (rc == ORM_OK && keep)
        *keep = r;
    else
        PQclear(r);
    return rc;
}

static int pg_begin(orm_conn *c, orm_ctx *ctx, const orm_tx_options *opts)
{
    char sql[96];
    if (!orm__pg_begin_sql(opts, sql, sizeof sql))
        return orm__error_set(ORM_EINVAL, MODULE, "begin: unknown isolation level %d", (int)opts->isolation);
    return simple(c, ctx, ORM_QUERY_BEGIN, sql, NULL);
}

/* How long a commit whose answer never came may spend learning its outcome on a fresh
 * connection: briefly after a deadline (the server is likely not answering), longer after a
 * lost connection (the server answers; its backend may still be exiting). */
#define OUTCOME_AFTER_TIMEOUT_US INT64_C(500000)
#define OUTCOME_AFTER_LOSS_US INT64_C(3000000)

/* The outcome of transaction `xid` asked on a fresh connection until `until`: 1 committed,
 * 0 rolled back, -1 not learned (no connection, or still in progress: the backend that runs
 * the COMMIT is frozen or slow). */
static int learn_outcome(const char *dsn, long long xid, int64_t until)
{
    PGconn *pg = NULL;
    int outcome = -1;
    if (connect_until(&pg, dsn, until) == ORM_OK) {
        char arg[24];
        snprintf(arg, sizeof arg, "%lld", xid);
        const char *vals[] = { arg };
        for (;;) {
            PGresult *r = NULL;
            if (PQsendQueryParams(pg, "SELECT txid_status($1::int8)", 1, NULL, vals, NULL, NULL, 0)) {
                /* bounded like every wait here: poll until the answer or `until` */
                while (PQisBusy(pg)) {
                    int64_t now = now_us();
                    if (now >= until)
                        break;
                    struct pollfd p = { PQsocket(pg), POLLIN, 0 };
                    if (poll(&p, 1, (int)((until - now + 999) / 1000)) > 0 && !PQconsumeInput(pg))
                        break;
                }
                if (!PQisBusy(pg))
                    r = PQgetResult(pg);
            }
            const char *st = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                                 ? PQgetvalue(r, 0, 0) : NULL;
            if (st && strcmp(st, "committed") == 0)
                outcome = 1;
            else if (st && strcmp(st, "aborted") == 0)
                outcome = 0;
            int again = st && strcmp(st, "in progress") == 0 && now_us() + 20000 < until;
            PQclear(r);
            while (r && (r = PQgetResult(pg)) != NULL)
                PQclear(r);
            if (!again)
                break;
            struct timespec ts = { 0, 20000000 }; /* the backend is still committing or exiting */
            nanosleep(&ts, NULL);
        }
    }
    PQfinish(pg); /* (a connection still waiting is dropped: it only read) */
    return outcome;
}

static void (*before_commit_hook)(void *arg);
static void *before_commit_arg;

void orm__pg_test_before_commit(void (*hook)(void *arg), void *arg)
{
    before_commit_hook = hook;
    before_commit_arg = arg;
}

static int pg_commit(orm_conn *c, orm_ctx *ctx)
{
    /* The transaction's id, so that a COMMIT whose answer never comes can be looked up
     * (NULL: it wrote nothing, there is nothing to lose). Not in a failed transaction: its
     * COMMIT is a rollback anyway. */
    long long xid = 0;
    if (PQtransactionStatus(c->pg) == PQTRANS_INTRANS) {
        PGresult *x = NULL;
        int rc = simple(c, ctx, ORM_QUERY_SELECT, "SELECT txid_current_if_assigned()", &x);
        if (rc != ORM_OK)
            return rc; /* COMMIT not sent: the caller rolls back */
        if (PQntuples(x) == 1 && !PQgetisnull(x, 0, 0)) {
            unsigned char *scratch = NULL; /* (an int8 never needs it) */
            orm_value v = orm__pg_decode(PQftype(x, 0), PQfformat(x, 0), PQgetvalue(x, 0, 0),
                                         PQgetlength(x, 0, 0), &scratch);
            xid = v.type == ORM_VALUE_INT ? (long long)v.u.i : 0;
        }
        PQclear(x);
    }
    if (before_commit_hook)
        before_commit_hook(before_commit_arg);
    PGresult *r = NULL;
    int rc = simple(c, ctx, ORM_QUERY_COMMIT, "COMMIT", &r);
    if (rc != ORM_OK) {
        /* Sent, and no answer (given up at the deadline, or the connection dropped): the
         * server may have committed. A transaction that wrote nothing lost nothing. */
        if (!c->sent || !(c->abandoned || PQstatus(c->pg) == CONNECTION_BAD || c->fatal) ||
            xid == 0)
            return rc;
        int why = rc;
        char first[256];
        snprintf(first, sizeof first, "%s", orm_error_last()->message);
        int64_t until = now_us() + (why == ORM_ECONN ? OUTCOME_AFTER_LOSS_US : OUTCOME_AFTER_TIMEOUT_US);
        int outcome = learn_outcome(c->dsn, xid, until);
        if (outcome == 1)
            return ORM_OK; /* it did commit: that is the truth to report */
        if (outcome == 0)
            return orm__error_set(why, MODULE, "%s; the transaction (txid %lld) did not commit "
                                  "(rolled back, checked with txid_status)", first, xid);
        return orm__error_set(ORM_EUNKNOWN, MODULE, "commit outcome unknown: COMMIT of txid %lld "
                              "was sent, then: %s; the outcome could not be learned (txid_status "
                              "on a fresh connection), so the transaction may have committed",
                              xid, first);
    }
    /* COMMIT of a transaction that already failed "succeeds" with the tag ROLLBACK. */
    int rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back)
        return orm__error_set_db(ORM_EDB, MODULE, "25P02", 0,
                                 "commit: an earlier statement failed, the transaction was "
                                 "rolled back [SQLSTATE 25P02]");
    return ORM_OK;
}

static int pg_rollback(orm_conn *c, orm_ctx *ctx)
{
    return simple(c, ctx, ORM_QUERY_ROLLBACK, "ROLLBACK", NULL);
}

/* ---- for the pool (orm/driver/postgres/conn.h) ---- */

int orm__pg_conn_alive(orm_conn *c)
{
    if (!c || PQstatus(c->pg) != CONNECTION_OK)
        return 0;
    /* An idle connection has nothing to read, unless the server closed it (terminated
     * backend, restart) or sent a notice: look without blocking. */
    struct pollfd p = { PQsocket(c->pg), POLLIN, 0 };
    if (poll(&p, 1, 0) > 0) {
        if (p.revents & (POLLERR | POLLNVAL))
            return 0;
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
            return 0;
        PQisBusy(c->pg); /* parses what arrived: a FATAL error reaches on_notice */
    }
    return !c->fatal;
}

void orm__pg_conn_set_deadline(orm_conn *c, int64_t deadline_us)
{
    c->deadline_us = deadline_us;
}

int orm__pg_conn_reset(orm_conn *c)
{
    if (!c || PQstatus(c->pg) != CONNECTION_OK || c->fatal)
        return ORM_ECONN;
    c->deadline_us = 0;
    if (c->cur.res)
        pg_cursor_close(&c->cur);
    switch (PQtransactionStatus(c->pg)) {
    case PQTRANS_IDLE: return ORM_OK;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR: return pg_rollback(c, NULL);
    default: return orm__error_set(ORM_ECONN, MODULE, "connection left in an unknown state");
    }
}

void orm__pg_conn_stmt_stats(orm_conn *c, size_t *count, uint64_t *hits, uint64_t *misses)
{
    orm_stmt_cache_stats s;
    orm__stmt_cache_stats_get(c->stmts, &s);
    *count = s.count, *hits = s.hits, *misses = s.misses;
}

const orm_driver orm__driver_postgres = {
    .version = ORM_DRIVER_VERSION,
    .name = "postgres",
    .trace_name = "postgresql",
    .accepts = pg_accepts,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .query = pg_query,
    .exec_script = pg_exec_script,
    .cursor_next = pg_cursor_next,
    .cursor_ncols = pg_cursor_ncols,
    .cursor_name = pg_cursor_name,
    .cursor_value = pg_cursor_value,
    .cursor_close = pg_cursor_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .begin_sql = orm__pg_begin_sql,
    .map_row = NULL,
    .dialect = &orm__dialect_postgres,
    .pool_defaults = orm__pg_pool_defaults,
    .alive = orm__pg_conn_alive,
    .reset = orm__pg_conn_reset,
    .columns = &orm__pg_columns,
    .migrate = &orm__pg_migrate,
    .feed = &orm__pg_feed,
};
