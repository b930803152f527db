/* Integration: the db's connection pool, through the public API, on every backend.
 *
 * - 8 threads x 2,000 queries over a pool of 4: every answer right, orm_db_stats adds up
 *   (run under TSan: label tsan);
 * - a statement waiting for a connection gives up at its ctx deadline (ORM_ETIMEOUT), or
 *   after the busy timeout without one (ORM_EBUSY);
 * - idle connections past idle_timeout_ms are closed;
 * - PostgreSQL: a backend killed while its connection sits idle is replaced unseen.
 * Each test opens its own db with pool options (SQLite: a fresh temporary file, WAL). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it.h"

static char *tmp_path;

/* The DSN of this run's backend (see it.h), a temporary SQLite file for "sqlite". */
static const char *dsn(void)
{
    const char *e = orm_test_backend_dsn(&tmp_path, "pool", NULL);
    ck_assert_ptr_nonnull(e);
    return e;
}

static void cleanup(void)
{
    if (!tmp_path)
        return;
    static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s", tmp_path, sfx[i]);
        unlink(p);
    }
    free(tmp_path);
    tmp_path = NULL;
}

static orm_db *open_pool(size_t max_open, int busy_ms, int64_t idle_timeout_ms)
{
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.max_open = max_open;
    o.busy_timeout_ms = busy_ms;
    o.idle_timeout_ms = idle_timeout_ms;
    orm_db *db = NULL;
    ck_assert_ok(orm_db_open(&db, dsn(), &o));
    return db;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- many threads, few connections ---- */

typedef struct worker {
    orm_db *db;
    int id;
    long ok, wrong, failed;
} worker;

static void *echo(void *arg)
{
    worker *w = arg;
    const char *sql = strcmp(orm_dialect_name(orm_db_dialect(w->db)), "postgres") == 0 ? "SELECT $1::int8 + 0"
                                                                     : "SELECT ? + 0";
    orm_session *s = orm_db_session(w->db);
    for (int i = 0; i < 2000; i++) {
        int64_t want = (int64_t)w->id * 1000000 + i;
        orm_value a[] = { orm_int(want) };
        orm_rows *r;
        if (orm_raw_rows(s, NULL, sql, a, 1, &r) != ORM_OK) {
            w->failed++;
            continue;
        }
        if (orm_rows_next(r) == 1 && orm_rows_int(r, 0) == want)
            w->ok++;
        else
            w->wrong++;
        orm_rows_free(r);
    }
    return NULL;
}

START_TEST(eight_threads_pool_of_four)
{
    orm_db *db = open_pool(4, 30000, 0);
    worker w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){ db, i, 0, 0, 0 };
        ck_assert_int_eq(pthread_create(&t[i], NULL, echo, &w[i]), 0);
    }
    long ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].wrong, 0);
        ck_assert_int_eq(w[i].failed, 0);
        ok += w[i].ok;
    }
    ck_assert_int_eq(ok, 16000);
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_eq(st.max_open, 4);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_le(st.open, 4);
    ck_assert_uint_eq(st.open, st.idle + st.in_use);
    ck_assert_uint_eq(st.opened - st.closed_max_idle - st.closed_idle_timeout - st.closed_lifetime -
                          st.closed_broken,
                      st.open);
    ck_assert_uint_eq(st.closed_broken, 0);
    ck_assert_uint_eq(st.timeouts, 0);
    ck_assert_int_ge(st.wait_us, 0);
    ck_assert(st.waits == 0 || st.wait_us > 0);
    printf("pool: 8 threads x 2000 over %zu connections: opened %llu, waits %llu, wait %.1f ms\n",
           st.max_open, (unsigned long long)st.opened, (unsigned long long)st.waits,
           (double)st.wait_us / 1000.0);
    orm_db_close(db);
    cleanup();
}
END_TEST

/* ---- waiting for a connection ---- */

START_TEST(deadline_while_waiting_for_a_connection)
{
    orm_db *db = open_pool(2, 150, 0);
    orm_tx *a, *b; /* two transactions hold both connections */
    ck_assert_ok(orm_tx_begin(&a, db, NULL, NULL));
    ck_assert_ok(orm_tx_begin(&b, db, NULL, NULL));
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 100));
    int64_t t0 = orm_ctx_now_us();
    ck_assert_orm(orm_exec_sql(orm_db_session(db), ctx, "SELECT 1"), ORM_ETIMEOUT);
    int64_t ms = (orm_ctx_now_us() - t0) / 1000;
    ck_assert_int_ge(ms, 95);
    ck_assert_int_lt(ms, 350);
    orm_ctx_free(ctx);
    /* Without a ctx: the busy timeout, then ORM_EBUSY. */
    t0 = orm_ctx_now_us();
    ck_assert_orm(orm_exec_sql(orm_db_session(db), NULL, "SELECT 1"), ORM_EBUSY);
    ck_assert_int_lt((orm_ctx_now_us() - t0) / 1000, 400);
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_eq(st.in_use, 2);
    ck_assert_uint_eq(st.timeouts, 2);
    ck_assert_uint_eq(st.waits, 2);
    ck_assert_int_ge(st.wait_us, 240000);
    /* A connection coming back serves the next caller. */
    ck_assert_ok(orm_tx_commit(a));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "SELECT 1"));
    orm_tx_free(a);
    orm_tx_free(b);
    orm_db_close(db);
    cleanup();
}
END_TEST

/* ---- idle timeout ---- */

static pthread_barrier_t all_hold;

/* Three threads hold a cursor each at the same moment (the barrier: on a loaded host a thread
 * could otherwise start after another was done), so three connections were open at once. */
static void *hold_a_cursor(void *arg)
{
    orm_db *db = arg;
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(orm_db_session(db), NULL, "SELECT 1", NULL, 0, &r));
    pthread_barrier_wait(&all_hold);
    orm_rows_free(r);
    return NULL;
}

START_TEST(idle_timeout_closes_connections)
{
    orm_db *db = open_pool(4, 5000, 60);
    pthread_t t[3];
    ck_assert_int_eq(pthread_barrier_init(&all_hold, NULL, 3), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hold_a_cursor, db), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&all_hold);
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_ge(st.opened, 3); /* (how many are still open depends on the host's pace) */
    sleep_ms(150);
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_eq(st.open, 0);
    ck_assert_uint_ge(st.closed_idle_timeout, 2);
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "SELECT 1")); /* a fresh one */
    orm_db_close(db);
    cleanup();
}
END_TEST

/* ---- a killed backend is replaced (PostgreSQL) ---- */

static int64_t backend_pid(orm_db *db)
{
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(orm_db_session(db), NULL, "SELECT pg_backend_pid()", NULL, 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    int64_t pid = orm_rows_int(r, 0);
    orm_rows_free(r);
    return pid;
}

START_TEST(killed_backend_is_replaced)
{
    orm_db *db = open_pool(1, 5000, 0);
    if (strcmp(orm_dialect_name(orm_db_dialect(db)), "postgres") != 0) {
        orm_db_close(db); /* SQLite has no server to lose */
        cleanup();
        return;
    }
    int64_t pid = backend_pid(db);
    orm_db *killer = open_pool(1, 5000, 0);
    orm_value a[] = { orm_int(pid) };
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(orm_db_session(killer), NULL,
                              "SELECT pg_terminate_backend($1::int, 5000)", a, 1, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    orm_rows_free(r);
    orm_db_close(killer);
    sleep_ms(20);
    int64_t pid2 = backend_pid(db); /* no error: a fresh connection */
    ck_assert_int_ne(pid, pid2);
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_eq(st.closed_broken, 1);
    orm_db_close(db);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, eight_threads_pool_of_four);
    tcase_add_test(tc, deadline_while_waiting_for_a_connection);
    tcase_add_test(tc, idle_timeout_closes_connections);
    tcase_add_test(tc, killed_backend_is_replaced);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(pool_suite());
}
