/* orm-bench — the docs/BENCH.md workloads, liborm against the raw drivers in one process.
 *
 * For each backend (sqlite: fresh files under the temp folder; postgres: ORM_BENCH_PG_DSN)
 * W1, W1b, W2, W3 and W4 run on the raw side and then through liborm, over the same data,
 * and each pair is reported together (orm/raw is what to read: absolute numbers on these
 * machines are noisy). Each side runs --rounds times (3), alternating which goes first, and
 * its best time is kept, which takes most of a shared VM's noise out of the ratio. W2 and W3 read back a checksum of every mapped row; the two sides
 * must agree or the run fails loudly. The cache workloads (W6, W7) live in bench_cache.c,
 * built when it exists (ORM_BENCH_HAVE_CACHE).
 */
#define _POSIX_C_SOURCE 200809L
#include "bench.h"
#include "bench_coherence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ORM_BENCH_HAVE_CACHE
#include "bench_cache.h"
#endif
#ifdef ORM_BENCH_HAVE_REDIS
#include "bench_redis.h"
#endif

typedef struct options {
    int json;
    int quick;
    int rounds;          /* passes per workload and side; the best is reported */
    int w4_builder;      /* --w4: 0 one, 1 builder, 2 fields */
    int w1_keys;         /* --w1 keys: the rows carry their keys (orm_insert_one's keyed path) */
    int w2_fixed;        /* --w2 fixed: W2's liborm side reads into fixed-capacity text fields */
    const char *only_db; /* NULL: every backend */
    const char *trace, *format, *policy;
    long size;
    int mw_empty;        /* --mw empty: one pass-through middleware on the liborm side */
} options;

/* --mw empty: the chain's cost, measured as the W1-W4 ratios with and without it. */
static int mw_empty;

static int pass_through(orm_stmt *st, void *userdata)
{
    (void)userdata;
    return orm_stmt_next(st);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: orm-bench [--json] [--quick] [--db sqlite|postgres|cache|redis] [--rounds N] [--w1 auto|keys] [--w2 owned|fixed] [--w4 one|builder|fields] [--mw empty]\n"
            "       orm-bench --trace PATH|- --format lirs|cache2k --size N [--policy lru|arc|tinylfu|opt] [--json]\n"
            "  W1-W4 run on sqlite (a fresh file under $TMPDIR) and on postgres when\n"
            "  ORM_BENCH_PG_DSN is set, each through liborm and through the raw driver,\n"
            "  N times (default 3) alternating which goes first; the best time is reported.\n"
            "  W4 saves the row with orm_update_one (default), an update builder per row, or\n"
            "  orm_update_fields of the score column (--w4 fields).\n"
            "  --w1 keys: W1's rows carry their keys (orm_insert_one's path for a set key).\n"
            "  --w2 fixed: W2's liborm side reads into char[32] fixed-capacity text fields\n"
            "  instead of owned char * (no allocation per text column).\n"
            "  --mw empty registers one pass-through middleware on the liborm side.\n"
            "  --db redis: W5's cache get path with Redis (ORM_BENCH_REDIS_URL), run only when asked.\n"
            "  --db coherence: W8, cross-process coherence lag (two processes), run only when asked.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->rounds = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, "--quick"))
            o->quick = 1;
        else if (!strcmp(a, "--w4") && i + 1 < argc && !strcmp(argv[i + 1], "builder"))
            o->w4_builder = 1, i++;
        else if (!strcmp(a, "--w4") && i + 1 < argc && !strcmp(argv[i + 1], "one"))
            o->w4_builder = 0, i++;
        else if (!strcmp(a, "--w4") && i + 1 < argc && !strcmp(argv[i + 1], "fields"))
            o->w4_builder = 2, i++;
        else if (!strcmp(a, "--w2") && i + 1 < argc && !strcmp(argv[i + 1], "fixed"))
            o->w2_fixed = 1, i++;
        else if (!strcmp(a, "--w2") && i + 1 < argc && !strcmp(argv[i + 1], "owned"))
            o->w2_fixed = 0, i++;
        else if (!strcmp(a, "--w1") && i + 1 < argc && !strcmp(argv[i + 1], "keys"))
            o->w1_keys = 1, i++;
        else if (!strcmp(a, "--w1") && i + 1 < argc && !strcmp(argv[i + 1], "auto"))
            o->w1_keys = 0, i++;
        else if (!strcmp(a, "--mw") && i + 1 < argc && !strcmp(argv[i + 1], "empty"))
            o->mw_empty = 1, i++;
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
        } else if (!strcmp(a, "--rounds") && i + 1 < argc) {
            char *end;
            o->rounds = (int)strtol(argv[++i], &end, 10);
            if (*end || o->rounds <= 0 || o->rounds > 100) {
                fprintf(stderr, "orm-bench: --rounds wants 1..100\n");
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
    if (o->only_db && strcmp(o->only_db, "sqlite") && strcmp(o->only_db, "postgres") &&
        strcmp(o->only_db, "cache") && strcmp(o->only_db, "redis") && strcmp(o->only_db, "coherence")) {
        fprintf(stderr, "orm-bench: --db is sqlite, postgres, cache (W6 alone), redis (W5's get path with Redis) "
                        "or coherence (W8)\n");
        return -1;
    }
    if (o->trace && (!o->format || o->size <= 0)) {
        fprintf(stderr, "orm-bench: --trace needs --format lirs|cache2k and --size N\n");
        return -1;
    }
    return 0;
}

/* One backend's run: both sides, the data, and what W2/W3 read on the first pass (every
 * later pass, on either side, must read the same). */
typedef struct run_ctx {
    const char *dbname;
    orm_db *db;
    const char *recreate_sql; /* BENCH_RECREATE_* */
    const char *settle_sql;   /* BENCH_SETTLE_* for the liborm side, or NULL */
    const bench_raw_ops *raw;
    void *rctx;
    bench_data *d;
    bench_check check;   /* what the pass being timed read */
    bench_check ref;     /* what the first pass read */
    int have_ref;
    int w4_builder;      /* W4: 0 orm_update_one, 1 an update builder, 2 orm_update_fields */
    int w1_keys;         /* W1's liborm side inserts rows whose keys are set */
    int w2_fixed;        /* W2's liborm side reads into bench_user_fixed, through db_fixed */
    orm_db *db_fixed;    /* bench_user_fixed_model registered, on the same data */
    const char *dsn;     /* to open the row cache's dbs on the same data */
    orm_db *db_rw;       /* a row cache attached, users read-write (W5, W4 on it) */
    orm_db *db_off;      /* a row cache attached, users left off */
    orm_db *db_shared;   /* a row cache over Redis, or two levels (W5r, W5tl), or NULL */
} run_ctx;

typedef int (*step_fn)(run_ctx *c);

/* Every key 1..n must have been written back into the rows, in order. */
static int check_keys(run_ctx *c)
{
    const bench_data *d = c->d;
    for (size_t i = 0; i < d->n_rows; i++) {
        if (d->rows[i].id != (int64_t)i + 1) {
            fprintf(stderr, "orm-bench: %s: row %zu got key %lld, expected %zu\n", c->dbname, i,
                    (long long)d->rows[i].id, i + 1);
            return -1;
        }
    }
    return 0;
}

/* W2/W3 on both sides must read the same rows: count and checksum of every mapped field. */
static int check_same(run_ctx *c)
{
    if (!c->have_ref) {
        c->ref = c->check;
        c->have_ref = 1;
        return 0;
    }
    if (c->check.rows == c->ref.rows && c->check.sum == c->ref.sum)
        return 0;
    fprintf(stderr,
            "orm-bench: %s: MISMATCH: one pass read %llu rows (checksum %llu), another %llu rows "
            "(checksum %llu): liborm and raw disagree\n",
            c->dbname, (unsigned long long)c->check.rows, (unsigned long long)c->check.sum,
            (unsigned long long)c->ref.rows, (unsigned long long)c->ref.sum);
    return -1;
}

static int raw_w1_prep(run_ctx *c) { bench_data_reset_ids(c->d); return c->raw->recreate(c->rctx); }
static int orm_w1_prep(run_ctx *c) { bench_data_reset_ids(c->d); return bench_orm_script(c->db, c->recreate_sql); }
static int raw_w1(run_ctx *c)
{
    if (c->w1_keys && c->raw->w1_keys)
        return c->raw->w1_keys(c->rctx, c->d->rows, c->d->n_rows);
    return c->raw->w1(c->rctx, c->d->rows, c->d->n_rows);
}
static int orm_w1(run_ctx *c) { return bench_orm_w1(c->db, c->d->rows, c->d->n_rows, c->w1_keys); }
static int orm_w1b(run_ctx *c) { return bench_orm_w1b(c->db, c->d->rows, c->d->n_rows); }
static int raw_w2(run_ctx *c) { return c->raw->w2(c->rctx, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w2(run_ctx *c) { return bench_orm_w2(c->db, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w2_fixed(run_ctx *c) { return bench_orm_w2_fixed(c->db_fixed, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w2_rw(run_ctx *c) { return bench_orm_w2(c->db_rw, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w2_shared(run_ctx *c) { return bench_orm_w2(c->db_shared, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w2_off(run_ctx *c) { return bench_orm_w2(c->db_off, c->d->get_ids, c->d->n_get, &c->check); }
static int orm_w4_rw(run_ctx *c) { return bench_orm_w4(c->db_rw, c->d->rows, c->d->update_ids, c->d->update_scores, c->d->n_update, c->w4_builder); }
static int raw_w3(run_ctx *c) { return c->raw->w3(c->rctx, c->d->filter_ages, c->d->n_filter, &c->check); }
static int orm_w3(run_ctx *c) { return bench_orm_w3(c->db, c->d->filter_ages, c->d->n_filter, &c->check); }
static int raw_w4(run_ctx *c) { return c->raw->w4(c->rctx, c->d->update_ids, c->d->update_scores, c->d->n_update); }
static int orm_w4(run_ctx *c) { return bench_orm_w4(c->db, c->d->rows, c->d->update_ids, c->d->update_scores, c->d->n_update, c->w4_builder); }

/* One side of a workload: an untimed set-up, the timed run, an untimed check. */
typedef struct side {
    step_fn prep, run, verify;
} side;

/* Run one side once and keep the best time in *best (< 0: none yet). */
static int timed(run_ctx *c, const side *s, double *best)
{
    if (s->prep && s->prep(c) != 0)
        return -1;
    memset(&c->check, 0, sizeof c->check);
    double t0 = bench_now();
    if (s->run(c) != 0)
        return -1;
    double t = bench_now() - t0;
    if (s->verify && s->verify(c) != 0)
        return -1;
    if (*best < 0 || t < *best)
        *best = t;
    return 0;
}

/* Time a workload over `rounds` rounds, alternating which side goes first so neither always
 * gets the warmer cache, and keep each side's best. raw NULL: orm only. */
static int measure(run_ctx *c, int rounds, const side *raw, const side *orm, double *raw_s,
                   double *orm_s)
{
    *raw_s = *orm_s = -1;
    c->have_ref = 0;
    for (int r = 0; r < rounds; r++) {
        if (raw && r % 2 == 0 && timed(c, raw, raw_s) != 0)
            return -1;
        if (timed(c, orm, orm_s) != 0)
            return -1;
        if (raw && r % 2 == 1 && timed(c, raw, raw_s) != 0)
            return -1;
    }
    return 0;
}

static int run_row_cache(run_ctx *c, int rounds);

/* W1, W1b, W2, W3, W4 on one backend. Returns 0, or -1 after saying what failed. */
static int run_workloads(run_ctx *c, int rounds)
{
    const bench_data *d = c->d;
    double raw_s, orm_s, raw_w1_s;
    const side w1_raw = { raw_w1_prep, raw_w1, check_keys }, w1_orm = { orm_w1_prep, orm_w1, check_keys };
    const side w1b_orm = { orm_w1_prep, orm_w1b, check_keys };
    const side w2_raw = { NULL, raw_w2, check_same },
               w2_orm = { NULL, c->w2_fixed ? orm_w2_fixed : orm_w2, check_same };
    const side w3_raw = { NULL, raw_w3, check_same }, w3_orm = { NULL, orm_w3, check_same };
    const side w4_raw = { NULL, raw_w4, NULL }, w4_orm = { NULL, orm_w4, NULL };

    /* W1: one INSERT per row inside one transaction, each pass into an empty table. */
    if (measure(c, rounds, &w1_raw, &w1_orm, &raw_w1_s, &orm_s) != 0)
        return -1;
    bench_report_row("W1", c->dbname, d->n_rows, orm_s, raw_w1_s, NULL, 0);

    /* W1b: the same rows through the batch path; its raw side is W1's. Afterwards both sides'
     * tables hold the same rows, keyed 1..n, for what follows. */
    if (measure(c, rounds, NULL, &w1b_orm, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W1b", c->dbname, d->n_rows, orm_s, raw_w1_s, "W1", 0);
    /* Both sides settle the table they loaded (on postgres they share one: raw's serves). */
    if (c->raw->settle(c->rctx) != 0 || (c->settle_sql && bench_orm_script(c->db, c->settle_sql) != 0))
        return -1;

    /* --w2 fixed: a second db on the same data, where users maps to the fixed-text model */
    if (c->w2_fixed && (orm_db_open(&c->db_fixed, c->dsn, NULL) != ORM_OK ||
                        orm_db_register(c->db_fixed, &bench_user_fixed_model) != ORM_OK))
        return bench_orm_fail("open a db for the fixed-text model");
    if (measure(c, rounds, &w2_raw, &w2_orm, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W2", c->dbname, d->n_get, orm_s, raw_s, NULL, 0);
    if (c->w2_fixed)
        bench_report_note("W2's liborm side: char[32] fixed-capacity text fields (--w2 fixed)");

    if (measure(c, rounds, &w3_raw, &w3_orm, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W3", c->dbname, d->n_filter, orm_s, raw_s, NULL, c->ref.rows);

    if (measure(c, rounds, &w4_raw, &w4_orm, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W4", c->dbname, d->n_update, orm_s, raw_s, NULL, 0);
    bench_report_note("W4's liborm side: %s", c->w4_builder == 1   ? "an update builder per row (--w4 builder)"
                                              : c->w4_builder == 2 ? "orm_update_fields of score (--w4 fields)"
                                                                   : "orm_update_one on the row struct");
    if (c->w1_keys)
        bench_report_note("W1: the rows carry their keys (--w1 keys), on the raw side too%s",
                          c->raw->w1_keys ? "" : " (not here: it lets the database assign them)");
    return run_row_cache(c, rounds);
}

/* Open a db on the same data with a row cache attached: users read-write, or off. */
static orm_db *open_cached(run_ctx *c, int rw)
{
    orm_db *db = NULL;
    orm_cache *cache = NULL;
    orm_row_cache *rc = NULL;
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = rw ? ORM_ROW_CACHE_READ_WRITE : ORM_ROW_CACHE_OFF;
    if (orm_db_open(&db, c->dsn, NULL) != ORM_OK || orm_cache_local_new(&cache, NULL) != ORM_OK ||
        orm_row_cache_attach(&rc, db, cache, NULL) != ORM_OK ||
        orm_row_cache_model(rc, &bench_user_model, &mo) != ORM_OK ||
        orm_db_register(db, &bench_user_model) != ORM_OK) {
        bench_orm_fail("open a db with a row cache");
        orm_db_close(db);
        return NULL;
    }
    return db;
}

#ifdef ORM_BENCH_HAVE_REDIS
/* W5 with the row cache over Redis alone (W5r) and over two levels (W5tl), each warmed,
 * against raw W2 of the same run; beside them a raw GET of each row from Redis (one loopback
 * round trip) and W5 over the local cache (local_s). Skipped without ORM_BENCH_REDIS_URL. */
static int run_w5_shared(run_ctx *c, int rounds, double raw_w2_s, double local_s)
{
    const bench_data *d = c->d;
    if (!getenv("ORM_BENCH_REDIS_URL")) {
        bench_report_note("W5r, W5tl: skipped (ORM_BENCH_REDIS_URL is not set; scripts/bench.sh sets it)");
        return 0;
    }
    const side w5s = { NULL, orm_w2_shared, check_same };
    static const char *const names[2] = { "W5r", "W5tl" };
    double best[2] = { -1, -1 }, rt = -1;
    for (int two = 0; two < 2; two++) {
        char prefix[96];
        double raw_s, orm_s;
        if (!(c->db_shared = bench_redis_row_db(c->dsn, two, prefix, sizeof prefix)))
            return -1;
        /* warm: the first pass loads into Redis, the second (two levels) into the local level */
        int rc = orm_w2_shared(c) || orm_w2_shared(c);
        if (!rc && !two) {
            for (int r = 0; r < rounds; r++) {
                double s = bench_redis_raw_gets(prefix, d->get_ids, d->n_get);
                if (s < 0) {
                    rc = -1;
                    break;
                }
                if (rt < 0 || s < rt)
                    rt = s;
            }
        }
        const side w2_raw = { NULL, raw_w2, check_same };
        if (!rc)
            rc = measure(c, rounds, &w2_raw, &w5s, &raw_s, &orm_s);
        orm_db_close(c->db_shared);
        c->db_shared = NULL;
        if (rc)
            return -1;
        bench_report_row(names[two], c->dbname, d->n_get, orm_s, raw_s, "W2", 0);
        best[two] = orm_s;
    }
    bench_report_note("W5r: the row cache over Redis alone: raw W2/W5r = %.1fx; a hit %.2f us against a raw "
                      "Redis GET of the row %.2f us (%.2fx one loopback round trip)",
                      raw_w2_s / best[0], best[0] * 1e6 / (double)d->n_get, rt * 1e6 / (double)d->n_get,
                      best[0] / rt);
    bench_report_note("W5tl: two levels (local in front of Redis): raw W2/W5tl = %.1fx; a local-level hit is "
                      "%.2fx W5 over the local cache alone",
                      raw_w2_s / best[1], best[1] / local_s);
    return 0;
}
#endif

/* W5 (W2 with the cache warmed, against raw W2), W2 with a cache attached but the model off
 * (against liborm's W2 without a cache), W4 on a read-write model (against W4 without). */
static int run_row_cache(run_ctx *c, int rounds)
{
    const bench_data *d = c->d;
    double raw_s, orm_s;
    const side w2_raw = { NULL, raw_w2, check_same }, w2_orm = { NULL, orm_w2, check_same };
    const side w5 = { NULL, orm_w2_rw, check_same }, w2_off = { NULL, orm_w2_off, check_same };
    const side w4_orm = { NULL, orm_w4, NULL }, w4_rw = { NULL, orm_w4_rw, NULL };
    if (!(c->db_rw = open_cached(c, 1)) || !(c->db_off = open_cached(c, 0)))
        return -1;
    if (orm_w2_rw(c) != 0) /* warm the cache */
        return -1;
    if (measure(c, rounds, &w2_raw, &w5, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W5", c->dbname, d->n_get, orm_s, raw_s, "W2", 0);
    bench_report_note("W5: raw/W5 = %.1fx (orm_get answered by the row cache, local cache, warmed)",
                      raw_s / orm_s);
#ifdef ORM_BENCH_HAVE_REDIS
    if (run_w5_shared(c, rounds, raw_s, orm_s) != 0)
        return -1;
#endif
    if (measure(c, rounds, &w2_orm, &w2_off, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W2off", c->dbname, d->n_get, orm_s, raw_s, "W2 orm", 0);
    bench_report_note("W2off: W2 with a row cache attached and users off, against liborm's W2 "
                      "without one: %.3fx", orm_s / raw_s);
    if (measure(c, rounds, &w4_orm, &w4_rw, &raw_s, &orm_s) != 0)
        return -1;
    bench_report_row("W4rc", c->dbname, d->n_update, orm_s, raw_s, "W4 orm", 0);
    bench_report_note("W4rc: W4 on a read-write cached model, against liborm's W4 without a "
                      "cache: %.3fx", orm_s / raw_s);
    return 0;
}

static orm_db *open_orm(const char *dsn, const char *dbname)
{
    orm_db *db = NULL;
    if (orm_db_open(&db, dsn, NULL) != ORM_OK) {
        bench_orm_fail(dbname);
        return NULL;
    }
    if (mw_empty) {
        orm_middleware mw = { ORM_MIDDLEWARE_VERSION, "empty", pass_through, NULL, NULL, NULL };
        if (orm_db_use(db, &mw) != ORM_OK) {
            bench_orm_fail("orm_db_use");
            orm_db_close(db);
            return NULL;
        }
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

static int run_sqlite(bench_data *d, const options *o)
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
        run_ctx c = { .dbname = "sqlite", .db = db, .recreate_sql = BENCH_RECREATE_SQLITE,
                      .settle_sql = BENCH_SETTLE_SQLITE,
                      .raw = &bench_raw_sqlite_ops, .rctx = raw, .d = d,
                      .w4_builder = o->w4_builder, .w1_keys = o->w1_keys, .w2_fixed = o->w2_fixed,
                      .dsn = dsn };
        rc = run_workloads(&c, o->rounds);
        orm_db_close(c.db_rw);
        orm_db_close(c.db_off);
        orm_db_close(c.db_fixed);
    }
    orm_db_close(db);
    bench_raw_sqlite_ops.close(raw);
    remove_db_files(orm_path);
    remove_db_files(raw_path);
    rmdir(dir);
    return rc;
}

static int run_postgres(bench_data *d, const options *o)
{
    const char *dsn = getenv("ORM_BENCH_PG_DSN");
#ifndef ORM_BENCH_HAVE_PG
    (void)d;
    (void)dsn;
    (void)o;
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
        run_ctx c = { .dbname = "postgres", .db = db, .recreate_sql = BENCH_RECREATE_PG,
                      .raw = &bench_raw_pg_ops, .rctx = raw, .d = d,
                      .w4_builder = o->w4_builder, .w1_keys = o->w1_keys, .w2_fixed = o->w2_fixed,
                      .dsn = dsn };
        rc = run_workloads(&c, o->rounds);
        orm_db_close(c.db_rw);
        orm_db_close(c.db_off);
        orm_db_close(c.db_fixed);
    }
    orm_db_close(db);
    bench_raw_pg_ops.close(raw);
    return rc;
#endif
}

int main(int argc, char **argv)
{
    options o;
    int args_rc = parse_args(argc, argv, &o);
    mw_empty = o.mw_empty;
    if (args_rc != 0)
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
        failed |= run_sqlite(&d, &o) != 0;
    if (!o.only_db || !strcmp(o.only_db, "postgres"))
        failed |= run_postgres(&d, &o) != 0;
    bench_data_free(&d);

#ifdef ORM_BENCH_HAVE_CACHE
    if (!o.only_db || !strcmp(o.only_db, "cache"))
        failed |= bench_w6_run(o.json, o.quick) != 0;
#else
    if (!o.only_db || !strcmp(o.only_db, "cache"))
        bench_report_note("W6 (cache alone): not run: this build has no bench/bench_cache.c");
#endif
    if (o.only_db && !strcmp(o.only_db, "coherence")) /* W8: only when asked (it forks) */
        failed |= bench_w8_run(o.json, o.quick) != 0;
#ifdef ORM_BENCH_HAVE_REDIS
    if (o.only_db && !strcmp(o.only_db, "redis"))
        failed |= bench_w5_redis_run(o.json, o.quick) != 0;
#endif
    if (failed)
        fprintf(stderr, "orm-bench: FAILED (see above)\n");
    return failed ? 1 : 0;
}
