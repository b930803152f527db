/* Integration tests of the row cache (row_cache.h) on the backend ORM_TEST_DSN names: hits
 * that fill the struct as the database would, misses that load once, TTLs (expiry, jitter,
 * the negative TTL), every invalidation path (writes by key, inserts and negative caching,
 * upserts and batch inserts, builder writes, raw SQL and scripts, migrations, the public
 * drops), read-only models, orm_get_many with and without a cache, transactions (commit,
 * rollback, savepoints, reads of own writes, isolation, a COMMIT that fails, is cancelled or
 * comes past its deadline), the race of a slow load with a write, write-back (saves, flushes,
 * inside transactions, failures and the flusher's automatic retry), the log line and the
 * Prometheus series. The concurrent tests (singleflight, random coherence) are in
 * test_row_cache_race_it.c (tsan label).
 *
 * The row cache is a middleware: each test opens its own db, attaches, then creates the
 * schema (as the middleware suite does). A second db on the same data, without a cache,
 * plays "a write made elsewhere". */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it.h"
#include "schema.h"

Suite *it_row_cache_suite(void);

static char *rc_path;
static orm_row_cache *rc;
static orm_db *other; /* the same data, no cache */

static void rc_setup(void)
{
    it_db = NULL;
    it_s = NULL;
    rc = NULL;
    other = NULL;
}

static const char *backend_dsn(void) { return orm_test_backend_dsn(&rc_path, "rc", NULL); }

/* Open the db, attach a local cache with users (and memberships, alltypes) read-write;
 * outer (may be NULL) is registered before the row cache, inner (may be NULL) after it, so it
 * sees only the statements that reach the database. */
static void rc_open_mw(orm_middleware *outer, orm_middleware *inner, const orm_row_cache_model_options *users_opts)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    if (outer)
        ck_assert_ok(orm_db_use(it_db, outer));
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, users_opts ? users_opts : &mo));
    ck_assert_ok(orm_row_cache_model(rc, &it_membership_model, &mo));
    ck_assert_ok(orm_row_cache_model(rc, &it_alltypes_model, &mo));
    if (inner)
        ck_assert_ok(orm_db_use(it_db, inner)); /* inside the row cache */
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(it_models_register(other));
}

static void rc_open_with(orm_middleware *outer, const orm_row_cache_model_options *users_opts)
{
    rc_open_mw(outer, NULL, users_opts);
}

static void rc_open(void) { rc_open_with(NULL, NULL); }

/* An inner layer (rc_open_mw) counting the reads by key (get, get_many) that reach the
 * database: what the row cache did not answer. */
static int db_gets;

static int count_gets_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    if (st->intent && (st->intent->op == ORM_STMT_OP_GET || st->intent->op == ORM_STMT_OP_GET_MANY))
        db_gets++;
    return orm_stmt_next(st);
}

static orm_middleware count_gets_mw(void)
{
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.name = "count_gets";
    m.fn = count_gets_fn;
    db_gets = 0;
    return m;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rc_teardown(void)
{
    orm_db_close(other);
    other = NULL;
    orm_db_close(it_db);
    it_db = NULL;
    it_s = NULL;
    orm_test_remove_db(&rc_path);
}

static orm_row_cache_stats stats(const orm_model *m)
{
    orm_row_cache_stats s;
    ck_assert_ok(orm_row_cache_stats_get(rc, m, &s));
    return s;
}

static int64_t add_user(const char *name, double score)
{
    it_user u = it_user_make(name, NULL, 30, true, score, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    return u.id;
}

/* The score of user id read through orm_get on session s (asserts found). */
static double score_via(orm_session *s, orm_ctx *ctx, int64_t id)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(s, ctx, &it_user_model, &u, &k));
    double v = u.score;
    orm_model_clear(&it_user_model, &u);
    return v;
}

static double score_of(int64_t id) { return score_via(it_s, NULL, id); }

/* The score the database holds, read through the other db (no cache). */
static double db_score_now(int64_t id) { return score_via(orm_db_session(other), NULL, id); }

/* Set the score behind the cache's back (the other db). */
static void set_elsewhere(int64_t id, double score)
{
    orm_value a[2] = { orm_double(score), orm_int(id) };
    int64_t n = 0;
    const char *sql = strcmp(orm_dialect_name(orm_db_dialect(other)), "postgres") == 0
                          ? "UPDATE users SET score = $1 WHERE id = $2"
                          : "UPDATE users SET score = ? WHERE id = ?";
    ck_assert_ok(orm_raw_exec(orm_db_session(other), NULL, sql, a, 2, &n));
    ck_assert_int_eq(n, 1);
}

START_TEST(test_hit_fills_like_the_database)
{
    rc_open();
    it_alltypes a;
    memset(&a, 0, sizeof a);
    a.i16 = -7; a.has_i16 = true;
    a.i64 = 1234567890123LL; a.has_i64 = true;
    a.d = 2.5; a.has_d = true;
    a.b = true; a.has_b = true;
    a.t = "text: with \\ and 'quotes'";
    unsigned char blob[4] = { 0, 1, 255, 7 };
    a.bl.data = blob;
    a.bl.len = sizeof blob;
    a.ts = 1700000000123456LL; a.has_ts = true;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &a));
    orm_value k = orm_int(a.id);
    it_alltypes db, hit;
    memset(&db, 0, sizeof db);
    memset(&hit, 0, sizeof hit);
    ck_assert_ok(orm_get(it_s, NULL, &it_alltypes_model, &db, &k)); /* miss: loads */
    orm_row_cache_stats s = stats(&it_alltypes_model);
    ck_assert_uint_eq(s.misses, 1);
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_uint_eq(s.hits, 0);
    ck_assert_ok(orm_get(it_s, NULL, &it_alltypes_model, &hit, &k)); /* hit */
    s = stats(&it_alltypes_model);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_int_eq(hit.id, db.id);
    ck_assert_int_eq(hit.has_i16, db.has_i16);
    ck_assert_int_eq(hit.i16, -7);
    ck_assert_int_eq(hit.has_i32, false); /* NULL stays NULL */
    ck_assert_int_eq(hit.i64, db.i64);
    ck_assert_double_eq(hit.d, db.d);
    ck_assert_int_eq(hit.b, db.b);
    ck_assert_str_eq(hit.t, db.t);
    ck_assert_ptr_ne(hit.t, db.t); /* a deep copy */
    ck_assert_uint_eq(hit.bl.len, 4);
    ck_assert_mem_eq(hit.bl.data, blob, 4);
    ck_assert_int_eq(hit.ts, db.ts);
    ck_assert_int_eq(hit.has_ts, true);
    orm_model_clear(&it_alltypes_model, &db);
    orm_model_clear(&it_alltypes_model, &hit);
    /* Text and blobs too long to be packed inside the cached value (an arena of their own),
     * an empty text, an empty blob and NULLs: the hit fills them as the database does. */
    char longt[301];
    memset(longt, 'x', 300);
    longt[300] = '\0';
    unsigned char bigblob[200];
    for (size_t i = 0; i < sizeof bigblob; i++)
        bigblob[i] = (unsigned char)i;
    for (int v = 0; v < 3; v++) {
        it_alltypes r;
        memset(&r, 0, sizeof r);
        r.t = v == 0 ? longt : v == 1 ? "" : NULL;
        r.bl.data = v == 0 ? NULL : bigblob;
        r.bl.len = v == 0 ? 0 : v == 1 ? 0 : sizeof bigblob;
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &r));
        orm_value kr = orm_int(r.id);
        memset(&db, 0, sizeof db);
        memset(&hit, 0, sizeof hit);
        ck_assert_ok(orm_get(it_s, NULL, &it_alltypes_model, &db, &kr));
        uint64_t h0 = stats(&it_alltypes_model).hits;
        ck_assert_ok(orm_get(it_s, NULL, &it_alltypes_model, &hit, &kr));
        ck_assert_uint_eq(stats(&it_alltypes_model).hits, h0 + 1);
        if (db.t)
            ck_assert_str_eq(hit.t, db.t);
        else
            ck_assert_ptr_null(hit.t);
        ck_assert_int_eq(hit.bl.data != NULL, db.bl.data != NULL);
        ck_assert_uint_eq(hit.bl.len, db.bl.len);
        if (db.bl.len)
            ck_assert_mem_eq(hit.bl.data, db.bl.data, db.bl.len);
        ck_assert_int_eq(hit.has_i16, false);
        orm_model_clear(&it_alltypes_model, &db);
        orm_model_clear(&it_alltypes_model, &hit);
    }
    /* A model left OFF is never cached. */
    it_post p = { 0, 0, "t", 1 };
    int64_t uid = add_user("ada", 1);
    p.user_id = uid;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_post_model, &p));
    ck_assert_orm(orm_row_cache_stats_get(rc, &it_post_model, &s), ORM_EINVAL);
}
END_TEST

START_TEST(test_key_encoding_cannot_collide)
{
    char a[64], b[64];
    size_t n;
    orm_value one = orm_int(1), t1 = orm_text("1");
    ck_assert_ok(orm_row_cache_key(a, sizeof a, &n, &it_user_model, &one));
    ck_assert_str_eq(a, "users:1");
    ck_assert_uint_eq(n, 7);
    ck_assert_ok(orm_row_cache_key(b, sizeof b, NULL, &it_user_model, &t1));
    ck_assert_str_eq(b, "users:'1");
    orm_value k1[2] = { orm_int(1), orm_text("a:b") }, k2[2] = { orm_int(1), orm_text("a\\:b") };
    ck_assert_ok(orm_row_cache_key(a, sizeof a, NULL, &it_membership_model, k1));
    ck_assert_ok(orm_row_cache_key(b, sizeof b, NULL, &it_membership_model, k2));
    ck_assert_str_eq(a, "memberships:1:'a\\:b");
    ck_assert_str_eq(b, "memberships:1:'a\\\\\\:b");
    ck_assert_str_ne(a, b);
    orm_value neg = orm_int(-42);
    ck_assert_ok(orm_row_cache_key(a, sizeof a, NULL, &it_user_model, &neg));
    ck_assert_str_eq(a, "users:-42");
    ck_assert_orm(orm_row_cache_key(a, 4, &n, &it_user_model, &neg), ORM_EINVAL);
    ck_assert_uint_eq(n, 9);
    ck_assert_ok(orm_row_cache_key(NULL, 0, &n, &it_user_model, &neg));
    ck_assert_uint_eq(n, 9);
    /* integers as their decimal text, every digit count and both ends of the range */
    static const struct {
        int64_t v;
        const char *key;
    } ints[] = { { 0, "users:0" },          { 7, "users:7" },         { -7, "users:-7" },
                 { 10, "users:10" },        { 99, "users:99" },       { 100, "users:100" },
                 { 12345, "users:12345" },  { -100000, "users:-100000" },
                 { INT64_MAX, "users:9223372036854775807" },
                 { INT64_MIN, "users:-9223372036854775808" } };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        orm_value k = orm_int(ints[i].v);
        ck_assert_ok(orm_row_cache_key(a, sizeof a, &n, &it_user_model, &k));
        ck_assert_str_eq(a, ints[i].key);
        ck_assert_uint_eq(n, strlen(ints[i].key));
    }
    /* table names around the prefix length copied as one block (32 bytes with the ':') */
    static const char *const tables[] = { "t", "a_table_name_of_thirty_one_char",
                                          "a_table_name_of_thirty_two_chars",
                                          "a table name far longer than thirty-two bytes" };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        orm_model named = it_user_model;
        named.table = tables[i];
        orm_value k = orm_int(-1234567);
        char want[96];
        snprintf(want, sizeof want, "%s:-1234567", tables[i]);
        char got[96];
        ck_assert_ok(orm_row_cache_key(got, sizeof got, &n, &named, &k));
        ck_assert_str_eq(got, want);
        ck_assert_uint_eq(n, strlen(want));
    }
    orm_value big = orm_int(INT64_MIN); /* cut short: the length still says what it needs */
    ck_assert_orm(orm_row_cache_key(a, 12, &n, &it_user_model, &big), ORM_EINVAL);
    ck_assert_uint_eq(n, strlen("users:-9223372036854775808"));
}
END_TEST

/* A log sink keeping the last line. */
static char last_line[2048];
static void keep_line(const orm_log_entry *e, void *ud)
{
    (void)ud;
    if (e->kind == ORM_STMT_SELECT)
        snprintf(last_line, sizeof last_line, "%s", e->line);
}

START_TEST(test_log_and_metrics_see_hits)
{
    orm_middleware lm, mm;
    orm_log_options lo = ORM_LOG_OPTIONS_INIT;
    lo.sink = keep_line;
    ck_assert_ok(orm_log_middleware(&lm, &lo));
    orm_metrics *mx;
    ck_assert_ok(orm_metrics_new(&mx));
    ck_assert_ok(orm_metrics_middleware(&mm, mx));
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    ck_assert_ok(orm_db_use(it_db, &lm));
    ck_assert_ok(orm_db_use(it_db, &mm));
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    ck_assert_ok(orm_row_cache_metrics(rc, mx));
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    int64_t id = add_user("ada", 1);
    orm_metrics_reset(mx);
    score_of(id);
    ck_assert_ptr_nonnull(strstr(last_line, "cache=miss"));
    score_of(id);
    ck_assert_ptr_nonnull(strstr(last_line, "cache=hit"));
    ck_assert_ptr_nonnull(strstr(last_line, "rows=1"));
    orm_metrics_snapshot snap;
    ck_assert_ok(orm_metrics_snapshot_take(mx, &snap));
    int seen = 0;
    for (size_t i = 0; i < snap.nseries; i++)
        if (snap.series[i].kind == ORM_STMT_SELECT && strcmp(snap.series[i].table, "users") == 0) {
            ck_assert_uint_eq(snap.series[i].statements, 2);
            ck_assert_uint_eq(snap.series[i].cached, 1);
            seen = 1;
        }
    ck_assert(seen);
    orm_metrics_snapshot_free(&snap);
    char *text;
    ck_assert_ok(orm_metrics_prometheus(mx, &text, NULL));
    ck_assert_ptr_nonnull(strstr(text, "orm_statements_cached_total{kind=\"select\",table=\"users\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_row_cache_hits_total{model=\"users\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_row_cache_misses_total{model=\"users\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_row_cache_loads_total{model=\"users\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_row_cache_invalidations_total{model=\"users\"}"));
    orm_free_string(text);
    rc_teardown(); /* the db's close removes the collector: the metrics outlive it */
    ck_assert_ok(orm_metrics_prometheus(mx, &text, NULL));
    ck_assert_ptr_null(strstr(text, "orm_row_cache_hits_total"));
    orm_free_string(text);
    orm_metrics_free(mx);
}
END_TEST

/* The trace middleware's spans for gets: the hit says cached, the miss does not, both with
 * the row count, and a get of a missing key (a miss, not found) is not cached either. */
typedef struct span_log {
    int n;
    int cached[8];
    int64_t rows[8];
    int error[8];
    char name[8][64];
} span_log;

static void keep_span(const orm_span *sp, void *handle, void *ud)
{
    (void)handle;
    span_log *l = ud;
    if (sp->kind != ORM_STMT_SELECT || l->n >= 8)
        return;
    l->cached[l->n] = sp->cached;
    l->rows[l->n] = sp->rows;
    l->error[l->n] = sp->error;
    snprintf(l->name[l->n], sizeof l->name[0], "%s", sp->name);
    l->n++;
}

START_TEST(test_trace_span_says_cached)
{
    static span_log sl;
    memset(&sl, 0, sizeof sl);
    orm_middleware tm;
    orm_trace_options to = ORM_TRACE_OPTIONS_INIT;
    to.on_end = keep_span;
    to.userdata = &sl;
    ck_assert_ok(orm_trace_middleware(&tm, &to));
    rc_open_with(&tm, NULL);
    int64_t id = add_user("ada", 1);
    sl.n = 0;
    score_of(id); /* miss: loads */
    score_of(id); /* hit */
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value none = orm_int(id + 1000);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &none), ORM_ENOTFOUND);
    ck_assert_int_eq(sl.n, 3);
    ck_assert_str_eq(sl.name[0], "SELECT users");
    ck_assert_int_eq(sl.cached[0], 0);
    ck_assert_int_eq(sl.rows[0], 1);
    ck_assert_int_eq(sl.cached[1], 1);
    ck_assert_int_eq(sl.rows[1], 1);
    ck_assert_int_eq(sl.error[1], ORM_OK);
    ck_assert_int_eq(sl.cached[2], 0);
    ck_assert_int_eq(sl.rows[2], 0);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_uint_eq(s.misses, 2);
}
END_TEST

START_TEST(test_writes_by_key_drop_after_the_database)
{
    rc_open();
    int64_t id = add_user("ada", 1);
    ck_assert_double_eq(score_of(id), 1);
    ck_assert_double_eq(score_of(id), 1); /* cached */
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &u, &k));
    u.score = 2;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &u));
    ck_assert_double_eq(score_of(id), 2);
    uint64_t inv = stats(&it_user_model).invalidations;
    ck_assert_uint_ge(inv, 1);
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &u));
    it_user g;
    memset(&g, 0, sizeof g);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &k), ORM_ENOTFOUND);
    ck_assert_uint_gt(stats(&it_user_model).invalidations, inv);
    /* A failed write still drops (its outcome could be unknown) and reports its error. */
    orm_model_clear(&it_user_model, &u);
}
END_TEST

START_TEST(test_negative_caching_and_inserts)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.negative = true;
    mo.ttl_ms = 60000;
    mo.jitter = 0.2;
    rc_open_with(NULL, &mo);
    int64_t id = add_user("ada", 1);
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value next = orm_int(id + 1);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &next), ORM_ENOTFOUND);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &next), ORM_ENOTFOUND);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.hits, 1); /* the not-found answer was cached */
    /* The next insert takes that key: the not-found answers are stale at once. */
    int64_t id2 = add_user("bob", 5);
    ck_assert_int_eq(id2, id + 1);
    ck_assert_double_eq(score_of(id2), 5);
    /* Through the insert builder too. */
    orm_value after = orm_int(id2 + 1);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &after), ORM_ENOTFOUND);
    it_user c = it_user_make("cy", NULL, 3, true, 7, true);
    orm_insert *ins = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add(ins, &c));
    ck_assert_ok(orm_insert_exec(ins, NULL, NULL));
    orm_insert_free(ins);
    ck_assert_int_eq(c.id, id2 + 1);
    ck_assert_double_eq(score_of(c.id), 7);
}
END_TEST

START_TEST(test_builder_and_raw_writes_drop_the_model)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    score_of(a);
    score_of(b);
    /* Builder UPDATE with a non-key WHERE. */
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(10)));
    ck_assert_ok(orm_update_where(up, orm_gt("score", orm_double(0))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_double_eq(score_of(a), 10);
    ck_assert_double_eq(score_of(b), 10);
    /* Raw SQL, quoted and schema-less; then WITH ... UPDATE. */
    ck_assert_ok(orm_raw_exec(it_s, NULL, "update \"users\" set score = 11", NULL, 0, NULL));
    ck_assert_double_eq(score_of(a), 11);
    ck_assert_double_eq(score_of(b), 11);
    ck_assert_ok(orm_raw_exec(it_s, NULL,
                              "WITH t AS (SELECT id FROM users WHERE id = 1 OR 1 = 1) "
                              "UPDATE users SET score = 12 WHERE id IN (SELECT id FROM t)", NULL, 0, NULL));
    ck_assert_double_eq(score_of(a), 12);
    /* A raw write of another table leaves users cached: the hit serves the old score after
     * a change made elsewhere (proof it stayed cached). */
    score_of(a);
    set_elsewhere(a, 13);
    ck_assert_ok(orm_raw_exec(it_s, NULL, "DELETE FROM posts WHERE views < 0", NULL, 0, NULL));
    ck_assert_double_eq(score_of(a), 12);
    /* A script whose table cannot be told drops every model. */
    ck_assert_ok(orm_exec_sql(it_s, NULL, "SELECT 1; SELECT 2"));
    ck_assert_double_eq(score_of(a), 12); /* harmless: still cached */
    const char *unknown = it_is_postgres() ? "DO $$ BEGIN PERFORM 1; END $$" : "PRAGMA user_version = 3";
    ck_assert_ok(orm_exec_sql(it_s, NULL, unknown));
    ck_assert_double_eq(score_of(a), 13);
    /* The public drops, for writes made elsewhere. */
    set_elsewhere(a, 14);
    ck_assert_double_eq(score_of(a), 13);
    orm_value k = orm_int(a);
    ck_assert_ok(orm_row_cache_drop_row(rc, &it_user_model, &k));
    ck_assert_double_eq(score_of(a), 14);
    set_elsewhere(a, 15);
    set_elsewhere(b, 15);
    ck_assert_ok(orm_row_cache_drop_model(rc, &it_user_model));
    ck_assert_double_eq(score_of(a), 15);
    ck_assert_double_eq(score_of(b), 15);
    set_elsewhere(a, 16);
    ck_assert_ok(orm_row_cache_drop_all(rc));
    ck_assert_double_eq(score_of(a), 16);
    ck_assert_orm(orm_row_cache_drop_model(rc, &it_post_model), ORM_EINVAL);
    ck_assert_orm(orm_row_cache_drop_row(rc, &it_user_model, NULL), ORM_EINVAL);
}
END_TEST

/* Hits of users a, b, c since the counter h0: reads each once and returns the hits gained. */
static uint64_t hits_reading(int64_t a, int64_t b, int64_t c)
{
    uint64_t h0 = stats(&it_user_model).hits;
    score_of(a);
    score_of(b);
    score_of(c);
    return stats(&it_user_model).hits - h0;
}

/* Builder writes whose WHERE pins one primary key (orm_update_from, orm_delete_by_key, a
 * hand-written "id = ? AND ...", orm_update_fields; composite keys too) drop that key alone:
 * the other keys stay cached (hits), the written one is read again from the database. A SET
 * of the key column, or a WHERE missing a key column, still drops the whole model. */
START_TEST(test_builder_writes_by_key_drop_one_key)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2), c = add_user("cy", 3);
    hits_reading(a, b, c);
    ck_assert_uint_eq(hits_reading(a, b, c), 3); /* all cached */
    /* A hand-written WHERE id = a (and another condition). */
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(20)));
    ck_assert_ok(orm_update_where(up, orm_eq("id", orm_int(a))));
    ck_assert_ok(orm_update_where(up, orm_gt("score", orm_double(0))));
    int64_t n = 0;
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 1);
    uint64_t m0 = stats(&it_user_model).misses;
    ck_assert_uint_eq(hits_reading(a, b, c), 2);      /* b and c stayed */
    ck_assert_uint_eq(stats(&it_user_model).misses, m0 + 1);
    ck_assert_double_eq(score_of(a), 20);             /* a came from the database */
    /* orm_update_from. */
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value ka = orm_int(a);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &u, &ka));
    u.score = 21;
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_from(up, &u, NULL, 0));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_uint_eq(hits_reading(a, b, c), 2);
    ck_assert_double_eq(score_of(a), 21);
    /* orm_update_fields. */
    u.score = 22;
    ck_assert_ok(orm_update_fields(it_s, NULL, &it_user_model, &u, (const size_t[]){ 4 }, 1));
    ck_assert_uint_eq(hits_reading(a, b, c), 2);
    ck_assert_double_eq(score_of(a), 22);
    /* Inside a transaction: the one key is staged, and dropped at commit. */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    up = orm_update_new(orm_tx_session(tx), &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(23)));
    ck_assert_ok(orm_update_where(up, orm_eq("users.id", orm_int(a))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(hits_reading(a, b, c), 2);
    ck_assert_double_eq(score_of(a), 23);
    /* orm_delete_by_key. */
    orm_delete *del = orm_delete_new(it_s, &it_user_model);
    ck_assert_ok(orm_delete_by_key(del, &u));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 1);
    orm_model_clear(&it_user_model, &u);
    uint64_t h0 = stats(&it_user_model).hits;
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &u, &ka), ORM_ENOTFOUND);
    score_of(b);
    score_of(c);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0 + 2);
    /* A SET of the key column moves the row: the whole model goes. */
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "id", orm_int(c + 100)));
    ck_assert_ok(orm_update_where(up, orm_eq("id", orm_int(c))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    h0 = stats(&it_user_model).hits;
    score_of(b);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0); /* b was dropped too */
    ck_assert_double_eq(score_of(c + 100), 3);
    /* A range holding one key is not "key = value": the whole model goes. */
    ck_assert_double_eq(score_of(b), 2); /* cached, with c + 100 */
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(4)));
    ck_assert_ok(orm_update_where(up, orm_and(orm_ge("id", orm_int(b)), orm_le("id", orm_int(b)))));
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 1);
    h0 = stats(&it_user_model).hits;
    ck_assert_double_eq(score_of(c + 100), 3);
    ck_assert_double_eq(score_of(b), 4);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0); /* both read again */
    /* Composite keys: both key columns pin one row; one of them alone does not. */
    it_membership m1 = { 1, b, "owner" }, m2 = { 2, b, "member" };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m2));
    orm_value k1[2] = { orm_int(1), orm_int(b) }, k2[2] = { orm_int(2), orm_int(b) };
    it_membership g;
    for (int i = 0; i < 2; i++) {
        ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &g, k1));
        orm_model_clear(&it_membership_model, &g);
        ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &g, k2));
        orm_model_clear(&it_membership_model, &g);
    }
    h0 = stats(&it_membership_model).hits;
    up = orm_update_new(it_s, &it_membership_model);
    ck_assert_ok(orm_update_set(up, "role", orm_text("admin")));
    ck_assert_ok(orm_update_where(up, orm_and(orm_eq("user_id", orm_int(b)), orm_eq("org_id", orm_int(1)))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &g, k2));
    orm_model_clear(&it_membership_model, &g);
    ck_assert_uint_eq(stats(&it_membership_model).hits, h0 + 1); /* (2, b) stayed */
    ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &g, k1));
    ck_assert_str_eq(g.role, "admin");                          /* (1, b) re-read */
    ck_assert_uint_eq(stats(&it_membership_model).hits, h0 + 1);
    orm_model_clear(&it_membership_model, &g);
    del = orm_delete_new(it_s, &it_membership_model);
    ck_assert_ok(orm_delete_by_key(del, &m1));
    ck_assert_ok(orm_delete_exec(del, NULL, NULL));
    orm_delete_free(del);
    ck_assert_orm(orm_get(it_s, NULL, &it_membership_model, &g, k1), ORM_ENOTFOUND);
    ck_assert_ok(orm_get(it_s, NULL, &it_membership_model, &g, k2));
    orm_model_clear(&it_membership_model, &g);
    ck_assert_uint_eq(stats(&it_membership_model).hits, h0 + 2);
    /* WHERE org_id = 2 alone is not one key: the model goes. */
    del = orm_delete_new(it_s, &it_membership_model);
    ck_assert_ok(orm_delete_where(del, orm_eq("org_id", orm_int(2))));
    ck_assert_ok(orm_delete_exec(del, NULL, NULL));
    orm_delete_free(del);
    ck_assert_orm(orm_get(it_s, NULL, &it_membership_model, &g, k2), ORM_ENOTFOUND);
}
END_TEST

START_TEST(test_read_only_refuses_writes)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_ONLY;
    rc_open_with(NULL, &mo);
    orm_value a[1] = { orm_text("ada") };
    ck_assert_ok(orm_raw_exec(it_s, NULL, it_is_postgres() ? "INSERT INTO users (name, score, active) VALUES ($1, 1, TRUE)"
                                                           : "INSERT INTO users (name, score, active) VALUES (?, 1, TRUE)",
                              a, 1, NULL));
    int64_t id = 0;
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_list l = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &l));
    ck_assert_uint_eq(l.count, 1);
    id = ((it_user *)l.items)[0].id;
    orm_list_clear(&l);
    orm_select_free(q);
    ck_assert_double_eq(score_of(id), 1);
    it_user u = it_user_make("bob", NULL, 1, true, 1, true);
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &u), ORM_EINVAL);
    ck_assert(it_msg_has("read-only"));
    u.id = id;
    ck_assert_orm(orm_update_one(it_s, NULL, &it_user_model, &u), ORM_EINVAL);
    ck_assert_orm(orm_delete_one(it_s, NULL, &it_user_model, &u), ORM_EINVAL);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
}
END_TEST

START_TEST(test_get_many_order_duplicates_not_found)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2), c = add_user("cy", 3);
    score_of(b); /* b cached */
    orm_value keys[5] = { orm_int(c), orm_int(a + 1000), orm_int(b), orm_int(a), orm_int(c) };
    it_user out[5];
    bool found[5];
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, out, found, keys, 5));
    ck_assert(found[0] && !found[1] && found[2] && found[3] && found[4]);
    ck_assert_str_eq(out[0].name, "cy");
    ck_assert_ptr_null(out[1].name);
    ck_assert_str_eq(out[2].name, "bob");
    ck_assert_str_eq(out[3].name, "ada");
    ck_assert_str_eq(out[4].name, "cy");
    ck_assert_ptr_ne(out[0].name, out[4].name);
    for (int i = 0; i < 5; i++)
        orm_model_clear(&it_user_model, &out[i]);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.hits, 1); /* b */
    /* Now all of them are cached (but the not-found one: negative caching is off). */
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, out, found, keys, 5));
    ck_assert_uint_eq(stats(&it_user_model).hits, 1 + 4);
    for (int i = 0; i < 5; i++)
        orm_model_clear(&it_user_model, &out[i]);
    /* Composite keys, and many keys (chunks). */
    it_membership m1 = { 1, a, "owner" }, m2 = { 2, a, "member" };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m1));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &m2));
    orm_value mk[6] = { orm_int(2), orm_int(a), orm_int(9), orm_int(a), orm_int(1), orm_int(a) };
    it_membership mo[3];
    bool mf[3];
    ck_assert_ok(orm_get_many(it_s, NULL, &it_membership_model, mo, mf, mk, 3));
    ck_assert(mf[0] && !mf[1] && mf[2]);
    ck_assert_str_eq(mo[0].role, "member");
    ck_assert_str_eq(mo[2].role, "owner");
    for (int i = 0; i < 3; i++)
        orm_model_clear(&it_membership_model, &mo[i]);
    size_t n = 1200;
    orm_value *many = calloc(n, sizeof *many);
    it_user *mout = calloc(n, sizeof *mout);
    bool *mfound = calloc(n, sizeof *mfound);
    for (size_t i = 0; i < n; i++)
        many[i] = orm_int(i % 3 == 0 ? a : (int64_t)(100000 + i));
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, mout, mfound, many, n));
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(mfound[i], i % 3 == 0);
        if (i % 3 == 0)
            ck_assert_str_eq(mout[i].name, "ada");
        orm_model_clear(&it_user_model, &mout[i]);
    }
    free(many);
    free(mout);
    free(mfound);
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, NULL, NULL, NULL, 0));
    ck_assert_orm(orm_get_many(it_s, NULL, &it_user_model, NULL, found, keys, 2), ORM_EINVAL);
}
END_TEST

START_TEST(test_get_many_without_a_cache)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    orm_value keys[3] = { orm_int(b), orm_int(-1), orm_int(a) };
    it_user out[3];
    bool found[3];
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, out, found, keys, 3));
    ck_assert(found[0] && !found[1] && found[2]);
    ck_assert_str_eq(out[0].name, "bob");
    ck_assert_str_eq(out[2].name, "ada");
    for (int i = 0; i < 3; i++)
        orm_model_clear(&it_user_model, &out[i]);
}
END_TEST

/* ---- transactions ---- */

START_TEST(test_tx_commit_applies_rollback_discards)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    score_of(a);
    score_of(b);
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value ka = orm_int(a);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &ka));
    u.score = 100;
    ck_assert_ok(orm_update_one(orm_db_session(it_db), ctx, &it_user_model, &u)); /* joins via ctx */
    /* The tx reads its own write from the database, never from the cache. */
    uint64_t hits = stats(&it_user_model).hits;
    ck_assert_double_eq(score_via(orm_tx_session(tx), NULL, a), 100);
    ck_assert_uint_eq(stats(&it_user_model).hits, hits);
    /* A key it did not write may come from the cache. */
    ck_assert_double_eq(score_via(orm_tx_session(tx), NULL, b), 2);
    ck_assert_uint_eq(stats(&it_user_model).hits, hits + 1);
    uint64_t inv = stats(&it_user_model).invalidations;
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).invalidations, inv + 1); /* applied at commit */
    ck_assert_double_eq(score_of(a), 100);

    /* Rollback: the staged drop is discarded, the cached row (still the database's) stays. */
    score_of(a);
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    u.score = 200;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    inv = stats(&it_user_model).invalidations;
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).invalidations, inv);
    hits = stats(&it_user_model).hits;
    ck_assert_double_eq(score_of(a), 100);
    ck_assert_uint_eq(stats(&it_user_model).hits, hits + 1);
    orm_model_clear(&it_user_model, &u);
    orm_ctx_free(ctx);
}
END_TEST

START_TEST(test_tx_savepoints_and_model_writes)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *tx, *sp;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    it_user ua, ub;
    orm_value ka = orm_int(a), kb = orm_int(b);
    memset(&ua, 0, sizeof ua);
    memset(&ub, 0, sizeof ub);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &ua, &ka));
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &ub, &kb));
    /* Reads in a transaction never fill the cache. */
    ck_assert_uint_eq(stats(&it_user_model).loads, 0);
    ua.score = 10;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &ua));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL)); /* savepoint */
    ub.score = 20;
    ck_assert_ok(orm_update_one(orm_tx_session(sp), NULL, &it_user_model, &ub));
    ck_assert_double_eq(score_via(orm_tx_session(sp), NULL, b), 20);
    ck_assert_ok(orm_tx_rollback(sp)); /* drops only b's staged drop */
    orm_tx_free(sp);
    ck_assert_double_eq(score_via(orm_tx_session(tx), NULL, b), 2);
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    orm_update *up = orm_update_new(orm_tx_session(sp), &it_user_model);
    ck_assert_ok(orm_update_set(up, "age", orm_int(99)));
    ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("nobody"))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_ok(orm_tx_commit(sp)); /* released: the model drop joins the outer tx */
    orm_tx_free(sp);
    /* The model was written by the tx: every read of it goes to the database now. */
    uint64_t hits = stats(&it_user_model).hits;
    score_via(orm_tx_session(tx), NULL, b);
    ck_assert_uint_eq(stats(&it_user_model).hits, hits);
    uint64_t inv = stats(&it_user_model).invalidations;
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    /* One key (a) and one model drop; b's was rolled back with its savepoint. */
    ck_assert_uint_eq(stats(&it_user_model).invalidations, inv + 2);
    ck_assert_double_eq(score_of(a), 10);
    ck_assert_double_eq(score_of(b), 2);
    /* A model drop staged in a savepoint does not cover a write through the outer
     * transaction's session (staged at its depth: it outlives the savepoint's rollback,
     * which undoes the write too, since the savepoint was open on the connection). */
    score_of(b); /* cached */
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    up = orm_update_new(orm_tx_session(sp), &it_user_model);
    ck_assert_ok(orm_update_set(up, "age", orm_int(98)));
    ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("nobody"))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ub.score = 30;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &ub)); /* outer */
    ck_assert_ok(orm_tx_rollback(sp));
    orm_tx_free(sp);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(b), db_score_now(b));
    ck_assert_double_eq(score_of(b), 2);
    /* And a model drop staged first covers the writes after it in the same transaction. */
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    up = orm_update_new(orm_tx_session(tx), &it_user_model);
    ck_assert_ok(orm_update_set(up, "age", orm_int(97)));
    ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("nobody"))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ub.score = 31;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &ub));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(b), 31);
    orm_model_clear(&it_user_model, &ua);
    orm_model_clear(&it_user_model, &ub);
    orm_ctx_free(ctx);
}
END_TEST

START_TEST(test_tx_isolation_bypasses_and_failed_commit_drops)
{
    rc_open();
    int64_t a = add_user("ada", 1);
    score_of(a); /* cached: 1 */
    set_elsewhere(a, 2);
    orm_tx_options o = ORM_TX_OPTIONS_INIT;
    o.isolation = ORM_ISOLATION_REPEATABLE_READ;
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, &o));
    ck_assert_double_eq(score_via(orm_tx_session(tx), NULL, a), 2); /* the database's */
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(a), 1); /* the cache was not filled by that read */
    ck_assert_ok(orm_row_cache_drop_row(rc, &it_user_model, &(orm_value){ .type = ORM_VALUE_INT, .u.i = a }));
    ck_assert_double_eq(score_of(a), 2);
    /* A commit that fails (a cursor is still open: ORM_EBUSY, the transaction stays open),
     * then a rollback by free: the staged drop is never applied for a write the database
     * does not have, and the cached row, the database's, keeps answering. */
    ck_assert_double_eq(score_of(a), 2); /* cached */
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(a);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
    u.score = 3;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    orm_rows *cur;
    ck_assert_ok(orm_raw_rows(orm_tx_session(tx), NULL, "SELECT id FROM users", NULL, 0, &cur));
    uint64_t inv = stats(&it_user_model).invalidations;
    ck_assert_orm(orm_tx_commit(tx), ORM_EBUSY);
    ck_assert(orm_tx_is_open(tx));
    ck_assert_uint_eq(stats(&it_user_model).invalidations, inv); /* nothing applied */
    orm_rows_free(cur);
    orm_tx_free(tx); /* rolled back */
    ck_assert_uint_eq(stats(&it_user_model).invalidations, inv); /* the staged drop discarded */
    uint64_t h0 = stats(&it_user_model).hits;
    ck_assert_double_eq(score_of(a), 2);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0 + 1);
    ck_assert_double_eq(db_score_now(a), 2);
    orm_model_clear(&it_user_model, &u);
}
END_TEST

/* An outer layer that lets COMMIT run and then reports the connection lost: the outcome the
 * caller sees is a failure, while the database did commit (what a dropped connection during
 * COMMIT looks like). */
static int lose_commit;

static int lose_commit_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    int r = orm_stmt_next(st);
    if (st->kind == ORM_STMT_COMMIT && lose_commit && r == ORM_OK) {
        lose_commit = 0;
        return ORM_ECONN;
    }
    return r;
}

START_TEST(test_commit_with_unknown_outcome_drops_the_keys)
{
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.name = "lose_commit";
    m.fn = lose_commit_fn;
    rc_open_with(&m, NULL);
    int64_t a = add_user("ada", 1);
    ck_assert_double_eq(score_of(a), 1); /* cached */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(a);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
    u.score = 5;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    lose_commit = 1;
    ck_assert_int_ne(orm_tx_commit(tx), ORM_OK);
    orm_tx_free(tx);
    orm_model_clear(&it_user_model, &u);
    /* The database has 5: the cache must not keep serving 1. */
    ck_assert_double_eq(db_score_now(a), 5);
    ck_assert_double_eq(score_of(a), 5);
}
END_TEST

/* ---- the race: a slow load overlapping a write ---- */

static int64_t race_id;
static int race_armed; /* 1: the write drops the row; 2: the whole model */

/* Inside the row cache: after the database answered the first armed GET (the load read the
 * old row), another "thread" writes and drops the key before the load installs. */
static int race_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    int r = orm_stmt_next(st);
    if (race_armed && st->intent && st->intent->op == ORM_STMT_OP_GET) {
        int how = race_armed;
        race_armed = 0;
        set_elsewhere(race_id, 42);
        orm_value k = orm_int(race_id);
        if (how == 1)
            ck_assert_ok(orm_row_cache_drop_row(rc, &it_user_model, &k));
        else
            ck_assert_ok(orm_row_cache_drop_model(rc, &it_user_model));
    }
    return r;
}

START_TEST(test_slow_load_never_installs_a_stale_row)
{
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.name = "race";
    m.fn = race_fn;
    rc_open_mw(NULL, &m, NULL);
    race_id = add_user("ada", 1);
    race_armed = 1;
    ck_assert_double_eq(score_of(race_id), 1); /* read before the write: its answer */
    ck_assert_double_eq(score_of(race_id), 42); /* not the stale row from the cache */
    /* The same with a whole-model drop racing the load. */
    set_elsewhere(race_id, 1);
    ck_assert_ok(orm_row_cache_drop_all(rc));
    race_armed = 2;
    ck_assert_double_eq(score_of(race_id), 1);
    ck_assert_double_eq(score_of(race_id), 42);
}
END_TEST

START_TEST(test_attach_errors)
{
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c, *c2;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    ck_assert_ok(orm_cache_local_new(&c2, NULL));
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, NULL));
    orm_row_cache *again = NULL;
    ck_assert_orm(orm_row_cache_attach(&again, it_db, c2, NULL), ORM_EINVAL); /* c2 closed */
    ck_assert_ptr_null(again);
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.version = 99;
    ck_assert_orm(orm_row_cache_model(rc, &it_user_model, &mo), ORM_EINVAL);
    mo = (orm_row_cache_model_options)ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.jitter = 2;
    ck_assert_orm(orm_row_cache_model(rc, &it_user_model, &mo), ORM_EINVAL);
    ck_assert_ok(orm_row_cache_model(rc, &it_post_model, NULL)); /* OFF: no layer yet */
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s)); /* the first statement */
    mo = (orm_row_cache_model_options)ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_orm(orm_row_cache_model(rc, &it_user_model, &mo), ORM_EINVAL); /* too late */
    orm_cache *c3;
    ck_assert_ok(orm_cache_local_new(&c3, NULL));
    orm_db *d2;
    ck_assert_ok(orm_db_open(&d2, backend_dsn(), NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(d2), NULL, "SELECT 1"));
    ck_assert_orm(orm_row_cache_attach(&again, d2, c3, NULL), ORM_EINVAL); /* d2 ran a statement */
    orm_db_close(d2);
    ck_assert_orm(orm_row_cache_attach(&again, NULL, NULL, NULL), ORM_EINVAL);
}
END_TEST

/* ---- write-back ---- */

typedef struct flush_log {
    int calls;
    size_t keys;
    char last_key[64];
    int error;
} flush_log;

static flush_log flog;

static void on_flush_error(const orm_model *model, const char *const *keys, size_t n, int error,
                           const char *message, void *ud)
{
    (void)model;
    (void)message;
    (void)ud;
    flog.calls++;
    flog.keys += n;
    flog.error = error;
    if (n)
        snprintf(flog.last_key, sizeof flog.last_key, "%s", keys[n - 1]);
}

/* Open with users in write-back mode. */
static void wb_open(size_t max_dirty, int64_t interval_ms)
{
    memset(&flog, 0, sizeof flog);
    ck_assert_ok(orm_db_open(&it_db, backend_dsn(), NULL));
    it_s = orm_db_session(it_db);
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    orm_row_cache_options o = ORM_ROW_CACHE_OPTIONS_INIT;
    o.max_dirty = max_dirty;
    o.flush_interval_ms = interval_ms;
    o.flush_batch = 2; /* several batches */
    o.on_flush_error = on_flush_error;
    ck_assert_ok(orm_row_cache_attach(&rc, it_db, c, &o));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_WRITE_BACK;
    ck_assert_ok(orm_row_cache_model(rc, &it_user_model, &mo));
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
    ck_assert_ok(orm_db_open(&other, backend_dsn(), NULL));
    ck_assert_ok(it_models_register(other));
}

/* The score the database holds (through the other db: no cache). */
static double db_score(int64_t id)
{
    return score_via(orm_db_session(other), NULL, id);
}

static void save_score(int64_t id, double v)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &u, &k));
    u.score = v;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
}

START_TEST(test_write_back_saves_and_flushes)
{
    wb_open(0, 0);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2), c = add_user("cy", 3);
    save_score(a, 10);
    save_score(b, 20);
    ck_assert_double_eq(score_of(a), 10);  /* the saved row */
    ck_assert_double_eq(db_score(a), 1);   /* not written yet */
    it_user del;
    memset(&del, 0, sizeof del);
    del.id = c;
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &del));
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value kc = orm_int(c);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &kc), ORM_ENOTFOUND);
    ck_assert_double_eq(db_score(c), 3);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.dirty, 3);
    ck_assert_ok(orm_row_cache_flush(rc));
    s = stats(&it_user_model);
    ck_assert_uint_eq(s.dirty, 0);
    ck_assert_uint_ge(s.flushes, 2); /* batches of 2 */
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(db_score(b), 20);
    ck_assert_orm(orm_get(orm_db_session(other), NULL, &it_user_model, &g, &kc), ORM_ENOTFOUND);
    ck_assert_double_eq(score_of(a), 10);
    /* A query on a model with dirty rows flushes it first. */
    save_score(b, 21);
    ck_assert_int_eq(it_count(&it_user_model, orm_eq("score", orm_double(21))), 1);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    save_score(b, 22);
    orm_value arg = orm_double(22);
    ck_assert_ok(orm_raw_exec(it_s, NULL, it_is_postgres() ? "UPDATE posts SET views = 1 WHERE views = $1"
                                                           : "UPDATE posts SET views = 1 WHERE views = ?",
                              &arg, 1, NULL));
    ck_assert_double_eq(db_score(b), 22);
    /* Close writes what is left. */
    save_score(a, 11);
    orm_db_close(it_db);
    it_db = NULL;
    ck_assert_double_eq(db_score(a), 11);
    ck_assert_int_eq(flog.calls, 0);
}
END_TEST

/* Insert user id (set: a key known before the insert) with score; returns the result. */
static int insert_with_id(int64_t id, const char *name, double score)
{
    it_user u = it_user_make(name, NULL, 30, true, score, true);
    u.id = id;
    return orm_insert_one(it_s, NULL, &it_user_model, &u);
}

/* orm_insert_one with a key on a write-back model is a save; a duplicate key (a saved row, a
 * cached row, a row only the database has) is refused with ORM_ECONSTRAINT at once, as the
 * database would refuse it, and changes nothing; an insert after a saved delete replaces it;
 * flushes and close write the inserted rows. An insert without a key still reaches the
 * database (it assigns the key). */
START_TEST(test_write_back_insert_one_with_key)
{
    wb_open(0, 0);
    int64_t a = add_user("ada", 1);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0); /* no key: written now */
    ck_assert_double_eq(db_score(a), 1);
    int64_t e = a + 10;
    ck_assert_ok(insert_with_id(e, "eve", 7));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value ke = orm_int(e), ka = orm_int(a);
    ck_assert_orm(orm_get(orm_db_session(other), NULL, &it_user_model, &g, &ke), ORM_ENOTFOUND);
    ck_assert_double_eq(score_of(e), 7); /* the saved row */
    /* Duplicates: of the saved row; of a row only the database has; of a cached row. */
    ck_assert_orm(insert_with_id(e, "eve2", 8), ORM_ECONSTRAINT);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "duplicate key"));
    ck_assert_double_eq(score_of(e), 7);
    ck_assert_ok(orm_row_cache_drop_row(rc, &it_user_model, &ka));
    ck_assert_orm(insert_with_id(a, "ada2", 9), ORM_ECONSTRAINT);
    ck_assert_double_eq(score_of(a), 1);             /* now cached */
    ck_assert_orm(insert_with_id(a, "ada3", 9), ORM_ECONSTRAINT);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);
    ck_assert_double_eq(db_score(a), 1);
    /* A saved delete, then an insert of that key: the insert replaces the delete. */
    it_user del;
    memset(&del, 0, sizeof del);
    del.id = a;
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &del));
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &ka), ORM_ENOTFOUND);
    ck_assert_ok(insert_with_id(a, "ada4", 5));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);
    ck_assert_double_eq(score_of(a), 5);
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(e), 7);
    ck_assert_double_eq(db_score(a), 5);
    ck_assert_ok(orm_get(orm_db_session(other), NULL, &it_user_model, &g, &ka));
    ck_assert_str_eq(g.name, "ada4");
    orm_model_clear(&it_user_model, &g);
    /* Written now, the row is a duplicate for the database too. */
    ck_assert_orm(insert_with_id(e, "eve3", 1), ORM_ECONSTRAINT);
    /* Close writes an inserted row. */
    ck_assert_ok(insert_with_id(a + 20, "zed", 4));
    orm_db_close(it_db);
    it_db = NULL;
    ck_assert_double_eq(db_score(a + 20), 4);
    ck_assert_int_eq(flog.calls, 0);
}
END_TEST

/* Users with this score, counted by a query on session s (a select builder). */
static int64_t count_score_in(orm_session *s, double score)
{
    orm_select *q = orm_select_new(s, &it_user_model);
    ck_assert_ptr_nonnull(q);
    orm_select_where(q, orm_eq("score", orm_double(score)));
    int64_t n = -1;
    ck_assert_ok(orm_select_count(q, NULL, &n));
    orm_select_free(q);
    return n;
}

/* A query (or a write that reaches the database) inside a transaction on a write-back model
 * with dirty rows writes them first on the transaction's own connection, as part of it:
 * after the transaction took its write lock (SQLite) too; nothing is committed on its own
 * (another connection sees the old rows until COMMIT); an autocommit flush meanwhile leaves
 * them alone; COMMIT makes them clean; ROLLBACK, or rolling back the savepoint they were
 * written in, leaves them dirty, and they are written later. */
START_TEST(test_write_back_inside_a_transaction)
{
    wb_open(0, 0);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    save_score(a, 10);
    save_score(b, 20);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    /* The transaction writes first (SQLite: it holds the write lock from here). */
    it_membership mb = { 1, a, "owner" };
    ck_assert_ok(orm_insert_one(ts, NULL, &it_membership_model, &mb));
    ck_assert_int_eq(count_score_in(ts, 10), 1);       /* the saved row, in the transaction */
    ck_assert_int_eq(count_score_in(ts, 20), 1);
    ck_assert_double_eq(db_score(a), 1);                /* not committed on its own */
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);  /* until the transaction commits */
    ck_assert_ok(orm_row_cache_flush(rc));              /* leaves them to the transaction */
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);
    /* A write of the transaction's own on a dirty key; it reads its write back. */
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value kb = orm_int(b);
    ck_assert_ok(orm_get(ts, NULL, &it_user_model, &u, &kb));
    ck_assert_double_eq(u.score, 20);
    u.score = 25;
    ck_assert_ok(orm_update_one(ts, NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
    ck_assert_double_eq(score_via(ts, NULL, b), 25);
    ck_assert_double_eq(score_of(b), 20);               /* others: the saved row */
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(db_score(b), 25);
    ck_assert_double_eq(score_of(b), 25);

    /* Rollback: the rows stay dirty and are written later. */
    save_score(a, 11);
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(tx), 11), 1);
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(score_of(a), 11);
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 11);

    /* A savepoint rolled back undoes the flush made in it: the enclosing transaction writes
     * the rows again when it next needs them, or leaves them dirty. */
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    save_score(a, 12);
    orm_tx *sp;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(sp), 12), 1);
    ck_assert_ok(orm_tx_rollback(sp));
    orm_tx_free(sp);
    ck_assert_int_eq(count_score_in(orm_tx_session(tx), 12), 1);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 12);
    save_score(a, 13);
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(sp), 13), 1);
    ck_assert_ok(orm_tx_rollback(sp));
    orm_tx_free(sp);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);   /* the flush was undone */
    ck_assert_double_eq(db_score(a), 12);
    /* A released savepoint's flush commits with its transaction. */
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(sp), 13), 1);
    ck_assert_ok(orm_tx_commit(sp));
    orm_tx_free(sp);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 13);
    /* While a transaction holds rows it wrote, reads outside it (get, get_many) still return
     * the saved rows, and an autocommit flush leaves them to it. */
    save_score(a, 15);
    save_score(b, 16);
    orm_tx *t2;
    ck_assert_ok(orm_tx_begin(&t2, it_db, NULL, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(t2), 15), 1);
    orm_value kab[2] = { orm_int(a), orm_int(b) };
    it_user two[2];
    bool f2[2];
    ck_assert_ok(orm_get_many(it_s, NULL, &it_user_model, two, f2, kab, 2));
    ck_assert(f2[0] && f2[1]);
    ck_assert_double_eq(two[0].score, 15);
    ck_assert_double_eq(two[1].score, 16);
    orm_model_clear(&it_user_model, &two[0]);
    orm_model_clear(&it_user_model, &two[1]);
    ck_assert_double_eq(score_of(a), 15);
    ck_assert_ok(orm_tx_commit(t2));
    orm_tx_free(t2);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 15);
    ck_assert_double_eq(db_score(b), 16);
    save_score(a, 13); /* as before, for what follows */
    ck_assert_ok(orm_row_cache_flush(rc));
    /* Rows written through the outer session while a savepoint was open are undone by that
     * savepoint's rollback: they stay dirty after the commit. */
    save_score(a, 14);
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    ck_assert_int_eq(count_score_in(orm_tx_session(tx), 14), 1);
    ck_assert_ok(orm_tx_rollback(sp));
    orm_tx_free(sp);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);
    ck_assert_double_eq(db_score(a), 13);
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_double_eq(db_score(a), 14);
    orm_ctx_free(ctx);
    ck_assert_int_eq(flog.calls, 0);
}
END_TEST

/* A transaction that began reading before another writer flushed a saved row still reads the
 * saved row by key: SQLite reads one snapshot from a transaction's first read (and PostgreSQL
 * at REPEATABLE READ), so the database cannot give it; the buffer keeps the row for the
 * transactions open when it was written, and forgets it once they ended. */
START_TEST(test_write_back_row_flushed_after_a_transaction_began)
{
    wb_open(0, 0);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    save_score(a, 10);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    ck_assert_double_eq(score_via(ts, NULL, b), 2); /* a read: SQLite's snapshot starts here */
    ck_assert_ok(orm_row_cache_flush(rc));          /* another writer commits the saved row */
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(score_via(ts, NULL, a), 10); /* the saved row, not the snapshot's 1 */
    orm_value ka[2] = { orm_int(a), orm_int(b) };
    it_user two[2];
    bool f2[2];
    ck_assert_ok(orm_get_many(ts, NULL, &it_user_model, two, f2, ka, 2));
    ck_assert(f2[0] && f2[1]);
    ck_assert_double_eq(two[0].score, 10);
    ck_assert_double_eq(two[1].score, 2);
    orm_model_clear(&it_user_model, &two[0]);
    orm_model_clear(&it_user_model, &two[1]);
    /* A saved delete flushed meanwhile: not found, in the transaction too. */
    orm_tx *t2;
    ck_assert_ok(orm_tx_begin(&t2, it_db, NULL, NULL));
    ck_assert_double_eq(score_via(orm_tx_session(t2), NULL, a), 10);
    it_user d;
    memset(&d, 0, sizeof d);
    d.id = b;
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &d));
    ck_assert_ok(orm_row_cache_flush(rc));
    orm_value kb = orm_int(b);
    it_user u;
    memset(&u, 0, sizeof u);
    ck_assert_int_eq(orm_get(orm_tx_session(t2), NULL, &it_user_model, &u, &kb), ORM_ENOTFOUND);
    /* A row kept for older transactions that is written again is a saved row again. */
    save_score(a, 11);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 1);
    ck_assert_double_eq(score_via(ts, NULL, a), 11);
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_double_eq(score_via(orm_tx_session(t2), NULL, a), 11);
    ck_assert_ok(orm_tx_commit(t2));
    orm_tx_free(t2);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    /* Nothing kept once they ended: the database answers (and it agrees). */
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(score_of(a), 11);
    ck_assert_int_eq(orm_get(it_s, NULL, &it_user_model, &u, &kb), ORM_ENOTFOUND);
    /* A write that drops the key (here raw SQL) makes a kept row stale: the transaction reads
     * the database (PostgreSQL READ COMMITTED: the new row; SQLite: its snapshot's). */
    int64_t c = add_user("cy", 3);
    save_score(a, 20);
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ts = orm_tx_session(tx);
    ck_assert_double_eq(score_via(ts, NULL, c), 3);
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_double_eq(score_via(ts, NULL, a), 20);
    orm_value args[1] = { orm_int(a) };
    ck_assert_ok(orm_raw_exec(it_s, NULL, "UPDATE users SET score = 30 WHERE id = ?", args, 1, NULL));
    int pg = strcmp(orm_dialect_name(orm_db_dialect(it_db)), "postgres") == 0;
    ck_assert_double_eq(score_via(ts, NULL, a), pg ? 30 : 11);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(a), 30);
    ck_assert_int_eq(flog.calls, 0);
}
END_TEST

START_TEST(test_write_back_failed_flush_keeps_rows)
{
    wb_open(0, 0);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    save_score(a, 10);
    save_score(b, 20);
    /* The table goes away for a while: the flush fails, the rows stay dirty and readable. */
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users RENAME TO users_away"));
    ck_assert_int_ne(orm_row_cache_flush(rc), ORM_OK);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.dirty, 2);
    ck_assert_uint_ge(s.flush_failures, 1);
    ck_assert_int_ge(flog.calls, 1);
    ck_assert_double_eq(score_of(a), 10);
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users_away RENAME TO users"));
    ck_assert_ok(orm_row_cache_flush(rc));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(db_score(b), 20);
    /* Close with the database gone: every unwritten row is reported, by key. */
    save_score(a, 30);
    save_score(b, 40);
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users RENAME TO users_away"));
    memset(&flog, 0, sizeof flog);
    orm_db_close(it_db);
    it_db = NULL;
    char ka[32], kb[32];
    snprintf(ka, sizeof ka, "users:%lld", (long long)a);
    snprintf(kb, sizeof kb, "users:%lld", (long long)b);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "2 write-back row(s) could not be written"));
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, ka));
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, kb));
    ck_assert_uint_ge(flog.keys, 2);
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users_away RENAME TO users"));
    ck_assert_double_eq(db_score(a), 10); /* nothing written behind the report */
}
END_TEST

START_TEST(test_write_back_limit_and_period)
{
    wb_open(3, 50);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2), c = add_user("cy", 3);
    save_score(a, 10);
    save_score(b, 20);
    save_score(c, 30); /* the third reaches max_dirty: flushed */
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(c), 30);
    save_score(a, 11); /* the flusher thread writes it within a few periods */
    for (int i = 0; i < 200 && stats(&it_user_model).dirty; i++)
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 0);
    ck_assert_double_eq(db_score(a), 11);
}
END_TEST

/* ---- TTLs, jitter, negative caching ---- */

/* A row expires ttl_ms after its load: until then a write made elsewhere is not seen (the
 * cached row answers), after it the next get is a miss that loads the database's row. */
START_TEST(test_ttl_expires_rows)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.ttl_ms = 1000;
    orm_middleware cm = count_gets_mw();
    rc_open_mw(NULL, &cm, &mo);
    int64_t a = add_user("ada", 1);
    db_gets = 0;
    ck_assert_double_eq(score_of(a), 1); /* miss: loads */
    ck_assert_double_eq(score_of(a), 1); /* hit */
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.misses, 1);
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_int_eq(db_gets, 1);
    set_elsewhere(a, 2);
    sleep_ms(2 * mo.ttl_ms); /* well past the TTL */
    ck_assert_double_eq(score_of(a), 2); /* expired: a miss and a load */
    s = stats(&it_user_model);
    ck_assert_uint_eq(s.misses, 2);
    ck_assert_uint_eq(s.loads, 2);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_int_eq(db_gets, 2);
    ck_assert_double_eq(score_of(a), 2); /* cached again */
    ck_assert_uint_eq(stats(&it_user_model).hits, 2);
    ck_assert_int_eq(db_gets, 2);
}
END_TEST

/* With jitter j, each TTL is ttl * (1 +- j), uniformly: rows loaded together expire spread
 * over [ttl(1-j), ttl(1+j)]. 40 rows with ttl 2 s and jitter 0.5 (1 s to 3 s): in the middle
 * of that window some are still cached and some expired (all on one side: 2^-39 by chance);
 * before its start (when the loads were quick enough to tell) all are cached; past its end
 * every row that was still cached has expired. */
START_TEST(test_ttl_jitter_spreads_expiries)
{
    enum { N = 40 };
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.ttl_ms = 2000;
    mo.jitter = 0.5;
    rc_open_with(NULL, &mo);
    int64_t ids[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        ids[i] = add_user(name, i);
    }
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++)
        ck_assert_double_eq(score_of(ids[i]), i); /* loads */
    int64_t t1 = now_ms();
    ck_assert_uint_eq(stats(&it_user_model).loads, N);
    if (t1 - t0 < 700) { /* well before the earliest expiry (1 s after the first load) */
        uint64_t h0 = stats(&it_user_model).hits;
        for (int i = 0; i < N; i++)
            score_of(ids[i]);
        ck_assert_uint_eq(stats(&it_user_model).hits, h0 + N);
    }
    sleep_ms(t0 + mo.ttl_ms - now_ms()); /* the middle of the window */
    bool alive[N];
    int nalive = 0;
    for (int i = 0; i < N; i++) {
        uint64_t h0 = stats(&it_user_model).hits;
        ck_assert_double_eq(score_of(ids[i]), i);
        alive[i] = stats(&it_user_model).hits == h0 + 1;
        nalive += alive[i];
    }
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.loads, (uint64_t)(N + N - nalive)); /* each expired row loaded again */
    ck_assert_msg(nalive > 0 && nalive < N, "%d of %d rows still cached %lld ms after the loads", nalive, N,
                  (long long)(now_ms() - t0));
    /* Past the window's end (3 s after the last first load) the rows that were still
     * cached have expired: no TTL is longer than ttl * (1 + jitter). */
    sleep_ms(t1 + mo.ttl_ms * 3 / 2 + 300 - now_ms());
    uint64_t h0 = stats(&it_user_model).hits;
    for (int i = 0; i < N; i++)
        if (alive[i])
            ck_assert_double_eq(score_of(ids[i]), i);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0);
}
END_TEST

/* Negative caching: a not-found is cached (the second get of a missing key sends no query),
 * for negative_ttl_ms (rows keep the row TTL), and an insert of that key (by the ORM with the
 * key set, or raw SQL naming the table) makes it found at once. */
START_TEST(test_negative_ttl_and_inserts_of_the_key)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.negative = true;
    mo.ttl_ms = 60000;
    mo.negative_ttl_ms = 1000;
    orm_middleware cm = count_gets_mw();
    rc_open_mw(NULL, &cm, &mo);
    int64_t a = add_user("ada", 1);
    int64_t missing = a + 1000;
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value km = orm_int(missing);
    db_gets = 0;
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km), ORM_ENOTFOUND);
    ck_assert_int_eq(db_gets, 1);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km), ORM_ENOTFOUND);
    ck_assert_int_eq(db_gets, 1); /* answered by the cache */
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.hits, 1);
    ck_assert_uint_eq(s.loads, 1);
    ck_assert_double_eq(score_of(a), 1); /* a row, cached for the row TTL */
    ck_assert_int_eq(db_gets, 2);
    sleep_ms(2 * mo.negative_ttl_ms);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km), ORM_ENOTFOUND);
    ck_assert_int_eq(db_gets, 3); /* the not-found expired: asked again */
    ck_assert_double_eq(score_of(a), 1);
    ck_assert_int_eq(db_gets, 3); /* the row did not */
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km), ORM_ENOTFOUND);
    ck_assert_int_eq(db_gets, 3); /* cached again */
    /* orm_insert_one with the key set: found at once. */
    it_user u = it_user_make("kim", NULL, 3, true, 7, true);
    u.id = missing;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    ck_assert_double_eq(score_of(missing), 7);
    ck_assert_int_eq(db_gets, 4);
    /* A raw INSERT naming the table. */
    int64_t missing2 = a + 2000;
    orm_value km2 = orm_int(missing2);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km2), ORM_ENOTFOUND);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &km2), ORM_ENOTFOUND);
    ck_assert_int_eq(db_gets, 5);
    orm_value args[1] = { orm_int(missing2) };
    ck_assert_ok(orm_raw_exec(it_s, NULL, it_is_postgres() ? "INSERT INTO users (id, name, score, active) VALUES ($1, 'raw', 8, TRUE)"
                                                           : "INSERT INTO users (id, name, score, active) VALUES (?, 'raw', 8, 1)",
                              args, 1, NULL));
    ck_assert_double_eq(score_of(missing2), 8);
}
END_TEST

/* ---- upserts and batch inserts ---- */

/* An upsert (insert builder, ON CONFLICT (id) DO UPDATE) of a cached key: the next get reads
 * the new row; of a key cached as not found: found. A multi-row insert (keys given, and keys
 * the database assigns) drops the not-found answers for its keys; its rows read back right.
 * Also inside a transaction (dropped at commit). */
START_TEST(test_upsert_and_batch_insert_drop)
{
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.negative = true;
    orm_middleware cm = count_gets_mw();
    rc_open_mw(NULL, &cm, &mo);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    ck_assert_double_eq(score_of(a), 1);
    ck_assert_double_eq(score_of(b), 2);
    int64_t up_new = a + 500;
    it_user g;
    memset(&g, 0, sizeof g);
    orm_value kn = orm_int(up_new);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &kn), ORM_ENOTFOUND); /* cached not found */
    const char *conflict[] = { "id" };
    it_user rows[2] = { it_user_make("ada2", NULL, 30, true, 10, true), it_user_make("new", NULL, 31, true, 11, true) };
    rows[0].id = a;
    rows[1].id = up_new;
    orm_insert *ins = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(ins, rows, 2));
    ck_assert_ok(orm_insert_on_conflict(ins, conflict, 1, ORM_CONFLICT_UPDATE, NULL, 0));
    ck_assert_ok(orm_insert_exec(ins, NULL, NULL));
    orm_insert_free(ins);
    ck_assert_double_eq(score_of(a), 10);
    ck_assert_double_eq(score_of(up_new), 11);
    it_user_load(a, &g);
    ck_assert_str_eq(g.name, "ada2");
    orm_model_clear(&it_user_model, &g);
    /* One row, inside a transaction: the drop waits for the commit. */
    ck_assert_double_eq(score_of(b), 2); /* cached */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user ub = it_user_make("bob2", NULL, 30, true, 12, true);
    ub.id = b;
    ins = orm_insert_new(orm_tx_session(tx), &it_user_model);
    ck_assert_ok(orm_insert_add(ins, &ub));
    ck_assert_ok(orm_insert_on_conflict(ins, conflict, 1, ORM_CONFLICT_UPDATE, NULL, 0));
    ck_assert_ok(orm_insert_exec(ins, NULL, NULL));
    orm_insert_free(ins);
    ck_assert_double_eq(score_via(orm_tx_session(tx), NULL, b), 12); /* its own write */
    ck_assert_double_eq(score_of(b), 2);                             /* others: committed row */
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(b), 12);
    ck_assert_double_eq(db_score_now(b), 12);

    /* Batch inserts: keys given (two rows), and keys the database assigns (three rows); the
     * not-found answers cached for all of them go. */
    int64_t given[2] = { a + 600, a + 601 };
    for (int i = 0; i < 2; i++) {
        orm_value k = orm_int(given[i]);
        ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &k), ORM_ENOTFOUND);
    }
    int gets0 = db_gets;
    for (int i = 0; i < 2; i++) {
        orm_value k = orm_int(given[i]);
        ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &k), ORM_ENOTFOUND);
    }
    ck_assert_int_eq(db_gets, gets0); /* cached */
    it_user batch[2] = { it_user_make("g0", NULL, 1, true, 20, true), it_user_make("g1", NULL, 1, true, 21, true) };
    batch[0].id = given[0];
    batch[1].id = given[1];
    ins = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(ins, batch, 2));
    int64_t n = 0;
    ck_assert_ok(orm_insert_exec(ins, NULL, &n));
    orm_insert_free(ins);
    ck_assert_int_eq(n, 2);
    ck_assert_double_eq(score_of(given[0]), 20);
    ck_assert_double_eq(score_of(given[1]), 21);
    /* Keys the database assigns: probe the key the next insert will take (an insert of a
     * throwaway row tells it), cache its not-found and the two after it. */
    int64_t probe = add_user("probe", 0);
    it_user pd;
    memset(&pd, 0, sizeof pd);
    pd.id = probe;
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &pd));
    for (int i = 1; i <= 3; i++) {
        orm_value k = orm_int(probe + i);
        ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &k), ORM_ENOTFOUND);
        ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &g, &k), ORM_ENOTFOUND);
    }
    it_user auto3[3] = { it_user_make("x0", NULL, 1, true, 30, true), it_user_make("x1", NULL, 1, true, 31, true),
                         it_user_make("x2", NULL, 1, true, 32, true) };
    ins = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(ins, auto3, 3));
    ck_assert_ok(orm_insert_exec(ins, NULL, &n));
    orm_insert_free(ins);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(auto3[i].id, probe + 1 + i);
        ck_assert_double_eq(score_of(auto3[i].id), 30 + i);
        ck_assert_double_eq(db_score_now(auto3[i].id), 30 + i);
    }
    /* The rows that were not written stay cached (hits). */
    uint64_t h0 = stats(&it_user_model).hits;
    ck_assert_double_eq(score_of(given[0]), 20);
    ck_assert_uint_eq(stats(&it_user_model).hits, h0 + 1);
}
END_TEST

/* ---- migrations ---- */

/* A migration whose script writes a cached model's table drops its rows: the next get reads
 * the migrated row. In a transaction (the default) and outside one (-- orm:no-transaction). */
START_TEST(test_migrations_drop_cached_rows)
{
    rc_open();
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    ck_assert_double_eq(score_of(a), 1);
    ck_assert_double_eq(score_of(b), 2);
    ck_assert_double_eq(score_of(a), 1); /* cached */
    char up1[128], up2[160];
    snprintf(up1, sizeof up1, "UPDATE users SET score = 50 WHERE id = %lld;\n", (long long)a);
    snprintf(up2, sizeof up2, "-- orm:no-transaction\nUPDATE users SET score = score + 10 WHERE id = %lld;\n",
             (long long)b);
    orm_migration list[2] = { { 1, "bump_ada", up1, NULL }, { 2, "bump_bob", up2, NULL } };
    orm_migrator *mg;
    ck_assert_ok(orm_migrator_open_list(&mg, it_db, list, 2, NULL));
    size_t applied = 0;
    ck_assert_ok(orm_migrate_up(mg, NULL, 1, &applied));
    ck_assert_uint_eq(applied, 1);
    uint64_t m0 = stats(&it_user_model).misses;
    ck_assert_double_eq(score_of(a), 50);
    ck_assert_uint_eq(stats(&it_user_model).misses, m0 + 1);
    ck_assert_double_eq(score_of(b), 2); /* the model went: b is loaded again, unchanged */
    ck_assert_double_eq(score_of(b), 2);
    ck_assert_ok(orm_migrate_up(mg, NULL, 0, &applied));
    ck_assert_uint_eq(applied, 1);
    ck_assert_double_eq(score_of(b), 12);
    ck_assert_double_eq(db_score_now(b), 12);
    orm_migrator_free(mg);
}
END_TEST

/* ---- COMMIT under a deadline or a cancel ---- */

/* A transaction writes a cached key, then commits with a ctx that was cancelled (round 0) or
 * whose deadline passed (round 1). Whatever the commit returns, the cache never holds a row
 * the database does not have, and a commit that failed left nothing applied. */
START_TEST(test_commit_cancelled_or_past_deadline)
{
    rc_open();
    int64_t a = add_user("ada", 1);
    for (int round = 0; round < 2; round++) {
        double before = db_score_now(a);
        ck_assert_double_eq(score_of(a), before); /* cached */
        orm_ctx *ctx;
        if (round == 0)
            ck_assert_ok(orm_ctx_new(&ctx, NULL));
        else
            ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 1500));
        orm_tx *tx;
        ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
        it_user u;
        memset(&u, 0, sizeof u);
        orm_value k = orm_int(a);
        ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
        u.score = 100 + round;
        ck_assert_ok(orm_update_one(orm_db_session(it_db), ctx, &it_user_model, &u)); /* joins via ctx */
        orm_model_clear(&it_user_model, &u);
        if (round == 0) {
            orm_ctx_cancel(ctx);
        } else {
            for (int i = 0; i < 500 && orm_ctx_err(ctx) == ORM_OK; i++)
                sleep_ms(10);
            ck_assert_int_eq(orm_ctx_err(ctx), ORM_ETIMEOUT);
        }
        int r = orm_tx_commit(tx);
        ck_assert_int_ne(r, ORM_OK); /* COMMIT does not start past the deadline or a cancel */
        ck_assert_int_eq(r, round == 0 ? ORM_ECANCELED : ORM_ETIMEOUT);
        orm_tx_free(tx);
        orm_ctx_free(ctx);
        double db = db_score_now(a);
        ck_assert_double_eq(db, before); /* rolled back: not applied */
        ck_assert_double_eq(score_of(a), db);
        ck_assert_double_eq(score_of(a), db); /* cached or not, the database's row */
        /* The db is usable after it: a write and a read back through the cache. */
        set_elsewhere(a, before + 1);
        ck_assert_ok(orm_row_cache_drop_row(rc, &it_user_model, &k));
        it_user w;
        memset(&w, 0, sizeof w);
        ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &w, &k));
        w.score = before + 2;
        ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &w));
        orm_model_clear(&it_user_model, &w);
        ck_assert_double_eq(score_of(a), before + 2);
        ck_assert_double_eq(db_score_now(a), before + 2);
    }
}
END_TEST

/* ---- write-back: the automatic retry ---- */

/* A flush that fails (the table renamed away) is retried by the flusher thread, backing off
 * (100 ms doubling), with no flush call: once the table is back the rows reach the database,
 * the failures were counted, and no row is left dirty. */
START_TEST(test_write_back_automatic_retry)
{
    wb_open(0, 20);
    int64_t a = add_user("ada", 1), b = add_user("bob", 2);
    ck_assert_double_eq(score_of(a), 1); /* cached: the saves below read them from the cache */
    ck_assert_double_eq(score_of(b), 2);
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users RENAME TO users_away"));
    save_score(a, 10);
    save_score(b, 20);
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);
    for (int i = 0; i < 500 && stats(&it_user_model).flush_failures < 2; i++)
        sleep_ms(10);
    ck_assert_uint_ge(stats(&it_user_model).flush_failures, 2); /* retried without a call */
    /* Backing off: without it the 20 ms flusher would fail about 30 times in 600 ms. */
    uint64_t f0 = stats(&it_user_model).flush_failures;
    sleep_ms(600);
    uint64_t f1 = stats(&it_user_model).flush_failures;
    ck_assert_msg(f1 - f0 <= 6, "%llu failed flushes in 600 ms", (unsigned long long)(f1 - f0));
    ck_assert_uint_eq(stats(&it_user_model).dirty, 2);
    ck_assert_int_ge(flog.calls, 2);
    ck_assert_double_eq(score_of(a), 10); /* the saved rows, all along */
    ck_assert_ok(orm_exec_sql(orm_db_session(other), NULL, "ALTER TABLE users_away RENAME TO users"));
    for (int i = 0; i < 800 && stats(&it_user_model).dirty; i++)
        sleep_ms(10);
    orm_row_cache_stats s = stats(&it_user_model);
    ck_assert_uint_eq(s.dirty, 0);
    ck_assert_uint_ge(s.flushes, 1);
    ck_assert_double_eq(db_score(a), 10);
    ck_assert_double_eq(db_score(b), 20);
    ck_assert_double_eq(score_of(a), 10);
}
END_TEST

Suite *it_row_cache_suite(void)
{
    Suite *s = suite_create("row_cache");
    TCase *tc = tcase_create("row_cache");
    tcase_add_checked_fixture(tc, rc_setup, rc_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hit_fills_like_the_database);
    tcase_add_test(tc, test_key_encoding_cannot_collide);
    tcase_add_test(tc, test_log_and_metrics_see_hits);
    tcase_add_test(tc, test_trace_span_says_cached);
    tcase_add_test(tc, test_writes_by_key_drop_after_the_database);
    tcase_add_test(tc, test_negative_caching_and_inserts);
    tcase_add_test(tc, test_builder_and_raw_writes_drop_the_model);
    tcase_add_test(tc, test_builder_writes_by_key_drop_one_key);
    tcase_add_test(tc, test_read_only_refuses_writes);
    tcase_add_test(tc, test_get_many_order_duplicates_not_found);
    tcase_add_test(tc, test_get_many_without_a_cache);
    tcase_add_test(tc, test_tx_commit_applies_rollback_discards);
    tcase_add_test(tc, test_tx_savepoints_and_model_writes);
    tcase_add_test(tc, test_tx_isolation_bypasses_and_failed_commit_drops);
    tcase_add_test(tc, test_slow_load_never_installs_a_stale_row);
    tcase_add_test(tc, test_attach_errors);
    tcase_add_test(tc, test_commit_with_unknown_outcome_drops_the_keys);
    tcase_add_test(tc, test_write_back_saves_and_flushes);
    tcase_add_test(tc, test_write_back_insert_one_with_key);
    tcase_add_test(tc, test_write_back_inside_a_transaction);
    tcase_add_test(tc, test_write_back_row_flushed_after_a_transaction_began);
    tcase_add_test(tc, test_write_back_failed_flush_keeps_rows);
    tcase_add_test(tc, test_write_back_limit_and_period);
    tcase_add_test(tc, test_ttl_expires_rows);
    tcase_add_test(tc, test_ttl_jitter_spreads_expiries);
    tcase_add_test(tc, test_negative_ttl_and_inserts_of_the_key);
    tcase_add_test(tc, test_upsert_and_batch_insert_drop);
    tcase_add_test(tc, test_migrations_drop_cached_rows);
    tcase_add_test(tc, test_commit_cancelled_or_past_deadline);
    tcase_add_test(tc, test_write_back_automatic_retry);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_row_cache_suite());
}
