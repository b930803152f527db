/* Unit tests of the cache decorators: read-through (singleflight, invalidation during a load,
 * negative caching, bloom, jitter, refresh-ahead, background mode), write-through,
 * write-back, the task pool and the bloom filter. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/error.h"
#include "testutil.h"

static atomic_llong fake_now;
static int64_t fake_clock(void *ud) { return atomic_load(&fake_now); }

static void nap(void)
{
    struct timespec ts = { 0, 2000000 };
    nanosleep(&ts, NULL);
}

static orm_cache *local_cache(size_t max_entries)
{
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.max_entries = max_entries;
    o.background_sweep = 0;
    o.clock = fake_clock;
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    return c;
}

/* ---- a loader over a fake store of counters ---- */

typedef struct store {
    atomic_int calls;
    int fail;           /* loads fail with ORM_EDB */
    int missing;        /* loads give ORM_ENOTFOUND */
    int64_t value;      /* what a load returns (then incremented) */
    orm_cache **self;   /* the cache under test, for loaders that write it */
    int write_during;   /* 1: delete the key during the load; 2: set it */
} store;

static int load_counter(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    store *s = ud;
    atomic_fetch_add(&s->calls, 1);
    if (s->fail)
        return ORM_EDB;
    if (s->missing)
        return ORM_ENOTFOUND;
    if (s->write_during == 1)
        orm_cache_delete(*s->self, key);
    else if (s->write_during == 2)
        orm_cache_set_bytes(*s->self, key, "new", 3, 0);
    return orm_cache_ref_new_int(out, s->value++);
}

static orm_cache *loading_cache(store *s, orm_cache_loading_options *lo, size_t max_entries)
{
    lo->loader = load_counter;
    lo->userdata = s;
    orm_cache *c;
    ck_assert_ok(orm_cache_loading_new(&c, local_cache(max_entries), lo));
    return c;
}

static int64_t get_int(orm_cache *c, const char *key, int *rc)
{
    orm_cache_ref *r;
    int64_t v = -1;
    *rc = orm_cache_get(c, key, &r);
    if (*rc == ORM_OK) {
        if (!orm_cache_ref_int(r, &v))
            v = -2; /* not a counter */
        orm_cache_ref_release(r);
    }
    return v;
}

/* A loaded miss is one miss: the decorator's own re-check before loading is not counted. */
START_TEST(test_read_through_counts_each_get_once)
{
    store st = { 0 };
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    orm_cache *c = loading_cache(&st, &lo, 1000);
    char key[32];
    int rc;
    for (int i = 0; i < 10005; i++) {
        snprintf(key, sizeof key, "users:%d", i % 102);
        (void)get_int(c, key, &rc);
        ck_assert_ok(rc);
    }
    orm_cache_stats stats;
    ck_assert_ok(orm_cache_stats_get(c, &stats));
    ck_assert_uint_eq(stats.loads, 102);
    ck_assert_uint_eq(stats.misses, 102);
    ck_assert_uint_eq(stats.hits, 10005 - 102);
    orm_cache_close(c);
}
END_TEST

START_TEST(test_read_through)
{
    store s = { 0 };
    s.value = 10;
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.ttl_ms = 1000;
    atomic_store(&fake_now, 0);
    orm_cache *c = loading_cache(&s, &lo, 0);
    int rc;
    ck_assert_int_eq(get_int(c, "a", &rc), 10);
    ck_assert_int_eq(get_int(c, "a", &rc), 10);
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    atomic_store(&fake_now, 2000); /* expired (ttl within +-10%) */
    ck_assert_int_eq(get_int(c, "a", &rc), 11);
    ck_assert_int_eq(atomic_load(&s.calls), 2);
    s.fail = 1;
    ck_assert_int_eq(get_int(c, "b", &rc), -1);
    ck_assert_int_eq(rc, ORM_EDB);
    ck_assert_int_eq(get_int(c, "b", &rc), -1); /* errors are not cached */
    ck_assert_int_eq(atomic_load(&s.calls), 4);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.loads, 4);
    ck_assert_uint_eq(st.load_errors, 2);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_invalidation_during_load)
{
    for (int mode = 1; mode <= 2; mode++) {
        orm_cache *c;
        store s = { 0 };
        s.self = &c;
        s.write_during = mode;
        orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
        c = loading_cache(&s, &lo, 0);
        int rc;
        /* the caller gets what was loaded, but it is not installed over the write */
        ck_assert_int_eq(get_int(c, "k", &rc), 0);
        s.write_during = 0;
        int64_t v = get_int(c, "k", &rc);
        if (mode == 1) { /* deleted during the load: loads again */
            ck_assert_int_eq(v, 1);
            ck_assert_int_eq(atomic_load(&s.calls), 2);
        } else { /* set during the load: the set's value stays */
            ck_assert_int_eq(v, -2);
            ck_assert_int_eq(atomic_load(&s.calls), 1);
        }
        ck_assert_ok(orm_cache_close(c));
    }
}
END_TEST

START_TEST(test_negative_and_bloom)
{
    store s = { 0 };
    s.missing = 1;
    orm_bloom *b;
    ck_assert_ok(orm_bloom_new(&b, 100, 0.01));
    orm_bloom_add(b, "exists");
    orm_bloom_add(b, "gone");
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.negative_ttl_ms = 100;
    lo.bloom = b;
    atomic_store(&fake_now, 0);
    orm_cache *c = loading_cache(&s, &lo, 0);
    int rc;
    get_int(c, "never-added", &rc);
    ck_assert_int_eq(rc, ORM_ENOTFOUND);
    ck_assert_int_eq(atomic_load(&s.calls), 0); /* the bloom filter answered */
    get_int(c, "gone", &rc);
    ck_assert_int_eq(rc, ORM_ENOTFOUND);
    get_int(c, "gone", &rc);
    ck_assert_int_eq(rc, ORM_ENOTFOUND);
    ck_assert_int_eq(atomic_load(&s.calls), 1); /* the not-found was cached */
    atomic_store(&fake_now, 100);
    s.missing = 0;
    ck_assert_int_eq(get_int(c, "gone", &rc), 0); /* negative entry expired: loads again */
    ck_assert_int_eq(atomic_load(&s.calls), 2);
    ck_assert_ok(orm_cache_close(c));
    orm_bloom_free(b);
}
END_TEST

START_TEST(test_jitter)
{
    store s = { 0 };
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.ttl_ms = 10000;
    lo.jitter_seed = 42;
    atomic_store(&fake_now, 0);
    orm_cache *c = loading_cache(&s, &lo, 0);
    int64_t lo_ttl = INT64_MAX, hi_ttl = 0;
    char k[32];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "j%d", i);
        int rc;
        get_int(c, k, &rc);
        orm_cache_ref *r;
        orm_cache_meta m;
        ck_assert_ok(orm_cache_get_meta(c, k, &r, &m));
        orm_cache_ref_release(r);
        if (m.ttl_ms < lo_ttl)
            lo_ttl = m.ttl_ms;
        if (m.ttl_ms > hi_ttl)
            hi_ttl = m.ttl_ms;
    }
    ck_assert_int_ge(lo_ttl, 9000);
    ck_assert_int_le(hi_ttl, 11000);
    ck_assert_int_lt(lo_ttl, 9200); /* spread over the whole band */
    ck_assert_int_gt(hi_ttl, 10800);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

static void wait_calls(store *s, int n)
{
    for (int i = 0; i < 5000 && atomic_load(&s->calls) < n; i++)
        nap();
    ck_assert_int_ge(atomic_load(&s->calls), n);
}

START_TEST(test_refresh_ahead)
{
    orm_task_pool *pool;
    ck_assert_ok(orm_task_pool_new(&pool, 2, 16));
    store s = { 0 };
    s.value = 100;
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.ttl_ms = 1000;
    lo.jitter = 0;
    lo.refresh_ahead = 0.2;
    lo.pool = pool;
    atomic_store(&fake_now, 0);
    orm_cache *c = loading_cache(&s, &lo, 0);
    int rc;
    ck_assert_int_eq(get_int(c, "r", &rc), 100);
    atomic_store(&fake_now, 700); /* 30% left: no refresh */
    ck_assert_int_eq(get_int(c, "r", &rc), 100);
    ck_assert_int_eq(atomic_load(&s.calls), 1);
    atomic_store(&fake_now, 850); /* 15% left: old value now, one reload in the background */
    ck_assert_int_eq(get_int(c, "r", &rc), 100);
    wait_calls(&s, 2);
    int64_t v = 100;
    for (int i = 0; i < 5000 && v == 100; i++) {
        v = get_int(c, "r", &rc);
        nap();
    }
    ck_assert_int_eq(v, 101);
    /* a failing reload keeps the old value until its hard expiry */
    s.fail = 1;
    atomic_store(&fake_now, 850 + 850);
    ck_assert_int_eq(get_int(c, "r", &rc), 101);
    wait_calls(&s, 3);
    ck_assert_int_eq(get_int(c, "r", &rc), 101);
    atomic_store(&fake_now, 850 + 1000);
    get_int(c, "r", &rc);
    ck_assert_int_eq(rc, ORM_EDB); /* expired: a synchronous load, which fails */
    ck_assert_ok(orm_cache_close(c));
    orm_task_pool_close(pool, 1);
}
END_TEST

START_TEST(test_background_mode)
{
    orm_task_pool *pool;
    ck_assert_ok(orm_task_pool_new(&pool, 1, 16));
    store s = { 0 };
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.mode = ORM_CACHE_LOAD_BACKGROUND;
    lo.ttl_ms = 100;
    lo.jitter = 0;
    lo.stale_ms = 1000;
    lo.pool = pool;
    atomic_store(&fake_now, 0);
    orm_cache *c = loading_cache(&s, &lo, 0);
    int rc;
    get_int(c, "x", &rc);
    ck_assert_int_eq(rc, ORM_ENOTFOUND); /* absent: loads in the background */
    int64_t v = -1;
    for (int i = 0; i < 5000 && v < 0; i++) {
        v = get_int(c, "x", &rc);
        nap();
    }
    ck_assert_int_eq(v, 0);
    atomic_store(&fake_now, 500); /* stale: served, and reloaded */
    ck_assert_int_eq(get_int(c, "x", &rc), 0);
    for (int i = 0; i < 5000 && v == 0; i++) {
        v = get_int(c, "x", &rc);
        nap();
    }
    ck_assert_int_eq(v, 1);
    ck_assert_ok(orm_cache_close(c)); /* waits for queued work */
    orm_task_pool_close(pool, 1);
}
END_TEST

/* ---- write-through ---- */

typedef struct wstore {
    int fail;
    int writes, deletes;
    char last[64];
} wstore;

static int store_cb(const char *key, orm_cache_ref *v, void *ud)
{
    wstore *w = ud;
    if (w->fail)
        return ORM_EDB;
    if (v)
        w->writes++;
    else
        w->deletes++;
    snprintf(w->last, sizeof w->last, "%s", key);
    return ORM_OK;
}

START_TEST(test_write_through)
{
    wstore w = { 0 };
    orm_cache *c;
    ck_assert_ok(orm_cache_write_through_new(&c, local_cache(0), store_cb, &w));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "1", 1, 0));
    ck_assert_int_eq(w.writes, 1);
    w.fail = 1;
    ck_assert_orm(orm_cache_set_bytes(c, "a", "2", 1, 0), ORM_EDB);
    ck_assert_orm(orm_cache_set_bytes(c, "b", "2", 1, 0), ORM_EDB);
    ck_assert_orm(orm_cache_delete(c, "a"), ORM_EDB);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_get(c, "a", &r)); /* unchanged */
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "1", 1), 0);
    orm_cache_ref_release(r);
    ck_assert_orm(orm_cache_get(c, "b", &r), ORM_ENOTFOUND);
    w.fail = 0;
    ck_assert_ok(orm_cache_delete(c, "a"));
    ck_assert_int_eq(w.deletes, 1);
    ck_assert_orm(orm_cache_get(c, "a", &r), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_incr(c, "n", 1, 0, NULL), ORM_EUNSUPPORTED);
    ck_assert_ok(orm_cache_close(c));

    /* stored but refused by the cache: the old cached value must not survive */
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    o.max_bytes = 1000;
    orm_cache *local;
    ck_assert_ok(orm_cache_local_new(&local, &o));
    ck_assert_ok(orm_cache_write_through_new(&c, local, store_cb, &w));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "old", 3, 0));
    char big[2000] = { 0 };
    ck_assert_orm(orm_cache_set_bytes(c, "a", big, sizeof big, 0), ORM_EINVAL);
    ck_assert_orm(orm_cache_get(c, "a", &r), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- write-back ---- */

#define WB_KEYS 20

typedef struct flushed {
    int fail_next;  /* fail this many calls */
    int always_fail;
    int calls, items;
    int64_t value[WB_KEYS]; /* what the store holds per key index; -1 none, -2 deleted */
} flushed;

static int flush_cb(const orm_cache_wb_item *items, size_t n, void *ud)
{
    flushed *f = ud;
    f->calls++;
    if (f->always_fail || f->fail_next > 0) {
        f->fail_next--;
        return ORM_ECONN;
    }
    for (size_t i = 0; i < n; i++) {
        int k = atoi(items[i].key + 1);
        int64_t v = -2;
        if (items[i].value)
            ck_assert(orm_cache_ref_int(items[i].value, &v));
        f->value[k] = v;
        f->items++;
    }
    return ORM_OK;
}

static void wb_set(orm_cache *c, int k, int64_t v)
{
    char key[16];
    snprintf(key, sizeof key, "k%d", k);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_ref_new_int(&r, v));
    ck_assert_ok(orm_cache_set(c, key, r, 0));
    orm_cache_ref_release(r);
}

START_TEST(test_write_back_loses_nothing)
{
    flushed f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < WB_KEYS; i++)
        f.value[i] = -1;
    f.fail_next = 1; /* the first flush fails */
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &f;
    wo.batch = 3;
    orm_cache *c;
    ck_assert_ok(orm_cache_write_back_new(&c, local_cache(4), &wo));
    for (int i = 0; i < WB_KEYS; i++)
        wb_set(c, i, i * 10);
    /* evictions flushed the evicted keys at once (the first of them failed, kept dirty) */
    ck_assert_int_gt(f.items, 0);
    ck_assert_uint_gt(orm_cache_write_back_dirty(c), 0);
    /* an evicted, unwritten key still reads through the decorator */
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_get(c, "k0", &r));
    orm_cache_ref_release(r);
    wb_set(c, 5, 555);
    ck_assert_ok(orm_cache_delete(c, "k6"));
    ck_assert_ok(orm_cache_close(c)); /* flushes the rest */
    for (int i = 0; i < WB_KEYS; i++) {
        int64_t want = i == 5 ? 555 : i == 6 ? -2 : i * 10;
        ck_assert_int_eq(f.value[i], want);
    }
}
END_TEST

START_TEST(test_write_back_explicit_and_failing_close)
{
    flushed f;
    memset(&f, 0, sizeof f);
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &f;
    orm_cache *c;
    ck_assert_ok(orm_cache_write_back_new(&c, local_cache(0), &wo));
    wb_set(c, 1, 1);
    wb_set(c, 2, 2);
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 2);
    ck_assert_ok(orm_cache_flush(c));
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 0);
    ck_assert_int_eq(f.items, 2);
    wb_set(c, 3, 3);
    f.always_fail = 1;
    ck_assert_orm(orm_cache_flush(c), ORM_ECONN);
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 1);
    /* Issue 19 item 15: an earlier, unrelated error must not become the close's message
     * when the flush function returns a code without one. */
    orm_cache_ref *none;
    ck_assert_orm(orm_cache_get(c, "no-such-key", &none), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_close(c), ORM_ECONN); /* reports what it could not write */
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "1 entries could not be written"));
    ck_assert_msg(strstr(orm_error_last()->message, "flush returned") != NULL &&
                      strstr(orm_error_last()->message, "no-such-key") == NULL,
                  "%s", orm_error_last()->message);
}
END_TEST

START_TEST(test_write_back_refused_set)
{
    flushed f;
    memset(&f, 0, sizeof f);
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    o.max_bytes = 1000;
    orm_cache *local, *c;
    ck_assert_ok(orm_cache_local_new(&local, &o));
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &f;
    ck_assert_ok(orm_cache_write_back_new(&c, local, &wo));
    char big[2000] = { 0 };
    ck_assert_orm(orm_cache_set_bytes(c, "k1", big, sizeof big, 0), ORM_EINVAL);
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 0); /* a refused set is not written */
    ck_assert_ok(orm_cache_close(c));
    ck_assert_int_eq(f.items, 0);
}
END_TEST

/* load-or-store stores and marks dirty only a missing key; load-and-delete hands back the
 * value, drops the key and leaves the deletion to flush. */
START_TEST(test_write_back_load_or_store_and_delete)
{
    flushed f;
    memset(&f, 0, sizeof f);
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &f;
    orm_cache *c;
    ck_assert_ok(orm_cache_write_back_new(&c, local_cache(0), &wo));
    orm_cache_ref *v, *got;
    int loaded = -1;
    ck_assert_ok(orm_cache_ref_new_int(&v, 7));
    ck_assert_ok(orm_cache_load_or_store(c, "k", v, 0, &got, &loaded));
    ck_assert_int_eq(loaded, 0);
    ck_assert_ptr_eq(got, v);
    orm_cache_ref_release(got);
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 1);
    orm_cache_ref *other;
    ck_assert_ok(orm_cache_ref_new_int(&other, 8));
    ck_assert_ok(orm_cache_load_or_store(c, "k", other, 0, &got, &loaded));
    ck_assert_int_eq(loaded, 1);
    int64_t n = 0;
    ck_assert_int_eq(orm_cache_ref_int(got, &n), 1);
    ck_assert_int_eq(n, 7);
    orm_cache_ref_release(got);
    orm_cache_ref_release(other);
    ck_assert_ok(orm_cache_load_and_delete(c, "k", &got));
    ck_assert_int_eq(orm_cache_ref_int(got, &n), 1);
    ck_assert_int_eq(n, 7);
    orm_cache_ref_release(got);
    int rc;
    get_int(c, "k", &rc);
    ck_assert_orm(rc, ORM_ENOTFOUND);
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 1); /* the deletion, still to flush */
    orm_cache_ref_release(v);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_write_back_periodic)
{
    flushed f;
    memset(&f, 0, sizeof f);
    orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
    wo.flush = flush_cb;
    wo.userdata = &f;
    wo.interval_ms = 5;
    orm_cache *c;
    ck_assert_ok(orm_cache_write_back_new(&c, local_cache(0), &wo));
    wb_set(c, 1, 7);
    for (int i = 0; i < 5000 && orm_cache_write_back_dirty(c); i++)
        nap();
    ck_assert_uint_eq(orm_cache_write_back_dirty(c), 0);
    ck_assert_ok(orm_cache_close(c));
    ck_assert_int_eq(f.value[1], 7);
}
END_TEST

/* ---- task pool ---- */

typedef struct tally {
    atomic_int ran, cancelled;
} tally;

static void count_task(void *arg, int cancelled)
{
    tally *t = arg;
    if (cancelled)
        atomic_fetch_add(&t->cancelled, 1);
    else
        atomic_fetch_add(&t->ran, 1);
}

static void slow_task(void *arg, int cancelled)
{
    struct timespec ts = { 0, 20000000 };
    nanosleep(&ts, NULL);
    count_task(arg, cancelled);
}

START_TEST(test_task_pool)
{
    tally t = { 0, 0 };
    orm_task_pool *p;
    ck_assert_ok(orm_task_pool_new(&p, 3, 64));
    for (int i = 0; i < 50; i++)
        ck_assert_ok(orm_task_pool_submit(p, count_task, &t, 0));
    orm_task_pool_close(p, 1);
    ck_assert_int_eq(atomic_load(&t.ran), 50);

    tally u = { 0, 0 };
    ck_assert_ok(orm_task_pool_new(&p, 1, 4));
    ck_assert_ok(orm_task_pool_submit(p, slow_task, &u, 0)); /* occupies the worker */
    int queued = 1, busy = 0;
    for (int i = 0; i < 10; i++) {
        int rc = orm_task_pool_submit(p, count_task, &u, 0);
        if (rc == ORM_OK)
            queued++;
        else {
            ck_assert_int_eq(rc, ORM_EBUSY);
            busy++;
        }
    }
    ck_assert_int_gt(busy, 0);
    orm_task_pool_close(p, 0); /* queued ones are cancelled, each called once */
    ck_assert_int_eq(atomic_load(&u.ran) + atomic_load(&u.cancelled), queued);
    ck_assert_int_ge(atomic_load(&u.cancelled), queued - 2);

    tally d = { 0, 0 };
    ck_assert_ok(orm_task_pool_new(&p, 1, 4));
    ck_assert_ok(orm_task_pool_submit(p, slow_task, &d, 0));
    ck_assert_ok(orm_task_pool_submit(p, count_task, &d, orm_task_pool_now() + 1)); /* will miss it */
    orm_task_pool_close(p, 1);
    ck_assert_int_eq(atomic_load(&d.ran), 1);
    ck_assert_int_eq(atomic_load(&d.cancelled), 1);
}
END_TEST

/* ---- bloom ---- */

START_TEST(test_bloom_rate)
{
    orm_bloom *b;
    size_t n = 20000;
    ck_assert_ok(orm_bloom_new(&b, n, 0.01));
    ck_assert_uint_le(orm_bloom_bits(b), 10 * n + 64); /* at most 10 bits a key */
    char k[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "users:%zu", i);
        orm_bloom_add(b, k);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "users:%zu", i);
        ck_assert(orm_bloom_maybe(b, k));
    }
    size_t fp = 0, probes = 200000;
    for (size_t i = 0; i < probes; i++) {
        snprintf(k, sizeof k, "other:%zu", i);
        fp += (size_t)orm_bloom_maybe(b, k);
    }
    double rate = (double)fp / (double)probes;
    ck_assert_msg(rate <= 0.015, "false-positive rate %.4f above 1.5 x 1%%", rate);
    orm_bloom_free(b);
}
END_TEST

static int ok_or(int rc, int a, int b) { return rc == ORM_OK || rc == a || rc == b; }

START_TEST(test_alloc_failures)
{
    long n;
    for (n = 0; n < 2000; n++) {
        store s = { 0 };
        flushed f;
        memset(&f, 0, sizeof f);
        orm__alloc_fail_after(n);
        orm_cache *local = NULL, *c = NULL, *wlocal = NULL, *w = NULL;
        orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
        o.background_sweep = 0;
        o.max_entries = 3;
        o.shards = 2;
        int rc = orm_cache_local_new(&local, &o);
        ck_assert(ok_or(rc, ORM_ENOMEM, ORM_ENOMEM));
        if (rc == ORM_OK) {
            orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
            lo.loader = load_counter;
            lo.userdata = &s;
            lo.negative_ttl_ms = 10;
            rc = orm_cache_loading_new(&c, local, &lo);
            ck_assert(ok_or(rc, ORM_ENOMEM, ORM_ENOMEM));
            if (rc != ORM_OK)
                orm_cache_close(local);
        }
        if (c) {
            char k[8];
            for (int i = 0; i < 6; i++) {
                snprintf(k, sizeof k, "k%d", i % 4);
                int got;
                get_int(c, k, &got);
                ck_assert(ok_or(got, ORM_ENOMEM, ORM_ENOTFOUND));
                ck_assert(ok_or(orm_cache_set_bytes(c, k, "v", 1, 5), ORM_ENOMEM, ORM_ENOMEM));
                ck_assert(ok_or(orm_cache_delete(c, k), ORM_ENOMEM, ORM_ENOTFOUND));
            }
            s.missing = 1;
            int got;
            get_int(c, "missing", &got);
            ck_assert(ok_or(got, ORM_ENOMEM, ORM_ENOTFOUND));
        }
        if (orm_cache_local_new(&wlocal, &o) == ORM_OK) {
            orm_cache_write_back_options wo = ORM_CACHE_WRITE_BACK_OPTIONS_INIT;
            wo.flush = flush_cb;
            wo.userdata = &f;
            rc = orm_cache_write_back_new(&w, wlocal, &wo);
            ck_assert(ok_or(rc, ORM_ENOMEM, ORM_ENOMEM));
            if (rc != ORM_OK)
                orm_cache_close(wlocal);
        }
        if (w) {
            for (int i = 0; i < 6; i++) {
                orm_cache_ref *r;
                if (orm_cache_ref_new_int(&r, i) != ORM_OK)
                    continue;
                char k[8];
                snprintf(k, sizeof k, "k%d", i);
                ck_assert(ok_or(orm_cache_set(w, k, r, 0), ORM_ENOMEM, ORM_ENOMEM));
                orm_cache_ref_release(r);
            }
            ck_assert(ok_or(orm_cache_flush(w), ORM_ENOMEM, ORM_ENOMEM));
        }
        int failed = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        orm_cache_close(c);
        orm_cache_close(w); /* may not write what failed earlier; frees everything */
        if (!failed)
            break;
    }
    ck_assert_int_lt(n, 2000); /* every allocation of the scenario was failed once */
}
END_TEST

static Suite *patterns_suite(void)
{
    Suite *s = suite_create("cache_patterns");
    TCase *tc = tcase_create("patterns");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_through);
    tcase_add_test(tc, test_read_through_counts_each_get_once);
    tcase_add_test(tc, test_invalidation_during_load);
    tcase_add_test(tc, test_negative_and_bloom);
    tcase_add_test(tc, test_jitter);
    tcase_add_test(tc, test_refresh_ahead);
    tcase_add_test(tc, test_background_mode);
    tcase_add_test(tc, test_write_through);
    tcase_add_test(tc, test_write_back_loses_nothing);
    tcase_add_test(tc, test_write_back_explicit_and_failing_close);
    tcase_add_test(tc, test_write_back_refused_set);
    tcase_add_test(tc, test_write_back_load_or_store_and_delete);
    tcase_add_test(tc, test_write_back_periodic);
    tcase_add_test(tc, test_task_pool);
    tcase_add_test(tc, test_bloom_rate);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(patterns_suite()); }
