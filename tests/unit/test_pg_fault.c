/* Faults at the pool + PostgreSQL driver level, against the throwaway server of
 * scripts/with-postgres.sh (ORM_TEST_PG_DSN, ORM_TEST_PG_DATA, ORM_TEST_PG_BIN,
 * ORM_TEST_PG_PORT; every test FAILS when they are unset).
 *
 * - 8 threads x 2,000 queries share a pool of 4 real connections: every answer right, stats
 *   that add up.
 * - A backend killed with pg_terminate_backend while its connection sits idle in the pool is
 *   replaced on the next acquire without the caller seeing an error.
 * - A crash-restart (one backend killed with SIGKILL): the pool's idle connections, whose
 *   backends said goodbye with a 57P02 WARNING, are all replaced; 20 writes afterwards (never
 *   run twice) all succeed.
 * - The server is stopped in the middle of a run of two threads: calls fail with ORM_ECONN
 *   (no crash, none returns later than its deadline), and succeed again after a restart.
 * - Deadlines that hold whatever the server does: with every server process frozen
 *   (SIGSTOP), a statement, a connect and the same through orm_db return ORM_ETIMEOUT
 *   within 500 ms of a 500 ms deadline (250 ms of grace, and a loaded machine); with only the backend frozen too (its cancel is
 *   acknowledged but never acted on), on both cancel paths (the non-blocking request and
 *   libpq's PQcancel on a thread); once thawed, the statement left running is stopped by the
 *   reaper (pg_stat_activity shows nothing running).
 * - Lost cancels: requests that go astray (a wrong key: the postmaster drops them) are sent
 *   again until the statement ends; a heavy JIT-compiled query with a 50 ms deadline leaves
 *   nothing running.
 * - Commit outcomes: a COMMIT whose backend is frozen past the deadline is ORM_EUNKNOWN (and
 *   orm_do_tx does not retry it); a backend killed while its COMMIT waits is learned to have
 *   rolled back (ORM_ECONN, "did not commit"); one thawed while the outcome is being learned
 *   is reported committed (ORM_OK), as it is.
 * This suite stops and freezes the shared server, so ctest runs it alone (RUN_SERIAL); it
 * restarts / thaws the server before asserting anything (and thaws again in teardown), so a
 * failure here does not break later suites.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <signal.h>

#include "orm/driver.h"
#include "orm/orm.h"
#include "orm/driver/postgres/cancel.h"
#include "orm/driver/postgres/conn.h"
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

/* ---- freezing the server ---- */

static pid_t postmaster_pid(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/postmaster.pid", env("ORM_TEST_PG_DATA"));
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    long pid = 0;
    ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

/* Send sig to the postmaster (when with_postmaster) and every process it started. */
static void signal_server(int sig, int with_postmaster)
{
    pid_t pm = postmaster_pid();
    if (with_postmaster && sig == SIGSTOP)
        kill(pm, sig); /* first, so it starts nothing new meanwhile */
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == pm)
            kill((pid_t)pid, sig);
    }
    closedir(d);
    if (with_postmaster && sig != SIGSTOP)
        kill(pm, sig);
}

static void thaw_all(void) { signal_server(SIGCONT, 1); }

static orm_conn *pg_connect(void)
{
    orm_conn *c;
    ck_assert_ok(drv->open(&c, env("ORM_TEST_PG_DSN"), NULL, 0));
    return c;
}

static int64_t int_query(orm_conn *c, orm_ctx *ctx, const char *sql, int *rc)
{
    orm_query q = { .kind = ORM_QUERY_SELECT, .sql = sql, .sql_len = strlen(sql) };
    orm_cursor *cur;
    int64_t v = -1;
    *rc = drv->query(c, ctx, &q, &cur);
    if (*rc == ORM_OK) {
        if (drv->cursor_next(cur) == 1)
            v = drv->cursor_value(cur, 0).u.i;
        drv->cursor_close(cur);
    }
    return v;
}

static int64_t backend_pid(orm_conn *c)
{
    int rc;
    int64_t pid = int_query(c, NULL, "SELECT pg_backend_pid()", &rc);
    ck_assert_ok(rc);
    return pid;
}

/* Whether backend pid still runs a statement, seen from a fresh connection. */
static int running(int64_t pid)
{
    orm_conn *k = pg_connect();
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld AND state = 'active'",
             (long long)pid);
    int rc;
    int64_t n = int_query(k, NULL, sql, &rc);
    drv->close(k);
    ck_assert_ok(rc);
    return n > 0;
}

/* Wait up to ms for backend pid to run nothing; 1 when it does not. */
static int settles(int64_t pid, long ms)
{
    for (long t = 0; t < ms; t += 50) {
        if (!running(pid))
            return 1;
        sleep_ms(50);
    }
    return !running(pid);
}

static void wait_reapers(void)
{
    for (int i = 0; i < 200 && orm__pg_cancel_reapers() > 0; i++)
        sleep_ms(50);
    ck_assert_int_eq(orm__pg_cancel_reapers(), 0);
}

static int64_t elapsed_ms(int64_t t0) { return (orm__pool_now_us() - t0) / 1000; }

static int exec_with(orm_conn *c, orm_ctx *ctx, const char *sql)
{
    orm_query q = { .kind = ORM_QUERY_RAW, .sql = sql, .sql_len = strlen(sql) };
    return drv->exec(c, ctx, &q, NULL);
}

typedef struct canceller {
    orm_ctx *ctx;
    int64_t took_us; /* how long orm_ctx_cancel took */
} canceller;

static void *cancel_later(void *arg)
{
    canceller *k = arg;
    sleep_ms(100);
    int64_t t0 = orm__pool_now_us();
    orm_ctx_cancel(k->ctx);
    k->took_us = orm__pool_now_us() - t0;
    return NULL;
}

START_TEST(test_frozen_server_deadline)
{
    orm_conn *c = pg_connect();
    orm_conn *big = pg_connect();
    orm_conn *pg_connect_before_freeze = pg_connect();
    size_t big_len = (size_t)64 << 20; /* more than the socket buffers take */
    char *text = malloc(big_len + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', big_len);
    text[big_len] = '\0';
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, env("ORM_TEST_PG_DSN"), NULL));
    signal_server(SIGSTOP, 1);

    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 500));
    int64_t t0 = orm__pool_now_us();
    int stmt_rc = exec_with(c, ctx, "SELECT 1");
    int64_t stmt_ms = elapsed_ms(t0);
    orm_ctx_free(ctx);

    /* A statement the frozen server stops reading half-way: sending is bounded too. */
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 500));
    orm_value arg = orm_text(text);
    const char *bsql = "SELECT length($1)";
    orm_query bq = { .kind = ORM_QUERY_RAW, .sql = bsql, .sql_len = strlen(bsql), .args = &arg, .nargs = 1 };
    t0 = orm__pool_now_us();
    int big_rc = drv->exec(big, ctx, &bq, NULL);
    int64_t big_ms = elapsed_ms(t0);
    orm_ctx_free(ctx);

    /* orm_ctx_cancel from another thread never blocks on the frozen server, and the
     * statement it cancels returns within the grace. */
    orm_conn *c3 = pg_connect_before_freeze;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    canceller k = { ctx, -1 };
    pthread_t kt;
    ck_assert_int_eq(pthread_create(&kt, NULL, cancel_later, &k), 0);
    t0 = orm__pool_now_us();
    int cancel_rc = exec_with(c3, ctx, "SELECT 1");
    int64_t cancel_ms = elapsed_ms(t0);
    pthread_join(kt, NULL);
    orm_ctx_free(ctx);

    orm_conn *c2 = NULL;
    t0 = orm__pool_now_us();
    int conn_rc = drv->open(&c2, env("ORM_TEST_PG_DSN"), NULL, orm__pool_now_us() + 500000);
    int64_t conn_ms = elapsed_ms(t0);

    /* Through the db: its idle connection's statement, then a fresh connect (the first was
     * given up), each bounded by the ctx. */
    int db_rc[2];
    int64_t db_ms[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 500));
        t0 = orm__pool_now_us();
        db_rc[i] = orm_raw_exec(orm_db_session(db), ctx, "SELECT 1", NULL, 0, NULL);
        db_ms[i] = elapsed_ms(t0);
        orm_ctx_free(ctx);
    }
    thaw_all();

    drv->close(c); /* given up: the reaper ends it */
    drv->close(big);
    drv->close(c3);
    free(text);
    orm_db_close(db);
    ck_assert_orm(stmt_rc, ORM_ETIMEOUT);
    ck_assert_orm(big_rc, ORM_ETIMEOUT);
    ck_assert_orm(cancel_rc, ORM_ECANCELED);
    ck_assert_int_lt(k.took_us, 50000);
    ck_assert_int_lt(cancel_ms, 700);
    ck_assert_int_lt(big_ms, 800);
    ck_assert_int_ge(stmt_ms, 490);
    ck_assert_int_lt(stmt_ms, 1000);
    ck_assert_orm(conn_rc, ORM_ETIMEOUT);
    ck_assert_ptr_null(c2);
    ck_assert_int_lt(conn_ms, 800);
    for (int i = 0; i < 2; i++) {
        ck_assert_orm(db_rc[i], ORM_ETIMEOUT);
        ck_assert_int_lt(db_ms[i], 1000);
    }
    wait_reapers();
    /* The server is fine once thawed. */
    c = pg_connect();
    ck_assert_ok(exec_with(c, NULL, "SELECT 1"));
    drv->close(c);
}
END_TEST

/* Only the backend frozen: the postmaster acknowledges the cancel, nothing acts on it. */
START_TEST(test_frozen_backend_deadline)
{
    for (int thread = 0; thread < 2; thread++) {
        orm__pg_cancel_test_force_thread(thread);
        orm_conn *c = pg_connect();
        orm__pg_cancel_test_force_thread(0);
        int64_t pid = backend_pid(c);
        kill((pid_t)pid, SIGSTOP);
        orm_ctx *ctx;
        ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 500));
        int64_t t0 = orm__pool_now_us();
        int rc = exec_with(c, ctx, "SELECT pg_sleep(30)");
        int64_t ms = elapsed_ms(t0);
        orm_ctx_free(ctx);
        drv->close(c); /* the reaper keeps cancelling */
        kill((pid_t)pid, SIGCONT);
        /* The backend wakes with the cancel pending while it reads the command: ignored (a
         * lost cancel), then it starts pg_sleep(30): the reaper's next cancel stops it. */
        int settled = settles(pid, 5000);
        ck_assert_orm(rc, ORM_ETIMEOUT);
        ck_assert_int_ge(ms, 490);
        ck_assert_int_lt(ms, 1000);
        ck_assert_msg(settled, "pg_sleep(30) still runs on the backend given up (thread %d)", thread);
        wait_reapers();
    }
}
END_TEST

START_TEST(test_lost_cancel_is_sent_again)
{
    orm_conn *c = pg_connect();
    int64_t pid = backend_pid(c);
    orm__pg_cancel_test_lose(2); /* the first two requests go astray */
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 100));
    int64_t t0 = orm__pool_now_us();
    int rc = exec_with(c, ctx, "SELECT pg_sleep(10)");
    int64_t ms = elapsed_ms(t0);
    orm_ctx_free(ctx);
    orm__pg_cancel_test_lose(0);
    ck_assert_orm(rc, ORM_ETIMEOUT);
    ck_assert_int_lt(ms, 700);
    ck_assert_msg(settles(pid, 3000), "pg_sleep(10) still runs after its deadline");
    drv->close(c);

    /* A heavy query, JIT-compiled (the compile does not look at interrupts), 50 ms. */
    c = pg_connect();
    pid = backend_pid(c);
    ck_assert_ok(exec_with(c, NULL, "SET jit = on"));
    ck_assert_ok(exec_with(c, NULL, "SET jit_above_cost = 0"));
    ck_assert_ok(exec_with(c, NULL, "SET jit_inline_above_cost = 0"));
    ck_assert_ok(exec_with(c, NULL, "SET jit_optimize_above_cost = 0"));
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 50));
    t0 = orm__pool_now_us();
    rc = exec_with(c, ctx,
                   "SELECT sum(a.x * b.x + a.x % 7 - b.x % 3) FROM generate_series(1, 20000) a(x), "
                   "generate_series(1, 20000) b(x) WHERE (a.x + b.x) % 5 <> 1");
    ms = elapsed_ms(t0);
    orm_ctx_free(ctx);
    ck_assert_orm(rc, ORM_ETIMEOUT);
    ck_assert_int_lt(ms, 700);
    drv->close(c);
    ck_assert_msg(settles(pid, 3000), "the JIT query still runs after its deadline");
    wait_reapers();
}
END_TEST

/* BEGIN; INSERT; returns the backend pid. */
static int64_t begin_insert(orm_conn *c)
{
    ck_assert_ok(exec_with(c, NULL, "BEGIN"));
    ck_assert_ok(exec_with(c, NULL, "INSERT INTO fault_t VALUES (1)"));
    return backend_pid(c);
}

static int64_t fault_rows(void)
{
    orm_conn *k = pg_connect();
    int rc;
    int64_t n = int_query(k, NULL, "SELECT count(*) FROM fault_t", &rc);
    drv->close(k);
    ck_assert_ok(rc);
    return n;
}

static void fault_table(void)
{
    orm_conn *k = pg_connect();
    ck_assert_ok(exec_with(k, NULL, "DROP TABLE IF EXISTS fault_t"));
    ck_assert_ok(exec_with(k, NULL, "CREATE TABLE fault_t (x int)"));
    drv->close(k);
}

typedef struct later {
    int64_t pid;
    long after_ms;
    int terminate; /* pg_terminate_backend before SIGCONT */
} later;

static void *thaw_later(void *arg)
{
    later *l = arg;
    sleep_ms(l->after_ms);
    if (l->terminate) {
        orm_conn *k = pg_connect();
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)l->pid);
        exec_with(k, NULL, sql);
        drv->close(k);
    }
    kill((pid_t)l->pid, SIGCONT);
    return NULL;
}

static void stop_pid(void *arg) { kill((pid_t)*(int64_t *)arg, SIGSTOP); }

START_TEST(test_commit_outcome_unknown)
{
    fault_table();
    orm_conn *c = pg_connect();
    int64_t pid = begin_insert(c);
    orm__pg_test_before_commit(stop_pid, &pid);
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 200));
    int64_t t0 = orm__pool_now_us();
    int rc = drv->commit(c, ctx);
    int64_t ms = elapsed_ms(t0);
    orm__pg_test_before_commit(NULL, NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", orm_error_last()->message);
    orm_ctx_free(ctx);
    kill((pid_t)pid, SIGCONT);
    drv->close(c);
    ck_assert_orm(rc, ORM_EUNKNOWN);
    ck_assert_msg(strstr(msg, "may have committed") != NULL, "message: %s", msg);
    ck_assert_int_lt(ms, 1500); /* deadline + grace + the bounded outcome check */
    wait_reapers();
}
END_TEST

START_TEST(test_commit_outcome_learned_rolled_back)
{
    fault_table();
    orm_conn *c = pg_connect();
    int64_t pid = begin_insert(c);
    orm__pg_test_before_commit(stop_pid, &pid);
    later l = { pid, 150, 1 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, thaw_later, &l), 0);
    int rc = drv->commit(c, NULL); /* killed before it reads the COMMIT */
    orm__pg_test_before_commit(NULL, NULL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", orm_error_last()->message);
    pthread_join(t, NULL);
    drv->close(c);
    ck_assert_orm(rc, ORM_ECONN);
    ck_assert_msg(strstr(msg, "did not commit") != NULL, "message: %s", msg);
    ck_assert_int_eq(fault_rows(), 0);
}
END_TEST

START_TEST(test_commit_outcome_learned_committed)
{
    fault_table();
    orm_conn *c = pg_connect();
    int64_t pid = begin_insert(c);
    orm__pg_test_before_commit(stop_pid, &pid);
    /* Thawed while the driver, having given up at 200 + 250 ms, asks how it ended (for up
     * to 500 ms more). */
    later l = { pid, 650, 0 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, thaw_later, &l), 0);
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 200));
    int rc = drv->commit(c, ctx);
    orm__pg_test_before_commit(NULL, NULL);
    orm_ctx_free(ctx);
    pthread_join(t, NULL);
    drv->close(c);
    ck_assert_ok(rc); /* it committed, and says so */
    ck_assert_int_eq(fault_rows(), 1);
    wait_reapers();
}
END_TEST

/* orm_do_tx never runs the closure again after ORM_EUNKNOWN. */
static int calls;
static int64_t closure_pid;
static int freeze_self(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    calls++;
    orm_session *s = orm_tx_session(tx);
    int rc = orm_raw_exec(s, ctx, "INSERT INTO fault_t VALUES (2)", NULL, 0, NULL);
    orm_rows *r;
    if (rc == ORM_OK && (rc = orm_raw_rows(s, ctx, "SELECT pg_backend_pid()", NULL, 0, &r)) == ORM_OK) {
        if (orm_rows_next(r) == 1)
            closure_pid = orm_rows_value(r, 0).u.i; /* frozen before its COMMIT */
        orm_rows_free(r);
    }
    return rc;
}

START_TEST(test_do_tx_never_retries_unknown)
{
    fault_table();
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, env("ORM_TEST_PG_DSN"), NULL));
    orm_tx_options o = ORM_TX_OPTIONS_INIT;
    o.max_retries = 3;
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 300));
    calls = 0;
    orm__pg_test_before_commit(stop_pid, &closure_pid);
    int rc = orm_do_tx(db, ctx, &o, freeze_self, NULL);
    orm__pg_test_before_commit(NULL, NULL);
    orm_ctx_free(ctx);
    signal_server(SIGCONT, 0);
    orm_db_close(db);
    ck_assert_orm(rc, ORM_EUNKNOWN);
    ck_assert_int_eq(calls, 1);
    wait_reapers();
}
END_TEST

/* ---- a crash-restart ----
 * A backend killed with SIGKILL makes the postmaster end every other backend and restart.
 * Those backends say goodbye with a WARNING, not a FATAL (SQLSTATE 57P02, crash_shutdown;
 * an immediate shutdown sends 57P01 the same way), then close. On an idle pooled connection
 * the warning is all there is to read before the close: the alive check used to parse it
 * and find the connection fine (libpq notices the close only on a later read), so the pool
 * handed out dead connections, and writes (never run twice) failed with ORM_ECONN. */

static int server_accepts(long ms)
{
    for (long t = 0; t < ms; t += 50) {
        orm_conn *k;
        if (drv->open(&k, env("ORM_TEST_PG_DSN"), NULL, 0) == ORM_OK) {
            drv->close(k);
            return 1;
        }
        sleep_ms(50);
    }
    return 0;
}

START_TEST(test_crash_restart_idle_conns_are_replaced)
{
    fault_table();
    orm_conn *k = pg_connect(); /* the server runs with synchronous_commit=off: make the */
    ck_assert_ok(exec_with(k, NULL, "CHECKPOINT")); /* table survive the crash */
    drv->close(k);
    orm_db *db;
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.max_open = 4;
    ck_assert_ok(orm_db_open(&db, env("ORM_TEST_PG_DSN"), &o));
    /* Four connections at once, then idle in the pool. */
    orm_tx *tx[4];
    int64_t pid = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_ok(orm_tx_begin(&tx[i], db, NULL, NULL));
        orm_rows *r;
        ck_assert_ok(orm_raw_rows(orm_tx_session(tx[i]), NULL, "SELECT pg_backend_pid()", NULL, 0, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        if (i == 0)
            pid = orm_rows_value(r, 0).u.i;
        orm_rows_free(r);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_ok(orm_tx_commit(tx[i]));
        orm_tx_free(tx[i]);
    }
    orm_db_pool_stats before;
    ck_assert_ok(orm_db_stats(db, &before));
    ck_assert_uint_eq(before.idle, 4);

    ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0); /* the postmaster restarts */
    /* Once the postmaster has reaped it (the pid is gone), it has told every other backend
     * to quit; it accepts connections again only after they all exited and recovery ran. */
    for (int i = 0; i < 600 && kill((pid_t)pid, 0) == 0; i++)
        sleep_ms(10);
    ck_assert_msg(server_accepts(60000), "the server did not come back after the crash");

    /* Writes, which are never run twice: each must get a live connection. */
    int failed = 0, first_rc = ORM_OK;
    char first[512] = "";
    for (int i = 0; i < 20; i++) {
        int rc = orm_raw_exec(orm_db_session(db), NULL, "INSERT INTO fault_t VALUES (1)", NULL, 0, NULL);
        if (rc != ORM_OK && failed++ == 0) {
            first_rc = rc;
            snprintf(first, sizeof first, "%s", orm_error_last()->message);
        }
    }
    orm_db_pool_stats after;
    ck_assert_ok(orm_db_stats(db, &after));
    orm_db_close(db);
    ck_assert_msg(failed == 0, "%d of 20 writes failed after the crash-restart, the first with %d: %s",
                  failed, first_rc, first);
    ck_assert_int_eq(fault_rows(), 20);
    ck_assert_uint_ge(after.closed_broken - before.closed_broken, 4); /* every dead one replaced */
}
END_TEST

static void teardown_thaw(void) { thaw_all(); }

static Suite *pg_fault_suite(void)
{
    Suite *s = suite_create("pg_fault");
    TCase *tc = tcase_create("fault");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_terminated_idle_conn_is_replaced);
    tcase_add_test(tc, test_eight_threads_pool_of_four);
    tcase_add_test(tc, test_server_stop_and_restart);
    tcase_add_test(tc, test_crash_restart_idle_conns_are_replaced);
    tcase_add_checked_fixture(tc, NULL, teardown_thaw);
    tcase_add_test(tc, test_frozen_server_deadline);
    tcase_add_test(tc, test_frozen_backend_deadline);
    tcase_add_test(tc, test_lost_cancel_is_sent_again);
    tcase_add_test(tc, test_commit_outcome_unknown);
    tcase_add_test(tc, test_commit_outcome_learned_rolled_back);
    tcase_add_test(tc, test_commit_outcome_learned_committed);
    tcase_add_test(tc, test_do_tx_never_retries_unknown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(pg_fault_suite()); }
