/* Integration: the row cache under concurrency — a randomized coherence test on the backend
 * ORM_TEST_DSN names (labelled tsan: it also runs in the ThreadSanitizer build).
 *
 * THREADS threads run OPS random operations each on one db with a row cache (users
 * read-write, negative caching on): get, get_many, update_one, builder UPDATE with a non-key
 * WHERE (a range holding one key: the whole model is dropped) and with WHERE id = key (that key
 * alone), raw UPDATE, insert and delete of the thread's own rows, transactions that commit,
 * that roll back, and that roll a nested savepoint back. Every write carries a value (score)
 * no other write uses. Checked afterwards:
 *   1. no read outside a transaction returned a value that was never committed (written by a
 *      rolled-back transaction or savepoint, or by a write that failed);
 *   2. a thread that committed a write and then read the key got its value, or a value whose
 *      write committed no earlier than its own began;
 *   3. every cached row equals the database's row (read through a second db without cache).
 * The random test runs over a local cache, and (built with Redis) over Redis alone and over two
 * levels, where the model generations live in Redis (row_cache_shared.c).
 * Also: write-back under concurrency, and the singleflight of loads (8 threads missing one key
 * at once cause one database read).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it.h"
#include "schema.h"
#ifdef ORM_WITH_REDIS
#include "../unit/redis_testutil.h"
#endif

Suite *it_row_cache_race_suite(void);

#define THREADS 4
#define OPS 2000
#define KEYS 24

static char *race_path;
static orm_db *other;
static orm_row_cache *rc;
static int64_t ids[KEYS];

typedef struct committed {
    double v;
    int64_t key;
    uint64_t before, after; /* the clock around the write and its commit */
} committed;

typedef struct readback {
    int64_t key;
    double mine, got;
    uint64_t before;
    int path; /* how it was written: write_score's how (0-3), 4 an insert, 5 a transaction */
} readback;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static committed *commits_log;
static size_t nclog, cclog;
static double *dead; /* never committed */
static size_t ndead, cdead;
static _Atomic uint64_t clock_;

static void log_commit(double v, int64_t key, uint64_t before)
{
    uint64_t after = atomic_fetch_add(&clock_, 1);
    pthread_mutex_lock(&log_mu);
    if (nclog == cclog) {
        cclog = cclog ? cclog * 2 : 1024;
        commits_log = realloc(commits_log, cclog * sizeof *commits_log);
    }
    commits_log[nclog++] = (committed){ v, key, before, after };
    pthread_mutex_unlock(&log_mu);
}

static void log_dead(double v)
{
    pthread_mutex_lock(&log_mu);
    if (ndead == cdead) {
        cdead = cdead ? cdead * 2 : 1024;
        dead = realloc(dead, cdead * sizeof *dead);
    }
    dead[ndead++] = v;
    pthread_mutex_unlock(&log_mu);
}

typedef struct worker {
    int t;
    unsigned seed;
    int seq;
    double *reads; /* values read outside transactions */
    size_t nreads;
    readback *rb;
    size_t nrb;
    int64_t own[64]; /* this thread's inserted rows still alive */
    int nown;
    int failures;    /* unexpected errors */
} worker;

static unsigned rnd(worker *w)
{
    w->seed = w->seed * 1103515245u + 12345u;
    return (w->seed >> 8) & 0xffffff;
}

static double fresh(worker *w) { return (double)(w->t + 1) * 1e6 + (double)++w->seq; }

static const char *backend_dsn(void) { return orm_test_backend_dsn(&race_path, "rcrace", NULL); }

static int is_pg(void) { return strcmp(orm_dialect_name(orm_db_dialect(it_db)), "postgres") == 0; }

static void note_read(worker *w, double v)
{
    w->reads[w->nreads++] = v;
}

/* Read key outside a transaction: 1 found (score in *v), 0 not found, <0 error. */
static int get_score(int64_t key, double *v)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(key);
    int r = orm_get(it_s, NULL, &it_user_model, &u, &k);
    if (r == ORM_OK) {
        *v = u.score;
        orm_model_clear(&it_user_model, &u);
        return 1;
    }
    return r == ORM_ENOTFOUND ? 0 : r;
}

/* Set key's score in session s (ctx) by one of the write paths (how: 0 update_one, 1 builder
 * with a non-key WHERE, 2 raw SQL, 3 builder with WHERE id = key). */
static int write_score(worker *w, orm_session *s, orm_ctx *ctx, int64_t key, double v, int how)
{
    if (how == 0) {
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(key);
        int r = orm_get(s, ctx, &it_user_model, &u, &k);
        if (r == ORM_OK) {
            u.score = v;
            r = orm_update_one(s, ctx, &it_user_model, &u);
        }
        orm_model_clear(&it_user_model, &u);
        return r;
    }
    if (how == 1 || how == 3) {
        /* how 1: a WHERE the builder cannot pin to one key (a range holding only key), so the
         * whole model is dropped; how 3: id = key, a one-key write (that key is dropped). */
        orm_update *up = orm_update_new(s, &it_user_model);
        int r = orm_update_set(up, "score", orm_double(v));
        if (r == ORM_OK)
            r = orm_update_where(up, how == 3 ? orm_eq("id", orm_int(key))
                                              : orm_and(orm_ge("id", orm_int(key)), orm_le("id", orm_int(key))));
        if (r == ORM_OK)
            r = orm_update_exec(up, ctx, NULL);
        orm_update_free(up);
        return r;
    }
    (void)w;
    orm_value a[2] = { orm_double(v), orm_int(key) };
    return orm_raw_exec(s, ctx, is_pg() ? "UPDATE users SET score = $1 WHERE id = $2"
                                        : "UPDATE users SET score = ? WHERE id = ?", a, 2, NULL);
}

static void read_back(worker *w, int64_t key, double mine, uint64_t before, int path)
{
    double got = 0;
    int r = get_score(key, &got);
    if (r != 1) {
        w->failures++;
        fprintf(stderr, "race: read back of %lld: %d\n", (long long)key, r);
        return;
    }
    w->rb[w->nrb++] = (readback){ key, mine, got, before, path };
}

/* A transaction: 1-3 writes; commit (mode 0), roll back (1), or roll back a nested savepoint
 * holding the last write and commit the rest (2). */
static void tx_op(worker *w, int mode)
{
    orm_ctx *ctx;
    if (orm_ctx_new(&ctx, NULL) != ORM_OK) {
        w->failures++;
        return;
    }
    orm_tx_options o = ORM_TX_OPTIONS_INIT;
    o.sqlite_begin = ORM_SQLITE_IMMEDIATE;
    orm_tx *tx = NULL;
    uint64_t before = atomic_fetch_add(&clock_, 1);
    if (orm_tx_begin(&tx, it_db, ctx, &o) != ORM_OK) {
        orm_ctx_free(ctx);
        return; /* busy: nothing written */
    }
    int n = 1 + (int)(rnd(w) % 3);
    int64_t keys[3];
    double vals[3];
    int ok = 1, sp_from = mode == 2 ? n - 1 : n;
    orm_tx *sp = NULL;
    for (int i = 0; i < n && ok; i++) {
        if (i == sp_from && orm_tx_begin(&sp, it_db, ctx, NULL) != ORM_OK) {
            ok = 0;
            break;
        }
        keys[i] = ids[rnd(w) % KEYS];
        vals[i] = fresh(w);
        int r = write_score(w, orm_db_session(it_db), ctx, keys[i], vals[i], (int)(rnd(w) % 4));
        if (r != ORM_OK) {
            ok = 0;
            n = i + 1;
            break;
        }
        double seen = 0; /* the transaction reads its own write */
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(keys[i]);
        if (orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k) == ORM_OK)
            seen = u.score;
        orm_model_clear(&it_user_model, &u);
        if (seen != vals[i]) {
            w->failures++;
            fprintf(stderr, "race: tx read %f, wrote %f\n", seen, vals[i]);
        }
    }
    if (sp) {
        orm_tx_rollback(sp);
        orm_tx_free(sp);
        log_dead(vals[n - 1]);
        n--;
    }
    int committed_ok = 0;
    if (ok && mode != 1)
        committed_ok = orm_tx_commit(tx) == ORM_OK;
    else
        orm_tx_rollback(tx);
    orm_tx_free(tx);
    orm_ctx_free(ctx);
    for (int i = 0; i < n; i++) {
        if (committed_ok)
            log_commit(vals[i], keys[i], before);
        else
            log_dead(vals[i]);
    }
    if (committed_ok && n > 0)
        read_back(w, keys[n - 1], vals[n - 1], before, 5);
}

static void *run(void *arg)
{
    worker *w = arg;
    for (int op = 0; op < OPS; op++) {
        unsigned pick = rnd(w) % 100;
        int64_t key = ids[rnd(w) % KEYS];
        if (pick < 40) {
            double v;
            if (get_score(key, &v) == 1)
                note_read(w, v);
        } else if (pick < 48) {
            orm_value ks[3] = { orm_int(key), orm_int(ids[rnd(w) % KEYS]), orm_int(-1) };
            it_user out[3];
            bool found[3];
            if (orm_get_many(it_s, NULL, &it_user_model, out, found, ks, 3) == ORM_OK) {
                for (int i = 0; i < 3; i++) {
                    if (found[i])
                        note_read(w, out[i].score);
                    orm_model_clear(&it_user_model, &out[i]);
                }
                if (found[2])
                    w->failures++;
            }
        } else if (pick < 68) {
            double v = fresh(w);
            uint64_t before = atomic_fetch_add(&clock_, 1);
            int how = (int)(rnd(w) % 4);
            int r = write_score(w, it_s, NULL, key, v, how);
            if (r == ORM_OK) {
                log_commit(v, key, before);
                read_back(w, key, v, before, how);
            } else {
                log_dead(v); /* busy: not applied */
            }
        } else if (pick < 76) {
            char name[32];
            snprintf(name, sizeof name, "t%d_%d", w->t, w->seq);
            double v = fresh(w);
            it_user u = it_user_make(name, NULL, 1, true, v, true);
            uint64_t before = atomic_fetch_add(&clock_, 1);
            if (w->nown < 64 && orm_insert_one(it_s, NULL, &it_user_model, &u) == ORM_OK) {
                w->own[w->nown++] = u.id;
                log_commit(v, u.id, before);
                read_back(w, u.id, v, before, 4);
            } else {
                log_dead(v);
            }
        } else if (pick < 80) {
            if (w->nown) {
                int64_t id = w->own[--w->nown];
                it_user u;
                memset(&u, 0, sizeof u);
                u.id = id;
                if (orm_delete_one(it_s, NULL, &it_user_model, &u) == ORM_OK) {
                    double v;
                    if (get_score(id, &v) != 0) {
                        w->failures++;
                        fprintf(stderr, "race: deleted row %lld still read\n", (long long)id);
                    }
                } else {
                    w->own[w->nown++] = id;
                }
            }
        } else if (pick < 88) {
            tx_op(w, 0);
        } else if (pick < 94) {
            tx_op(w, 1);
        } else {
            tx_op(w, 2);
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_commit(const void *a, const void *b)
{
    return cmp_double(&((const committed *)a)->v, &((const committed *)b)->v);
}

static const committed *find_commit(double v)
{
    committed k = { v, 0, 0, 0 };
    return bsearch(&k, commits_log, nclog, sizeof *commits_log, cmp_commit);
}

/* The cache of loop index kind: 0 local, 1 Redis alone, 2 two levels. */
static orm_cache *race_cache(int kind)
{
    orm_cache *c;
    orm_cache_local_options lo = ORM_CACHE_LOCAL_OPTIONS_INIT;
    lo.max_entries = 64; /* evictions too */
    lo.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&c, &lo));
#ifdef ORM_WITH_REDIS
    if (kind) {
        char prefix[96];
        rt_prefix(prefix, sizeof prefix, kind == 1 ? "race-redis" : "race-two");
        orm_cache *r = rt_redis(rt_url(), prefix, NULL);
        if (kind == 1) {
            orm_cache_close(c);
            return r;
        }
        orm_cache *two;
        ck_assert_ok(orm_cache_two_level_new(&two, c, r, NULL));
        return two;
    }
#endif
    ck_assert_int_eq(kind, 0);
    return c;
}

START_TEST(test_random_coherence)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c = race_cache(_i);
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.negative = true;
    mo.ttl_ms = 60000;
    mo.jitter = 0.1;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(it_models_register(other));
    for (int i = 0; i < KEYS; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        it_user u = it_user_make(name, NULL, 1, true, 0, true);
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
        ids[i] = u.id;
    }
    log_commit(0, 0, 0); /* the initial score of every key */
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].t = t;
        w[t].seed = 1234u + (unsigned)t * 7919u;
        w[t].reads = calloc(OPS * 3, sizeof *w[t].reads);
        w[t].rb = calloc(OPS, sizeof *w[t].rb);
        ck_assert_int_eq(pthread_create(&th[t], NULL, run, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);

    qsort(commits_log, nclog, sizeof *commits_log, cmp_commit);
    qsort(dead, ndead, sizeof *dead, cmp_double);
    size_t reads = 0, rbs = 0;
    for (int t = 0; t < THREADS; t++) {
        ck_assert_int_eq(w[t].failures, 0);
        /* 1. never a value that was not committed */
        for (size_t i = 0; i < w[t].nreads; i++) {
            double v = w[t].reads[i];
            ck_assert_msg(!bsearch(&v, dead, ndead, sizeof *dead, cmp_double),
                          "thread %d read %f, written by a write that never committed", t, v);
            ck_assert_msg(find_commit(v) != NULL, "thread %d read %f, never written", t, v);
        }
        /* 2. its own committed write, or one that committed no earlier than it began */
        for (size_t i = 0; i < w[t].nrb; i++) {
            const readback *r = &w[t].rb[i];
            if (r->got == r->mine)
                continue;
            const committed *cm = find_commit(r->got);
            ck_assert_msg(cm != NULL, "thread %d read back %f for key %lld: never committed", t, r->got,
                          (long long)r->key);
            ck_assert_msg(cm->key == r->key || cm->key == 0, "read back another key's value");
            ck_assert_msg(cm->after >= r->before,
                          "thread %d wrote %f to key %lld (path %d) and read back %f, committed before its write",
                          t, r->mine, (long long)r->key, r->path, r->got);
        }
        reads += w[t].nreads;
        rbs += w[t].nrb;
        free(w[t].reads);
        free(w[t].rb);
    }
    /* 3. every cached row equals the database's */
    size_t checked = 0;
    for (size_t i = 0; i < nclog; i++) {
        int64_t key = commits_log[i].key;
        if (!key)
            continue;
        it_user a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        orm_value k = orm_int(key);
        int ra = orm_get(it_s, NULL, &it_user_model, &a, &k);
        int rb = orm_get(orm_db_session(other), NULL, &it_user_model, &b, &k);
        ck_assert_int_eq(ra, rb);
        if (ra == ORM_OK) {
            ck_assert_msg(a.score == b.score, "key %lld: cached %f, database %f", (long long)key, a.score, b.score);
            ck_assert_str_eq(a.name, b.name);
        }
        orm_model_clear(&it_user_model, &a);
        orm_model_clear(&it_user_model, &b);
        checked++;
    }
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, &it_user_model, &s));
    fprintf(stderr, "race (%s): %zu reads, %zu read-backs, %zu commits, %zu never committed, %zu rows "
                    "checked; cache hits %llu misses %llu loads %llu invalidations %llu\n",
            _i == 0 ? "local" : _i == 1 ? "redis" : "two levels", reads, rbs, nclog, ndead, checked, (unsigned long long)s.hits, (unsigned long long)s.misses,
            (unsigned long long)s.loads, (unsigned long long)s.invalidations);
    ck_assert_uint_gt(s.hits, 0);
    ck_assert_uint_gt(nclog, 100);
    free(commits_log);
    free(dead);
    commits_log = NULL;
    dead = NULL;
    nclog = cclog = ndead = cdead = 0;
}
END_TEST

/* ---- write-back under concurrency: saves, a flusher thread, queries outside and inside
 * transactions that commit or roll back; each thread reads its own saves back (in a
 * transaction too) and the database ends with the last save of every key ---- */

#define WB_KEYS_PER_THREAD 6
#define WB_OPS 600

typedef struct wb_worker {
    int t;
    unsigned seed;
    double last[WB_KEYS_PER_THREAD]; /* what this thread saved last, per key it owns */
    int failures;
} wb_worker;

static void *wb_run(void *arg)
{
    wb_worker *w = arg;
    for (int op = 0; op < WB_OPS; op++) {
        w->seed = w->seed * 1103515245u + 12345u;
        int i = (int)((w->seed >> 8) % WB_KEYS_PER_THREAD);
        int64_t key = ids[w->t * WB_KEYS_PER_THREAD + i];
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(key);
        if (orm_get(it_s, NULL, &it_user_model, &u, &k) != ORM_OK) {
            w->failures++;
            continue;
        }
        if (u.score != w->last[i]) { /* a thread reads its own saves back */
            w->failures++;
            fprintf(stderr, "wb race: key %lld read %f, saved %f\n", (long long)key, u.score, w->last[i]);
        }
        u.score = (double)(w->t + 1) * 1e6 + op;
        if (orm_update_one(it_s, NULL, &it_user_model, &u) == ORM_OK)
            w->last[i] = u.score;
        else
            w->failures++;
        orm_model_clear(&it_user_model, &u);
        if (op % 53 == 0) { /* a transaction's query flushes on its connection; then its end */
            orm_tx *tx;
            int r = orm_tx_begin(&tx, it_db, NULL, NULL);
            if (r == ORM_OK) {
                int64_t n = 0;
                orm_select *q = orm_select_new(orm_tx_session(tx), &it_user_model);
                r = orm_select_count(q, NULL, &n);
                orm_select_free(q);
                if (r == ORM_OK && n < THREADS * WB_KEYS_PER_THREAD)
                    w->failures++;
                it_user g;
                memset(&g, 0, sizeof g);
                /* The thread's own latest save, even when another transaction or an
                 * autocommit flush wrote it after this transaction's snapshot began (SQLite
                 * reads one snapshot from the first read): the buffer keeps it for us. */
                if (r == ORM_OK && (r = orm_get(orm_tx_session(tx), NULL, &it_user_model, &g, &k)) == ORM_OK &&
                    g.score != w->last[i]) {
                    w->failures++;
                    fprintf(stderr, "wb race: in a tx, key %lld read %f, saved %f\n", (long long)key, g.score,
                            w->last[i]);
                }
                orm_model_clear(&it_user_model, &g);
                int end = (op / 53) % 2 ? orm_tx_commit(tx) : orm_tx_rollback(tx);
                if (r == ORM_OK)
                    r = end;
                orm_tx_free(tx);
            }
            if (r != ORM_OK && r != ORM_EBUSY) { /* SQLite: another writer held the lock too long */
                w->failures++;
                fprintf(stderr, "wb race: transaction: %s\n", orm_error_last()->message);
            }
        }
        if (op % 97 == 0) { /* a query of the model flushes it first */
            int64_t n = 0;
            orm_select *q = orm_select_new(it_s, &it_user_model);
            if (orm_select_count(q, NULL, &n) != ORM_OK || n < THREADS * WB_KEYS_PER_THREAD)
                w->failures++;
            orm_select_free(q);
        }
    }
    return NULL;
}

START_TEST(test_write_back_concurrent)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    orm_row_cache_options o = ORM_ROW_CACHE_OPTIONS_INIT;
    o.flush_interval_ms = 5; /* the flusher thread races the savers */
    o.max_dirty = 10;
    o.flush_batch = 4;
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, &o));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_WRITE_BACK;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(it_models_register(other));
    for (int i = 0; i < THREADS * WB_KEYS_PER_THREAD; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        it_user u = it_user_make(name, NULL, 1, true, 0, true);
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
        ids[i] = u.id;
    }
    wb_worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].t = t;
        w[t].seed = 99u + (unsigned)t;
        ck_assert_int_eq(pthread_create(&th[t], NULL, wb_run, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(w[t].failures, 0);
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, &it_user_model, &s));
    ck_assert_uint_gt(s.flushes, 0);
    orm_db_close(it_db); /* writes what is left */
    it_db = NULL;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < WB_KEYS_PER_THREAD; i++) {
            it_user u;
            memset(&u, 0, sizeof u);
            orm_value k = orm_int(ids[t * WB_KEYS_PER_THREAD + i]);
            ck_assert_ok(orm_get(orm_db_session(other), NULL, &it_user_model, &u, &k));
            ck_assert_msg(u.score == w[t].last[i], "key %lld: database %f, last saved %f",
                          (long long)u.id, u.score, w[t].last[i]);
            orm_model_clear(&it_user_model, &u);
        }
}
END_TEST

/* ---- singleflight: SF_THREADS threads miss one key at once ---- */

#define SF_THREADS 8

/* Inside the row cache: counts the reads by key that reach the database, and slows them
 * (500 ms) so every thread misses while the first load runs. */
static atomic_int sf_db_gets;

static int sf_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    if (st->intent && st->intent->op == ORM_STMT_OP_GET) {
        atomic_fetch_add(&sf_db_gets, 1);
        struct timespec ts = { 0, 500 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return orm_stmt_next(st);
}

static atomic_int sf_ready, sf_go;

typedef struct sf_arg {
    int64_t key;
    int rc;
    double score;
    char name[16];
} sf_arg;

static void *sf_run(void *arg)
{
    sf_arg *a = arg;
    atomic_fetch_add(&sf_ready, 1);
    while (!atomic_load(&sf_go))
        sched_yield();
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(a->key);
    a->rc = orm_get(it_s, NULL, &it_user_model, &u, &k);
    if (a->rc == ORM_OK) {
        a->score = u.score;
        snprintf(a->name, sizeof a->name, "%s", u.name ? u.name : "(null)");
    }
    orm_model_clear(&it_user_model, &u);
    return NULL;
}

/* 8 threads get one uncached key at once while its load is slow (500 ms): one load reaches the
 * database (stats loads 1, one statement seen inside the row cache), every thread gets the
 * row, and the next get is a hit. */
START_TEST(test_singleflight_one_load)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.name = "slow_gets";
    m.fn = sf_fn;
    ck_assert_ok(orm_db_use(it_db, &m)); /* inside the row cache */
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    it_user u = it_user_make("sf", NULL, 1, true, 42, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    atomic_store(&sf_db_gets, 0);
    atomic_store(&sf_ready, 0);
    atomic_store(&sf_go, 0);
    sf_arg args[SF_THREADS];
    pthread_t th[SF_THREADS];
    for (int t = 0; t < SF_THREADS; t++) {
        memset(&args[t], 0, sizeof args[t]);
        args[t].key = u.id;
        args[t].rc = -1;
        ck_assert_int_eq(pthread_create(&th[t], NULL, sf_run, &args[t]), 0);
    }
    while (atomic_load(&sf_ready) < SF_THREADS)
        sched_yield();
    atomic_store(&sf_go, 1);
    for (int t = 0; t < SF_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < SF_THREADS; t++) {
        ck_assert_int_eq(args[t].rc, ORM_OK);
        ck_assert_double_eq(args[t].score, 42);
        ck_assert_str_eq(args[t].name, "sf");
    }
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, &it_user_model, &s));
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_int_eq(atomic_load(&sf_db_gets), 1);
    ck_assert_uint_eq(s.hits + s.misses, SF_THREADS);
    ck_assert_uint_ge(s.misses, 2); /* at least one thread joined the load in flight */
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value k = orm_int(u.id);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &g, &k));
    ck_assert_double_eq(g.score, 42);
    orm_model_clear(&it_user_model, &g);
    ck_assert_ok(orm_row_cache_stats_get(rc, &it_user_model, &s));
    ck_assert_uint_eq(s.hits + s.misses, SF_THREADS + 1);
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_int_eq(atomic_load(&sf_db_gets), 1);
}
END_TEST

static void race_teardown(void)
{
    orm_db_close(other);
    other = NULL;
    orm_db_close(it_db);
    it_db = NULL;
    it_s = NULL;
    orm_test_remove_db(&race_path);
}

static void race_setup(void)
{
    it_db = NULL;
    it_s = NULL;
}

/* One test case each (CK_RUN_CASE=random|write_back|singleflight runs one alone). */
static TCase *race_case(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, race_setup, race_teardown);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *it_row_cache_race_suite(void)
{
    Suite *s = suite_create("row_cache_race");
#ifdef ORM_WITH_REDIS
    tcase_add_loop_test(race_case(s, "random"), test_random_coherence, 0, 3);
#else
    tcase_add_loop_test(race_case(s, "random"), test_random_coherence, 0, 1);
#endif
    tcase_add_test(race_case(s, "write_back"), test_write_back_concurrent);
    tcase_add_test(race_case(s, "singleflight"), test_singleflight_one_load);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_row_cache_race_suite());
}
