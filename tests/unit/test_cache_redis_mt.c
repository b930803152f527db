/* The Redis backend and the two-level cache under concurrency (ctest label tsan): the Lua
 * scripts' atomicity under 8 threads in each of 2 processes, invalidation across processes,
 * the tracking connection lost (local level cleared and bypassed, then back), Redis restarted
 * under a two-level cache, and coherence after concurrent writers from two caches settle; drops
 * made while Redis is unreachable (stopped, paused, refusing) replayed before it is read again,
 * their bound, and other processes' local levels reached by the replay. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "orm/cache.h"
#include "orm/cache_redis.h"
#include "orm/error.h"
#include "redis_testutil.h"

/* ---- Lua atomicity: 8 threads x 2 processes ---- */

#define AT_THREADS 8
#define AT_ROUNDS 200
#define AT_KEYS 50

typedef struct at_arg {
    orm_cache *c;
    int id;
    int failed;
} at_arg;

static void *atomic_thread(void *p)
{
    at_arg *a = p;
    char key[32], val[32];
    snprintf(val, sizeof val, "p%ld-t%d", (long)getpid(), a->id);
    orm_cache_ref *mine;
    if (orm_cache_ref_new_bytes(&mine, val, strlen(val)))
        return (a->failed = 1, NULL);
    for (int i = 0; i < AT_ROUNDS; i++) {
        if (orm_cache_incr(a->c, "ctr", 1, 0, NULL) != ORM_OK)
            a->failed++;
        /* load-or-store: exactly one winner per key over both processes */
        snprintf(key, sizeof key, "los:%d", i % AT_KEYS);
        orm_cache_ref *out = NULL;
        int loaded = -1;
        if (orm_cache_load_or_store(a->c, key, mine, 0, &out, &loaded) != ORM_OK)
            a->failed++;
        else if (!loaded) {
            snprintf(key, sizeof key, "won:%d", i % AT_KEYS);
            orm_cache_incr(a->c, key, 1, 0, NULL);
        }
        orm_cache_ref_release(out);
        /* compare-and-set through generations: every success is one increment */
        for (;;) {
            uint64_t g;
            orm_cache_ref *cur = NULL;
            int64_t n = 0;
            if (orm_cache_gen(a->c, "cas", &g) != ORM_OK) {
                a->failed++;
                break;
            }
            if (orm_cache_get(a->c, "cas", &cur) == ORM_OK) {
                orm_cache_ref_int(cur, &n);
                orm_cache_ref_release(cur);
            }
            orm_cache_ref *nv;
            orm_cache_ref_new_int(&nv, n + 1);
            int rc = orm_cache_set_if_gen(a->c, "cas", nv, 0, g);
            orm_cache_ref_release(nv);
            if (rc == ORM_OK) {
                orm_cache_incr(a->c, "cas-ok", 1, 0, NULL);
                break;
            }
            if (rc != ORM_EBUSY) {
                a->failed++;
                break;
            }
        }
        /* load-and-delete: a value is taken by one thread only */
        if (i % 10 == 0) {
            snprintf(key, sizeof key, "take:%d", i);
            orm_cache_incr(a->c, "put", 1, 0, NULL);
            orm_cache_set_bytes(a->c, key, "x", 1, 0);
        }
        snprintf(key, sizeof key, "take:%d", (i / 10) * 10);
        if (orm_cache_load_and_delete(a->c, key, &out) == ORM_OK) {
            orm_cache_incr(a->c, "taken", 1, 0, NULL);
            orm_cache_ref_release(out);
        }
    }
    orm_cache_ref_release(mine);
    return NULL;
}

static int atomic_run(const char *prefix)
{
    orm_cache *c = rt_redis(rt_url(), prefix, NULL);
    at_arg args[AT_THREADS];
    pthread_t th[AT_THREADS];
    for (int i = 0; i < AT_THREADS; i++) {
        args[i] = (at_arg){ c, i, 0 };
        pthread_create(&th[i], NULL, atomic_thread, &args[i]);
    }
    int failed = 0;
    for (int i = 0; i < AT_THREADS; i++) {
        pthread_join(th[i], NULL);
        failed += args[i].failed;
    }
    orm_cache_redis_stats rs;
    orm_cache_redis_stats_get(c, &rs);
    orm_cache_close(c);
    return failed + (int)rs.bypassed;
}

START_TEST(lua_atomicity_8_threads_2_processes)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "atomic");
    pid_t kid = fork();
    ck_assert_int_ge(kid, 0);
    if (kid == 0)
        _exit(atomic_run(pre) ? 1 : 0);
    ck_assert_int_eq(atomic_run(pre), 0);
    int st = 0;
    waitpid(kid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the second process failed (%d)", st);

    orm_cache *c = rt_redis(rt_url(), pre, NULL);
    orm_cache_ref *r;
    int64_t v = 0;
    ck_assert_ok(orm_cache_get(c, "ctr", &r));
    ck_assert(orm_cache_ref_int(r, &v));
    orm_cache_ref_release(r);
    ck_assert_int_eq(v, 2 * AT_THREADS * AT_ROUNDS);
    char key[32];
    for (int k = 0; k < AT_KEYS; k++) {
        snprintf(key, sizeof key, "won:%d", k);
        ck_assert_ok(orm_cache_get(c, key, &r));
        ck_assert(orm_cache_ref_int(r, &v));
        orm_cache_ref_release(r);
        ck_assert_msg(v == 1, "load_or_store of los:%d stored %lld times", k, (long long)v);
    }
    int64_t cas = 0, ok = 0, put = 0, taken = 0;
    ck_assert_ok(orm_cache_get(c, "cas", &r));
    orm_cache_ref_int(r, &cas);
    orm_cache_ref_release(r);
    ck_assert_ok(orm_cache_get(c, "cas-ok", &r));
    orm_cache_ref_int(r, &ok);
    orm_cache_ref_release(r);
    ck_assert_int_eq(cas, ok);
    ck_assert_int_eq(ok, 2 * AT_THREADS * AT_ROUNDS);
    ck_assert_ok(orm_cache_get(c, "put", &r));
    orm_cache_ref_int(r, &put);
    orm_cache_ref_release(r);
    if (orm_cache_get(c, "taken", &r) == ORM_OK) {
        orm_cache_ref_int(r, &taken);
        orm_cache_ref_release(r);
    }
    ck_assert_int_le(taken, put); /* never taken twice */
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- two levels ---- */

static orm_cache *two_level(const char *url, const char *prefix, rt_log *log)
{
    orm_cache *l = NULL, *c = NULL;
    ck_assert_ok(orm_cache_local_new(&l, NULL));
    ck_assert_ok(orm_cache_two_level_new(&c, l, rt_redis(url, prefix, log), NULL));
    return c;
}

static int tracking(orm_cache *c)
{
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    return ts.tracking;
}

static void wait_tracking(orm_cache *c, int want)
{
    for (int i = 0; i < 300 && tracking(c) != want; i++)
        rt_sleep_ms(10);
    ck_assert_int_eq(tracking(c), want);
}

static orm_cache_redis_stats rstats(orm_cache *c)
{
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(c, &rs));
    return rs;
}

/* Wait until c's Redis level is up with no remembered drop left: the background thread's work
 * alone (no call of the cache is made meanwhile). */
static void wait_replayed(orm_cache *c)
{
    for (int i = 0; i < 1000; i++) {
        orm_cache_redis_stats rs = rstats(c);
        if (rs.up && !rs.replay_pending)
            return;
        rt_sleep_ms(10);
    }
    ck_abort_msg("the cache did not reconnect and replay its drops by itself");
}

/* key's value as a string in buf ("" on a miss). */
static const char *val(orm_cache *c, const char *key, char *buf, size_t n)
{
    orm_cache_ref *r;
    buf[0] = 0;
    if (orm_cache_get(c, key, &r) == ORM_OK) {
        size_t len = orm_cache_ref_size(r);
        if (len >= n)
            len = n - 1;
        memcpy(buf, orm_cache_ref_data(r), len);
        buf[len] = 0;
        orm_cache_ref_release(r);
    }
    return buf;
}

START_TEST(invalidation_across_processes)
{
    char pre[96], buf[32];
    rt_prefix(pre, sizeof pre, "inval");
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t kid = fork(); /* before any thread: the writer, another process */
    ck_assert_int_ge(kid, 0);
    if (kid == 0) {
        close(go[1]);
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(3);
        orm_cache *w = rt_redis(rt_url(), pre, NULL);
        int rc = orm_cache_set_bytes(w, "users:1", "v2", 2, 0);
        orm_cache_close(w);
        _exit(rc == ORM_OK ? 0 : 1);
    }
    close(go[0]);
    orm_cache *c = two_level(rt_url(), pre, NULL);
    wait_tracking(c, 1);
    ck_assert_ok(orm_cache_set_bytes(c, "users:1", "v1", 2, 0));
    ck_assert_str_eq(val(c, "users:1", buf, sizeof buf), "v1"); /* from Redis, now local */
    rt_sleep_ms(50);                                             /* our own write's invalidation passed */
    ck_assert_str_eq(val(c, "users:1", buf, sizeof buf), "v1");
    ck_assert_str_eq(val(c, "users:1", buf, sizeof buf), "v1");
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    ck_assert_uint_ge(ts.local_hits, 1);
    uint64_t inv0 = ts.invalidations;
    ck_assert_int_eq(write(go[1], "x", 1), 1);
    int st = 0;
    waitpid(kid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        seen = strcmp(val(c, "users:1", buf, sizeof buf), "v2") == 0;
        if (!seen)
            rt_sleep_ms(5);
    }
    ck_assert_msg(seen, "the other process's write never reached the local level");
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    ck_assert_uint_gt(ts.invalidations, inv0);
    /* a write of this process is read back at once (no wait for the invalidation) */
    ck_assert_ok(orm_cache_set_bytes(c, "users:1", "v3", 2, 0));
    ck_assert_str_eq(val(c, "users:1", buf, sizeof buf), "v3");
    ck_assert_ok(orm_cache_delete(c, "users:1"));
    ck_assert_str_eq(val(c, "users:1", buf, sizeof buf), "");
    close(go[1]);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* The tracking connection killed: the local level is cleared and bypassed until it is back;
 * then Redis killed and restarted: no stale value is served, and both levels come back. */
START_TEST(tracking_lost_and_redis_restarted)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64], buf[32];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_log log = { 0, 0, 0 };
    orm_cache *c = two_level(url, "tl:", &log);
    wait_tracking(c, 1);
    ck_assert_ok(orm_cache_set_bytes(c, "k", "v1", 2, 0));
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "v1");
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    uint64_t clears = ts.local_clears;

    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "CLIENT KILL TYPE pubsub");
    freeReplyObject(rr);
    /* A write by another client while no one listens: until the listener notices the lost
     * connection (asynchronously, as any invalidation arrives), the old value may still be read;
     * from the moment it has noticed, the local level is cleared and the write is never missed. */
    rr = redisCommand(raw, "SET tl:k %b", "\xB0\0\0\0\0\0\0\0\0v2", (size_t)11);
    freeReplyObject(rr);
    for (int i = 0; i < 300; i++) {
        ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
        if (ts.local_clears >= clears + 1)
            break;
        rt_sleep_ms(10);
    }
    ck_assert_uint_ge(ts.local_clears, clears + 1);
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "v2");
    for (int i = 0; i < 300; i++) { /* lost, cleared, back */
        ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
        if (ts.local_clears >= clears + 2 && ts.tracking)
            break;
        rt_sleep_ms(10);
    }
    ck_assert_uint_ge(ts.local_clears, clears + 2);
    ck_assert_int_eq(ts.tracking, 1);
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "v2");
    redisFree(raw);

    /* Redis killed: the local level is not served (it could be stale), Redis is bypassed */
    rt_server_kill(srv);
    wait_tracking(c, 0);
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "");
    ck_assert_ok(orm_cache_set_bytes(c, "k", "lost", 4, 0)); /* dropped, not failed */
    srv = rt_server_start(port);
    wait_tracking(c, 1);
    /* the dropped write is replayed (k deleted) before the cache reads Redis again; the SET
     * below comes after it, as a write of another process after the outage would */
    wait_replayed(c);
    raw = rt_raw(port);
    rr = redisCommand(raw, "SET tl:k %b", "\xB0\0\0\0\0\0\0\0\0v4", (size_t)11);
    freeReplyObject(rr);
    int seen = 0;
    for (int i = 0; i < 100 && !seen; i++) { /* the pool reconnects after its backoff */
        seen = strcmp(val(c, "k", buf, sizeof buf), "v4") == 0;
        if (!seen)
            rt_sleep_ms(20);
    }
    ck_assert(seen);
    rt_sleep_ms(50); /* the SET's invalidation has passed */
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "v4");
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "v4"); /* local again */
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    ck_assert_uint_ge(ts.local_hits, 1);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
    rt_server_kill(srv);
    ck_assert_int_ge(log.down, 2); /* the pool's, and the invalidation connection's */
    ck_assert_int_ge(log.up, 2);
}
END_TEST

/* Two caches (as two processes would) write and read the same keys from 4 threads; once the
 * writers stop and invalidations settle, every local level agrees with Redis. */
typedef struct co_arg {
    orm_cache *c;
    atomic_int *stop;
    unsigned seed;
} co_arg;

static void *co_thread(void *p)
{
    co_arg *a = p;
    char key[16], v[16];
    while (!atomic_load(a->stop)) {
        a->seed = a->seed * 1103515245u + 12345u;
        unsigned x = a->seed >> 8;
        snprintf(key, sizeof key, "c%u", x % 20);
        if (x % 4 == 0) {
            snprintf(v, sizeof v, "%u", x % 1000);
            orm_cache_set_bytes(a->c, key, v, strlen(v), 0);
        } else if (x % 17 == 0)
            orm_cache_delete(a->c, key);
        else {
            orm_cache_ref *r = NULL;
            orm_cache_get(a->c, key, &r);
            orm_cache_ref_release(r);
        }
    }
    return NULL;
}

START_TEST(coherent_after_concurrent_writers)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "coh");
    orm_cache *a = two_level(rt_url(), pre, NULL), *b = two_level(rt_url(), pre, NULL);
    wait_tracking(a, 1);
    wait_tracking(b, 1);
    atomic_int stop = 0;
    co_arg args[4] = { { a, &stop, 1 }, { a, &stop, 2 }, { b, &stop, 3 }, { b, &stop, 4 } };
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, co_thread, &args[i]);
    rt_sleep_ms(1500);
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    rt_sleep_ms(200);
    orm_cache *plain = rt_redis(rt_url(), pre, NULL);
    char k[16], va[32], vb[32], vr[32];
    for (int pass = 0; pass < 2; pass++) /* from Redis, then from the local levels */
        for (int i = 0; i < 20; i++) {
            snprintf(k, sizeof k, "c%d", i);
            val(plain, k, vr, sizeof vr);
            ck_assert_str_eq(val(a, k, va, sizeof va), vr);
            ck_assert_str_eq(val(b, k, vb, sizeof vb), vr);
        }
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(a, &ts));
    ck_assert_uint_gt(ts.local_hits, 0);
    ck_assert_uint_gt(ts.invalidations, 0);
    ck_assert_ok(orm_cache_close(plain));
    ck_assert_ok(orm_cache_close(a));
    ck_assert_ok(orm_cache_close(b));
}
END_TEST

/* ---- drops lost while Redis is unreachable are replayed before Redis is read again ---- */

/* A server of the test's own, and a Redis cache on it; replay_max 0: the default. */
static orm_cache *own_redis(int port, const char *prefix, rt_log *log, unsigned replay_max)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    orm_cache_redis_options o = ORM_CACHE_REDIS_OPTIONS_INIT;
    o.url = url;
    o.prefix = prefix;
    o.connect_timeout_ms = 200;
    o.command_timeout_ms = 300;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    o.log = rt_log_cb;
    static rt_log sink;
    o.log_userdata = log ? log : &sink;
    o.replay_keys_max = replay_max;
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_redis_new(&c, &o));
    return c;
}

static long long raw_exists(redisContext *raw, const char *name) { return rt_int(raw, "EXISTS %s", name); }

/* A partition (the server stopped with SIGSTOP, so it keeps its data, as a network partition
 * or a stall would): a delete and an overwrite made meanwhile cannot reach it. When it answers
 * again, the cache replays them by itself (no call needed) before it reads Redis: the old
 * values are never served. Before the replay existed, both reads below returned "old". */
START_TEST(partition_drops_replayed_before_reads)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    rt_log log = { 0, 0, 0 };
    orm_cache *c = own_redis(port, "od:", &log, 0);
    char buf[32];
    ck_assert_ok(orm_cache_set_bytes(c, "k1", "old1", 4, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "k2", "old2", 4, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "k3", "keep", 4, 0));
    ck_assert_str_eq(val(c, "k1", buf, sizeof buf), "old1");
    kill(srv, SIGSTOP);
    ck_assert_orm(orm_cache_delete(c, "k1"), ORM_ENOTFOUND); /* bypassed: remembered */
    ck_assert_ok(orm_cache_set_bytes(c, "k2", "new2", 4, 0)); /* dropped: remembered */
    ck_assert_orm(orm_cache_delete(c, "k1"), ORM_ENOTFOUND); /* again: remembered once */
    orm_cache_redis_stats rs = rstats(c);
    ck_assert_int_eq(rs.up, 0);
    ck_assert_int_eq(rs.replay_pending, 1);
    ck_assert_str_eq(val(c, "k1", buf, sizeof buf), "");
    kill(srv, SIGCONT);
    redisContext *raw = rt_raw(port);
    wait_replayed(c);
    rs = rstats(c);
    ck_assert_uint_eq(rs.replays, 1);
    ck_assert_uint_eq(rs.replayed_keys, 2); /* k1 once, k2 */
    ck_assert_uint_eq(rs.replay_clears, 0);
    ck_assert_str_eq(val(c, "k1", buf, sizeof buf), ""); /* not "old1" */
    ck_assert_str_eq(val(c, "k2", buf, sizeof buf), ""); /* not "old2": the overwrite's key is dropped */
    ck_assert_str_eq(val(c, "k3", buf, sizeof buf), "keep");
    ck_assert_int_eq(raw_exists(raw, "od:k1"), 0);
    ck_assert_int_eq(raw_exists(raw, "od:k2"), 0);
    ck_assert_int_eq(log.down, 1);
    ck_assert_int_eq(log.up, 1);
    /* used again */
    ck_assert_ok(orm_cache_set_bytes(c, "k2", "v3", 2, 0));
    ck_assert_str_eq(val(c, "k2", buf, sizeof buf), "v3");
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
    rt_server_kill(srv);
}
END_TEST

/* Redis answers but refuses the delete (out of memory, noeviction): the drop is remembered and
 * the cache bypassed although Redis reads would work, until the replay gets through. */
START_TEST(pending_drops_bypass_a_live_redis)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    orm_cache *c = own_redis(port, "pd:", NULL, 0);
    char buf[32];
    ck_assert_ok(orm_cache_set_bytes(c, "k", "old", 3, 0));
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "old");
    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "CONFIG SET maxmemory-policy noeviction");
    freeReplyObject(rr);
    rr = redisCommand(raw, "CONFIG SET maxmemory 1");
    freeReplyObject(rr);
    ck_assert_orm(orm_cache_delete(c, "k"), ORM_ENOTFOUND); /* refused (OOM): remembered */
    ck_assert_int_eq(rstats(c).replay_pending, 1);
    for (int i = 0; i < 5; i++) { /* the replay is refused too: still bypassed */
        ck_assert_str_eq(val(c, "k", buf, sizeof buf), "");
        rt_sleep_ms(60);
    }
    ck_assert_int_eq(rstats(c).replay_pending, 1);
    ck_assert_int_eq(raw_exists(raw, "pd:k"), 1); /* the old value is there, and not served */
    rr = redisCommand(raw, "CONFIG SET maxmemory 0");
    freeReplyObject(rr);
    wait_replayed(c);
    ck_assert_int_eq(raw_exists(raw, "pd:k"), 0);
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "");
    ck_assert_ok(orm_cache_set_bytes(c, "k", "new", 3, 0));
    ck_assert_str_eq(val(c, "k", buf, sizeof buf), "new");
    ck_assert_uint_ge(rstats(c).replays, 1);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
    rt_server_kill(srv);
}
END_TEST

/* More distinct keys than replay_keys_max: the replay clears the whole prefix (and only it),
 * and a clear made while Redis is unreachable is replayed as a clear. */
START_TEST(replay_bound_clears_the_prefix)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    orm_cache *c = own_redis(port, "rb:", NULL, 8), *other = own_redis(port, "rbx:", NULL, 0);
    char k[16], buf[32];
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "b%d", i);
        ck_assert_ok(orm_cache_set_bytes(c, k, "old", 3, 0));
    }
    ck_assert_ok(orm_cache_set_bytes(other, "x", "other", 5, 0));
    kill(srv, SIGSTOP);
    for (int i = 0; i < 10; i++) { /* 10 > 8 */
        snprintf(k, sizeof k, "b%d", i);
        orm_cache_delete(c, k);
    }
    kill(srv, SIGCONT);
    wait_replayed(c);
    orm_cache_redis_stats rs = rstats(c);
    ck_assert_uint_eq(rs.replay_clears, 1);
    ck_assert_uint_eq(rs.replayed_keys, 0);
    for (int i = 0; i < 20; i++) {
        snprintf(k, sizeof k, "b%d", i);
        ck_assert_str_eq(val(c, k, buf, sizeof buf), "");
    }
    wait_replayed(other);
    ck_assert_str_eq(val(other, "x", buf, sizeof buf), "other");
    /* a clear while unreachable */
    ck_assert_ok(orm_cache_set_bytes(c, "b1", "old", 3, 0));
    kill(srv, SIGSTOP);
    ck_assert_orm(orm_cache_clear(c), ORM_ECONN);
    kill(srv, SIGCONT);
    wait_replayed(c);
    ck_assert_uint_eq(rstats(c).replay_clears, 2);
    ck_assert_str_eq(val(c, "b1", buf, sizeof buf), "");
    ck_assert_str_eq(val(other, "x", buf, sizeof buf), "other");
    ck_assert_ok(orm_cache_close(c));
    ck_assert_ok(orm_cache_close(other));
    /* options of version 1 (no replay_keys_max) are still accepted; a later one is not */
    orm_cache_redis_options o = ORM_CACHE_REDIS_OPTIONS_INIT;
    o.version = 1;
    ck_assert_ok(orm_cache_redis_new(&c, &o));
    ck_assert_ok(orm_cache_close(c));
    o.version = ORM_CACHE_REDIS_OPTIONS_VERSION + 1;
    ck_assert_orm(orm_cache_redis_new(&c, &o), ORM_EINVAL);
    rt_server_kill(srv);
}
END_TEST

/* Two levels, writes paused (CLIENT PAUSE WRITE): reads and PINGs go on, so another process's
 * invalidation connection stays up and its local level keeps the old value; a's overwrite
 * cannot reach Redis. When writes resume, a's replay deletes the key and Redis' invalidation
 * takes the old value out of b's local level (before the replay, b served it until its local
 * TTL). */
START_TEST(two_level_replay_reaches_other_local_levels)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64], buf[32];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    orm_cache *a = two_level(url, "tp:", NULL), *b = two_level(url, "tp:", NULL);
    wait_tracking(a, 1);
    wait_tracking(b, 1);
    ck_assert_ok(orm_cache_set_bytes(a, "k", "old", 3, 0));
    rt_sleep_ms(50); /* the set's invalidation has passed */
    ck_assert_str_eq(val(b, "k", buf, sizeof buf), "old");
    ck_assert_str_eq(val(b, "k", buf, sizeof buf), "old"); /* b's local level */
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(b, &ts));
    ck_assert_uint_ge(ts.local_hits, 1);
    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "CLIENT PAUSE 1200 WRITE");
    ck_assert(rr && rr->type == REDIS_REPLY_STATUS);
    freeReplyObject(rr);
    ck_assert_ok(orm_cache_set_bytes(a, "k", "new", 3, 0)); /* times out: dropped, remembered */
    ck_assert_int_eq(rstats(a).replay_pending, 1);
    ck_assert_str_eq(val(a, "k", buf, sizeof buf), ""); /* a's own write dropped its local copy */
    wait_replayed(a);
    /* (the paused set itself may run when the pause ends, or be dropped with its closed
     * connection: "new" or nothing, never "old") */
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = strcmp(val(b, "k", buf, sizeof buf), "old") != 0;
        if (!gone)
            rt_sleep_ms(5);
    }
    ck_assert_msg(gone, "b still serves '%s', the value a's dropped write replaced", buf);
    ck_assert_str_ne(val(a, "k", buf, sizeof buf), "old");
    rt_sleep_ms(50);
    ck_assert_str_ne(val(b, "k", buf, sizeof buf), "old");
    redisFree(raw);
    ck_assert_ok(orm_cache_close(a));
    ck_assert_ok(orm_cache_close(b));
    rt_server_kill(srv);
}
END_TEST

/* Two levels, Redis stopped long enough for the invalidation connection to be lost: the local
 * level is cleared when it is lost and again when it is back, and the write made meanwhile is
 * replayed before Redis is read: the old value is never served. */
START_TEST(two_level_partition_local_cleared_and_replayed)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64], buf[32];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    orm_cache *a = two_level(url, "tq:", NULL);
    wait_tracking(a, 1);
    ck_assert_ok(orm_cache_set_bytes(a, "k", "old", 3, 0));
    ck_assert_ok(orm_cache_set_bytes(a, "j", "keep", 4, 0));
    rt_sleep_ms(50);
    ck_assert_str_eq(val(a, "k", buf, sizeof buf), "old");
    ck_assert_str_eq(val(a, "j", buf, sizeof buf), "keep"); /* in the local level */
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(a, &ts));
    uint64_t clears = ts.local_clears;
    kill(srv, SIGSTOP);
    /* the set is sent, times out, and runs when the server resumes (it was in the socket);
     * the delete after it is not sent at all (down): both are remembered, and the replay
     * comes after the late set */
    ck_assert_ok(orm_cache_set_bytes(a, "k", "mid", 3, 0));
    ck_assert_orm(orm_cache_delete(a, "k"), ORM_ENOTFOUND);
    wait_tracking(a, 0); /* the PING goes unanswered */
    ck_assert_str_eq(val(a, "j", buf, sizeof buf), ""); /* the local level is not served */
    kill(srv, SIGCONT);
    wait_tracking(a, 1);
    wait_replayed(a);
    ck_assert_ok(orm_cache_two_level_stats_get(a, &ts));
    ck_assert_uint_ge(ts.local_clears, clears + 2); /* lost, and back */
    ck_assert_str_eq(val(a, "k", buf, sizeof buf), ""); /* neither "old" nor the late "mid" */
    ck_assert_str_eq(val(a, "j", buf, sizeof buf), "keep"); /* untouched keys are still shared */
    ck_assert_ok(orm_cache_close(a));
    rt_server_kill(srv);
}
END_TEST

/* Threads writing their own keys through a Redis cache and a two-level cache while Redis is
 * stopped and resumed: a thread never reads a value older than its own last write of the key
 * (a miss is fine), during the outage, while the drops wait, and after the replay. */
#define OT_THREADS 4
#define OT_KEYS 16

typedef struct ot_arg {
    orm_cache *c;
    atomic_int *stop;
    int id;
    long last[OT_KEYS]; /* -1: deleted */
    long stale, ops;
} ot_arg;

static void *ot_thread(void *p)
{
    ot_arg *a = p;
    unsigned seed = (unsigned)a->id * 7919u + 1;
    long n = 0;
    char key[32], v[32], buf[32];
    for (int j = 0; j < OT_KEYS; j++)
        a->last[j] = -1;
    while (!atomic_load(a->stop)) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % OT_KEYS);
        snprintf(key, sizeof key, "t%d:%d", a->id, j);
        unsigned op = (seed >> 16) % 8;
        if (op < 2) {
            snprintf(v, sizeof v, "%ld", ++n);
            if (orm_cache_set_bytes(a->c, key, v, strlen(v), 0) == ORM_OK)
                a->last[j] = n;
        } else if (op == 2) {
            orm_cache_delete(a->c, key);
            a->last[j] = -1;
        } else {
            val(a->c, key, buf, sizeof buf);
            if (buf[0] && atol(buf) != a->last[j])
                a->stale++;
        }
        a->ops++;
    }
    return NULL;
}

START_TEST(outage_under_threads_no_stale_read)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    orm_cache *r = own_redis(port, "ot:", NULL, 0), *t = two_level(url, "ot:", NULL);
    wait_tracking(t, 1);
    atomic_int stop = 0;
    ot_arg args[OT_THREADS];
    pthread_t th[OT_THREADS];
    for (int i = 0; i < OT_THREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].c = i % 2 ? t : r;
        args[i].stop = &stop;
        args[i].id = i;
        pthread_create(&th[i], NULL, ot_thread, &args[i]);
    }
    rt_sleep_ms(300);
    kill(srv, SIGSTOP);
    rt_sleep_ms(700);
    kill(srv, SIGCONT);
    wait_replayed(r);
    wait_replayed(t);
    rt_sleep_ms(300);
    atomic_store(&stop, 1);
    long stale = 0, ops = 0;
    for (int i = 0; i < OT_THREADS; i++) {
        pthread_join(th[i], NULL);
        stale += args[i].stale;
        ops += args[i].ops;
    }
    ck_assert_int_eq(stale, 0);
    ck_assert_int_gt(ops, 100);
    ck_assert_uint_ge(rstats(r).replays + rstats(t).replays, 1);
    /* and what Redis holds now is each key's last write, or nothing */
    orm_cache *plain = own_redis(port, "ot:", NULL, 0);
    char key[32], buf[32];
    for (int i = 0; i < OT_THREADS; i++)
        for (int j = 0; j < OT_KEYS; j++) {
            snprintf(key, sizeof key, "t%d:%d", i, j);
            val(plain, key, buf, sizeof buf);
            ck_assert_msg(!buf[0] || atol(buf) == args[i].last[j], "%s holds %s, last written %ld", key, buf,
                          args[i].last[j]);
        }
    ck_assert_ok(orm_cache_close(plain));
    ck_assert_ok(orm_cache_close(r));
    ck_assert_ok(orm_cache_close(t));
    rt_server_kill(srv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache_redis_mt");
    TCase *tc = tcase_create("mt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lua_atomicity_8_threads_2_processes);
    tcase_add_test(tc, invalidation_across_processes);
    tcase_add_test(tc, tracking_lost_and_redis_restarted);
    tcase_add_test(tc, coherent_after_concurrent_writers);
    tcase_add_test(tc, partition_drops_replayed_before_reads);
    tcase_add_test(tc, pending_drops_bypass_a_live_redis);
    tcase_add_test(tc, replay_bound_clears_the_prefix);
    tcase_add_test(tc, two_level_replay_reaches_other_local_levels);
    tcase_add_test(tc, two_level_partition_local_cleared_and_replayed);
    tcase_add_test(tc, outage_under_threads_no_stale_read);
    suite_add_tcase(s, tc);
    return orm_test_run(s);
}
