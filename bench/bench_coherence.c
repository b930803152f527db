/* orm-bench --db coherence — W8: cross-process coherence lag (row_cache_listen.h). Two
 * processes on one database over loopback: A (forked first, its own db, no cache) updates a
 * row B holds in its row cache; the time from A's commit returning to B's orm_get returning
 * the new value (the report, the drop, a load). SQLite (a temp file, the data_version poller
 * at its default 10 ms, and strict; each without and with the change log) and PostgreSQL (LISTEN/NOTIFY; ORM_BENCH_PG_DSN). p50,
 * p99 and max over the rounds, each begun after a random 0-10 ms pause. There is no raw side: no hand-written program is told either.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_coherence.h"
#include "orm/orm.h"

typedef struct coh_row {
    int64_t id;
    int64_t v;
} coh_row;

static const orm_field coh_fields[] = {
    ORM_FIELD(coh_row, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(coh_row, v, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t coh_pk[] = { 0 };
static const orm_model coh_model = ORM_MODEL(coh_row, "coh_bench", coh_fields, coh_pk);

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "orm-bench: W8 %s: %s\n", what, orm_error_last()->message);
    return -1;
}

static int io(int fd, void *p, size_t n, int out)
{
    char *c = p;
    while (n) {
        ssize_t r = out ? write(fd, c, n) : read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A: one UPDATE per byte read, its commit time written back. */
static void writer(const char *dsn, int in, int out)
{
    orm_db *db = NULL;
    int ok = orm_db_open(&db, dsn, NULL) == ORM_OK;
    char b;
    while (ok && io(in, &b, 1, 0) == 0) {
        int64_t t = orm_raw_exec(orm_db_session(db), NULL, "UPDATE coh_bench SET v = v + 1 WHERE id = 1",
                                 NULL, 0, NULL) == ORM_OK ? now_ns() : -1;
        if (io(out, &t, sizeof t, 1) != 0)
            break;
    }
    orm_db_close(db);
    _exit(ok ? 0 : 1);
}

static int get_v(orm_db *db, int64_t *v)
{
    coh_row r;
    memset(&r, 0, sizeof r);
    orm_value k = orm_int(1);
    int rc = orm_get(orm_db_session(db), NULL, &coh_model, &r, &k);
    *v = r.v;
    return rc;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_one(const char *name, const char *dsn, int strict, int change_log, int rounds, int json)
{
    orm_db *setup;
    if (orm_db_open(&setup, dsn, NULL) != ORM_OK)
        return fail("open");
    int rc = orm_exec_sql(orm_db_session(setup), NULL,
                          "DROP TABLE IF EXISTS coh_bench; CREATE TABLE coh_bench (id bigint PRIMARY KEY, "
                          "v bigint NOT NULL); INSERT INTO coh_bench VALUES (1, 0)");
    orm_db_close(setup);
    if (rc != ORM_OK)
        return fail("schema");
    int p1[2], p2[2];
    if (pipe(p1) || pipe(p2))
        return -1;
    fflush(NULL);
    pid_t pid = fork(); /* before B opens anything: A inherits no thread */
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(p1[1]);
        close(p2[0]);
        writer(dsn, p1[0], p2[1]);
    }
    close(p1[0]);
    close(p2[1]);
    int64_t *lag = calloc((size_t)rounds, sizeof *lag);
    orm_db *db = NULL;
    orm_cache *c = NULL;
    orm_row_cache *rcache = NULL;
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    orm_row_cache_listen_options lo = ORM_ROW_CACHE_LISTEN_OPTIONS_INIT;
    lo.strict = strict;
    lo.change_log = change_log;
    rc = -1;
    if (!lag || orm_db_open(&db, dsn, NULL) != ORM_OK || orm_cache_local_new(&c, NULL) != ORM_OK ||
        orm_row_cache_attach(&rcache, db, c, NULL) != ORM_OK ||
        orm_row_cache_model(rcache, &coh_model, &mo) != ORM_OK || orm_db_register(db, &coh_model) != ORM_OK ||
        orm_row_cache_triggers_install(db, NULL, &coh_model, 0) != ORM_OK ||
        orm_row_cache_listen(rcache, &coh_model, &lo) != ORM_OK) {
        fail("setup");
        goto out;
    }
    int64_t v = 0;
    for (int i = 0; i < rounds; i++) {
        if (get_v(db, &v) != ORM_OK || get_v(db, &v) != ORM_OK) { /* cached */
            fail("get");
            goto out;
        }
        /* A random pause of 0-10 ms: A's commits must not fall in step with the SQLite poller
         * (each round begins right after the poll that ended the last one). */
        struct timespec pause = { 0, (long)((unsigned)rand() % 10000u) * 1000 };
        nanosleep(&pause, NULL);
        char b = 'u';
        if (io(p1[1], &b, 1, 1) != 0)
            goto out;
        int64_t t1, seen, start = now_ns();
        for (;;) {
            if (get_v(db, &seen) != ORM_OK) {
                fail("get");
                goto out;
            }
            if (seen == v + 1) {
                t1 = now_ns();
                break;
            }
            if (now_ns() - start > 5000000000LL) {
                fprintf(stderr, "orm-bench: W8 %s: the write was not seen within 5 s\n", name);
                goto out;
            }
            struct timespec ts = { 0, 20000 };
            nanosleep(&ts, NULL);
        }
        int64_t t0;
        if (io(p2[0], &t0, sizeof t0, 0) != 0 || t0 < 0)
            goto out;
        lag[i] = t1 > t0 ? t1 - t0 : 0;
    }
    qsort(lag, (size_t)rounds, sizeof *lag, cmp);
    double p50 = (double)lag[rounds / 2] / 1e6, p99 = (double)lag[rounds * 99 / 100] / 1e6,
           mx = (double)lag[rounds - 1] / 1e6;
    if (json)
        printf("{\"workload\":\"W8\",\"db\":\"%s\",\"rounds\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
               name, rounds, p50, p99, mx);
    else
        printf("W8  coherence lag %-22s commit in A -> B's get sees it: p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (%d rounds)\n",
               name, p50, p99, mx, rounds);
    rc = 0;
out:
    close(p1[1]); /* A's read fails: it exits */
    waitpid(pid, NULL, 0);
    close(p2[0]);
    orm_db_close(db);
    free(lag);
    return rc;
}

int bench_w8_run(int json, int quick)
{
    int rounds = quick ? 100 : 1000;
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200], dsn[4220];
    snprintf(dir, sizeof dir, "%s/orm-bench-w8.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("orm-bench: mkdtemp");
        return -1;
    }
    snprintf(path, sizeof path, "%s/coh.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    int failed = run_one("sqlite (poll 10 ms)", dsn, 0, 0, rounds, json) != 0;
    failed |= run_one("sqlite (strict)", dsn, 1, 0, rounds, json) != 0;
    failed |= run_one("sqlite (change log, poll 10 ms)", dsn, 0, 1, rounds, json) != 0;
    failed |= run_one("sqlite (change log, strict)", dsn, 1, 1, rounds, json) != 0;
    static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < 4; i++) {
        char p[4220];
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    const char *pg = getenv("ORM_BENCH_PG_DSN");
    if (pg && *pg)
        failed |= run_one("postgres (LISTEN)", pg, 0, 0, rounds, json) != 0;
    else
        fprintf(stderr, "orm-bench: W8 postgres: not run (ORM_BENCH_PG_DSN unset)\n");
    return failed ? -1 : 0;
}
