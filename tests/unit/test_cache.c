/* Unit tests of the local cache: values, TTL and sweep with a fake clock, listener reasons,
 * exact limits, LRU order, counters, allocation failures. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/error.h"
#include "testutil.h"

static int64_t fake_now;
static int64_t fake_clock(void *ud) { return fake_now; }

typedef struct ev_log {
    int n[ORM_CACHE_REASON_COUNT];
    char last_key[64];
    int64_t last_old, last_new; /* counters when the values are counters */
} ev_log;

static void on_event(const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why, void *ud)
{
    ev_log *l = ud;
    l->n[why]++;
    snprintf(l->last_key, sizeof l->last_key, "%s", key);
    l->last_old = l->last_new = -1;
    orm_cache_ref_int(old, &l->last_old);
    if (nv)
        orm_cache_ref_int(nv, &l->last_new);
    ck_assert_ptr_nonnull(old);
    ck_assert(why == ORM_CACHE_REPLACED ? nv != NULL : nv == NULL);
}

static orm_cache *mk(size_t max_entries, size_t max_bytes, orm_cache_policy pol, ev_log *log)
{
    orm_cache_local_options o;
    ck_assert_ok(orm_cache_local_options_init(&o, ORM_CACHE_LOCAL_OPTIONS_VERSION));
    o.max_entries = max_entries;
    o.max_bytes = max_bytes;
    o.policy = pol;
    o.background_sweep = 0;
    o.clock = fake_clock;
    o.tick_ms = 10;
    o.listener = log ? on_event : NULL;
    o.listener_userdata = log;
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    return c;
}

static int64_t get_int(orm_cache *c, const char *key)
{
    orm_cache_ref *r;
    int64_t v = -1;
    if (orm_cache_get(c, key, &r) != ORM_OK)
        return -1;
    ck_assert(orm_cache_ref_int(r, &v));
    orm_cache_ref_release(r);
    return v;
}

static void set_int(orm_cache *c, const char *key, int64_t v, int64_t ttl)
{
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_ref_new_int(&r, v));
    ck_assert_ok(orm_cache_set(c, key, r, ttl));
    orm_cache_ref_release(r);
}

/* A model-like struct with an owned string, to check deep copies and sizes. */
typedef struct user {
    int64_t id;
    char *name;
} user;

static int user_copy(void *dst, const void *src, void *ud)
{
    const user *s = src;
    user *d = dst;
    d->id = s->id;
    d->name = orm__strdup(s->name);
    return d->name ? ORM_OK : ORM_ENOMEM;
}
static void user_clear(void *obj, void *ud) { orm__free(((user *)obj)->name); }
static size_t user_size(const void *obj, void *ud) { return sizeof(user) + strlen(((const user *)obj)->name) + 1; }
static const orm_cache_type user_type = { sizeof(user), user_copy, user_clear, user_size, NULL, NULL, NULL, NULL };

START_TEST(test_bytes_and_objects)
{
    orm_cache *c = mk(0, 0, ORM_CACHE_TINYLFU, NULL);
    ck_assert_ok(orm_cache_set_bytes(c, "k1", "hello", 5, 0));
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_get(c, "k1", &r));
    ck_assert_uint_eq(orm_cache_ref_size(r), 5);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "hello", 5), 0);
    ck_assert_ptr_null(orm_cache_ref_type(r));
    orm_cache_ref_release(r);

    char name[] = "ada";
    user u = { 42, name };
    ck_assert_ok(orm_cache_set_obj(c, "users:42", &user_type, &u, 0));
    name[0] = 'X'; /* the cache holds its own copy */
    ck_assert_ok(orm_cache_get(c, "users:42", &r));
    ck_assert_ptr_eq(orm_cache_ref_type(r), &user_type);
    ck_assert_uint_eq(orm_cache_ref_size(r), sizeof(user) + 4);
    user out;
    ck_assert_ok(orm_cache_ref_copy(r, &out));
    orm_cache_ref_release(r);
    ck_assert_int_eq(out.id, 42);
    ck_assert_str_eq(out.name, "ada");
    orm__free(out.name);

    ck_assert_orm(orm_cache_get(c, "nope", &r), ORM_ENOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(orm_error_last()->message, "no cache entry for key 'nope'");
    ck_assert_orm(orm_cache_get(c, "", &r), ORM_EINVAL);
    ck_assert_orm(orm_cache_delete(c, "nope"), ORM_ENOTFOUND);
    ck_assert_str_eq(orm_error_last()->message, "no cache entry for key 'nope'");
    ck_assert_ok(orm_cache_delete(c, "k1"));
    ck_assert_orm(orm_cache_get(c, "k1", &r), ORM_ENOTFOUND);

    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.count, 1);
    ck_assert_uint_eq(st.bytes, strlen("users:42") + 1 + sizeof(user) + 4 + orm_cache_local_overhead());
    char longkey[101];
    memset(longkey, 'k', 100);
    longkey[100] = '\0';
    ck_assert_orm(orm_cache_get(c, longkey, &r), ORM_ENOTFOUND); /* the message names 64 bytes */
    char want[128];
    snprintf(want, sizeof want, "no cache entry for key '%.64s'", longkey);
    ck_assert_str_eq(orm_error_last()->message, want);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* get_copy: bytes, counters and objects copied into the caller's buffer; the size asked for,
 * a buffer too small, misses and expiry; the same through a decorator, which takes the
 * reference path. */
static int store_ok(const char *key, orm_cache_ref *value, void *ud) { return ORM_OK; }

START_TEST(test_get_copy)
{
    ev_log log = { 0 };
    fake_now = 1000;
    orm_cache *c = mk(100, 0, ORM_CACHE_TINYLFU, &log);
    char buf[16];
    size_t n = 0;
    ck_assert_ok(orm_cache_set_bytes(c, "k", "hello", 5, 0));
    ck_assert_ok(orm_cache_get_copy(c, "k", buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert_ok(orm_cache_get_copy(c, "k", buf, 5, NULL)); /* exactly enough */

    memset(buf, '#', sizeof buf);
    n = 0;
    ck_assert_orm(orm_cache_get_copy(c, "k", buf, 4, &n), ORM_EINVAL);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(buf[0], '#'); /* nothing copied */
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "'k'"));
    n = 0;
    ck_assert_orm(orm_cache_get_copy(c, "k", NULL, 0, &n), ORM_EINVAL); /* the size alone */
    ck_assert_uint_eq(n, 5);

    int64_t v = 0;
    ck_assert_ok(orm_cache_incr(c, "ctr", 41, 0, NULL));
    ck_assert_ok(orm_cache_incr(c, "ctr", 1, 0, NULL));
    ck_assert_ok(orm_cache_get_copy(c, "ctr", &v, sizeof v, &n));
    ck_assert_int_eq(v, 42);
    ck_assert_uint_eq(n, sizeof v);

    char name[] = "ada";
    user u = { 7, name }, out = { 0, NULL };
    ck_assert_ok(orm_cache_set_obj(c, "users:7", &user_type, &u, 0));
    ck_assert_ok(orm_cache_get_copy(c, "users:7", &out, sizeof out, &n));
    ck_assert_uint_eq(n, sizeof(user));
    ck_assert_int_eq(out.id, 7);
    ck_assert_str_eq(out.name, "ada");
    ck_assert_ptr_ne(out.name, name); /* a deep copy the caller owns */
    orm__free(out.name);
    ck_assert_orm(orm_cache_get_copy(c, "users:7", &out, sizeof out - 1, &n), ORM_EINVAL);

    ck_assert_orm(orm_cache_get_copy(c, "nope", buf, sizeof buf, &n), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_get_copy(c, "", buf, sizeof buf, &n), ORM_EINVAL);
    ck_assert_orm(orm_cache_get_copy(NULL, "k", buf, sizeof buf, &n), ORM_EINVAL);

    /* an expired entry is never copied, and goes with its listener called */
    ck_assert_ok(orm_cache_set_bytes(c, "t", "x", 1, 50));
    ck_assert_ok(orm_cache_get_copy(c, "t", buf, sizeof buf, &n));
    fake_now += 50;
    ck_assert_orm(orm_cache_get_copy(c, "t", buf, sizeof buf, &n), ORM_ENOTFOUND);
    ck_assert_int_eq(log.n[ORM_CACHE_EXPIRED], 1);

    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.hits, 8); /* the too-small buffers found their keys too */
    ck_assert_uint_eq(st.misses, 2);

    /* through a decorator (which takes c): get, copy, release */
    orm_cache *wt = NULL;
    ck_assert_ok(orm_cache_write_through_new(&wt, c, store_ok, NULL));
    ck_assert_ok(orm_cache_get_copy(wt, "k", buf, sizeof buf, &n));
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ck_assert_orm(orm_cache_get_copy(wt, "k", buf, 2, &n), ORM_EINVAL);
    ck_assert_orm(orm_cache_get_copy(wt, "nope", buf, sizeof buf, &n), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_close(wt));
}
END_TEST

/* set_bytes / set_obj on a new key build the value into the entry's own allocation: a value
 * a caller still holds outlives its entry; replacing such a value, either way, swaps in a new
 * entry at the old one's place in the policy; a failing copy leaves nothing behind. */
static int copy_fails(void *dst, const void *src, void *ud) { return ORM_ECONSTRAINT; }
static const orm_cache_type failing_type = { sizeof(user), copy_fails, NULL, NULL, NULL, NULL, NULL, NULL };

START_TEST(test_embedded_values)
{
    ev_log log = { 0 };
    orm_cache *c = mk(3, 0, ORM_CACHE_LRU, &log);
    orm_cache_ref *held, *r;
    ck_assert_ok(orm_cache_set_bytes(c, "a", "one", 3, 0));
    ck_assert_ok(orm_cache_get(c, "a", &held));
    ck_assert_ok(orm_cache_delete(c, "a"));
    ck_assert_int_eq(memcmp(orm_cache_ref_data(held), "one", 3), 0); /* outlives its entry */
    orm_cache_ref_release(held);

    /* replace a built-in value by bytes (the new one stands alone), then by a plain ref */
    ck_assert_ok(orm_cache_set_bytes(c, "a", "one", 3, 0));
    ck_assert_ok(orm_cache_get(c, "a", &held));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "two!", 4, 0));
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 1);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(held), "one", 3), 0);
    orm_cache_ref_release(held);
    ck_assert_ok(orm_cache_get(c, "a", &r));
    ck_assert_uint_eq(orm_cache_ref_size(r), 4);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "two!", 4), 0);
    orm_cache_ref_release(r);
    ck_assert_ok(orm_cache_delete(c, "a"));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "one", 3, 0));
    set_int(c, "a", 7, 0);
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 2);
    ck_assert_int_eq(get_int(c, "a"), 7);
    ck_assert_ok(orm_cache_delete(c, "a"));

    /* the swapped-in entry keeps the old one's place: after a, b, c and a replaced (so a
     * was used last), d evicts b */
    ck_assert_ok(orm_cache_set_bytes(c, "a", "1", 1, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "b", "2", 1, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "c", "3", 1, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "4", 1, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "d", "5", 1, 0));
    ck_assert_orm(orm_cache_get(c, "b", &r), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_get(c, "a", &r));
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "4", 1), 0);
    orm_cache_ref_release(r);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.count, 3);
    ck_assert_uint_eq(st.bytes, 3 * (1 + 1 + 1 + orm_cache_local_overhead()));

    /* typed objects: deep-copied in, cleared once when the last holder lets go */
    char name[] = "grace";
    user u = { 7, name };
    ck_assert_ok(orm_cache_set_obj(c, "users:7", &user_type, &u, 0));
    ck_assert_ok(orm_cache_get(c, "users:7", &held));
    ck_assert_ok(orm_cache_delete(c, "users:7"));
    ck_assert_str_eq(((const user *)orm_cache_ref_data(held))->name, "grace");
    orm_cache_ref_release(held);

    /* a copy that fails: its error, and no entry */
    ck_assert_orm(orm_cache_set_obj(c, "users:8", &failing_type, &u, 0), ORM_ECONSTRAINT);
    ck_assert_orm(orm_cache_get(c, "users:8", &r), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_set_bytes(c, "x", NULL, 3, 0), ORM_EINVAL);
    ck_assert_orm(orm_cache_set_bytes(c, "x", "abc", 3, -1), ORM_EINVAL);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* A load's install (set_if_gen) of a typed value made on its own builds a copy into the new
 * entry: the cache then holds its own value, equal to the one given, which the caller may
 * release at once; a replaced or refused install leaves nothing behind (ASan). Bytes are kept
 * as given. */
START_TEST(test_set_if_gen_builds_typed_values_in)
{
    ev_log log = { 0 };
    orm_cache *c = mk(0, 0, ORM_CACHE_TINYLFU, &log);
    char name[] = "hopper";
    user u = { 9, name };
    orm_cache_ref *v, *r;
    uint64_t g;
    ck_assert_ok(orm_cache_ref_new_obj(&v, &user_type, &u));
    ck_assert_ok(orm_cache_gen(c, "users:9", &g));
    ck_assert_ok(orm_cache_set_if_gen(c, "users:9", v, 0, g));
    ck_assert_ok(orm_cache_get(c, "users:9", &r));
    ck_assert_ptr_ne(r, v); /* the entry's own copy */
    const user *got = orm_cache_ref_data(r), *given = orm_cache_ref_data(v);
    ck_assert_ptr_eq(orm_cache_ref_type(r), &user_type);
    ck_assert_int_eq(got->id, 9);
    ck_assert_str_eq(got->name, "hopper");
    ck_assert_ptr_ne(got->name, given->name);
    orm_cache_ref_release(v);
    orm_cache_ref_release(r);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.bytes, strlen("users:9") + 1 + sizeof(user) + strlen("hopper") + 1 + orm_cache_local_overhead());

    /* refused: the key was written since the generation was read */
    user u2 = { 10, name };
    ck_assert_ok(orm_cache_ref_new_obj(&v, &user_type, &u2));
    ck_assert_ok(orm_cache_gen(c, "users:9", &g));
    ck_assert_ok(orm_cache_delete(c, "users:9"));
    ck_assert_orm(orm_cache_set_if_gen(c, "users:9", v, 0, g), ORM_EBUSY);
    ck_assert_orm(orm_cache_get(c, "users:9", &r), ORM_ENOTFOUND);
    /* installed over a present key: replaced, and the old value outlives its entry */
    ck_assert_ok(orm_cache_set_obj(c, "users:9", &user_type, &u, 0));
    orm_cache_ref *held;
    ck_assert_ok(orm_cache_get(c, "users:9", &held));
    ck_assert_ok(orm_cache_gen(c, "users:9", &g));
    ck_assert_ok(orm_cache_set_if_gen(c, "users:9", v, 0, g));
    orm_cache_ref_release(v);
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 1);
    ck_assert_int_eq(((const user *)orm_cache_ref_data(held))->id, 9);
    orm_cache_ref_release(held);
    ck_assert_ok(orm_cache_get(c, "users:9", &r));
    ck_assert_int_eq(((const user *)orm_cache_ref_data(r))->id, 10);
    orm_cache_ref_release(r);

    /* bytes: stored as given */
    ck_assert_ok(orm_cache_ref_new_bytes(&v, "abc", 3));
    ck_assert_ok(orm_cache_gen(c, "b", &g));
    ck_assert_ok(orm_cache_set_if_gen(c, "b", v, 0, g));
    ck_assert_ok(orm_cache_get(c, "b", &r));
    ck_assert_ptr_eq(r, v);
    orm_cache_ref_release(r);
    orm_cache_ref_release(v);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* orm__cache_local_read runs its reader on the value in place and returns what it returns; a
 * miss is ORM_ENOTFOUND without a call; either way the hit and miss counts move as a get's. */
static int read_name(const orm_cache_ref *v, void *arg)
{
    const user *u = (const user *)orm_cache_ref_data(v);
    strcpy(arg, u->name);
    return 42;
}

START_TEST(test_local_read_in_place)
{
    orm_cache *c = mk(0, 0, ORM_CACHE_TINYLFU, NULL);
    char name[] = "lovelace", out[16] = "";
    user u = { 1, name };
    ck_assert_ok(orm_cache_set_obj(c, "users:1", &user_type, &u, 0));
    ck_assert_int_eq(orm__cache_local_read(c, "users:1", 7, read_name, out), 42);
    ck_assert_str_eq(out, "lovelace");
    out[0] = '\0';
    ck_assert_orm(orm__cache_local_read(c, "users:2", 7, read_name, out), ORM_ENOTFOUND);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "no cache entry for key 'users:2'"));
    ck_assert_orm(orm__cache_local_read(c, "", 0, read_name, out), ORM_EINVAL);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_overhead)
{
    /* entry record + its share of the table + value header; the budget is 112 */
    ck_assert_uint_le(orm_cache_local_overhead(), 100);
    /* plus the sketch and the ghosts, at most 12 bytes per unit of capacity */
    ck_assert_uint_le(orm_cache_local_overhead() + 12, 112);
    ck_assert_uint_eq(sizeof(orm__centry), 72);
}
END_TEST

START_TEST(test_ttl_lazy)
{
    ev_log log = { 0 };
    fake_now = 1000;
    orm_cache *c = mk(0, 0, ORM_CACHE_TINYLFU, &log);
    set_int(c, "a", 1, 100);
    set_int(c, "b", 2, 0);
    orm_cache_meta m;
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_get_meta(c, "a", &r, &m));
    ck_assert_int_eq(m.expires_ms, 1100);
    ck_assert_int_eq(m.ttl_ms, 100);
    orm_cache_ref_release(r);
    fake_now = 1099;
    ck_assert_int_eq(get_int(c, "a"), 1);
    fake_now = 1100; /* expires at exactly now + ttl */
    ck_assert_int_eq(get_int(c, "a"), -1);
    ck_assert_int_eq(log.n[ORM_CACHE_EXPIRED], 1);
    ck_assert_str_eq(log.last_key, "a");
    ck_assert_int_eq(get_int(c, "b"), 2);
    fake_now = 1000000;
    ck_assert_int_eq(get_int(c, "b"), 2);
    /* expired entries are invisible to load-or-store, delete and incr too */
    set_int(c, "e", 5, 10);
    fake_now += 10;
    orm_cache_ref *nv, *got;
    int loaded = -1;
    ck_assert_ok(orm_cache_ref_new_int(&nv, 9));
    ck_assert_ok(orm_cache_load_or_store(c, "e", nv, 0, &got, &loaded));
    ck_assert_int_eq(loaded, 0);
    ck_assert_ptr_eq(got, nv);
    orm_cache_ref_release(got);
    orm_cache_ref_release(nv);
    set_int(c, "f", 5, 10);
    fake_now += 10;
    ck_assert_orm(orm_cache_delete(c, "f"), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_set(c, "g", NULL, 0), ORM_EINVAL);
    ck_assert_orm(orm_cache_set_bytes(c, "g", "x", 1, -5), ORM_EINVAL);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_sweep_bounded)
{
    ev_log log = { 0 };
    fake_now = 0;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    o.clock = fake_clock;
    o.tick_ms = 10;
    o.sweep_max_entries = 25;
    o.listener = on_event;
    o.listener_userdata = &log;
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "k%d", i);
        set_int(c, k, i, 50 + (i % 3) * 10); /* expire at 50, 60, 70 */
    }
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "long%d", i);
        set_int(c, k, i, 100000);
    }
    size_t n;
    fake_now = 40;
    ck_assert_ok(orm_cache_local_sweep(c, &n));
    ck_assert_uint_eq(n, 0);
    fake_now = 1000;
    size_t total = 0;
    for (int round = 0; round < 10; round++) {
        ck_assert_ok(orm_cache_local_sweep(c, &n));
        ck_assert_uint_le(n, 25); /* bounded per tick */
        total += n;
    }
    ck_assert_uint_eq(total, 100);
    ck_assert_int_eq(log.n[ORM_CACHE_EXPIRED], 100);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.count, 10);
    ck_assert_uint_eq(st.removals[ORM_CACHE_EXPIRED], 100);
    /* entries of later rounds of the wheel survive every sweep */
    fake_now = 50000;
    for (int round = 0; round < 5; round++)
        ck_assert_ok(orm_cache_local_sweep(c, NULL));
    ck_assert_int_eq(get_int(c, "long3"), 3);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_listener_reasons)
{
    ev_log log = { 0 };
    fake_now = 0;
    orm_cache *c = mk(3, 0, ORM_CACHE_LRU, &log);
    set_int(c, "a", 1, 0);
    set_int(c, "a", 2, 0);
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 1);
    ck_assert_int_eq(log.last_old, 1);
    ck_assert_int_eq(log.last_new, 2);
    int64_t v;
    ck_assert_ok(orm_cache_incr(c, "a", 5, 0, &v));
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 2);
    ck_assert_ok(orm_cache_decr(c, "cnt", 3, 0, &v));
    ck_assert_int_eq(v, -3);
    ck_assert_ok(orm_cache_set_bytes(c, "b", "x", 1, 0));
    ck_assert_orm(orm_cache_incr(c, "b", 1, 0, &v), ORM_EINVAL);
    set_int(c, "d", 4, 0); /* 4 entries > 3: evicts the least recent */
    ck_assert_int_eq(log.n[ORM_CACHE_EVICTED], 1);
    ck_assert_ok(orm_cache_delete(c, "d"));
    ck_assert_int_eq(log.n[ORM_CACHE_DELETED], 1);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_load_and_delete(c, "b", &r));
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "x", 1), 0);
    orm_cache_ref_release(r);
    ck_assert_int_eq(log.n[ORM_CACHE_DELETED], 2);
    ck_assert_orm(orm_cache_load_and_delete(c, "b", &r), ORM_ENOTFOUND);
    set_int(c, "p", 1, 0);
    ck_assert_ok(orm_cache_clear(c));
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_int_eq(log.n[ORM_CACHE_CLEARED], 2);
    ck_assert_uint_eq(st.count, 0);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert_uint_eq(st.removals[ORM_CACHE_EVICTED], 1);
    ck_assert_uint_eq(st.removals[ORM_CACHE_REPLACED], 2);
    set_int(c, "after", 1, 0);
    ck_assert_int_eq(get_int(c, "after"), 1);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* A listener that calls the cache: allowed, since it runs outside the locks. */
static void reenter(const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why, void *ud)
{
    orm_cache *c = *(orm_cache **)ud;
    if (why == ORM_CACHE_EVICTED) {
        char k[80];
        snprintf(k, sizeof k, "evicted:%s", key);
        orm_cache_ref *r;
        if (orm_cache_get(c, k, &r) == ORM_OK)
            orm_cache_ref_release(r);
    }
}

START_TEST(test_listener_reenters)
{
    orm_cache *c;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.background_sweep = 0;
    o.max_entries = 4;
    o.listener = reenter;
    o.listener_userdata = &c;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    char k[32];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "k%d", i);
        ck_assert_ok(orm_cache_set_bytes(c, k, "v", 1, 0));
    }
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_lru_order)
{
    orm_cache *c = mk(3, 0, ORM_CACHE_LRU, NULL);
    set_int(c, "a", 1, 0);
    set_int(c, "b", 2, 0);
    set_int(c, "c", 3, 0);
    ck_assert_int_eq(get_int(c, "a"), 1); /* a is now the most recent */
    set_int(c, "d", 4, 0);                /* evicts b */
    ck_assert_int_eq(get_int(c, "b"), -1);
    ck_assert_int_eq(get_int(c, "c"), 3);
    set_int(c, "e", 5, 0); /* evicts a (c was just read) */
    ck_assert_int_eq(get_int(c, "a"), -1);
    ck_assert_int_eq(get_int(c, "c"), 3);
    ck_assert_int_eq(get_int(c, "d"), 4);
    ck_assert_int_eq(get_int(c, "e"), 5);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* Count and byte limits hold exactly after a random workload, and the byte total is the sum
 * of what the live entries cost. */
static void random_workload(orm_cache_policy pol, size_t max_entries, size_t max_bytes, int nkeys)
{
    ev_log log = { 0 };
    fake_now = 0;
    orm_cache *c = mk(max_entries, max_bytes, pol, &log);
    uint64_t s = 7;
    char k[32], buf[300];
    memset(buf, 'v', sizeof buf);
    for (int i = 0; i < 20000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        snprintf(k, sizeof k, "key:%d", (int)(s % (uint64_t)nkeys));
        unsigned op = (unsigned)(s >> 40) % 10;
        orm_cache_ref *r;
        if (op < 5) {
            if (orm_cache_get(c, k, &r) == ORM_OK)
                orm_cache_ref_release(r);
        } else if (op < 8) {
            ck_assert_ok(orm_cache_set_bytes(c, k, buf, (size_t)(s >> 20) % sizeof buf, (s & 1) ? 0 : 50));
        } else if (op < 9) {
            int rc = orm_cache_delete(c, k);
            ck_assert(rc == ORM_OK || rc == ORM_ENOTFOUND);
        } else {
            fake_now += 7;
        }
        if (i % 1000 == 0)
            orm_cache_local_sweep(c, NULL);
    }
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    if (max_entries)
        ck_assert_uint_le(st.count, max_entries);
    if (max_bytes)
        ck_assert_uint_le(st.bytes, max_bytes);
    /* recount from the keys */
    uint64_t count = 0, bytes = 0;
    fake_now = 0; /* nothing looks expired while recounting */
    for (int i = 0; i < nkeys; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        orm_cache_ref *r;
        if (orm_cache_get(c, k, &r) == ORM_OK) {
            count++;
            bytes += strlen(k) + 1 + orm_cache_ref_size(r) + orm_cache_local_overhead();
            orm_cache_ref_release(r);
        }
    }
    ck_assert_uint_eq(count, st.count);
    ck_assert_uint_eq(bytes, st.bytes);
    ck_assert_uint_gt(log.n[ORM_CACHE_EVICTED], 0);
    ck_assert_uint_eq(st.removals[ORM_CACHE_EVICTED], (uint64_t)log.n[ORM_CACHE_EVICTED]);
    ck_assert_ok(orm_cache_close(c));
}

START_TEST(test_limits_exact)
{
    random_workload(ORM_CACHE_TINYLFU, 100, 0, 700);
    random_workload(ORM_CACHE_LRU, 100, 0, 700);
    random_workload(ORM_CACHE_TINYLFU, 1000, 0, 5000); /* long queues: lazy promotion, CLOCK marks */
    random_workload(ORM_CACHE_TINYLFU, 0, 20000, 700);
    random_workload(ORM_CACHE_LRU, 0, 20000, 700);
    random_workload(ORM_CACHE_TINYLFU, 150, 30000, 700);
}
END_TEST

START_TEST(test_too_large)
{
    orm_cache *c = mk(0, 1000, ORM_CACHE_TINYLFU, NULL);
    char big[2000] = { 0 };
    ck_assert_orm(orm_cache_set_bytes(c, "big", big, sizeof big, 0), ORM_EINVAL);
    ck_assert_ok(orm_cache_set_bytes(c, "small", big, 100, 0));
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(test_growth)
{
    /* unbounded: the tables grow by incremental rehash while reads go on */
    orm_cache *c = mk(0, 0, ORM_CACHE_TINYLFU, NULL);
    char k[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(k, sizeof k, "g:%d", i);
        set_int(c, k, i, 0);
        if (i % 97 == 0) {
            snprintf(k, sizeof k, "g:%d", i / 2);
            ck_assert_int_eq(get_int(c, k), i / 2);
        }
    }
    for (int i = 0; i < 50000; i += 7) {
        snprintf(k, sizeof k, "g:%d", i);
        ck_assert_int_eq(get_int(c, k), i);
    }
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* Of nhot keys read (and set on a miss) rounds times over, how many are still cached after
 * nscan other keys are read once each. */
static int hot_survivors(orm_cache *c, int nhot, int rounds, int nscan)
{
    char k[32];
    for (int round = 0; round < rounds; round++)
        for (int i = 0; i < nhot; i++) {
            snprintf(k, sizeof k, "hot:%d", i);
            if (get_int(c, k) < 0)
                set_int(c, k, i, 0);
        }
    for (int i = 0; i < nscan; i++) {
        snprintf(k, sizeof k, "scan:%d", i);
        if (get_int(c, k) < 0)
            set_int(c, k, i, 0);
    }
    int hot = 0;
    for (int i = 0; i < nhot; i++) {
        snprintf(k, sizeof k, "hot:%d", i);
        hot += get_int(c, k) >= 0;
    }
    return hot;
}

START_TEST(test_tinylfu_scan_resistance)
{
    /* a hot set survives a one-pass scan under tinylfu, not under lru */
    for (int p = 0; p < 2; p++) {
        orm_cache *c = mk(100, 0, p ? ORM_CACHE_TINYLFU : ORM_CACHE_LRU, NULL);
        int hot = hot_survivors(c, 50, 20, 1000);
        if (p)
            ck_assert_int_ge(hot, 45);
        else
            ck_assert_int_eq(hot, 0);
        ck_assert_ok(orm_cache_close(c));
    }
    /* the same at a size where probation is long and promotes lazily */
    orm_cache *c = mk(4000, 0, ORM_CACHE_TINYLFU, NULL);
    ck_assert_int_ge(hot_survivors(c, 2000, 5, 40000), 1900);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* W-TinyLFU's probation queue: short, a hit promotes at once (exact SLRU order); long, a hit
 * only marks the entry, which is promoted when it reaches the old end, at most
 * SECOND_CHANCES (8) per victim search. */
static orm__centry *probation_lru(orm__cpolicy *p) { return p->probation.h->next; }

START_TEST(test_lazy_promotion)
{
    for (int longq = 0; longq < 2; longq++) {
        size_t n = longq ? 2000 : 100;
        orm__cpolicy p;
        ck_assert_ok(orm__cpolicy_init(&p, ORM_CACHE_TINYLFU, 0, n, n));
        orm__centry *es = calloc(n, sizeof *es);
        ck_assert_ptr_nonnull(es);
        for (size_t i = 0; i < n; i++) {
            es[i].hash = (uint32_t)(i * 2654435761u + 1);
            orm__cpolicy_insert(&p, &es[i]);
        }
        orm__cpolicy_maintain(&p); /* no pending admission candidate */
        ck_assert_uint_ge(p.probation.n, longq ? 256 : 50);
        orm__centry *e = probation_lru(&p);
        ck_assert_int_eq(e->queue, ORM__Q_PROBATION);
        orm__cpolicy_access(&p, e);
        if (!longq) {
            ck_assert_int_eq(e->queue, ORM__Q_PROTECTED);
        } else {
            ck_assert_int_eq(e->queue, ORM__Q_PROBATION);
            ck_assert(e->flags & ORM__E_REFERENCED);
            uint64_t prot = p.protected_.n;
            orm__centry *v = orm__cpolicy_victim(&p);
            ck_assert_ptr_ne(v, e);
            ck_assert_int_eq(e->queue, ORM__Q_PROTECTED);
            ck_assert(!(e->flags & ORM__E_REFERENCED));
            ck_assert_uint_eq(p.protected_.n, prot + 1);
            /* twelve marked at the old end (a mark does not move them): eight promoted, the
             * ninth evicted all the same */
            orm__centry *marked[12], *m = probation_lru(&p);
            for (int i = 0; i < 12; i++, m = m->next) {
                marked[i] = m;
                orm__cpolicy_access(&p, m);
                ck_assert_int_eq(m->queue, ORM__Q_PROBATION);
            }
            v = orm__cpolicy_victim(&p);
            ck_assert_ptr_eq(v, marked[8]);
            for (int i = 0; i < 8; i++)
                ck_assert_int_eq(marked[i]->queue, ORM__Q_PROTECTED);
            ck_assert_int_eq(marked[9]->queue, ORM__Q_PROBATION);
        }
        orm__cpolicy_free(&p);
        free(es);
    }
}
END_TEST

START_TEST(test_alloc_failures)
{
    long n;
    for (n = 0; n < 2000; n++) {
        orm_cache *c = NULL;
        orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
        o.max_entries = 5;
        o.background_sweep = 0;
        o.shards = 2;
        orm__alloc_fail_after(n);
        int rc = orm_cache_local_new(&c, &o);
        if (rc == ORM_OK) {
            char k[16];
            for (int i = 0; i < 10; i++) {
                snprintf(k, sizeof k, "k%d", i);
                rc = orm_cache_set_bytes(c, k, "abc", 3, 0);
                ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
                int64_t v;
                rc = orm_cache_incr(c, "n", 1, 0, &v);
                ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
                /* a replacement (a new entry swapped in) and a typed object */
                rc = orm_cache_set_bytes(c, k, "xyz", 3, 0);
                ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
                char name[] = "bo";
                user u = { i, name };
                rc = orm_cache_set_obj(c, i % 2 ? k : "users:1", &user_type, &u, 0);
                ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
            }
        } else {
            ck_assert_int_eq(rc, ORM_ENOMEM);
            ck_assert_ptr_null(c);
        }
        int failed = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        orm_cache_close(c);
        if (!failed)
            break;
    }
    ck_assert_int_lt(n, 2000);
}
END_TEST

START_TEST(test_background_sweep)
{
    /* the real thread starts and is joined by close */
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.tick_ms = 5;
    orm_cache *c;
    ck_assert_ok(orm_cache_local_new(&c, &o));
    ck_assert_ok(orm_cache_set_bytes(c, "a", "1", 1, 1));
    for (int i = 0; i < 2000; i++) { /* up to 10 s on a loaded machine */
        orm_cache_stats st;
        ck_assert_ok(orm_cache_stats_get(c, &st));
        if (st.count == 0)
            break;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.count, 0);
    ck_assert_uint_eq(st.removals[ORM_CACHE_EXPIRED], 1);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("local");
    tcase_add_test(tc, test_bytes_and_objects);
    tcase_add_test(tc, test_get_copy);
    tcase_add_test(tc, test_overhead);
    tcase_add_test(tc, test_embedded_values);
    tcase_add_test(tc, test_set_if_gen_builds_typed_values_in);
    tcase_add_test(tc, test_local_read_in_place);
    tcase_add_test(tc, test_ttl_lazy);
    tcase_add_test(tc, test_sweep_bounded);
    tcase_add_test(tc, test_listener_reasons);
    tcase_add_test(tc, test_listener_reenters);
    tcase_add_test(tc, test_lru_order);
    tcase_add_test(tc, test_limits_exact);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_growth);
    tcase_add_test(tc, test_tinylfu_scan_resistance);
    tcase_add_test(tc, test_lazy_promotion);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_background_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(cache_suite()); }
