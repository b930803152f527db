/* The Redis backend and the two-level cache under concurrency (ctest label tsan): the Lua
 * scripts' atomicity under 8 threads in each of 2 processes, invalidation across processes,
 * the tracking connection lost (local level cleared and bypassed, then back), Redis restarted
 * under a two-level cache, and coherence after concurrent writers from two caches settle. */
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

int main(void)
{
    Suite *s = suite_create("cache_redis_mt");
    TCase *tc = tcase_create("mt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lua_atomicity_8_threads_2_processes);
    tcase_add_test(tc, invalidation_across_processes);
    tcase_add_test(tc, tracking_lost_and_redis_restarted);
    tcase_add_test(tc, coherent_after_concurrent_writers);
    suite_add_tcase(s, tc);
    return orm_test_run(s);
}
