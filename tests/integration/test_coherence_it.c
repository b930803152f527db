/* Integration tests of cross-process coherence (row_cache_listen.h) on the backend
 * ORM_TEST_DSN names. Two processes over one database: this test process is B (its own db,
 * row cache and listener), a forked child is A (its own db, no cache) and writes on command:
 * an ORM write, raw SQL, the psql / sqlite3 command-line client, a multi-row UPDATE, a DELETE,
 * a TRUNCATE (PostgreSQL; DELETE without WHERE on SQLite), a rolled-back write. Each must be
 * seen by B's next get within the lag bound; a rollback reports nothing. On PostgreSQL the
 * listener's backend is terminated: B drops, reconnects, and later writes are seen. In one
 * process: a write made by a database trigger (which no SQL scanner can attribute) drops the
 * key through the feed, only after the commit. The lag (A's commit returned -> B's drop) is
 * measured and printed as p50 / p99.
 *
 * Through the recording driver (ORM_TEST_DSN=record+...: tests/driver_record) the same tests
 * run with the feed reached through a plug-in's orm_driver_feed, and one more checks that its
 * calls (install, start, the connection hooks, stop) went through that driver.
 *
 * A is forked before B opens anything (no thread is inherited). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it.h"
#include "record.h"
#include "schema.h"

Suite *it_coherence_suite(void);

#define LAG_BOUND_MS 2000 /* the test's bound; the measured lag is printed */
#define ROW_LIMIT 3

/* A text key in a table whose name holds ':' (the key encoding's escapes, on both sides). */
typedef struct coh_tag {
    char *name;
    int64_t n;
} coh_tag;
static const orm_field tag_fields[] = {
    ORM_FIELD(coh_tag, name, ORM_FIELD_TEXT, ORM_FIELD_PK),
    ORM_FIELD(coh_tag, n, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t tag_pk[] = { 0 };
static const orm_model tag_model = ORM_MODEL(coh_tag, "coh:tags", tag_fields, tag_pk);

/* The same with the key a fixed-capacity text field (char name[16]): the PostgreSQL trigger
 * must encode it as text, as it does a char * key. */
typedef struct coh_ftag {
    char name[16];
    int64_t n;
} coh_ftag;
static const orm_field ftag_fields[] = {
    ORM_FIELD_FIXED(coh_ftag, name, ORM_FIELD_PK),
    ORM_FIELD(coh_ftag, n, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const orm_model ftag_model = ORM_MODEL(coh_ftag, "coh:ftags", ftag_fields, tag_pk);

static char *co_path;
static orm_row_cache *rc;
static pid_t a_pid = -1;
static int to_a = -1, from_a = -1;

/* With a DSN option: the poller must open the file, not "file?option". */
static const char *backend_dsn(void) { return orm_test_backend_dsn(&co_path, "coh", "foreign_keys=on"); }

/* The DSN without the recording driver's "record+": what the psql / sqlite3 clients read. */
static const char *plain_dsn(void)
{
    const char *d = backend_dsn();
    return strncmp(d, "record+", 7) == 0 ? d + 7 : d;
}

static bool pg(void)
{
    return strncmp(plain_dsn(), "sqlite:", 7) != 0;
}

static bool recording(void)
{
    return strncmp(backend_dsn(), "record+", 7) == 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- A: the writer process ---- */

enum { W_ORM = 1, W_RAW, W_CLI, W_MULTI, W_DELETE, W_TRUNCATE, W_ROLLBACK, W_QUIT };

typedef struct cmd {
    int kind;
    int64_t id;
    double score;
} cmd;

static void full_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            _exit(3);
        c += w;
        n -= (size_t)w;
    }
}

static int full_read(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The command-line client runs a statement built from numbers only. */
static int cli(const char *sql)
{
    char line[8192];
    if (pg())
        snprintf(line, sizeof line, "psql -q -X -v ON_ERROR_STOP=1 '%s' -c '%s' >/dev/null", plain_dsn(), sql);
    else
        snprintf(line, sizeof line, "sqlite3 -bail '%s' '%s' >/dev/null", co_path, sql);
    return system(line) == 0 ? ORM_OK : ORM_ERROR;
}

static int a_do(orm_db *db, const cmd *c)
{
    orm_session *s = orm_db_session(db);
    char sql[256];
    switch (c->kind) {
    case W_ORM: {
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(c->id);
        int r = orm_get(s, NULL, &it_user_model, &u, &k);
        if (r == ORM_OK) {
            u.score = c->score;
            r = orm_update_one(s, NULL, &it_user_model, &u);
        }
        orm_model_clear(&it_user_model, &u);
        return r;
    }
    case W_RAW: {
        orm_value a[2] = { orm_double(c->score), orm_int(c->id) };
        return orm_raw_exec(s, NULL, "UPDATE users SET score = ? WHERE id = ?", a, 2, NULL);
    }
    case W_CLI:
        snprintf(sql, sizeof sql, "UPDATE users SET score = %.1f WHERE id = %lld", c->score, (long long)c->id);
        return cli(sql);
    case W_MULTI: {
        orm_value a[1] = { orm_double(c->score) };
        orm_raw_options o = ORM_RAW_OPTIONS_INIT;
        o.allow_unsafe = 1;
        return orm_raw_exec_opts(s, NULL, "UPDATE users SET score = ?", a, 1, NULL, &o);
    }
    case W_DELETE: {
        it_user u;
        memset(&u, 0, sizeof u);
        u.id = c->id;
        return orm_delete_one(s, NULL, &it_user_model, &u);
    }
    case W_TRUNCATE: {
        orm_raw_options o = ORM_RAW_OPTIONS_INIT;
        o.allow_unsafe = 1;
        return orm_raw_exec_opts(s, NULL, pg() ? "TRUNCATE users CASCADE" : "DELETE FROM users", NULL, 0,
                                 NULL, &o);
    }
    case W_ROLLBACK: {
        orm_tx *tx;
        int r = orm_tx_begin(&tx, db, NULL, NULL);
        if (r != ORM_OK)
            return r;
        orm_value a[2] = { orm_double(c->score), orm_int(c->id) };
        r = orm_raw_exec(orm_tx_session(tx), NULL, "UPDATE users SET score = ? WHERE id = ?", a, 2, NULL);
        int r2 = orm_tx_rollback(tx);
        orm_tx_free(tx);
        return r ? r : r2;
    }
    default: return ORM_ERROR;
    }
}

/* A's loop: one command in, (result, commit time) out. Never returns. */
static void a_main(int in, int out)
{
    orm_db *db = NULL;
    int r = orm_db_open(&db, backend_dsn(), NULL);
    if (r == ORM_OK)
        r = it_models_register(db);
    full_write(out, &r, sizeof r);
    if (r != ORM_OK)
        _exit(2);
    cmd c;
    while (full_read(in, &c, sizeof c) == 0 && c.kind != W_QUIT) {
        int res = a_do(db, &c);
        int64_t t = now_ns();
        full_write(out, &res, sizeof res);
        full_write(out, &t, sizeof t);
    }
    orm_db_close(db);
    _exit(0);
}

static void a_start(void)
{
    int p1[2], p2[2];
    ck_assert_int_eq(pipe(p1), 0);
    ck_assert_int_eq(pipe(p2), 0);
    fflush(NULL);
    a_pid = fork();
    ck_assert_int_ge(a_pid, 0);
    if (a_pid == 0) {
        close(p1[1]);
        close(p2[0]);
        a_main(p1[0], p2[1]);
    }
    close(p1[0]);
    close(p2[1]);
    to_a = p1[1];
    from_a = p2[0];
}

/* Have A run c; its commit time. Asserts A succeeded. */
static int64_t a_run(int kind, int64_t id, double score)
{
    cmd c = { kind, id, score };
    full_write(to_a, &c, sizeof c);
    int res = -1;
    int64_t t = 0;
    ck_assert_int_eq(full_read(from_a, &res, sizeof res), 0);
    ck_assert_int_eq(full_read(from_a, &t, sizeof t), 0);
    ck_assert_msg(res == ORM_OK, "A's write %d failed: %d", kind, res);
    return t;
}

static void a_stop(void)
{
    if (a_pid <= 0)
        return;
    cmd c = { W_QUIT, 0, 0 };
    full_write(to_a, &c, sizeof c);
    int st = 0;
    waitpid(a_pid, &st, 0);
    a_pid = -1;
    close(to_a);
    close(from_a);
}

/* ---- B: this process ---- */

static void co_setup(void)
{
    it_db = NULL;
    it_s = NULL;
    rc = NULL;
    /* The schema first (A opens its db on it), through a db without a cache. */
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, backend_dsn(), NULL));
    ck_assert_ok(it_schema_create(orm_db_session(db)));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "DROP TABLE IF EXISTS \"coh:tags\";"
                              "CREATE TABLE \"coh:tags\" (name text PRIMARY KEY, n bigint NOT NULL);"
                              "DROP TABLE IF EXISTS \"coh:ftags\";"
                              "CREATE TABLE \"coh:ftags\" (name text PRIMARY KEY, n bigint NOT NULL);"));
    orm_db_close(db);
}

static int events;
static void on_event(void *ud, const char *line)
{
    (void)ud;
    (void)line;
    __atomic_add_fetch(&events, 1, __ATOMIC_RELAXED);
}

/* B's db with users read-write and listened to (triggers installed: NOTIFY on PostgreSQL,
 * the change log on SQLite); poll_ms for SQLite's data_version poller (< 0: none); change_log:
 * SQLite's poller reads the log; inner (may be NULL): a middleware inside the row cache. */
static void b_open_full(int64_t poll_ms, bool strict, bool change_log, const orm_middleware *inner)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    ck_assert_ok(orm_row_cache_model(rc, &it_membership_model, &mo));
    ck_assert_ok(orm_row_cache_model(rc, &tag_model, &mo));
    ck_assert_ok(orm_row_cache_model(rc, &ftag_model, &mo));
    if (inner) /* (after the row cache's layer joined, before any statement) */
        ck_assert_ok(orm_db_use(it_db, inner));
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(orm_db_register(it_db, &tag_model));
    ck_assert_ok(orm_db_register(it_db, &ftag_model));
    ck_assert_ok(orm_row_cache_triggers_install(it_db, NULL, &it_user_model, ROW_LIMIT));
    ck_assert_ok(orm_row_cache_triggers_install(it_db, NULL, &it_user_model, ROW_LIMIT)); /* idempotent */
    ck_assert_ok(orm_row_cache_triggers_install(it_db, NULL, &it_membership_model, ROW_LIMIT));
    orm_row_cache_listen_options lo = ORM_ROW_CACHE_LISTEN_OPTIONS_INIT;
    lo.poll_ms = poll_ms;
    lo.strict = strict;
    lo.backoff_max_ms = 200;
    lo.on_event = on_event;
    lo.change_log = change_log;
    ck_assert_ok(orm_row_cache_listen(rc, &it_user_model, &lo));
    ck_assert_ok(orm_row_cache_listen(rc, &it_user_model, &lo)); /* twice: ORM_OK */
    ck_assert_ok(orm_row_cache_listen(rc, &it_membership_model, NULL));
    ck_assert_ok(orm_row_cache_triggers_install(it_db, NULL, &tag_model, ROW_LIMIT));
    ck_assert_ok(orm_row_cache_listen(rc, &tag_model, NULL));
    ck_assert_ok(orm_row_cache_triggers_install(it_db, NULL, &ftag_model, ROW_LIMIT));
    ck_assert_ok(orm_row_cache_listen(rc, &ftag_model, NULL));
}

static void b_open_opts(int64_t poll_ms, bool strict) { b_open_full(poll_ms, strict, false, NULL); }
static void b_open_poll(int64_t poll_ms) { b_open_opts(poll_ms, false); }
static void b_open(void) { b_open_poll(5); }

static void co_teardown(void)
{
    a_stop();
    orm_db_close(it_db);
    it_db = NULL;
    it_s = NULL;
    orm_test_remove_db(&co_path);
}

static orm_row_cache_listen_stats lstats(void)
{
    orm_row_cache_listen_stats s;
    ck_assert_ok(orm_row_cache_listen_stats_get(rc, &s));
    return s;
}

static orm_row_cache_stats ustats(void)
{
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, &it_user_model, &s));
    return s;
}

static int64_t add_user(const char *name, double score)
{
    it_user u = it_user_make(name, NULL, 30, true, score, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    return u.id;
}

/* B's get: the score, or -1 when there is no such row. */
static double b_score(int64_t id)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    int r = orm_get(it_s, NULL, &it_user_model, &u, &k);
    if (r == ORM_ENOTFOUND)
        return -1;
    ck_assert_ok(r);
    double s = u.score;
    orm_model_clear(&it_user_model, &u);
    return s;
}

/* Wait until B's get of id returns want; the time it took from t0 (ns), or -1 past the bound. */
static int64_t b_wait(int64_t id, double want, int64_t t0)
{
    for (;;) {
        if (b_score(id) == want)
            return now_ns() - t0;
        if (now_ns() - t0 > (int64_t)LAG_BOUND_MS * 1000000)
            return -1;
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
}

/* Warm B's cache for id: a get then a hit. A report of an earlier write may still be on its
 * way (it drops the key once more): warm again until a get is a hit. */
static void b_warm(int64_t id, double want)
{
    int64_t t0 = now_ns();
    for (;;) {
        ck_assert_double_eq(b_score(id), want);
        uint64_t h = ustats().hits;
        ck_assert_double_eq(b_score(id), want);
        if (ustats().hits == h + 1)
            return;
        ck_assert_msg(now_ns() - t0 < (int64_t)LAG_BOUND_MS * 1000000, "id %lld never cached", (long long)id);
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_every_kind_of_write_in_a_is_seen_by_b)
{
    a_start();
    b_open();
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    ck_assert_int_eq(ready, ORM_OK);
    int64_t id[5];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        id[i] = add_user(name, 1);
    }
    struct { int kind; const char *what; } kinds[] = {
        { W_ORM, "ORM update" }, { W_RAW, "raw SQL" }, { W_CLI, pg() ? "psql" : "sqlite3" },
    };
    double v = 10;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++, v += 1) {
        b_warm(id[0], v - 1 == 9 ? 1 : v - 1);
        int64_t t = a_run(kinds[k].kind, id[0], v);
        int64_t lag = b_wait(id[0], v, t);
        ck_assert_msg(lag >= 0, "%s in A not seen by B within %d ms", kinds[k].what, LAG_BOUND_MS);
    }
    v -= 1; /* id[0] holds v */
    /* A multi-row UPDATE (more rows than the row limit: one report naming the table). */
    for (int i = 0; i < 5; i++)
        b_warm(id[i], i == 0 ? v : 1);
    int64_t t = a_run(W_MULTI, 0, 77);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(b_wait(id[i], 77, t) >= 0, "multi-row UPDATE: row %d stale", i);
    /* A rolled-back write reports nothing: the row stays cached, and is right. */
    b_warm(id[1], 77);
    orm_row_cache_listen_stats before = lstats();
    a_run(W_ROLLBACK, id[1], 999);
    struct timespec pause = { 0, 300 * 1000000 };
    nanosleep(&pause, NULL);
    /* SQLite: data_version moves on another connection's commit, and also when a write
     * transaction restarted the WAL (the WAL header changes, even if that write then rolls
     * back): then the poller drops the models once, harmlessly — the row reloads right. */
    int dropped = 0;
    if (pg())
        ck_assert_uint_eq(lstats().notifications, before.notifications);
    else
        dropped = lstats().losses != before.losses;
    uint64_t h = ustats().hits;
    ck_assert_double_eq(b_score(id[1]), 77);
    if (!dropped)
        ck_assert_uint_eq(ustats().hits, h + 1);
    /* DELETE: B's next get finds nothing. */
    b_warm(id[2], 77);
    t = a_run(W_DELETE, id[2], 0);
    ck_assert_msg(b_wait(id[2], -1, t) >= 0, "DELETE in A not seen by B");
    /* TRUNCATE (SQLite: DELETE without WHERE, its truncate optimization). */
    b_warm(id[3], 77);
    t = a_run(W_TRUNCATE, 0, 0);
    ck_assert_msg(b_wait(id[3], -1, t) >= 0, "TRUNCATE in A not seen by B");
    ck_assert_int_gt(lstats().notifications + lstats().losses, 0);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The lag: A updates a key B holds; the time from A's commit returning to B's get returning
 * the new value (the drop, then a load), over N rounds. */
START_TEST(test_lag_commit_in_a_to_drop_in_b)
{
    a_start();
    b_open();
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    int64_t id = add_user("lag", 0);
    enum { N = 200 };
    int64_t lag[N];
    for (int i = 0; i < N; i++) {
        b_warm(id, i);
        cmd c = { W_RAW, id, i + 1 };
        full_write(to_a, &c, sizeof c);
        /* B's gets (hits until the drop) until one returns A's value */
        int64_t t1, spin0 = now_ns();
        for (;;) {
            if (b_score(id) == i + 1) {
                t1 = now_ns();
                break;
            }
            ck_assert_msg(now_ns() - spin0 < (int64_t)LAG_BOUND_MS * 1000000, "round %d: not seen", i);
            struct timespec ts = { 0, 20000 };
            nanosleep(&ts, NULL);
        }
        int res;
        int64_t t0;
        ck_assert_int_eq(full_read(from_a, &res, sizeof res), 0);
        ck_assert_int_eq(full_read(from_a, &t0, sizeof t0), 0);
        ck_assert_int_eq(res, ORM_OK);
        lag[i] = t1 > t0 ? t1 - t0 : 0;
    }
    qsort(lag, N, sizeof lag[0], cmp_i64);
    double p50 = (double)lag[N / 2] / 1e6, p99 = (double)lag[N * 99 / 100] / 1e6;
    printf("coherence lag (%s, commit in A -> seen by B's get, %d rounds): p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           pg() ? "postgres" : "sqlite", N, p50, p99, (double)lag[N - 1] / 1e6);
    fflush(stdout);
    ck_assert_msg(p99 < LAG_BOUND_MS, "p99 lag %.3f ms", p99);
}
END_TEST

/* PostgreSQL: the listener's backend is terminated. B drops what it cached, reconnects, and
 * later writes are seen again. */
START_TEST(test_listener_killed_drops_and_reconnects)
{
    if (!pg())
        return; /* SQLite has no listener connection to lose (the poller reads the file) */
    a_start();
    b_open();
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    int64_t id = add_user("kill", 1);
    b_warm(id, 1);
    orm_row_cache_listen_stats s0 = lstats();
    ck_assert_uint_eq(s0.connects, 1);
    orm_db *admin;
    ck_assert_ok(orm_db_open(&admin, backend_dsn(), NULL));
    int64_t killed = 0;
    ck_assert_ok(orm_raw_exec(orm_db_session(admin), NULL,
                              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE query = 'LISTEN orm_row_cache' AND pid <> pg_backend_pid()",
                              NULL, 0, &killed));
    orm_db_close(admin);
    int64_t t0 = now_ns();
    while (lstats().connects < 2 && now_ns() - t0 < 5000000000LL) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    orm_row_cache_listen_stats s1 = lstats();
    ck_assert_uint_eq(s1.losses, 1);
    ck_assert_uint_eq(s1.connects, 2);
    ck_assert_int_ge(__atomic_load_n(&events, __ATOMIC_RELAXED), 2);
    /* The cached row was dropped: the next get is a miss. */
    uint64_t m = ustats().misses;
    ck_assert_double_eq(b_score(id), 1);
    ck_assert_uint_eq(ustats().misses, m + 1);
    b_warm(id, 1);
    int64_t t = a_run(W_ORM, id, 5);
    ck_assert_msg(b_wait(id, 5, t) >= 0, "a write after the reconnect was not seen");
}
END_TEST

/* Reads of the tag (n, or -1) and membership (role's first letter, or 0) on B. */
static int64_t tag_n(const char *name)
{
    coh_tag t;
    memset(&t, 0, sizeof t);
    orm_value k = orm_text(name);
    int r = orm_get(it_s, NULL, &tag_model, &t, &k);
    if (r == ORM_ENOTFOUND)
        return -1;
    ck_assert_ok(r);
    int64_t n = t.n;
    orm_model_clear(&tag_model, &t);
    return n;
}

static int64_t ftag_n(const char *name)
{
    coh_ftag t;
    orm_value k = orm_text(name);
    int r = orm_get(it_s, NULL, &ftag_model, &t, &k);
    if (r == ORM_ENOTFOUND)
        return -1;
    ck_assert_ok(r);
    return t.n;
}

static char role_of(int32_t org, int64_t uid)
{
    it_membership m;
    memset(&m, 0, sizeof m);
    orm_value k[2] = { orm_int(org), orm_int(uid) };
    ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &m, k));
    char c = m.role[0];
    orm_model_clear(&it_membership_model, &m);
    return c;
}

/* Wait (within the bound) for f() == want, after warming it to a hit. */
#define WAIT_FOR(expr, want)                                                                  \
    do {                                                                                      \
        int64_t t0_ = now_ns();                                                               \
        while ((expr) != (want)) {                                                            \
            ck_assert_msg(now_ns() - t0_ < (int64_t)LAG_BOUND_MS * 1000000, #expr " stale");  \
            struct timespec ts_ = { 0, 500000 };                                              \
            nanosleep(&ts_, NULL);                                                            \
        }                                                                                     \
    } while (0)

static uint64_t hits_of(const orm_model *m)
{
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, m, &s));
    return s.hits;
}

/* Hit twice in a row: cached (a late report of the setup's own writes may drop it once). */
#define WARM(expr, want, model)                                                               \
    do {                                                                                      \
        int64_t t0_ = now_ns();                                                               \
        for (;;) {                                                                            \
            ck_assert((expr) == (want));                                                      \
            uint64_t h_ = hits_of(model);                                                     \
            ck_assert((expr) == (want));                                                      \
            if (hits_of(model) == h_ + 1)                                                     \
                break;                                                                        \
            ck_assert_msg(now_ns() - t0_ < (int64_t)LAG_BOUND_MS * 1000000, #expr " uncached"); \
            struct timespec ts_ = { 0, 1000000 };                                             \
            nanosleep(&ts_, NULL);                                                            \
        }                                                                                     \
    } while (0)

/* PostgreSQL: wait until every report of a write committed before now has been applied.
 * Reports arrive in commit order on the listener's connection. The fence row is cached here
 * first, then changed through another connection (B's own write would drop it locally, without
 * the report); it can read back new only once that report dropped it, and then the reports of
 * B's earlier writes were applied too — a hit counted after this is not undone by a late one.
 * (Were the fence row not cached, its first read would go to the database and return the new
 * value at once, waiting for nothing.) SQLite's hooks report at the commit: nothing to wait for. */
static void b_fence(void)
{
    if (!pg())
        return;
    int64_t cur = tag_n("fence");
    if (cur < 0) {
        coh_tag t = { (char *)"fence", 0 };
        ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t));
        cur = 0;
    }
    WARM(tag_n("fence"), cur, &tag_model);
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_value a[1] = { orm_int(cur + 1) };
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL,
                              "UPDATE \"coh:tags\" SET n = ? WHERE name = 'fence'", a, 1, NULL));
    orm_db_close(other);
    WAIT_FOR(tag_n("fence"), cur + 1);
}

/* One process: a row changed by a database trigger (no SQL scanner can tell) is dropped by
 * key through the feed, after the commit; a rollback drops nothing; the other keys stay. */
START_TEST(test_trigger_side_effect_dropped_at_commit_only)
{
    b_open_poll(-1); /* this process's own commits would move data_version: drop everything */
    int64_t a = add_user("a", 1), b = add_user("b", 1);
    ck_assert_ok(orm_exec_sql(it_s, NULL, pg()
        ? "CREATE OR REPLACE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE users SET score = score + 1 WHERE id = NEW.user_id; RETURN NULL; END $$;"
          "CREATE TRIGGER post_bump AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION bump();"
        : "CREATE TRIGGER post_bump AFTER INSERT ON posts BEGIN "
          "UPDATE users SET score = score + 1 WHERE id = NEW.user_id; END;"));
    b_fence(); /* the reports of a's and b's inserts are in: neither is dropped later */
    b_warm(a, 1);
    b_warm(b, 1);
    orm_value args[1] = { orm_int(a) };
    /* Rolled back: nothing dropped, the row stays cached and right. */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_raw_exec(orm_tx_session(tx), NULL,
                              "INSERT INTO posts (user_id, title, views) VALUES (?, 'x', 0)", args, 1, NULL));
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    struct timespec pause = { 0, 200 * 1000000 };
    nanosleep(&pause, NULL);
    uint64_t h = ustats().hits;
    ck_assert_double_eq(b_score(a), 1);
    ck_assert_uint_eq(ustats().hits, h + 1);
    /* Committed: a's key is dropped (by key: b stays a hit). */
    int64_t t0 = now_ns();
    ck_assert_ok(orm_raw_exec(it_s, NULL, "INSERT INTO posts (user_id, title, views) VALUES (?, 'y', 0)",
                              args, 1, NULL));
    ck_assert_msg(b_wait(a, 2, t0) >= 0, "the trigger's write was not seen");
    h = ustats().hits;
    ck_assert_double_eq(b_score(b), 1);
    ck_assert_uint_eq(ustats().hits, h + 1);
    ck_assert_uint_ge(lstats().rows_dropped, 1);
}
END_TEST

/* Text keys with ':' and '\\' in a table named with ':', and composite keys: a write made
 * elsewhere drops exactly the key on PostgreSQL (the trigger's encoding is the row cache's:
 * the other key stays a hit); on SQLite (another connection: data_version) the model. */
START_TEST(test_text_and_composite_keys)
{
    b_open();
    static const char odd[] = "a:b\\c'd";
    coh_tag t1 = { (char *)odd, 1 }, t2 = { (char *)"plain", 1 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t2));
    int64_t uid = add_user("m", 1);
    it_membership m1 = { 1, uid, (char *)"member" }, m2 = { 2, uid, (char *)"member" };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m2));
    b_fence();
    WARM(tag_n(odd), 1, &tag_model);
    WARM(tag_n("plain"), 1, &tag_model);
    WARM(role_of(1, uid), 'm', &it_membership_model);
    WARM(role_of(2, uid), 'm', &it_membership_model);
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_value a[2] = { orm_text(odd), orm_int(uid) };
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, "UPDATE \"coh:tags\" SET n = 2 WHERE name = ?", a, 1,
                              NULL));
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL,
                              "UPDATE memberships SET role = 'owner' WHERE org_id = 1 AND user_id = ?", a + 1, 1,
                              NULL));
    orm_db_close(other);
    WAIT_FOR(tag_n(odd), 2);
    WAIT_FOR(role_of(1, uid), 'o');
    /* a fixed text key (char name[16]) */
    coh_ftag f1 = { "a:b\\c'd", 1 }, f2 = { "plain", 1 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &ftag_model, &f1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &ftag_model, &f2));
    b_fence();
    WARM(ftag_n(odd), 1, &ftag_model);
    WARM(ftag_n("plain"), 1, &ftag_model);
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, "UPDATE \"coh:ftags\" SET n = 2 WHERE name = ?", a, 1,
                              NULL));
    orm_db_close(other);
    WAIT_FOR(ftag_n(odd), 2);
    if (pg()) { /* exactly those keys */
        uint64_t h = hits_of(&ftag_model);
        ck_assert_int_eq(ftag_n("plain"), 1);
        ck_assert_uint_eq(hits_of(&ftag_model), h + 1);
        h = hits_of(&tag_model);
        ck_assert_int_eq(tag_n("plain"), 1);
        ck_assert_uint_eq(hits_of(&tag_model), h + 1);
        h = hits_of(&it_membership_model);
        ck_assert_int_eq(role_of(2, uid), 'm');
        ck_assert_uint_eq(hits_of(&it_membership_model), h + 1);
    }
}
END_TEST

/* Strict mode (SQLite): with a poller too slow to matter, B's very next get after A's commit
 * already returns A's write (data_version is checked before the hit). PostgreSQL has no
 * synchronous check: the listener's lag applies. */
START_TEST(test_strict_next_get_sees_the_write)
{
    a_start();
    b_open_opts(600000, true);
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    int64_t id = add_user("strict", 1);
    for (int i = 2; i < 12; i++) {
        b_warm(id, i - 1);
        int64_t t = a_run(i % 2 ? W_ORM : W_RAW, id, i);
        if (pg())
            ck_assert_msg(b_wait(id, i, t) >= 0, "round %d not seen", i);
        else
            ck_assert_double_eq(b_score(id), i);
    }
}
END_TEST

/* A commit that changed more rows than a report carries one by one (the row limit on
 * PostgreSQL, 4096 rows per transaction on SQLite): one whole-model drop, not thousands of
 * keys. The rows are changed by a database trigger, so only the feed can report them. */
START_TEST(test_many_rows_in_one_commit_report_the_table)
{
    b_open_poll(-1);
    orm_raw_options o = ORM_RAW_OPTIONS_INIT;
    o.allow_unsafe = 1;
    ck_assert_ok(orm_raw_exec_opts(it_s, NULL, pg()
        ? "INSERT INTO users (name, score, active) SELECT 'n' || x, 1, true FROM generate_series(1, 5000) x"
        : "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 5000) "
          "INSERT INTO users (name, score, active) SELECT 'n' || x, 1, 1 FROM s", NULL, 0, NULL, &o));
    int64_t t0 = now_ns();
    while (lstats().models_dropped < 1) { /* the insert's own report: one, for the table */
        ck_assert_msg(now_ns() - t0 < (int64_t)LAG_BOUND_MS * 1000000, "no table report for 5000 inserts");
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    ck_assert_ok(orm_exec_sql(it_s, NULL, pg()
        ? "CREATE OR REPLACE FUNCTION bump_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          "UPDATE users SET score = score + 1; RETURN NULL; END $$;"
          "CREATE TRIGGER post_bump_all AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION bump_all();"
        : "CREATE TRIGGER post_bump_all AFTER INSERT ON posts BEGIN UPDATE users SET score = score + 1; END;"));
    int64_t id = add_user("probe", 1); /* users.id of a row the trigger will change */
    b_fence(); /* the probe's own key report is in: it must not count below */
    b_warm(id, 1);
    orm_row_cache_listen_stats s0 = lstats();
    orm_value a[1] = { orm_int(id) };
    t0 = now_ns();
    ck_assert_ok(orm_raw_exec(it_s, NULL, "INSERT INTO posts (user_id, title, views) VALUES (?, 'z', 0)", a, 1,
                              NULL));
    ck_assert_msg(b_wait(id, 2, t0) >= 0, "the trigger's 5001-row update was not seen");
    /* The listener drops the model, then counts the drop: a get may see the new row in
     * between, so wait (bounded) for the count before checking it is exactly one. */
    orm_row_cache_listen_stats s1 = lstats();
    while (s1.models_dropped < s0.models_dropped + 1) {
        ck_assert_msg(now_ns() - t0 < (int64_t)LAG_BOUND_MS * 1000000, "the table drop was not counted");
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
        s1 = lstats();
    }
    ck_assert_uint_eq(s1.models_dropped, s0.models_dropped + 1);
    ck_assert_uint_eq(s1.rows_dropped, s0.rows_dropped);
}
END_TEST

/* B's own committed writes: the report of each arrives after B already dropped and maybe
 * reloaded the key; it only drops again, so every read returns B's last write, never an
 * older row. */
START_TEST(test_own_write_is_never_undone_by_its_report)
{
    b_open();
    int64_t id = add_user("own", 0);
    for (int i = 1; i <= 20; i++) {
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(id);
        ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &u, &k));
        u.score = i;
        ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &u));
        orm_model_clear(&it_user_model, &u);
        int64_t t0 = now_ns();
        while (now_ns() - t0 < 10 * 1000000) /* 10 ms of reads while the report lands */
            ck_assert_double_eq(b_score(id), i);
    }
    ck_assert_uint_gt(lstats().notifications + lstats().losses, 0);
}
END_TEST

/* ---- SQLite's change log (orm_row_cache_listen_options.change_log) ---- */

/* Run sql on a db of its own (another connection: only the poller sees its commits). */
static void other_exec(const char *sql, const orm_value *args, size_t n)
{
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_raw_options o = ORM_RAW_OPTIONS_INIT;
    o.allow_unsafe = 1;
    ck_assert_ok(orm_raw_exec_opts(orm_db_session(other), NULL, sql, args, n, NULL, &o));
    orm_db_close(other);
}

static int64_t log_rows(void)
{
    int64_t n = -1;
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_rows *r = NULL;
    ck_assert_ok(orm_raw_rows(orm_db_session(other), NULL, "SELECT count(*) FROM orm_row_cache_log", NULL, 0,
                              &r));
    if (orm_rows_next(r) == 1)
        n = orm_rows_int(r, 0);
    orm_rows_free(r);
    orm_db_close(other);
    return n;
}

/* The reports of B's own setup writes (and the drop at the first read after a trigger was
 * installed: the schema changed) are in. */
static void b_settle(void)
{
    if (pg()) {
        b_fence();
        return;
    }
    /* SQLite: a write elsewhere seen by B's poller, which read everything logged before it.
     * Twice: a drop reported late (from a snapshot older than the first fence's write) can
     * make the first fence visible while rows logged before it are still to be read; the
     * second fence's row is the last, so once it is seen nothing before it is pending. */
    for (int i = 0; i < 2; i++) {
        int64_t cur = tag_n("fence");
        if (cur < 0) {
            coh_tag t = { (char *)"fence", 0 };
            ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t));
            cur = 0;
        }
        WARM(tag_n("fence"), cur, &tag_model);
        orm_value a[1] = { orm_int(cur + 1) };
        other_exec("UPDATE \"coh:tags\" SET n = ? WHERE name = 'fence'", a, 1);
        WAIT_FOR(tag_n("fence"), cur + 1);
    }
}

/* Writes elsewhere, through the change log: exactly the written keys are dropped (integer,
 * text with ':' and '\\' in a table named with ':', fixed text, composite); the other keys of
 * each model stay hits and nothing counts as a loss. On PostgreSQL the option is ignored and
 * the NOTIFY triggers do the same. */
START_TEST(test_change_log_drops_only_the_written_keys)
{
    a_start();
    b_open_full(5, false, true, NULL);
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    ck_assert_int_eq(ready, ORM_OK);
    static const char odd[] = "a:b\\c'd";
    int64_t u1 = add_user("cl1", 1), u2 = add_user("cl2", 1);
    coh_tag t1 = { (char *)odd, 1 }, t2 = { (char *)"plain", 1 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t2));
    coh_ftag f1 = { "a:b\\c'd", 1 }, f2 = { "plain", 1 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &ftag_model, &f1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &ftag_model, &f2));
    it_membership m1 = { 1, u1, (char *)"member" }, m2 = { 2, u1, (char *)"member" };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m2));
    b_settle();
    for (int round = 0; round < 3; round++) {
        b_warm(u1, 1 + round);
        b_warm(u2, 1);
        WARM(tag_n(odd), 1 + round, &tag_model);
        WARM(tag_n("plain"), 1, &tag_model);
        WARM(ftag_n(odd), 1 + round, &ftag_model);
        WARM(ftag_n("plain"), 1, &ftag_model);
        WARM(role_of(1, u1), round % 2 ? 'o' : 'm', &it_membership_model);
        WARM(role_of(2, u1), 'm', &it_membership_model);
        orm_row_cache_listen_stats s0 = lstats();
        /* another process: the sqlite3 / psql client */
        int64_t t = a_run(W_CLI, u1, 2 + round);
        ck_assert_msg(b_wait(u1, 2 + round, t) >= 0, "round %d: the client's write not seen", round);
        orm_value a[2] = { orm_int(2 + round), orm_text(odd) };
        other_exec("UPDATE \"coh:tags\" SET n = ? WHERE name = ?", a, 2);
        other_exec("UPDATE \"coh:ftags\" SET n = ? WHERE name = ?", a, 2);
        orm_value mk[2] = { orm_text(round % 2 ? "member" : "owner"), orm_int(u1) };
        other_exec("UPDATE memberships SET role = ? WHERE org_id = 1 AND user_id = ?", mk, 2);
        WAIT_FOR(tag_n(odd), 2 + round);
        WAIT_FOR(ftag_n(odd), 2 + round);
        WAIT_FOR(role_of(1, u1), round % 2 ? 'm' : 'o');
        /* the other keys: still hits */
        uint64_t h = ustats().hits;
        ck_assert_double_eq(b_score(u2), 1);
        ck_assert_uint_eq(ustats().hits, h + 1);
        h = hits_of(&tag_model);
        ck_assert_int_eq(tag_n("plain"), 1);
        ck_assert_uint_eq(hits_of(&tag_model), h + 1);
        h = hits_of(&ftag_model);
        ck_assert_int_eq(ftag_n("plain"), 1);
        ck_assert_uint_eq(hits_of(&ftag_model), h + 1);
        h = hits_of(&it_membership_model);
        ck_assert_int_eq(role_of(2, u1), 'm');
        ck_assert_uint_eq(hits_of(&it_membership_model), h + 1);
        orm_row_cache_listen_stats s1 = lstats();
        ck_assert_uint_eq(s1.losses, s0.losses);
        ck_assert_uint_ge(s1.rows_dropped, s0.rows_dropped + 4);
        ck_assert_uint_eq(s1.models_dropped, s0.models_dropped);
    }
    /* a DELETE, and an UPDATE that changes the key itself (old and new keys logged) */
    b_warm(u2, 1);
    orm_value d[1] = { orm_int(u2) };
    other_exec("DELETE FROM users WHERE id = ?", d, 1);
    ck_assert_msg(b_wait(u2, -1, now_ns()) >= 0, "the DELETE was not seen");
    WARM(tag_n("plain"), 1, &tag_model);
    other_exec("UPDATE \"coh:tags\" SET name = 'moved' WHERE name = 'plain'", NULL, 0);
    WAIT_FOR(tag_n("plain"), -1);
    WAIT_FOR(tag_n("moved"), 1);
}
END_TEST

/* Strict mode with the change log: B's very next get after the other process's commit sees
 * it (the check reads the log), and the other key stays a hit. */
START_TEST(test_change_log_strict_next_get)
{
    if (pg())
        return; /* no synchronous check on PostgreSQL (test_strict_next_get_sees_the_write) */
    a_start();
    b_open_full(600000, true, true, NULL);
    int ready = -1;
    ck_assert_int_eq(full_read(from_a, &ready, sizeof ready), 0);
    int64_t id = add_user("strict", 1), other = add_user("stays", 1);
    for (int i = 2; i < 8; i++) {
        b_warm(id, i - 1);
        b_warm(other, 1);
        uint64_t losses = lstats().losses;
        a_run(i % 2 ? W_ORM : W_CLI, id, i);
        ck_assert_double_eq(b_score(id), i);
        uint64_t h = ustats().hits;
        ck_assert_double_eq(b_score(other), 1);
        ck_assert_uint_eq(ustats().hits, h + 1);
        ck_assert_uint_eq(lstats().losses, losses);
    }
}
END_TEST

/* Log rows pruned before this process read them (a hole right after the last id it saw):
 * every listened model is dropped (one loss), then precise again. A long write (more rows
 * than the log keeps) prunes for real: the log stays bounded and readers drop everything. */
START_TEST(test_change_log_gap_drops_everything)
{
    if (pg())
        return;
    b_open_full(5, false, true, NULL);
    int64_t a = add_user("ga", 1), b = add_user("gb", 1), c = add_user("gc", 1);
    b_settle();
    b_warm(a, 1);
    b_warm(b, 1);
    b_warm(c, 1);
    orm_row_cache_listen_stats s0 = lstats();
    /* b's row is logged, then pruned (as the triggers' prune would) in the same commit as a's */
    char sql[512];
    snprintf(sql, sizeof sql, "BEGIN; UPDATE users SET score = 2 WHERE id = %lld; UPDATE users SET score = 2 "
             "WHERE id = %lld; DELETE FROM orm_row_cache_log WHERE id = (SELECT max(id) - 1 FROM "
             "orm_row_cache_log); COMMIT;", (long long)b, (long long)a);
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, sql));
    orm_db_close(other);
    int64_t t0 = now_ns();
    ck_assert_msg(b_wait(b, 2, t0) >= 0, "the pruned key was not dropped");
    ck_assert_msg(b_wait(a, 2, t0) >= 0, "the logged key was not dropped");
    ck_assert_uint_eq(lstats().losses, s0.losses + 1);
    ck_assert_double_eq(b_score(c), 1); /* dropped too: a miss */
    /* precise again */
    b_warm(a, 2);
    b_warm(c, 1);
    s0 = lstats();
    orm_value one[1] = { orm_int(a) };
    other_exec("UPDATE users SET score = 3 WHERE id = ?", one, 1);
    ck_assert_msg(b_wait(a, 3, now_ns()) >= 0, "not seen after the gap");
    uint64_t h = ustats().hits;
    ck_assert_double_eq(b_score(c), 1);
    ck_assert_uint_eq(ustats().hits, h + 1);
    ck_assert_uint_eq(lstats().losses, s0.losses);
    /* 12,000 rows in one statement: the triggers prune as they go */
    b_warm(c, 1);
    s0 = lstats();
    other_exec("WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 12000) "
               "INSERT INTO users (name, score, active) SELECT 'p' || x, 1, 1 FROM s", NULL, 0);
    int64_t n = log_rows();
    ck_assert_msg(n > 0 && n <= 10000 + 64, "the log holds %lld rows", (long long)n);
    t0 = now_ns();
    while (lstats().losses == s0.losses) {
        ck_assert_msg(now_ns() - t0 < (int64_t)LAG_BOUND_MS * 1000000, "no loss after the prune");
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    uint64_t m = ustats().misses;
    ck_assert_double_eq(b_score(c), 1);
    ck_assert_uint_eq(ustats().misses, m + 1);
}
END_TEST

/* A listened model whose table has no triggers (removed here) is dropped whole at each write
 * elsewhere, while the covered models stay precise; remove drops the triggers (a write logs
 * nothing) and the read after it drops everything once (the schema changed). Without the
 * change log, a write elsewhere drops the model (and every listened one). */
START_TEST(test_change_log_uncovered_table_and_without)
{
    if (pg())
        return;
    b_open_full(5, false, true, NULL);
    int64_t a = add_user("ua", 1), b = add_user("ub", 1);
    coh_tag t1 = { (char *)"one", 1 }, t2 = { (char *)"two", 1 };
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &tag_model, &t2));
    b_settle();
    orm_row_cache_listen_stats s0 = lstats();
    ck_assert_ok(orm_row_cache_triggers_remove(it_db, NULL, &tag_model));
    ck_assert_ok(orm_row_cache_triggers_remove(it_db, NULL, &tag_model)); /* twice: ORM_OK */
    int64_t before = log_rows();
    orm_value one[1] = { orm_int(a) };
    other_exec("UPDATE \"coh:tags\" SET n = 5 WHERE name = 'one'", NULL, 0);
    ck_assert_int_eq(log_rows(), before); /* no trigger left */
    int64_t t0 = now_ns();
    while (lstats().losses == s0.losses) { /* the schema changed: one loss */
        ck_assert_msg(now_ns() - t0 < (int64_t)LAG_BOUND_MS * 1000000, "no loss after the remove");
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    WAIT_FOR(tag_n("one"), 5);
    b_warm(a, 1);
    b_warm(b, 1);
    WARM(tag_n("one"), 5, &tag_model);
    WARM(tag_n("two"), 1, &tag_model);
    s0 = lstats();
    /* a write to users (covered): only a's key; the uncovered tags model is dropped whole */
    other_exec("UPDATE users SET score = 2 WHERE id = ?", one, 1);
    ck_assert_msg(b_wait(a, 2, now_ns()) >= 0, "users write not seen");
    uint64_t h = ustats().hits;
    ck_assert_double_eq(b_score(b), 1);
    ck_assert_uint_eq(ustats().hits, h + 1);
    uint64_t m = hits_of(&tag_model);
    ck_assert_int_eq(tag_n("two"), 1);
    ck_assert_uint_eq(hits_of(&tag_model), m); /* a miss: its model was dropped */
    ck_assert_uint_eq(lstats().losses, s0.losses);
    ck_assert_uint_ge(lstats().models_dropped, s0.models_dropped + 1);
    /* a write to the uncovered table itself: seen (the model dropped), users keys stay */
    b_warm(b, 1);
    other_exec("UPDATE \"coh:tags\" SET n = 6 WHERE name = 'one'", NULL, 0);
    WAIT_FOR(tag_n("one"), 6);
    h = ustats().hits;
    ck_assert_double_eq(b_score(b), 1);
    ck_assert_uint_eq(ustats().hits, h + 1);

    /* Without the change log (the triggers still installed on users): the whole model. */
    orm_db_close(it_db);
    it_db = NULL;
    b_open_full(5, false, false, NULL);
    b_settle();
    b_warm(a, 2);
    b_warm(b, 1);
    s0 = lstats();
    other_exec("UPDATE users SET score = 3 WHERE id = ?", one, 1);
    ck_assert_msg(b_wait(a, 3, now_ns()) >= 0, "write not seen without the log");
    m = ustats().misses;
    ck_assert_double_eq(b_score(b), 1);
    ck_assert_uint_eq(ustats().misses, m + 1);
    ck_assert_uint_gt(lstats().losses, s0.losses);
}
END_TEST

/* Through the recording driver: the feed is the plug-in's, every call of it goes through the
 * recorder (counted) to the wrapped driver — triggers on PostgreSQL, connection hooks and the
 * rowid check on SQLite, the listener on both — and closing the db stops that listener. */
START_TEST(test_feed_calls_go_through_the_driver)
{
    if (!recording())
        return; /* the built-in drivers: nothing in between to count */
    uint64_t install = orm_record_count(ORM_RECORD_FEED_INSTALL),
             remove = orm_record_count(ORM_RECORD_FEED_REMOVE),
             start = orm_record_count(ORM_RECORD_FEED_START), stop = orm_record_count(ORM_RECORD_FEED_STOP),
             watch = orm_record_count(ORM_RECORD_FEED_WATCH_CONN),
             rowid = orm_record_count(ORM_RECORD_FEED_ROWID_IS);
    b_open();
    ck_assert_str_eq(orm_db_backend(it_db), pg() ? "record+postgres" : "record+sqlite");
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_START), start + 1); /* once per db */
    /* users twice, 3 more (SQLite: the change log's triggers) */
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_INSTALL), install + 5);
    if (pg()) {
        ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_WATCH_CONN), watch); /* PostgreSQL has none */
    } else {
        ck_assert_uint_ge(orm_record_count(ORM_RECORD_FEED_WATCH_CONN), watch + 1);
        ck_assert_uint_ge(orm_record_count(ORM_RECORD_FEED_ROWID_IS), rowid + 1);
    }
    /* The listener works through it: a write made elsewhere is seen. */
    int64_t id = add_user("rec", 1);
    b_fence();
    b_warm(id, 1);
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_value a[1] = { orm_int(id) };
    int64_t t = now_ns();
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, "UPDATE users SET score = 2 WHERE id = ?", a, 1, NULL));
    orm_db_close(other);
    ck_assert_msg(b_wait(id, 2, t) >= 0, "a write elsewhere was not seen through the recording driver");
    ck_assert_ok(orm_row_cache_triggers_remove(it_db, NULL, &ftag_model));
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_REMOVE), remove + 1);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_STOP), stop);
    orm_db_close(it_db);
    it_db = NULL;
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_STOP), stop + 1);
}
END_TEST

/* ---- a COMMIT whose outcome is unknown, committed late ----
 * When COMMIT's outcome is unknown (ORM_EUNKNOWN: sent, then the connection was lost or the
 * deadline passed, and txid_status could not tell) the row cache drops the keys the
 * transaction wrote; but the server may commit after that drop, and a get in between caches
 * the row as it was. Simulated: a middleware answers B's COMMIT with ORM_EUNKNOWN without
 * sending it (the transaction then rolls back), a get caches the old row again, and the same
 * write is committed "late" through another connection. With the listener, that commit's
 * report drops the key and B's next get reads the new row. C, a row cache over the same
 * database with a TTL and no listener, serves the old row until its TTL. */

#define LATE_TTL_MS 1000

static int unknown_commits; /* COMMITs still to answer with ORM_EUNKNOWN (not sent) */
static int unknown_commit_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    if (st->kind == ORM_STMT_COMMIT && unknown_commits > 0) {
        unknown_commits--;
        return ORM_EUNKNOWN;
    }
    return orm_stmt_next(st);
}

/* C's get: the score (-1: no row); *hit whether the row cache answered it. */
static double c_score(orm_db *db, orm_row_cache *crc, int64_t id, int *hit)
{
    orm_row_cache_stats s0, s1;
    ck_assert_ok(orm_row_cache_stats_get(crc, &it_user_model, &s0));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    int r = orm_get(orm_db_session(db), NULL, &it_user_model, &u, &k);
    ck_assert_ok(orm_row_cache_stats_get(crc, &it_user_model, &s1));
    *hit = s1.hits == s0.hits + 1;
    if (r == ORM_ENOTFOUND)
        return -1;
    ck_assert_ok(r);
    double v = u.score;
    orm_model_clear(&it_user_model, &u);
    return v;
}

START_TEST(test_row_cache_late_commit_dropped_by_listener)
{
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "unknown-commit";
    mw.fn = unknown_commit_fn;
    unknown_commits = 0;
    b_open_full(5, false, false, &mw);
    int64_t id = add_user("late", 1);
    /* C: a row cache with a TTL and no listener */
    orm_db *cdb;
    orm_row_cache *crc;
    orm_cache *cc;
    ck_assert_ok(orm_db_open(&cdb, backend_dsn(), NULL));
    ck_assert_ok(orm_cache_local_new(&cc, NULL));
    ck_assert_ok(orm_row_cache_attach(&crc, cdb, cc, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.ttl_ms = LATE_TTL_MS;
    mo.jitter = 0;
    ck_assert_ok(orm_row_cache_model(crc, &it_user_model, &mo));
    ck_assert_ok(it_models_register(cdb));

    /* B's transaction writes the row; its COMMIT's outcome is unknown: the key is dropped */
    b_warm(id, 1);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
    u.score = 2;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
    uint64_t inval0 = ustats().invalidations;
    unknown_commits = 1;
    ck_assert_orm(orm_tx_commit(tx), ORM_EUNKNOWN);
    orm_tx_free(tx);
    ck_assert_uint_gt(ustats().invalidations, inval0); /* dropped, whatever the outcome */

    /* Not committed (yet): the row is read and cached as it was, in B and in C. Every report
     * of an earlier commit has been applied (the fence), so only a new one can drop it now. */
    b_fence();
    b_warm(id, 1);
    int hit = 0;
    c_score(cdb, crc, id, &hit);
    ck_assert_double_eq(c_score(cdb, crc, id, &hit), 1);
    ck_assert(hit);
    int64_t c_warmed = now_ns();

    /* The late commit, through another connection */
    orm_row_cache_listen_stats ls0 = lstats();
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    orm_value a[1] = { orm_int(id) };
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, "UPDATE users SET score = 2 WHERE id = ?", a, 1, NULL));
    orm_db_close(other);
    int64_t t = now_ns();
    ck_assert_msg(b_wait(id, 2, t) >= 0, "the late commit was not dropped by the listener within %d ms",
                  LAG_BOUND_MS);
    orm_row_cache_listen_stats ls1 = lstats();
    if (pg())
        ck_assert_uint_gt(ls1.rows_dropped, ls0.rows_dropped); /* its key, reported */
    else
        ck_assert_uint_gt(ls1.losses, ls0.losses); /* data_version moved: the model dropped */

    /* Without a listener the old row is served, as a hit, until its TTL */
    double c = c_score(cdb, crc, id, &hit);
    if (now_ns() - c_warmed < (int64_t)LATE_TTL_MS * 1000000 / 2) { /* (a slow machine: past it) */
        ck_assert_double_eq(c, 1);
        ck_assert(hit);
    }
    while ((c = c_score(cdb, crc, id, &hit)) != 2) {
        ck_assert_msg(now_ns() - c_warmed < (int64_t)(LATE_TTL_MS + LAG_BOUND_MS) * 1000000,
                      "C served the old row past its TTL");
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    ck_assert_int_ge(now_ns() - c_warmed, (int64_t)LATE_TTL_MS * 1000000 * 9 / 10); /* (loaded just before) */
    orm_db_close(cdb);
}
END_TEST

START_TEST(test_bad_arguments)
{
    b_open();
    orm_row_cache_listen_stats st;
    ck_assert_int_eq(orm_row_cache_listen(NULL, &it_user_model, NULL), ORM_EINVAL);
    ck_assert_int_eq(orm_row_cache_listen(rc, &it_post_model, NULL), ORM_EINVAL); /* not cached */
    ck_assert(it_msg_has("does not cache"));
    orm_row_cache_listen_options lo = ORM_ROW_CACHE_LISTEN_OPTIONS_INIT;
    lo.version = 99;
    ck_assert_int_eq(orm_row_cache_listen(rc, &it_user_model, &lo), ORM_EINVAL);
    ck_assert_int_eq(orm_row_cache_listen_stats_get(NULL, &st), ORM_EINVAL);
    ck_assert_int_eq(orm_row_cache_triggers_install(NULL, NULL, &it_user_model, 0), ORM_EINVAL);
    ck_assert_int_eq(orm_row_cache_triggers_install(it_db, NULL, NULL, 0), ORM_EINVAL);
    ck_assert_int_eq(orm_row_cache_triggers_remove(it_db, NULL, NULL), ORM_EINVAL);
    /* remove, twice (nothing left: still ORM_OK), then a write reports nothing on PG */
    ck_assert_ok(orm_row_cache_triggers_remove(it_db, NULL, &it_user_model));
    ck_assert_ok(orm_row_cache_triggers_remove(it_db, NULL, &it_user_model));
    if (pg()) {
        orm_db *other;
        ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
        int64_t id = add_user("rm", 1);
        b_warm(id, 1);
        orm_row_cache_listen_stats s0 = lstats();
        orm_value a[1] = { orm_int(id) };
        ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, "UPDATE users SET score = 2 WHERE id = ?", a, 1,
                                  NULL));
        orm_db_close(other);
        struct timespec pause = { 0, 200 * 1000000 };
        nanosleep(&pause, NULL);
        ck_assert_uint_eq(lstats().notifications, s0.notifications);
        ck_assert_double_eq(b_score(id), 1); /* stale: nothing reported it (TTL bounds it) */
    }
}
END_TEST

Suite *it_coherence_suite(void)
{
    Suite *s = suite_create("coherence");
    TCase *tc = tcase_create("coherence");
    tcase_add_checked_fixture(tc, co_setup, co_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_kind_of_write_in_a_is_seen_by_b);
    tcase_add_test(tc, test_lag_commit_in_a_to_drop_in_b);
    tcase_add_test(tc, test_listener_killed_drops_and_reconnects);
    tcase_add_test(tc, test_trigger_side_effect_dropped_at_commit_only);
    tcase_add_test(tc, test_text_and_composite_keys);
    tcase_add_test(tc, test_strict_next_get_sees_the_write);
    tcase_add_test(tc, test_many_rows_in_one_commit_report_the_table);
    tcase_add_test(tc, test_own_write_is_never_undone_by_its_report);
    tcase_add_test(tc, test_row_cache_late_commit_dropped_by_listener);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_feed_calls_go_through_the_driver);
    tcase_add_test(tc, test_change_log_drops_only_the_written_keys);
    tcase_add_test(tc, test_change_log_strict_next_get);
    tcase_add_test(tc, test_change_log_gap_drops_everything);
    tcase_add_test(tc, test_change_log_uncovered_table_and_without);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_coherence_suite());
}
