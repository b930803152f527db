/* orm-bench — the raw libpq side: the workloads written by hand, as a careful user of libpq
 * would, to give the floor liborm is measured against. Keeps true: each statement is
 * prepared once (PQprepare) and run with PQexecPrepared; parameters and results travel as
 * text, the way most libpq code is written; every row read is mapped into a bench_user with
 * strdup'ed text (and freed), as liborm's mapper does.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct raw_pg {
    PGconn *conn;
    unsigned prepared; /* bit i: statement "raw_w<i>" is prepared on conn */
} raw_pg;

static int fail(raw_pg *r, const char *what, PGresult *res)
{
    fprintf(stderr, "raw postgres: %s: %s", what,
            res ? PQresultErrorMessage(res) : PQerrorMessage(r->conn));
    PQclear(res);
    return -1;
}

static int exec(raw_pg *r, const char *sql)
{
    PGresult *res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(r, sql, res);
    PQclear(res);
    return 0;
}

/* Prepare statement "raw_w<which>" unless this connection already has it: every pass of a
 * workload after the first reuses it. */
static int prepare(raw_pg *r, unsigned which, const char *sql, int nparams)
{
    char name[16];
    if (r->prepared & (1u << which))
        return 0;
    snprintf(name, sizeof name, "raw_w%u", which);
    PGresult *res = PQprepare(r->conn, name, sql, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(r, sql, res);
    PQclear(res);
    r->prepared |= 1u << which;
    return 0;
}

static PGresult *run(raw_pg *r, const char *name, int n, const char *const *params)
{
    return PQexecPrepared(r->conn, name, n, params, NULL, NULL, 0);
}

void *bench_raw_pg_open(const char *conninfo)
{
    raw_pg *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->conn = PQconnectdb(conninfo);
    if (PQstatus(r->conn) != CONNECTION_OK) {
        fprintf(stderr, "raw postgres: cannot connect: %s", PQerrorMessage(r->conn));
        PQfinish(r->conn);
        free(r);
        return NULL;
    }
    PQclear(PQexec(r->conn, "SET client_min_messages = warning"));
    return r;
}

static void raw_close(void *ctx)
{
    raw_pg *r = ctx;
    if (!r)
        return;
    PQfinish(r->conn);
    free(r);
}

static int raw_recreate(void *ctx)
{
    raw_pg *r = ctx;
    /* Statements prepared against the old table go with it (untimed: this is set-up). */
    r->prepared = 0;
    return exec(r, "DEALLOCATE ALL") || exec(r, "DROP TABLE IF EXISTS users") ||
                   exec(r, BENCH_CREATE_PG)
               ? -1
               : 0; /* BENCH_RECREATE_PG, one statement at a time as PQexec prefers */
}

static int raw_w1(void *ctx, bench_user *rows, size_t n)
{
    raw_pg *r = ctx;
    if (exec(r, "BEGIN") != 0 ||
        prepare(r, 1,
                "INSERT INTO users(name, email, age, score, created_at) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                5) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        bench_user *u = &rows[i];
        char age[16], score[32], created[24];
        snprintf(age, sizeof age, "%d", (int)u->age);
        snprintf(score, sizeof score, "%.17g", u->score);
        snprintf(created, sizeof created, "%" PRId64, u->created_at);
        const char *params[5] = { u->name, u->email, age, score, created };
        PGresult *res = run(r, "raw_w1", 5, params);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            return fail(r, "insert", res);
        u->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    return exec(r, "COMMIT");
}

/* Map row i of a SELECT id, name, email, age, score, created_at. */
static int map_row(PGresult *res, int i, bench_user *u)
{
    u->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    u->name = strdup(PQgetvalue(res, i, 1));
    u->email = strdup(PQgetvalue(res, i, 2));
    u->age = (int32_t)strtol(PQgetvalue(res, i, 3), NULL, 10);
    u->score = strtod(PQgetvalue(res, i, 4), NULL);
    u->created_at = strtoll(PQgetvalue(res, i, 5), NULL, 10);
    return u->name && u->email ? 0 : -1;
}

static void user_free(bench_user *u)
{
    free(u->name);
    free(u->email);
}

static int raw_w2(void *ctx, const int64_t *ids, size_t n, bench_check *out)
{
    raw_pg *r = ctx;
    if (prepare(r, 2,
                "SELECT id, name, email, age, score, created_at FROM users WHERE id = $1",
                1) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char id[24];
        bench_user u;
        snprintf(id, sizeof id, "%" PRId64, ids[i]);
        const char *params[1] = { id };
        PGresult *res = run(r, "raw_w2", 1, params);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
            map_row(res, 0, &u) != 0)
            return fail(r, "get", res);
        PQclear(res);
        bench_check_add(out, &u);
        user_free(&u);
    }
    return 0;
}

static int raw_w3(void *ctx, const int32_t *ages, size_t n, bench_check *out)
{
    raw_pg *r = ctx;
    if (prepare(r, 3,
                "SELECT id, name, email, age, score, created_at FROM users "
                "WHERE age BETWEEN $1 AND $2 ORDER BY id LIMIT 50",
                2) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char lo[16], hi[16];
        snprintf(lo, sizeof lo, "%d", (int)ages[i]);
        snprintf(hi, sizeof hi, "%d", (int)ages[i] + 1);
        const char *params[2] = { lo, hi };
        PGresult *res = run(r, "raw_w3", 2, params);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            return fail(r, "filter", res);
        size_t count = (size_t)PQntuples(res);
        bench_user *list = calloc(count ? count : 1, sizeof *list);
        int bad = list == NULL;
        for (size_t j = 0; !bad && j < count; j++)
            bad = map_row(res, (int)j, &list[j]);
        PQclear(res);
        for (size_t j = 0; list && j < count; j++) {
            bench_check_add(out, &list[j]);
            user_free(&list[j]);
        }
        free(list);
        if (bad) {
            fprintf(stderr, "raw postgres: filter: out of memory\n");
            return -1;
        }
    }
    return 0;
}

static int raw_w4(void *ctx, const int64_t *ids, const double *scores, size_t n)
{
    raw_pg *r = ctx;
    if (exec(r, "BEGIN") != 0 ||
        prepare(r, 4, "UPDATE users SET score = $1 WHERE id = $2", 2) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char score[32], id[24];
        snprintf(score, sizeof score, "%.17g", scores[i]);
        snprintf(id, sizeof id, "%" PRId64, ids[i]);
        const char *params[2] = { score, id };
        PGresult *res = run(r, "raw_w4", 2, params);
        if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0)
            return fail(r, "update", res);
        PQclear(res);
    }
    return exec(r, "COMMIT");
}

static int raw_settle(void *ctx)
{
    return exec(ctx, BENCH_SETTLE_PG);
}

const bench_raw_ops bench_raw_pg_ops = {
    "libpq", raw_recreate, raw_w1, raw_w2, raw_w3, raw_w4, raw_settle, raw_close, NULL,
};
