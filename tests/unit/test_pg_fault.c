/* Faults at the pool + PostgreSQL driver level, against the throwaway server of
 * scripts/with-postgres.sh (ORM_TEST_PG_DSN, ORM_TEST_PG_DATA, ORM_TEST_PG_BIN,
 * ORM_TEST_PG_PORT; every test FAILS when they are unset).
 *
 * - 8 threads x 2,000 queries share a pool of 4 real connections: every answer right, stats
 *   that add up.
 * - A backend killed with pg_terminate_backend while its connection sits idle in the pool is
 *   replaced on the next acquire without the caller seeing an error.
 * - The server is stopped in the middle of a run of two threads: calls fail with ORM_ECONN
 *   (no crash, none returns later than its deadline), and succeed again after a restart.
 * This suite stops the shared server, so ctest runs it alone (RUN_SERIAL), and it restarts
 * the server before asserting anything, so a failure here does not break later suites.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orm/driver.h"
#include "orm/orm.h"
#include "orm/pg_conn.h"
#include "orm/pool.h"
#include "testutil.h"

static const orm_driver *drv = &orm__driver_postgres;

static const char *env(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && *v, "%s is not set: run under scripts/with-postgres.sh", name);
    return v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- the pool over the driver, as orm/db.c wires it ---- */

static int cb_open(void **out, void *ud)
{
    (void)ud;
    return drv->open((orm_conn **)out, env("ORM_TEST_PG_DSN"), NULL, 0);
}
static void cb_close(void *c, void *ud) { (void)ud; drv->close(c); }
static int cb_alive(void *c, void *ud) { (void)ud; return orm__pg_conn_alive(c); }
static int cb_reset(void *c, void *ud) { (void)ud; return orm__pg_conn_reset(c); }

static orm_pool *pg_pool(size_t max_open)
{
    orm_pool_callbacks cb = { cb_open, cb_close, cb_alive, cb_reset, NULL };
    orm_pool_config cfg = ORM_POOL_CONFIG_INIT;
    cfg.max_open = max_open;
    cfg.max_idle = max_open;
    orm_pool *p = NULL;
    ck_assert_ok(orm__pool_new(&p, &cfg, &cb));
    return p;
}

/* One statement through the pool; *pid gets the backend's pid when asked. */
static int query_once(orm_pool *p, int64_t deadline, int64_t *pid)
{
    void *c;
    int rc = orm__pool_acquire(p, deadline, &c);
    if (rc != ORM_OK)
        return rc;
    const char *sql = "SELECT pg_backend_pid()";
    orm_query q = { .kind = ORM_QUERY_SELECT, .sql = sql, .sql_len = strlen(sql) };
    orm_cursor *cur;
    rc = drv->query(c, NULL, &q, &cur);
    if (rc == ORM_OK) {
        if (drv->cursor_next(cur) == 1 && pid)
            *pid = drv->cursor_value(cur, 0).u.i;
        drv->cursor_close(cur);
    }
    orm__pool_release(p, c, rc == ORM_ECONN);
    return rc;
}

START_TEST(test_terminated_idle_conn_is_replaced)
{
    orm_pool *p = pg_pool(2);
    int64_t pid = 0, pid2 = 0;
    ck_assert_ok(query_once(p, 0, &pid));
    /* Kill the idle pooled connection's backend from another connection. */
    orm_conn *k;
    ck_assert_ok(drv->open(&k, env("ORM_TEST_PG_DSN"), NULL, 0));
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld, 5000)", (long long)pid);
    ck_assert_ok(drv->exec_script(k, NULL, sql));
    drv->close(k);
    sleep_ms(20); /* the server's FATAL message and close reach the client socket */
    ck_assert_ok(query_once(p, 0, &pid2)); /* no error: replaced */
    ck_assert_int_ne(pid, pid2);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_eq(st.closed_broken, 1);
    ck_assert_uint_eq(st.opened, 2);
    orm__pool_free(p);
}
END_TEST

/* ---- many threads, few connections, a real server ---- */

typedef struct echo_worker {
    orm_pool *pool;
    int id;
    long ok, wrong, failed;
} echo_worker;

static void *echo(void *arg)
{
    echo_worker *w = arg;
    const char *sql = "SELECT $1::int8 + 0";
    for (int i = 0; i < 2000; i++) {
        void *c;
        if (orm__pool_acquire(w->pool, orm__pool_now_us() + 30000000, &c) != ORM_OK) {
            w->failed++;
            continue;
        }
        int64_t want = (int64_t)w->id * 1000000 + i;
        orm_value a[] = { orm_int(want) };
        orm_query q = { .kind = ORM_QUERY_SELECT, .sql = sql, .sql_len = strlen(sql), .args = a, .nargs = 1 };
        orm_cursor *cur;
        int rc = drv->query(c, NULL, &q, &cur);
        if (rc == ORM_OK) {
            if (drv->cursor_next(cur) == 1 && drv->cursor_value(cur, 0).u.i == want)
                w->ok++;
            else
                w->wrong++;
            drv->cursor_close(cur);
        } else {
            w->failed++;
        }
        orm__pool_release(w->pool, c, rc == ORM_ECONN);
    }
    return NULL;
}

START_TEST(test_eight_threads_pool_of_four)
{
    orm_pool *p = pg_pool(4);
    pthread_t t[8];
    echo_worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (echo_worker){ p, i, 0, 0, 0 };
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
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    ck_assert_uint_le(st.opened, 4);
    ck_assert_uint_eq(st.open, st.opened);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_eq(st.idle, st.open);
    ck_assert_uint_eq(st.closed_broken + st.closed_max_idle + st.closed_idle_timeout + st.closed_lifetime, 0);
    ck_assert_uint_eq(st.timeouts, 0);
    orm__pool_free(p);
}
END_TEST

/* ---- stopping the server ---- */

static int pg_ctl(const char *action)
{
    char cmd[4096];
    const char *data = env("ORM_TEST_PG_DATA"), *bin = env("ORM_TEST_PG_BIN");
    const char *as = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (strcmp(action, "stop") == 0) {
        snprintf(cmd, sizeof cmd, "%s%s/pg_ctl -D %s -m fast -w -t 60 stop >/dev/null 2>&1", as, bin, data);
    } else {
        /* The same options as scripts/with-postgres.sh: its folder holds the data, the log
         * and the unix socket. */
        char dir[512];
        snprintf(dir, sizeof dir, "%s", data);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        snprintf(cmd, sizeof cmd,
                 "%s%s/pg_ctl -D %s -l %s/server.log -w -t 60 -o \"-h 127.0.0.1 -p %s -k %s"
                 " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                 " -c max_connections=100\" start >/dev/null 2>&1",
                 as, bin, data, dir, env("ORM_TEST_PG_PORT"), dir);
    }
    return system(cmd);
}

typedef struct runner {
    orm_pool *pool;
    atomic_int *stop;
    long ok, econn, other, late;
    int64_t worst_overrun_us;
} runner;

#define DEADLINE_US 2000000

static void *run_queries(void *arg)
{
    runner *r = arg;
    while (!atomic_load(r->stop)) {
        int64_t deadline = orm__pool_now_us() + DEADLINE_US;
        int rc = query_once(r->pool, deadline, NULL);
        int64_t over = orm__pool_now_us() - deadline;
        if (over > r->worst_overrun_us)
            r->worst_overrun_us = over;
        if (over > 500000)
            r->late++;
        if (rc == ORM_OK)
            r->ok++;
        else if (rc == ORM_ECONN)
            r->econn++;
        else
            r->other++;
        sleep_ms(2);
    }
    return NULL;
}

START_TEST(test_server_stop_and_restart)
{
    orm_pool *p = pg_pool(4);
    ck_assert_ok(query_once(p, 0, NULL));
    atomic_int stop = 0;
    runner r[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].pool = p;
        r[i].stop = &stop;
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_queries, &r[i]), 0);
    }
    sleep_ms(200);
    int stopped = pg_ctl("stop");
    sleep_ms(300);
    /* While it is down every call is ORM_ECONN, at once. */
    int down_rc[3];
    int64_t down_us[3];
    for (int i = 0; i < 3; i++) {
        int64_t t0 = orm__pool_now_us();
        down_rc[i] = query_once(p, t0 + DEADLINE_US, NULL);
        down_us[i] = orm__pool_now_us() - t0;
    }
    int started = pg_ctl("start");
    /* The first call after the restart succeeds: dead idle connections are replaced. */
    int after = query_once(p, orm__pool_now_us() + DEADLINE_US, NULL);
    sleep_ms(200);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    orm_pool_stats st;
    orm__pool_stats(p, &st);
    orm__pool_free(p);

    ck_assert_msg(stopped == 0, "pg_ctl stop failed");
    ck_assert_msg(started == 0, "pg_ctl start failed: later suites will fail too");
    for (int i = 0; i < 3; i++) {
        ck_assert_orm(down_rc[i], ORM_ECONN);
        ck_assert_int_lt(down_us[i], DEADLINE_US);
    }
    ck_assert_ok(after);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(r[i].late == 0, "a call returned %lld us after its deadline",
                      (long long)r[i].worst_overrun_us);
        ck_assert_int_eq(r[i].other, 0);
        ck_assert_int_gt(r[i].ok, 0);
    }
    ck_assert_int_gt(r[0].econn + r[1].econn, 0);
    ck_assert_uint_eq(st.in_use, 0);
    ck_assert_uint_gt(st.opened, 1);
}
END_TEST

static Suite *pg_fault_suite(void)
{
    Suite *s = suite_create("pg_fault");
    TCase *tc = tcase_create("fault");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_terminated_idle_conn_is_replaced);
    tcase_add_test(tc, test_eight_threads_pool_of_four);
    tcase_add_test(tc, test_server_stop_and_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(pg_fault_suite()); }
