/* Concurrency tests of the cache (run under ThreadSanitizer by `make tsan`): singleflight
 * with 64 threads, a mixed-operation hammer on a bounded cache with a sweeping thread, atomic
 * counters, write-back under concurrent writers. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/error.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__)
#define SF_ROUNDS 1000 /* TSan runs ~10x slower; the property is the same per round */
#else
#define SF_ROUNDS 10000
#endif
#define SF_THREADS 64

/* ---- singleflight: 64 threads missing one key, once per round ---- */

static atomic_int sf_calls[SF_ROUNDS];

static int sf_loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    int round = atoi(key + 3);
    atomic_fetch_add(&sf_calls[round], 1);
    return orm_cache_ref_new_int(out, round);
}

typedef struct sf_arg {
    orm_cache *c;
    pthread_barrier_t *bar;
    int bad;
} sf_arg;

static void *sf_worker(void *p)
{
    sf_arg *a = p;
    char key[32];
    for (int r = 0; r < SF_ROUNDS; r++) {
        snprintf(key, sizeof key, "sf:%d", r);
        pthread_barrier_wait(a->bar);
        orm_cache_ref *ref;
        int64_t v = -1;
        if (orm_cache_get(a->c, key, &ref) != ORM_OK || !orm_cache_ref_int(ref, &v) || v != r)
            a->bad++;
        orm_cache_ref_release(ref);
    }
    return NULL;
}

START_TEST(test_singleflight_64)
{
    orm_cache *local, *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&local, &o));
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = sf_loader;
    ck_assert_ok(orm_cache_loading_new(&c, local, &lo));
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, SF_THREADS);
    pthread_t t[SF_THREADS];
    sf_arg args[SF_THREADS];
    for (int i = 0; i < SF_THREADS; i++) {
        args[i] = (sf_arg){ c, &bar, 0 };
        ck_assert_int_eq(pthread_create(&t[i], NULL, sf_worker, &args[i]), 0);
    }
    for (int i = 0; i < SF_THREADS; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
    }
    for (int r = 0; r < SF_ROUNDS; r++)
        ck_assert_msg(atomic_load(&sf_calls[r]) == 1, "round %d: loader ran %d times", r, atomic_load(&sf_calls[r]));
    pthread_barrier_destroy(&bar);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- hammer: every operation at once on a small bounded cache ---- */

static atomic_llong now_ms;
static int64_t clock_cb(void *ud) { return atomic_load(&now_ms); }
static atomic_int events;
static void on_event(const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why, void *ud)
{
    atomic_fetch_add(&events, 1);
    ck_assert_ptr_nonnull(old);
}

typedef struct hammer_arg {
    orm_cache *c;
    uint64_t seed;
} hammer_arg;

static void *hammer(void *p)
{
    hammer_arg *a = p;
    uint64_t s = a->seed;
    char key[32];
    for (int i = 0; i < 20000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        snprintf(key, sizeof key, "h:%d", (int)(s % 200));
        orm_cache_ref *r = NULL;
        int loaded;
        switch ((s >> 32) % 9) {
        case 0:
        case 1:
            if (orm_cache_get(a->c, key, &r) == ORM_OK)
                orm_cache_ref_release(r);
            break;
        case 2: {
            /* copied under the read lock while other threads replace and delete the value:
             * always one whole value, the key's own bytes or load-or-store's "v" */
            char buf[32];
            size_t n = 0;
            if (orm_cache_get_copy(a->c, key, buf, sizeof buf, &n) == ORM_OK)
                ck_assert((n == strlen(key) && memcmp(buf, key, n) == 0) || (n == 1 && buf[0] == 'v'));
            break;
        }
        case 3:
            orm_cache_set_bytes(a->c, key, key, strlen(key), (s & 1) ? 5 : 0);
            break;
        case 4:
            orm_cache_delete(a->c, key);
            break;
        case 5:
            orm_cache_incr(a->c, "counter", 1, 0, NULL);
            break;
        case 6:
            if (orm_cache_ref_new_bytes(&r, "v", 1) == ORM_OK) {
                orm_cache_ref *got;
                if (orm_cache_load_or_store(a->c, key, r, 3, &got, &loaded) == ORM_OK)
                    orm_cache_ref_release(got);
                orm_cache_ref_release(r);
            }
            break;
        case 7:
            if (orm_cache_load_and_delete(a->c, key, &r) == ORM_OK)
                orm_cache_ref_release(r);
            break;
        default:
            atomic_fetch_add(&now_ms, 1);
            if (i % 5000 == 0)
                orm_cache_clear(a->c);
            break;
        }
    }
    return NULL;
}

START_TEST(test_hammer)
{
    for (int pol = 0; pol < 2; pol++) {
        orm_cache *c;
        orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
        o.max_entries = 64;
        o.policy = pol ? ORM_CACHE_LRU : ORM_CACHE_TINYLFU;
        o.tick_ms = 1;
        o.clock = clock_cb;
        o.listener = on_event;
        ck_assert_ok(orm_cache_local_new(&c, &o));
        pthread_t t[4];
        hammer_arg a[4];
        for (int i = 0; i < 4; i++) {
            a[i] = (hammer_arg){ c, 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) };
            ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        orm_cache_stats st;
        ck_assert_ok(orm_cache_stats_get(c, &st));
        ck_assert_uint_le(st.count, 64);
        ck_assert_int_gt(atomic_load(&events), 0);
        ck_assert_ok(orm_cache_close(c));
    }
}
END_TEST

/* ---- exact hit and miss counts ----
 * A thread owns its stripe and counts with plain stores; threads numbered to a taken stripe
 * count in a shared one with atomic adds; an exiting thread gives its stripe back. Waves of
 * more threads than stripes, each wave after the last has exited, must lose no count. */

typedef struct count_arg {
    orm_cache *c;
    int id;
} count_arg;

static void *count_worker(void *p)
{
    count_arg *a = p;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "c:%d", (a->id + i) % 50);
        uint64_t v = 0;
        ck_assert_ok(orm_cache_get_copy(a->c, key, &v, sizeof v, NULL));
        ck_assert_uint_eq(v, (uint64_t)((a->id + i) % 50));
        if (i % 4 == 0)
            ck_assert_orm(orm_cache_get_copy(a->c, "absent", &v, sizeof v, NULL), ORM_ENOTFOUND);
    }
    return NULL;
}

START_TEST(test_hit_counts_exact)
{
    for (int limited = 0; limited < 2; limited++) {
        orm_cache *c;
        orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
        o.max_entries = limited ? 1000 : 0; /* counted through the read buffers, or directly */
        o.background_sweep = 0;
        ck_assert_ok(orm_cache_local_new(&c, &o));
        char key[32];
        for (uint64_t k = 0; k < 50; k++) {
            snprintf(key, sizeof key, "c:%d", (int)k);
            ck_assert_ok(orm_cache_set_bytes(c, key, &k, sizeof k, 0));
        }
        enum { WAVES = 3, THREADS = 24 };
        for (int w = 0; w < WAVES; w++) {
            pthread_t t[THREADS];
            count_arg a[THREADS];
            for (int i = 0; i < THREADS; i++) {
                a[i] = (count_arg){ c, i };
                ck_assert_int_eq(pthread_create(&t[i], NULL, count_worker, &a[i]), 0);
            }
            for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        }
        orm_cache_stats st;
        ck_assert_ok(orm_cache_stats_get(c, &st));
        ck_assert_uint_eq(st.hits, (uint64_t)WAVES * THREADS * 2000);
        ck_assert_uint_eq(st.misses, (uint64_t)WAVES * THREADS * 500);
        ck_assert_ok(orm_cache_close(c));
    }
}
END_TEST

/* ---- counters ---- */

static void *incr_worker(void *p)
{
    for (int i = 0; i < 5000; i++)
        ck_assert_ok(orm_cache_incr((orm_cache *)p, "ctr", 1, 0, NULL));
    return NULL;
}

START_TEST(test_incr_atomic)
{
    orm_cache *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, incr_worker, c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int64_t v;
    ck_assert_ok(orm_cache_incr(c, "ctr", 0, 0, &v));
    ck_assert_int_eq(v, 20000);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- write-back under concurrent writers and evictions ---- */

#define WB_THREADS 4
#define WB_KEYS 100

typedef struct store {
    pthread_mutex_t mu;
    int64_t value[WB_THREADS * WB_KEYS];
    int fail_every; /* fail every n-th flush call */
    int calls;
} store;

static int flush_cb(const orm_cache_wb_item *items, size_t n, void *ud)
{
    store *s = ud;
    pthread_mutex_lock(&s->mu);
    int fail = ++s->calls % s->fail_every == 0;
    for (size_t i = 0; !fail && i < n; i++) {
        int64_t v = -1;
        if (items[i].value)
            orm_cache_ref_int(items[i].value, &v);
        s->value[atoi(items[i].key + 2)] = v;
    }
    pthread_mutex_unlock(&s->mu);
    return fail ? ORM_ECONN : ORM_OK;
}

typedef struct wb_arg {
    orm_cache *c;
    int id;
} wb_arg;

static void *wb_worker(void *p)
{
    wb_arg *a = p;
    char key[32];
    for (int round = 1; round <= 5; round++)
        for (int k = 0; k < WB_KEYS; k++) {
            int idx = a->id * WB_KEYS + k;
            snprintf(key, sizeof key, "w:%d", idx);
            orm_cache_ref *r;
            ck_assert_ok(orm_cache_ref_new_int(&r, idx * 10 + round));
            ck_assert_ok(orm_cache_set(a->c, key, r, 0));
            orm_cache_ref_release(r);
            if (k % 37 == 0)
                orm_cache_flush(a->c);
        }
    return NULL;
}

START_TEST(test_write_back_concurrent)
{
    static store s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.mu, NULL);
    s.fail_every = 3;
    orm_cache *local, *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.max_entries = 50;
    o.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&local, &o));
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &s;
    wo.batch = 16;
    wo.interval_ms = 2;
    ck_assert_ok(orm_cache_write_back_new(&c, local, &wo));
    pthread_t t[WB_THREADS];
    wb_arg a[WB_THREADS];
    for (int i = 0; i < WB_THREADS; i++) {
        a[i] = (wb_arg){ c, i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, wb_worker, &a[i]), 0);
    }
    for (int i = 0; i < WB_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_lock(&s.mu);
    s.fail_every = 1000000; /* the store recovers: close must write everything */
    pthread_mutex_unlock(&s.mu);
    ck_assert_ok(orm_cache_close(c));
    for (int idx = 0; idx < WB_THREADS * WB_KEYS; idx++)
        ck_assert_int_eq(s.value[idx], idx * 10 + 5);
    pthread_mutex_destroy(&s.mu);
}
END_TEST

/* ---- a waiter that times out does not start a second load ---- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open, calls, entered;
} gate;

static int gated_loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    gate *g = ud;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    g->entered = 1;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return orm_cache_ref_new_int(out, 7);
}

static void *get_worker(void *p)
{
    orm_cache_ref *r = NULL;
    int rc = orm_cache_get((orm_cache *)p, "slow", &r);
    orm_cache_ref_release(r);
    return (void *)(intptr_t)rc;
}

START_TEST(test_wait_timeout)
{
    static gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
    orm_cache *local, *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&local, &o));
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = gated_loader;
    lo.userdata = &g;
    lo.wait_timeout_ms = 20;
    ck_assert_ok(orm_cache_loading_new(&c, local, &lo));
    pthread_t owner;
    ck_assert_int_eq(pthread_create(&owner, NULL, get_worker, c), 0);
    pthread_mutex_lock(&g.mu);
    while (!g.entered)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    orm_cache_ref *r;
    ck_assert_orm(orm_cache_get(c, "slow", &r), ORM_ETIMEOUT); /* waits on the flight, gives up */
    ck_assert_orm(orm_cache_get(c, "slow", &r), ORM_ETIMEOUT);
    pthread_mutex_lock(&g.mu);
    ck_assert_int_eq(g.calls, 1); /* no second load */
    g.open = 1;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    void *res;
    pthread_join(owner, &res);
    ck_assert_int_eq((int)(intptr_t)res, ORM_OK);
    ck_assert_ok(orm_cache_get(c, "slow", &r)); /* installed by the one load */
    orm_cache_ref_release(r);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- removed entries are freed, however long a reader stalls ----
 * A removed entry may still sit in a thread's read buffer, so it is freed only once every
 * buffer has been drained since. A reader that filled its buffer and then stopped must not
 * hold them all back: the objects alive stay under the cache's limit plus the bound on
 * entries waiting to be freed, and closing the cache frees the rest. */

static atomic_int objs_alive;

static int counted_copy(void *dst, const void *src, void *ud)
{
    memcpy(dst, src, sizeof(int64_t));
    atomic_fetch_add(&objs_alive, 1);
    return ORM_OK;
}
static void counted_free(void *obj, void *ud) { atomic_fetch_sub(&objs_alive, 1); }
static const orm_cache_type counted_type = { sizeof(int64_t), counted_copy, counted_free, NULL, NULL, NULL, NULL, NULL };

typedef struct stall_arg {
    orm_cache *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int have_read, may_exit;
} stall_arg;

static void *stalled_reader(void *p)
{
    stall_arg *a = p;
    char key[32];
    for (int i = 0; i < 1000; i++) { /* fills its read buffer, and drains it now and then */
        snprintf(key, sizeof key, "o:%d", i % 100);
        orm_cache_ref *r;
        ck_assert_ok(orm_cache_get(a->c, key, &r));
        ck_assert_int_eq(*(const int64_t *)orm_cache_ref_data(r), i % 100);
        orm_cache_ref_release(r);
    }
    pthread_mutex_lock(&a->mu);
    a->have_read = 1;
    pthread_cond_broadcast(&a->cv);
    while (!a->may_exit)
        pthread_cond_wait(&a->cv, &a->mu);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

START_TEST(test_retired_entries_freed)
{
    orm_cache *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.max_entries = 100;
    o.background_sweep = 0;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    char key[32];
    for (int64_t i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "o:%d", (int)i);
        ck_assert_ok(orm_cache_set_obj(c, key, &counted_type, &i, 0));
    }
    stall_arg a = { c, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, stalled_reader, &a), 0);
    pthread_mutex_lock(&a.mu);
    while (!a.have_read)
        pthread_cond_wait(&a.cv, &a.mu);
    pthread_mutex_unlock(&a.mu);

    /* 20,000 writes over 300 keys: evictions, replacements and deletes, each value an object */
    for (int64_t i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "o:%d", (int)(i % 300));
        ck_assert_ok(orm_cache_set_obj(c, key, &counted_type, &i, 0));
        if (i % 7 == 0)
            ck_assert_ok(orm_cache_delete(c, key));
    }
    ck_assert_int_le(atomic_load(&objs_alive), 100 + ORM__CACHE_LIMBO_MAX);

    pthread_mutex_lock(&a.mu);
    a.may_exit = 1;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    pthread_join(t, NULL);
    ck_assert_ok(orm_cache_close(c));
    ck_assert_int_eq(atomic_load(&objs_alive), 0);
}
END_TEST

static Suite *concurrency_suite(void)
{
    Suite *s = suite_create("cache_concurrency");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_singleflight_64);
    tcase_add_test(tc, test_hammer);
    tcase_add_test(tc, test_hit_counts_exact);
    tcase_add_test(tc, test_incr_atomic);
    tcase_add_test(tc, test_write_back_concurrent);
    tcase_add_test(tc, test_wait_timeout);
    tcase_add_test(tc, test_retired_entries_freed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(concurrency_suite()); }
