/* orm-bench — the raw sqlite3 side: the workloads written by hand, as a careful user of the
 * sqlite3 API would, to give the floor liborm is measured against. Keeps true: each
 * statement is prepared once per workload and reset between uses; every row read is mapped
 * into a bench_user with strdup'ed text (and freed), as liborm's mapper does.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct raw_sqlite {
    sqlite3 *db;
} raw_sqlite;

static int fail(raw_sqlite *r, const char *what)
{
    fprintf(stderr, "raw sqlite: %s: %s\n", what, sqlite3_errmsg(r->db));
    return -1;
}

static int exec(raw_sqlite *r, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "raw sqlite: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int prepare(raw_sqlite *r, const char *sql, sqlite3_stmt **out)
{
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return fail(r, sql);
    return 0;
}

void *bench_raw_sqlite_open(const char *path)
{
    raw_sqlite *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        exec(r, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL") != 0) {
        fprintf(stderr, "raw sqlite: cannot open %s: %s\n", path, sqlite3_errmsg(r->db));
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, 5000);
    return r;
}

static void raw_close(void *ctx)
{
    raw_sqlite *r = ctx;
    if (!r)
        return;
    sqlite3_close(r->db);
    free(r);
}

static int raw_recreate(void *ctx)
{
    return exec(ctx, BENCH_RECREATE_SQLITE);
}

static int raw_w1(void *ctx, bench_user *rows, size_t n)
{
    raw_sqlite *r = ctx;
    sqlite3_stmt *st;
    if (exec(r, "BEGIN") != 0)
        return -1;
    if (prepare(r, "INSERT INTO users(name, email, age, score, created_at) VALUES (?, ?, ?, ?, ?)",
                &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        bench_user *u = &rows[i];
        sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, u->email, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, u->age);
        sqlite3_bind_double(st, 4, u->score);
        sqlite3_bind_int64(st, 5, u->created_at);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return fail(r, "insert");
        }
        sqlite3_reset(st);
        u->id = sqlite3_last_insert_rowid(r->db);
    }
    sqlite3_finalize(st);
    return exec(r, "COMMIT");
}

/* W1 with the keys set by the caller, as orm-bench --w1 keys gives them to liborm. */
static int raw_w1_keys(void *ctx, bench_user *rows, size_t n)
{
    raw_sqlite *r = ctx;
    sqlite3_stmt *st;
    if (exec(r, "BEGIN") != 0)
        return -1;
    if (prepare(r, "INSERT INTO users(id, name, email, age, score, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        bench_user *u = &rows[i];
        u->id = (int64_t)i + 1;
        sqlite3_bind_int64(st, 1, u->id);
        sqlite3_bind_text(st, 2, u->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, u->email, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, u->age);
        sqlite3_bind_double(st, 5, u->score);
        sqlite3_bind_int64(st, 6, u->created_at);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sqlite3_finalize(st);
            return fail(r, "insert");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return exec(r, "COMMIT");
}

/* Map the current row of a SELECT id, name, email, age, score, created_at. */
static int map_row(sqlite3_stmt *st, bench_user *u)
{
    u->id = sqlite3_column_int64(st, 0);
    u->name = strdup((const char *)sqlite3_column_text(st, 1));
    u->email = strdup((const char *)sqlite3_column_text(st, 2));
    u->age = sqlite3_column_int(st, 3);
    u->score = sqlite3_column_double(st, 4);
    u->created_at = sqlite3_column_int64(st, 5);
    return u->name && u->email ? 0 : -1;
}

static void user_free(bench_user *u)
{
    free(u->name);
    free(u->email);
}

static int raw_w2(void *ctx, const int64_t *ids, size_t n, bench_check *out)
{
    raw_sqlite *r = ctx;
    sqlite3_stmt *st;
    if (prepare(r, "SELECT id, name, email, age, score, created_at FROM users WHERE id = ?",
                &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        bench_user u;
        sqlite3_bind_int64(st, 1, ids[i]);
        if (sqlite3_step(st) != SQLITE_ROW || map_row(st, &u) != 0) {
            sqlite3_finalize(st);
            return fail(r, "get");
        }
        sqlite3_reset(st);
        bench_check_add(out, &u);
        user_free(&u);
    }
    sqlite3_finalize(st);
    return 0;
}

static int raw_w3(void *ctx, const int32_t *ages, size_t n, bench_check *out)
{
    raw_sqlite *r = ctx;
    sqlite3_stmt *st;
    if (prepare(r, "SELECT id, name, email, age, score, created_at FROM users "
                   "WHERE age BETWEEN ? AND ? ORDER BY id LIMIT 50",
                &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        bench_user *list = NULL;
        size_t count = 0, cap = 0;
        int rc;
        sqlite3_bind_int(st, 1, ages[i]);
        sqlite3_bind_int(st, 2, ages[i] + 1);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                bench_user *nl = realloc(list, ncap * sizeof *nl);
                if (!nl)
                    break;
                list = nl;
                cap = ncap;
            }
            if (map_row(st, &list[count++]) != 0)
                break;
        }
        sqlite3_reset(st);
        for (size_t j = 0; j < count; j++) {
            bench_check_add(out, &list[j]);
            user_free(&list[j]);
        }
        free(list);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return fail(r, "filter");
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static int raw_w4(void *ctx, const int64_t *ids, const double *scores, size_t n)
{
    raw_sqlite *r = ctx;
    sqlite3_stmt *st;
    if (exec(r, "BEGIN") != 0)
        return -1;
    if (prepare(r, "UPDATE users SET score = ? WHERE id = ?", &st) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_double(st, 1, scores[i]);
        sqlite3_bind_int64(st, 2, ids[i]);
        if (sqlite3_step(st) != SQLITE_DONE || sqlite3_changes(r->db) != 1) {
            sqlite3_finalize(st);
            return fail(r, "update");
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return exec(r, "COMMIT");
}

static int raw_settle(void *ctx)
{
    return exec(ctx, BENCH_SETTLE_SQLITE);
}

const bench_raw_ops bench_raw_sqlite_ops = {
    "sqlite3", raw_recreate, raw_w1, raw_w2, raw_w3, raw_w4, raw_settle, raw_close, raw_w1_keys,
};
