/* Integration tests of the row cache over caches that processes share: the Redis backend
 * alone (loop index 0) and two levels, a local cache in front of Redis (loop index 1), on the
 * backend ORM_TEST_DSN names and the Redis of scripts/with-redis.sh (ORM_TEST_REDIS_URL).
 *
 * "Processes" are orm_dbs with row caches of their own over one Redis prefix: two in one
 * process where that is enough to show sharing (a row one db loaded is a hit for the other),
 * and a forked child where the point is another process (a write, a whole-model drop, a
 * rolled-back transaction in one, seen by the other). Also: a hit fills the struct exactly
 * (NULLs, has_ flags, text, blob, timestamp); a rolled-back transaction leaves nothing in
 * Redis; Redis killed mid-run (gets go to the database and never fail, and the cache comes
 * back with the server); Redis stopped while a row is updated and the model dropped (both
 * replayed before Redis is read again: no stale row); an entry of another fingerprint is a
 * miss. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it.h"
#include "orm/cache_redis.h"
#include "schema.h"
#include "../unit/redis_testutil.h"

Suite *it_row_cache_redis_suite(void);

enum { REDIS_ONLY = 0, TWO_LEVEL = 1 };

static char *db_path;
static char dsn[4200];

/* One "process": a db and its row cache over the shared prefix. */
typedef struct side {
    orm_db *db;
    orm_session *s;
    orm_row_cache *rc;
    orm_cache *cache; /* the cache attached (owned by the db) */
} side;

static void rr_setup(void)
{
    snprintf(dsn, sizeof dsn, "%s", orm_test_backend_dsn(&db_path, "rcr", NULL));
}

static void rr_teardown(void) { orm_test_remove_db(&db_path); }

/* Wait until a two-level cache hears invalidations (its local level is in use). */
static int wait_tracking(orm_cache *c)
{
    for (int i = 0; i < 400; i++) {
        orm_cache_two_level_stats ts;
        if (orm_cache_two_level_stats_get(c, &ts) == ORM_OK && ts.tracking)
            return 0;
        rt_sleep_ms(10);
    }
    return -1;
}

/* The users model's mode in the sides opened next (a test may ask for write-back). */
static orm_row_cache_mode users_mode = ORM_ROW_CACHE_READ_WRITE;

/* Open a side without asserting (a forked child uses it): 0 or -1. inner (may be NULL): a
 * middleware inside the row cache (it sees the row cache's loads); backoff_ms: how long the
 * Redis pool, once down, answers without trying Redis (0: 20 ms). */
static int side_try_open_with(side *sd, int mode, const char *url, const char *prefix,
                              const orm_middleware *inner, int64_t backoff_ms)
{
    memset(sd, 0, sizeof *sd);
    orm_cache_redis_options ro = ORM_CACHE_REDIS_OPTIONS_INIT;
    ro.url = url;
    ro.prefix = prefix;
    ro.connect_timeout_ms = 200;
    ro.command_timeout_ms = 500;
    ro.backoff_min_ms = backoff_ms ? backoff_ms : 20;
    ro.backoff_max_ms = backoff_ms ? backoff_ms : 200;
    static rt_log quiet;
    ro.log = rt_log_cb;
    ro.log_userdata = &quiet;
    orm_cache *remote = NULL, *local = NULL, *c = NULL;
    if (orm_cache_redis_new(&remote, &ro) != ORM_OK)
        return -1;
    if (mode == TWO_LEVEL) {
        if (orm_cache_local_new(&local, NULL) != ORM_OK ||
            orm_cache_two_level_new(&c, local, remote, NULL) != ORM_OK) {
            orm_cache_close(local);
            orm_cache_close(remote);
            return -1;
        }
    } else {
        c = remote;
    }
    if (orm_db_open(&sd->db, dsn, NULL) != ORM_OK) {
        orm_cache_close(c);
        return -1;
    }
    sd->s = orm_db_session(sd->db);
    sd->cache = c;
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    mo.ttl_ms = 60000;
    orm_row_cache_model_options um = mo;
    um.mode = users_mode;
    if (orm_row_cache_attach(&sd->rc, sd->db, c, NULL) != ORM_OK ||
        orm_row_cache_model(sd->rc, &it_user_model, &um) != ORM_OK ||
        orm_row_cache_model(sd->rc, &it_alltypes_model, &mo) != ORM_OK ||
        (inner && orm_db_use(sd->db, inner) != ORM_OK) || /* (the layer joined at the first model) */
        it_models_register(sd->db) != ORM_OK)
        return -1;
    if (mode == TWO_LEVEL && wait_tracking(c) != 0)
        return -1;
    return 0;
}

static int side_try_open(side *sd, int mode, const char *url, const char *prefix)
{
    return side_try_open_with(sd, mode, url, prefix, NULL, 0);
}

static void side_open(side *sd, int mode, const char *url, const char *prefix)
{
    int r = side_try_open(sd, mode, url, prefix);
    ck_assert_msg(r == 0, "opening a db with a row cache over Redis: %s", orm_error_last()->message);
}

static void side_close(side *sd)
{
    orm_db_close(sd->db);
    memset(sd, 0, sizeof *sd);
}

/* Fresh tables, through a db of no cache (closed again: a test may fork after). */
static void make_schema(void)
{
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_ok(it_models_register(db));
    ck_assert_ok(it_schema_create(orm_db_session(db)));
    orm_db_close(db);
}

static int64_t add_user(orm_session *s, const char *name, double score)
{
    it_user u = it_user_make(name, NULL, 30, true, score, true);
    ck_assert_ok(orm_insert_one(s, NULL, &it_user_model, &u));
    return u.id;
}

static int get_score(orm_session *s, int64_t id, double *score)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    int rc = orm_get(s, NULL, &it_user_model, &u, &k);
    if (rc == ORM_OK)
        *score = u.score;
    orm_model_clear(&it_user_model, &u);
    return rc;
}

static double score_of(side *sd, int64_t id)
{
    double v = -1;
    ck_assert_ok(get_score(sd->s, id, &v));
    return v;
}

static void set_score(side *sd, int64_t id, double score)
{
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(sd->s, NULL, &it_user_model, &u, &k));
    u.score = score;
    ck_assert_ok(orm_update_one(sd->s, NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
}

static orm_row_cache_stats stats(side *sd, const orm_model *m)
{
    orm_row_cache_stats st;
    ck_assert_ok(orm_row_cache_stats_get(sd->rc, m, &st));
    return st;
}

/* The Redis name of a row (or counter) key of the cache. */
static void wire_key(char *buf, size_t n, const char *prefix, const char *key)
{
    snprintf(buf, n, "%s%s", prefix, key);
}

static long long raw_exists(redisContext *r, const char *name)
{
    return rt_int(r, "EXISTS %s", name);
}

/* ---- a hit fills the struct exactly, and one db's load is the other's hit ---- */

START_TEST(test_hit_fills_exactly_and_is_shared)
{
    int mode = _i;
    char prefix[96];
    rt_prefix(prefix, sizeof prefix, "fill");
    make_schema();
    side a, b;
    side_open(&a, mode, rt_url(), prefix);
    side_open(&b, mode, rt_url(), prefix);
    it_alltypes full, empty;
    memset(&full, 0, sizeof full);
    memset(&empty, 0, sizeof empty);
    full.i16 = -7; full.has_i16 = true;
    full.i64 = -1234567890123LL; full.has_i64 = true;
    full.d = 2.5; full.has_d = true;
    full.b = true; full.has_b = true;
    full.t = "text: with \\ and 'quotes' and \xc3\xa9";
    unsigned char blob[5] = { 0, 1, 255, 7, 0 };
    full.bl.data = blob;
    full.bl.len = sizeof blob;
    full.ts = 1700000000123456LL; full.has_ts = true;
    ck_assert_ok(orm_insert_one(a.s, NULL, &it_alltypes_model, &full));
    ck_assert_ok(orm_insert_one(a.s, NULL, &it_alltypes_model, &empty)); /* every column NULL */
    int64_t ids[2] = { full.id, empty.id };
    for (int i = 0; i < 2; i++) {
        orm_value k = orm_int(ids[i]);
        it_alltypes db, hit;
        memset(&db, 0, sizeof db);
        memset(&hit, 0xab, sizeof hit); /* a hit must overwrite every member */
        ck_assert_ok(orm_get(a.s, NULL, &it_alltypes_model, &db, &k)); /* a's miss: loads, fills Redis */
        ck_assert_ok(orm_get(b.s, NULL, &it_alltypes_model, &hit, &k)); /* b's hit, from Redis */
        ck_assert_int_eq(hit.id, db.id);
        ck_assert_int_eq(hit.has_i16, db.has_i16);
        ck_assert_int_eq(hit.i16, db.i16);
        ck_assert_int_eq(hit.has_i32, false);
        ck_assert_int_eq(hit.i32, 0);
        ck_assert_int_eq(hit.has_i64, db.has_i64);
        ck_assert_int_eq(hit.i64, db.i64);
        ck_assert_int_eq(hit.has_d, db.has_d);
        ck_assert_double_eq(hit.d, db.d);
        ck_assert_int_eq(hit.has_b, db.has_b);
        ck_assert_int_eq(hit.b, db.b);
        ck_assert_int_eq(hit.has_ts, db.has_ts);
        ck_assert_int_eq(hit.ts, db.ts);
        ck_assert_uint_eq(hit.bl.len, db.bl.len);
        if (i == 0) {
            ck_assert_str_eq(hit.t, full.t);
            ck_assert_mem_eq(hit.bl.data, blob, sizeof blob);
            ck_assert_int_eq(hit.has_i16, true);
            ck_assert_int_eq(hit.i16, -7);
            ck_assert_int_eq(hit.ts, 1700000000123456LL);
        } else {
            ck_assert_ptr_null(hit.t);
            ck_assert_ptr_null(hit.bl.data);
            ck_assert_int_eq(hit.has_i16, false);
            ck_assert_int_eq(hit.has_ts, false);
        }
        orm_model_clear(&it_alltypes_model, &db);
        orm_model_clear(&it_alltypes_model, &hit);
    }
    orm_row_cache_stats sa = stats(&a, &it_alltypes_model), sb = stats(&b, &it_alltypes_model);
    ck_assert_uint_eq(sa.loads, 2);
    ck_assert_uint_eq(sa.hits, 0);
    ck_assert_uint_eq(sb.loads, 0); /* b never read the database */
    ck_assert_uint_eq(sb.hits, 2);
    /* The row is in Redis under the prefix, as the row cache's key says. */
    char key[64], name[256];
    orm_value k = orm_int(full.id);
    ck_assert_ok(orm_row_cache_key(key, sizeof key, NULL, &it_alltypes_model, &k));
    wire_key(name, sizeof name, prefix, key);
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    ck_assert_int_eq(raw_exists(raw, name), 1);
    redisFree(raw);
    side_close(&b);
    side_close(&a);
}
END_TEST

/* ---- another process: a forked reader ---- */

typedef struct req {
    char op; /* 'g': get the user's score; 's': the reader's stats; 'q': quit */
    int64_t id;
} req;

typedef struct resp {
    int rc;
    double score;
    uint64_t hits, loads;
} resp;

static int write_all(int fd, const void *p, size_t n)
{
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static int read_all(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The child: open its own side, answer requests until 'q'. Never returns. */
static void reader_main(int mode, const char *url, const char *prefix, int in, int out)
{
    side sd;
    resp rp = { 0, 0, 0, 0 };
    rp.rc = side_try_open(&sd, mode, url, prefix) == 0 ? ORM_OK : ORM_ERROR;
    if (write_all(out, &rp, sizeof rp) || rp.rc)
        _exit(2);
    req rq;
    while (read_all(in, &rq, sizeof rq) == 0 && rq.op != 'q') {
        memset(&rp, 0, sizeof rp);
        if (rq.op == 'g')
            rp.rc = get_score(sd.s, rq.id, &rp.score);
        orm_row_cache_stats st;
        orm_row_cache_stats_get(sd.rc, &it_user_model, &st);
        rp.hits = st.hits;
        rp.loads = st.loads;
        if (write_all(out, &rp, sizeof rp))
            _exit(3);
    }
    orm_db_close(sd.db);
    _exit(0);
}

typedef struct reader {
    pid_t pid;
    int to, from;
} reader;

static void reader_start(reader *r, int mode, const char *prefix)
{
    int a[2], b[2];
    ck_assert_int_eq(pipe(a), 0);
    ck_assert_int_eq(pipe(b), 0);
    const char *url = rt_url();
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        close(a[1]);
        close(b[0]);
        reader_main(mode, url, prefix, a[0], b[1]);
    }
    close(a[0]);
    close(b[1]);
    r->to = a[1];
    r->from = b[0];
    resp rp;
    ck_assert_int_eq(read_all(r->from, &rp, sizeof rp), 0);
    ck_assert_int_eq(rp.rc, ORM_OK);
}

static resp reader_ask(reader *r, char op, int64_t id)
{
    req rq = { op, id };
    resp rp;
    ck_assert_int_eq(write_all(r->to, &rq, sizeof rq), 0);
    ck_assert_int_eq(read_all(r->from, &rp, sizeof rp), 0);
    return rp;
}

/* The reader's score of id: at once on Redis alone; with two levels, once the invalidation
 * reached its local level (asynchronous: bounded here by 2 s). */
static resp reader_sees(reader *r, int mode, int64_t id, double want)
{
    resp rp = reader_ask(r, 'g', id);
    for (int i = 0; mode == TWO_LEVEL && rp.score != want && i < 400; i++) {
        rt_sleep_ms(5);
        rp = reader_ask(r, 'g', id);
    }
    ck_assert_int_eq(rp.rc, ORM_OK);
    ck_assert_msg(rp.score == want, "the other process read %g, the database holds %g", rp.score, want);
    return rp;
}

static void reader_stop(reader *r)
{
    req rq = { 'q', 0 };
    ck_assert_int_eq(write_all(r->to, &rq, sizeof rq), 0);
    int st = -1;
    ck_assert_int_eq(waitpid(r->pid, &st, 0), r->pid);
    close(r->to);
    close(r->from);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the reader process failed (status %d)", st);
}

START_TEST(test_writes_and_drops_across_processes)
{
    int mode = _i;
    char prefix[96];
    rt_prefix(prefix, sizeof prefix, "xproc");
    make_schema();
    int64_t id, id2;
    {
        orm_db *db;
        ck_assert_ok(orm_db_open(&db, dsn, NULL));
        ck_assert_ok(it_models_register(db));
        id = add_user(orm_db_session(db), "ada", 1);
        id2 = add_user(orm_db_session(db), "bob", 10);
        orm_db_close(db);
    }
    reader b;
    reader_start(&b, mode, prefix);
    side a;
    side_open(&a, mode, rt_url(), prefix);

    /* b loads (one load), then hits; a finds b's row in Redis without reading the database */
    resp rp = reader_ask(&b, 'g', id);
    ck_assert_int_eq(rp.rc, ORM_OK);
    ck_assert_double_eq(rp.score, 1);
    ck_assert_uint_eq(rp.loads, 1);
    rp = reader_ask(&b, 'g', id);
    ck_assert_uint_eq(rp.loads, 1);
    ck_assert_uint_eq(rp.hits, 1);
    ck_assert_double_eq(score_of(&a, id), 1);
    ck_assert_uint_eq(stats(&a, &it_user_model).loads, 0);
    ck_assert_uint_eq(stats(&a, &it_user_model).hits, 1);

    /* a write by key in a: b's next read is the new row */
    set_score(&a, id, 2);
    reader_sees(&b, mode, id, 2);
    reader_sees(&b, mode, id2, 10);

    /* a whole-model drop in a (raw SQL naming the table): b's cached rows of the model go */
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(a.s, NULL, "UPDATE users SET score = score + 1", NULL, 0, &n));
    ck_assert_int_eq(n, 2);
    reader_sees(&b, mode, id, 3);
    reader_sees(&b, mode, id2, 11);
    /* and the public drop, for a write made where no row cache saw it */
    {
        orm_db *plain;
        ck_assert_ok(orm_db_open(&plain, dsn, NULL));
        ck_assert_ok(orm_raw_exec(orm_db_session(plain), NULL, "UPDATE users SET score = 7", NULL, 0, &n));
        orm_db_close(plain);
    }
    ck_assert_ok(orm_row_cache_drop_model(a.rc, &it_user_model));
    reader_sees(&b, mode, id, 7);

    /* a rolled-back transaction in a: b still hits the committed row, nothing dropped */
    ck_assert_double_eq(reader_ask(&b, 'g', id).score, 7); /* cached again */
    uint64_t loads_before = reader_ask(&b, 'g', id).loads;
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, a.db, NULL, NULL));
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value k = orm_int(id);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
    u.score = 99;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    rp = reader_ask(&b, 'g', id);
    ck_assert_double_eq(rp.score, 7);
    ck_assert_uint_eq(rp.loads, loads_before); /* still a hit */
    /* a committed one: b sees it */
    ck_assert_ok(orm_tx_begin(&tx, a.db, NULL, NULL));
    memset(&u, 0, sizeof u);
    ck_assert_ok(orm_get(orm_tx_session(tx), NULL, &it_user_model, &u, &k));
    u.score = 8;
    ck_assert_ok(orm_update_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    reader_sees(&b, mode, id, 8);

    reader_stop(&b);
    side_close(&a);
}
END_TEST

/* ---- a rolled-back transaction leaves nothing in Redis ---- */

START_TEST(test_rollback_leaves_nothing_in_redis)
{
    int mode = _i;
    char prefix[96];
    rt_prefix(prefix, sizeof prefix, "rb");
    make_schema();
    side a;
    side_open(&a, mode, rt_url(), prefix);
    int64_t id = add_user(a.s, "ada", 1);
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    char key[64], name[256], gname[256], pattern[256];
    orm_value k = orm_int(id);
    ck_assert_ok(orm_row_cache_key(key, sizeof key, NULL, &it_user_model, &k));
    wire_key(name, sizeof name, prefix, key);
    wire_key(gname, sizeof gname, prefix, "users:#g");
    /* a read of a key with no row makes the model's generation counter, and caches nothing */
    ck_assert_int_eq(get_score(a.s, id + 1000, &(double){ 0 }), ORM_ENOTFOUND);
    long long g0 = rt_int(raw, "GET %s", gname);
    ck_assert_int_ge(g0, 1LL << 40);
    ck_assert_int_eq(raw_exists(raw, name), 0);

    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, a.db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    it_user u;
    memset(&u, 0, sizeof u);
    ck_assert_ok(orm_get(ts, NULL, &it_user_model, &u, &k)); /* a read in a tx never fills */
    u.score = 5;
    ck_assert_ok(orm_update_one(ts, NULL, &it_user_model, &u));
    orm_model_clear(&it_user_model, &u);
    int64_t id2 = add_user(ts, "bob", 2);
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(ts, NULL, "UPDATE users SET active = active", NULL, 0, &n));
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);

    /* nothing under the prefix but what was there: no row, the generation untouched */
    ck_assert_int_eq(raw_exists(raw, name), 0);
    ck_assert_int_eq(rt_int(raw, "GET %s", gname), g0);
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    redisReply *r = redisCommand(raw, "KEYS %s", pattern);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++)
        ck_assert_msg(strstr(r->element[i]->str, ":#") != NULL, "left in Redis after a rollback: %s",
                      r->element[i]->str);
    freeReplyObject(r);
    /* and the database agrees */
    ck_assert_double_eq(score_of(&a, id), 1);
    ck_assert_int_eq(get_score(a.s, id2, &(double){ 0 }), ORM_ENOTFOUND);
    ck_assert_int_eq(raw_exists(raw, name), 1); /* filled by that read, outside the tx */
    redisFree(raw);
    side_close(&a);
}
END_TEST

/* ---- write-back: a row flushed after a transaction began is kept for it ----
 * Over a shared cache the kept row is stamped with the shared generations; the insert
 * generation exists only with negative caching, so its 0 must not read as "could not tell"
 * (it did: the row was never kept, and the transaction read its older snapshot on SQLite). */
START_TEST(test_write_back_row_kept_for_an_older_transaction)
{
    char prefix[96];
    rt_prefix(prefix, sizeof prefix, "wbk");
    make_schema();
    side a;
    users_mode = ORM_ROW_CACHE_WRITE_BACK;
    side_open(&a, _i, rt_url(), prefix);
    users_mode = ORM_ROW_CACHE_READ_WRITE;
    int64_t ada = add_user(a.s, "ada", 1), bob = add_user(a.s, "bob", 2);
    set_score(&a, ada, 10); /* saved, not written yet */
    ck_assert_uint_eq(stats(&a, &it_user_model).dirty, 1);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, a.db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    double v = -1;
    ck_assert_ok(get_score(ts, bob, &v)); /* a read: SQLite's snapshot starts here */
    ck_assert_double_eq(v, 2);
    ck_assert_ok(orm_row_cache_flush(a.rc)); /* the saved row is written by another writer */
    ck_assert_uint_eq(stats(&a, &it_user_model).dirty, 0);
    ck_assert_ok(get_score(ts, ada, &v));
    ck_assert_double_eq(v, 10); /* the saved row, not the snapshot's 1 */
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_double_eq(score_of(&a, ada), 10);
    side_close(&a);
}
END_TEST

/* ---- Redis killed mid-run ---- */

START_TEST(test_redis_killed_mid_run)
{
    int mode = _i;
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64], prefix[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_prefix(prefix, sizeof prefix, "kill");
    make_schema();
    side a;
    side_open(&a, mode, url, prefix);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = add_user(a.s, i == 0 ? "ada" : i == 1 ? "bob" : "cy", i + 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_double_eq(score_of(&a, ids[i]), i + 1);
        if (mode == TWO_LEVEL)
            score_of(&a, ids[i]); /* the second read fills the local level */
        ck_assert_double_eq(score_of(&a, ids[i]), i + 1);
    }
    ck_assert_uint_ge(stats(&a, &it_user_model).hits, 3);
    rt_server_kill(srv);
    /* Redis gone: every get goes to the database and none fails; writes too */
    set_score(&a, ids[0], 10);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 3; i++)
            ck_assert_double_eq(score_of(&a, ids[i]), i == 0 ? 10 : i + 1);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(a.cache, &rs));
    ck_assert_int_eq(rs.up, 0);
    ck_assert_uint_gt(rs.bypassed, 0);
    /* back (empty, as a restarted server without persistence is): the cache fills again */
    srv = rt_server_start(port);
    if (mode == TWO_LEVEL)
        ck_assert_int_eq(wait_tracking(a.cache), 0);
    uint64_t hits0 = stats(&a, &it_user_model).hits;
    for (int tries = 0; tries < 200 && stats(&a, &it_user_model).hits < hits0 + 3; tries++) {
        for (int i = 0; i < 3; i++)
            ck_assert_double_eq(score_of(&a, ids[i]), i == 0 ? 10 : i + 1);
        rt_sleep_ms(10);
    }
    ck_assert_uint_ge(stats(&a, &it_user_model).hits, hits0 + 3);
    /* and a write after the restart is seen */
    set_score(&a, ids[1], 20);
    ck_assert_double_eq(score_of(&a, ids[1]), 20);
    side_close(&a);
    rt_server_kill(srv);
}
END_TEST

/* ---- a get after a write while Redis is unreachable never takes an older load ----
 * A reader that misses joins the load of the key running in another thread only when that
 * load began after its own look (the key generation it read is the load's). A generation that
 * could not be read (Redis unreachable) used to be 0, and so is a real one (a key whose stripe
 * was never written, the epoch never cleared): a get made after a write, with Redis unreachable,
 * joined a load that had read the row before the write, and returned the older row. Over two
 * levels the model generation is answered by the local level's copy while tracking is still up,
 * so nothing else stopped it. The load is held in a middleware inside the row cache, after its
 * database read; Redis is frozen (SIGSTOP: its connections stay open, tracking notices only
 * after a second of silence). */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed;   /* hold the next read by key of users, after its database read */
    int held;    /* one is held */
    int release;
} gate;

static int gate_fn(orm_stmt *st, void *ud)
{
    gate *g = ud;
    int rc = orm_stmt_next(st);
    if (st->model == &it_user_model && st->intent && st->intent->op == ORM_STMT_OP_GET) {
        pthread_mutex_lock(&g->mu);
        if (g->armed) {
            g->armed = 0;
            g->held = 1;
            pthread_cond_broadcast(&g->cv);
            while (!g->release)
                pthread_cond_wait(&g->cv, &g->mu);
        }
        pthread_mutex_unlock(&g->mu);
    }
    return rc;
}

typedef struct getter {
    orm_session *s;
    int64_t id;
    int rc;
    double score;
} getter;

static void *getter_main(void *arg)
{
    getter *g = arg;
    g->rc = get_score(g->s, g->id, &g->score);
    return NULL;
}

START_TEST(test_get_after_write_redis_down_not_an_older_load)
{
    int mode = _i;
    int port = rt_free_port();
    pid_t srv = rt_server_start(port); /* fresh: no key generation was ever written */
    char url[64], prefix[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_prefix(prefix, sizeof prefix, "down");
    make_schema();
    orm_db *plain; /* the row, written without a row cache (its key never written in Redis) */
    ck_assert_ok(orm_db_open(&plain, dsn, NULL));
    ck_assert_ok(it_models_register(plain));
    int64_t id = add_user(orm_db_session(plain), "ada", 1);
    orm_db_close(plain);

    gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "gate";
    mw.fn = gate_fn;
    mw.userdata = &g;
    side a;
    /* once down, the pool stays down for the test (no reconnect attempt waits on the frozen
     * server) */
    int r = side_try_open_with(&a, mode, url, prefix, &mw, 10000);
    ck_assert_msg(r == 0, "opening a db with a row cache over Redis: %s", orm_error_last()->message);

    /* A: a get whose load read the row (score 1) and is held there */
    g.armed = 1;
    getter ga = { a.s, id, -1, 0 }, gb = { a.s, id, -1, 0 };
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, getter_main, &ga), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.held)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    /* Redis unreachable, then the write (score 2) through the same db: it returns */
    kill(srv, SIGSTOP);
    it_user u = it_user_make("ada", NULL, 30, true, 2, true);
    u.id = id;
    int wrc = orm_update_one(a.s, NULL, &it_user_model, &u);

    /* B: a get after the write, while A's load (of before the write) still runs */
    uint64_t misses0 = stats(&a, &it_user_model).misses;
    ck_assert_int_eq(pthread_create(&tb, NULL, getter_main, &gb), 0);
    for (int i = 0; i < 500 && stats(&a, &it_user_model).misses == misses0; i++)
        rt_sleep_ms(2);
    rt_sleep_ms(150); /* B reaches the load in flight (or reads the database itself) */
    pthread_mutex_lock(&g.mu);
    g.release = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    kill(srv, SIGCONT);

    ck_assert_ok(wrc);
    ck_assert_ok(ga.rc);
    ck_assert_double_eq(ga.score, 1); /* A began before the write */
    ck_assert_ok(gb.rc);
    ck_assert_msg(gb.score == 2, "a get made after the write returned the row from before it (score %g)",
                  gb.score);
    /* and once the write returned, every later get sees it */
    ck_assert_double_eq(score_of(&a, id), 2);
    side_close(&a);
}
END_TEST

/* ---- writes made while Redis is unreachable are not read stale when it comes back ---- */

/* Wait until the cache's Redis level is up with no remembered drop left (its background
 * thread's work: no call of the cache meanwhile). */
static void wait_replayed(orm_cache *c)
{
    for (int i = 0; i < 1000; i++) {
        orm_cache_redis_stats rs;
        ck_assert_ok(orm_cache_redis_stats_get(c, &rs));
        if (rs.up && !rs.replay_pending)
            return;
        rt_sleep_ms(10);
    }
    ck_abort_msg("the cache did not reconnect and replay its drops by itself");
}

/* The server stopped (SIGSTOP: it keeps its data, as in a network partition): one db updates a
 * row through the ORM (its drop cannot reach Redis) and drops the model after another row was
 * changed behind every cache's back (its generation bump cannot reach Redis either). When the
 * server resumes, the other db reads both rows new, never the rows Redis still held. Before
 * the replay, both reads returned the old scores until the rows' TTL. */
START_TEST(test_partition_writes_not_stale)
{
    int mode = _i;
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64], prefix[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_prefix(prefix, sizeof prefix, "part");
    make_schema();
    side a, b;
    side_open(&a, mode, url, prefix);
    side_open(&b, mode, url, prefix);
    int64_t id1 = add_user(a.s, "ada", 1), id2 = add_user(a.s, "bob", 2);
    ck_assert_double_eq(score_of(&a, id1), 1); /* loaded into Redis */
    ck_assert_double_eq(score_of(&a, id2), 2);
    for (int i = 0; i < 2; i++) { /* b's hits (two levels: then its local level) */
        ck_assert_double_eq(score_of(&b, id1), 1);
        ck_assert_double_eq(score_of(&b, id2), 2);
    }
    ck_assert_uint_ge(stats(&b, &it_user_model).hits, 2);

    kill(srv, SIGSTOP);
    set_score(&a, id1, 10);
    side p; /* a db of no cache: a change no row cache hears of */
    memset(&p, 0, sizeof p);
    ck_assert_ok(orm_db_open(&p.db, dsn, NULL));
    ck_assert_ok(it_models_register(p.db));
    p.s = orm_db_session(p.db);
    set_score(&p, id2, 20);
    orm_db_close(p.db);
    ck_assert_ok(orm_row_cache_drop_model(a.rc, &it_user_model));
    ck_assert_double_eq(score_of(&a, id1), 10); /* the database answers */
    ck_assert_double_eq(score_of(&a, id2), 20);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(a.cache, &rs));
    ck_assert_int_eq(rs.replay_pending, 1);
    kill(srv, SIGCONT);

    wait_replayed(a.cache);
    if (mode == TWO_LEVEL) {
        ck_assert_int_eq(wait_tracking(b.cache), 0);
        rt_sleep_ms(100); /* the replay's invalidations have reached b's local level */
    }
    ck_assert_double_eq(score_of(&b, id1), 10);
    ck_assert_double_eq(score_of(&b, id2), 20);
    ck_assert_double_eq(score_of(&a, id1), 10);
    ck_assert_double_eq(score_of(&a, id2), 20);
    ck_assert_ok(orm_cache_redis_stats_get(a.cache, &rs));
    ck_assert_uint_ge(rs.replays, 1);
    ck_assert_uint_ge(rs.replayed_keys, 2); /* the row's key, the model's generation */
    /* the cache is used again: b's next reads are hits */
    uint64_t hits0 = stats(&b, &it_user_model).hits;
    for (int i = 0; i < 3; i++)
        ck_assert_double_eq(score_of(&b, id1), 10);
    ck_assert_uint_ge(stats(&b, &it_user_model).hits, hits0 + 1);
    side_close(&a);
    side_close(&b);
    rt_server_kill(srv);
}
END_TEST

/* ---- an entry of another fingerprint (an older or newer model) is a miss ---- */

START_TEST(test_old_fingerprint_is_a_miss)
{
    int mode = _i;
    char prefix[96];
    rt_prefix(prefix, sizeof prefix, "fp");
    make_schema();
    side a;
    side_open(&a, mode, rt_url(), prefix);
    int64_t id = add_user(a.s, "ada", 1);
    ck_assert_double_eq(score_of(&a, id), 1); /* loaded into Redis */
    char key[64], name[256];
    orm_value k = orm_int(id);
    ck_assert_ok(orm_row_cache_key(key, sizeof key, NULL, &it_user_model, &k));
    wire_key(name, sizeof name, prefix, key);
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    redisReply *r = redisCommand(raw, "GET %s", name);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_gt(r->len, 17);
    /* the same entry as another deploy's model would have written it: another fingerprint
     * (bytes 9..16), and a score the database does not hold */
    char *wire = malloc(r->len);
    memcpy(wire, r->str, r->len);
    size_t len = r->len;
    freeReplyObject(r);
    wire[9] ^= 0x5a;
    uint64_t inv0 = 0;
    if (mode == TWO_LEVEL) {
        rt_sleep_ms(50); /* the invalidations of the load's own write have come */
        orm_cache_two_level_stats ts;
        ck_assert_ok(orm_cache_two_level_stats_get(a.cache, &ts));
        inv0 = ts.invalidations;
    }
    r = redisCommand(raw, "SET %s %b", name, wire, len);
    freeReplyObject(r);
    free(wire);
    orm_cache_redis_stats rs0, rs1;
    ck_assert_ok(orm_cache_redis_stats_get(a.cache, &rs0));
    uint64_t loads0 = stats(&a, &it_user_model).loads;
    /* two levels: the raw SET reaches the local level as an invalidation */
    for (int i = 0; mode == TWO_LEVEL && i < 400; i++) {
        orm_cache_two_level_stats ts;
        ck_assert_ok(orm_cache_two_level_stats_get(a.cache, &ts));
        if (ts.invalidations > inv0)
            break;
        rt_sleep_ms(5);
    }
    ck_assert_double_eq(score_of(&a, id), 1);
    ck_assert_ok(orm_cache_redis_stats_get(a.cache, &rs1));
    ck_assert_uint_ge(rs1.stale_reads, rs0.stale_reads + 1);
    ck_assert_uint_eq(stats(&a, &it_user_model).loads, loads0 + 1); /* read the database */
    /* the load replaced the foreign entry: the next read is a hit again */
    uint64_t hits0 = stats(&a, &it_user_model).hits;
    ck_assert_double_eq(score_of(&a, id), 1);
    ck_assert_uint_eq(stats(&a, &it_user_model).hits, hits0 + 1);
    redisFree(raw);
    side_close(&a);
}
END_TEST

Suite *it_row_cache_redis_suite(void)
{
    Suite *s = suite_create("row_cache_redis");
    TCase *tc = tcase_create("row_cache_redis");
    tcase_add_checked_fixture(tc, rr_setup, rr_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_hit_fills_exactly_and_is_shared, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_writes_and_drops_across_processes, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_rollback_leaves_nothing_in_redis, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_redis_killed_mid_run, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_partition_writes_not_stale, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_old_fingerprint_is_a_miss, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_write_back_row_kept_for_an_older_transaction, REDIS_ONLY, TWO_LEVEL + 1);
    tcase_add_loop_test(tc, test_get_after_write_redis_down_not_an_older_load, REDIS_ONLY, TWO_LEVEL + 1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_row_cache_redis_suite());
}
