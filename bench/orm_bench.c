/* orm-bench — the BENCH.md workloads, liborm against the raw drivers in one process.
 *
 * For each backend (sqlite: fresh files under the temp folder; postgres: ORM_BENCH_PG_DSN)
 * W1, W1b, W2, W3 and W4 run on the raw side and then through liborm, over the same data,
 * and each pair is reported together (orm/raw is what to read: absolute numbers on these
 * machines are noisy). W2 and W3 read back a checksum of every mapped row; the two sides
 * must agree or the run fails loudly. The cache workloads (W6, W7) live in bench_cache.c,
 * built when it exists (ORM_BENCH_HAVE_CACHE).
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ORM_BENCH_HAVE_CACHE
#include "bench_cache.h"
#endif

typedef struct options {
    int json;
    int quick;
    const char *only_db; /* NULL: every backend */
    const char *trace, *format, *policy;
    long size;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: orm-bench [--json] [--quick] [--db sqlite|postgres]\n"
            "       orm-bench --trace PATH|- --format lirs|cache2k --size N [--policy lru|tinylfu] [--json]\n"
            "  W1-W4 run on sqlite (a fresh file under $TMPDIR) and on postgres when\n"
            "  ORM_BENCH_PG_DSN is set, each through liborm and through the raw driver.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!strcmp(a, "--db"))
            slot = &o->only_db;
        else if (!strcmp(a, "--trace"))
            slot = &o->trace;
        else if (!strcmp(a, "--format"))
            slot = &o->format;
        else if (!strcmp(a, "--policy"))
            slot = &o->policy;
        else if (!strcmp(a, "--size") && i + 1 < argc) {
            char *end;
            o->size = strtol(argv[++i], &end, 10);
            if (*end || o->size <= 0) {
                fprintf(stderr, "orm-bench: --size wants a positive number of entries\n");
                return -1;
            }
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "orm-bench: unknown argument %s\n", a);
            usage(stderr);
            return -1;
        }
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "orm-bench: %s wants a value\n", a);
                return -1;
            }
            *slot = argv[++i];
        }
    }
    if (o->only_db && strcmp(o->only_db, "sqlite") && strcmp(o->only_db, "postgres")) {
        fprintf(stderr, "orm-bench: --db is sqlite or postgres\n");
        return -1;
    }
    if (o->trace && (!o->format || o->size <= 0)) {
        fprintf(stderr, "orm-bench: --trace needs --format lirs|cache2k and --size N\n");
        return -1;
    }
    return 0;
}

/* Every key 1..n must have been written back into the rows, in order. */
static int check_keys(const char *what, const bench_data *d)
{
    for (size_t i = 0; i < d->n_rows; i++) {
        if (d->rows[i].id != (int64_t)i + 1) {
            fprintf(stderr, "orm-bench: %s: row %zu got key %lld, expected %zu\n", what, i,
                    (long long)d->rows[i].id, i + 1);
            return -1;
        }
    }
    return 0;
}

static int check_same(const char *workload, const char *db, bench_check orm, bench_check raw)
{
    if (orm.rows == raw.rows && orm.sum == raw.sum)
        return 0;
    fprintf(stderr,
            "orm-bench: %s on %s: MISMATCH: liborm read %llu rows (checksum %llu), raw read %llu "
            "rows (checksum %llu)\n",
            workload, db, (unsigned long long)orm.rows, (unsigned long long)orm.sum,
            (unsigned long long)raw.rows, (unsigned long long)raw.sum);
    return -1;
}

/* W1, W1b, W2, W3, W4 on one backend. Returns 0, or -1 after saying what failed. */
static int run_workloads(const char *dbname, orm_db *db, const char *create_sql,
                         const bench_raw_ops *raw, void *rctx, bench_data *d)
{
    double t0, raw_s, raw_w1_s, orm_s;
    bench_check rc = { 0, 0 }, oc = { 0, 0 };

    /* W1: one INSERT per row inside one transaction; both start from an empty table. */
    bench_data_reset_ids(d);
    if (raw->recreate(rctx) != 0)
        return -1;
    t0 = bench_now();
    if (raw->w1(rctx, d->rows, d->n_rows) != 0)
        return -1;
    raw_w1_s = bench_now() - t0;
    if (check_keys("W1 raw", d) != 0)
        return -1;
    bench_data_reset_ids(d);
    if (bench_orm_recreate(db, create_sql) != 0)
        return -1;
    t0 = bench_now();
    if (bench_orm_w1(db, d->rows, d->n_rows) != 0)
        return -1;
    orm_s = bench_now() - t0;
    if (check_keys("W1 liborm", d) != 0)
        return -1;
    bench_report_row("W1", dbname, d->n_rows, orm_s, raw_w1_s, NULL, 0);

    /* W1b: the same rows through the batch path; its raw side is W1's. */
    bench_data_reset_ids(d);
    if (bench_orm_recreate(db, create_sql) != 0)
        return -1;
    t0 = bench_now();
    if (bench_orm_w1b(db, d->rows, d->n_rows) != 0)
        return -1;
    orm_s = bench_now() - t0;
    if (check_keys("W1b liborm", d) != 0)
        return -1;
    bench_report_row("W1b", dbname, d->n_rows, orm_s, raw_w1_s, "W1", 0);

    /* W2: lookups by key. */
    t0 = bench_now();
    if (raw->w2(rctx, d->get_ids, d->n_get, &rc) != 0)
        return -1;
    raw_s = bench_now() - t0;
    t0 = bench_now();
    if (bench_orm_w2(db, d->get_ids, d->n_get, &oc) != 0)
        return -1;
    orm_s = bench_now() - t0;
    if (check_same("W2", dbname, oc, rc) != 0)
        return -1;
    bench_report_row("W2", dbname, d->n_get, orm_s, raw_s, NULL, 0);

    /* W3: filtered, ordered, limited queries. */
    memset(&rc, 0, sizeof rc);
    memset(&oc, 0, sizeof oc);
    t0 = bench_now();
    if (raw->w3(rctx, d->filter_ages, d->n_filter, &rc) != 0)
        return -1;
    raw_s = bench_now() - t0;
    t0 = bench_now();
    if (bench_orm_w3(db, d->filter_ages, d->n_filter, &oc) != 0)
        return -1;
    orm_s = bench_now() - t0;
    if (check_same("W3", dbname, oc, rc) != 0)
        return -1;
    bench_report_row("W3", dbname, d->n_filter, orm_s, raw_s, NULL, oc.rows);

    /* W4: score updates by key inside one transaction. */
    t0 = bench_now();
    if (raw->w4(rctx, d->update_ids, d->update_scores, d->n_update) != 0)
        return -1;
    raw_s = bench_now() - t0;
    t0 = bench_now();
    if (bench_orm_w4(db, d->update_ids, d->update_scores, d->n_update) != 0)
        return -1;
    orm_s = bench_now() - t0;
    bench_report_row("W4", dbname, d->n_update, orm_s, raw_s, NULL, 0);

    bench_report_note("W5 (cached get): not run: the ORM cache middleware is not built yet");
    return 0;
}

static orm_db *open_orm(const char *dsn, const char *dbname)
{
    orm_db *db = NULL;
    if (orm_db_open(&db, dsn, NULL) != ORM_OK) {
        bench_orm_fail(dbname);
        return NULL;
    }
    if (orm_db_register(db, &bench_user_model) != ORM_OK) {
        bench_orm_fail("register users");
        orm_db_close(db);
        return NULL;
    }
    return db;
}

static void remove_db_files(const char *path)
{
    char p[4200];
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static int run_sqlite(bench_data *d)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], orm_path[4120], raw_path[4120], dsn[4130];
    snprintf(dir, sizeof dir, "%s/orm-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("orm-bench: mkdtemp");
        return -1;
    }
    /* One file per side, so neither sees the other's connections, caches or locks. */
    snprintf(orm_path, sizeof orm_path, "%s/orm.db", dir);
    snprintf(raw_path, sizeof raw_path, "%s/raw.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite:%s", orm_path);

    int rc = -1;
    void *raw = bench_raw_sqlite_open(raw_path);
    orm_db *db = raw ? open_orm(dsn, "open sqlite") : NULL;
    if (db && orm_exec_sql(orm_db_session(db), NULL,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL") != ORM_OK)
        bench_orm_fail("pragmas");
    else if (db) {
        bench_report_begin("sqlite", "file in a fresh temp folder, WAL, synchronous=NORMAL");
        rc = run_workloads("sqlite", db, BENCH_CREATE_SQLITE, &bench_raw_sqlite_ops, raw, d);
    }
    orm_db_close(db);
    bench_raw_sqlite_ops.close(raw);
    remove_db_files(orm_path);
    remove_db_files(raw_path);
    rmdir(dir);
    return rc;
}

static int run_postgres(bench_data *d)
{
    const char *dsn = getenv("ORM_BENCH_PG_DSN");
#ifndef ORM_BENCH_HAVE_PG
    (void)d;
    (void)dsn;
    bench_report_note("postgres: skipped (orm-bench was built without PostgreSQL)");
    return 0;
#else
    if (!dsn || !*dsn) {
        bench_report_note("postgres: skipped (ORM_BENCH_PG_DSN is not set; `make bench` starts "
                          "a throwaway server and sets it)");
        return 0;
    }
    int rc = -1;
    void *raw = bench_raw_pg_open(dsn);
    orm_db *db = raw ? open_orm(dsn, "open postgres") : NULL;
    if (db) {
        bench_report_begin("postgres", "ORM_BENCH_PG_DSN");
        rc = run_workloads("postgres", db, BENCH_CREATE_PG, &bench_raw_pg_ops, raw, d);
    }
    orm_db_close(db);
    bench_raw_pg_ops.close(raw);
    return rc;
#endif
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    bench_report_init(o.json);

    if (o.trace) {
#ifdef ORM_BENCH_HAVE_CACHE
        return bench_w7_run(o.trace, o.format, o.size, o.policy, o.json);
#else
        fprintf(stderr, "orm-bench: --trace needs the cache module (bench/bench_cache.c), "
                        "which this build does not have\n");
        return 1;
#endif
    }

    bench_data d;
    if (bench_data_init(&d, o.quick) != 0) {
        fprintf(stderr, "orm-bench: out of memory generating the data\n");
        return 1;
    }
    int failed = 0;
    if (!o.only_db || !strcmp(o.only_db, "sqlite"))
        failed |= run_sqlite(&d) != 0;
    if (!o.only_db || !strcmp(o.only_db, "postgres"))
        failed |= run_postgres(&d) != 0;
    bench_data_free(&d);

#ifdef ORM_BENCH_HAVE_CACHE
    if (!o.only_db)
        failed |= bench_w6_run(o.json, o.quick) != 0;
#else
    if (!o.only_db)
        bench_report_note("W6 (cache alone): not run: this build has no bench/bench_cache.c");
#endif
    if (failed)
        fprintf(stderr, "orm-bench: FAILED (see above)\n");
    return failed ? 1 : 0;
}
