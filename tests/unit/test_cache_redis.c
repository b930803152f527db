/* The Redis backend and the two-level cache, against the throwaway server of
 * scripts/with-redis.sh (never skipped: without it every test fails).
 *
 * "contract": the interface's behaviour, the same tests run on the local backend, on Redis
 * and on two levels (a loop test over the three). Then the model row codec, URLs and options,
 * an old-fingerprint entry read as a miss, Redis down / killed and restarted mid-run (no
 * failed get, recovery, one log line per state change), NOSCRIPT, and the lease: 20
 * processes missing one key load it once. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/cache_redis.h"
#include "orm/error.h"
#include "orm/model.h"
#include "redis_testutil.h"

/* ---- a model with every field type ---- */

typedef struct item {
    int64_t id;
    char *name;
    int32_t qty;
    bool has_qty;
    double price;
    bool active;
    orm_blob data;
    int16_t small;
    orm_timestamp at;
} item;

static const orm_field item_fields[] = {
    ORM_FIELD(item, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(item, name, ORM_FIELD_TEXT, 0),
    ORM_FIELD_NULLABLE(item, qty, ORM_FIELD_INT32, 0),
    ORM_FIELD(item, price, ORM_FIELD_DOUBLE, 0),
    ORM_FIELD(item, active, ORM_FIELD_BOOL, 0),
    ORM_FIELD(item, data, ORM_FIELD_BLOB, 0),
    ORM_FIELD(item, small, ORM_FIELD_INT16, 0),
    ORM_FIELD(item, at, ORM_FIELD_TIMESTAMP, 0),
};
static const size_t item_pk[] = { 0 };
static const orm_model item_model = ORM_MODEL(item, "items", item_fields, item_pk);
/* The next deploy's model: the same struct, one column fewer. */
static const orm_model item_model_v2 = { ORM_MODEL_VERSION, "item", "items", item_fields, 7, sizeof(item), item_pk,
                                         1, NULL };

static orm_cache_type item_type, item_type_v2;

static void types_init(void)
{
    ck_assert_ok(orm_cache_type_from_model(&item_type, &item_model));
    ck_assert_ok(orm_cache_type_from_model(&item_type_v2, &item_model_v2));
}

static item sample_item(void)
{
    static char name[] = "widget";
    static unsigned char bytes[] = { 0, 1, 2, 255 };
    item it = { -42, name, 7, true, 3.25, true, { bytes, sizeof bytes }, -300, 1700000000123456 };
    return it;
}

static void check_item(const item *g)
{
    ck_assert_int_eq(g->id, -42);
    ck_assert_str_eq(g->name, "widget");
    ck_assert(g->has_qty);
    ck_assert_int_eq(g->qty, 7);
    ck_assert(g->price == 3.25);
    ck_assert(g->active);
    ck_assert_uint_eq(g->data.len, 4);
    ck_assert_int_eq(((unsigned char *)g->data.data)[3], 255);
    ck_assert_int_eq(g->small, -300);
    ck_assert_int_eq(g->at, 1700000000123456);
}

/* ---- backends ---- */

enum { B_LOCAL = 0, B_REDIS = 1, B_TWO = 2 };
static const char *const bnames[] = { "local", "redis", "two-level" };

static orm_cache *mkb(int b, const char *prefix)
{
    types_init();
    orm_cache *c = NULL;
    if (b == B_LOCAL) {
        ck_assert_ok(orm_cache_local_new(&c, NULL));
        return c;
    }
    orm_cache *r = rt_redis(rt_url(), prefix, NULL);
    if (b == B_REDIS) {
        ck_assert_ok(orm_cache_redis_add_type(r, &item_type));
        return r;
    }
    orm_cache *l = NULL;
    ck_assert_ok(orm_cache_local_new(&l, NULL));
    ck_assert_ok(orm_cache_two_level_new(&c, l, r, NULL));
    ck_assert_ok(orm_cache_redis_add_type(c, &item_type));
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

/* ---- the contract, on every backend ---- */

START_TEST(contract_values)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "values");
    orm_cache *c = mkb(_i, pre);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_set_bytes(c, "k1", "hello", 5, 0));
    ck_assert_ok(orm_cache_get(c, "k1", &r));
    ck_assert_uint_eq(orm_cache_ref_size(r), 5);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(r), "hello", 5), 0);
    ck_assert_ptr_null(orm_cache_ref_type(r));
    orm_cache_ref_release(r);
    ck_assert_ok(orm_cache_set_bytes(c, "empty", "", 0, 0));
    ck_assert_ok(orm_cache_get(c, "empty", &r));
    ck_assert_uint_eq(orm_cache_ref_size(r), 0);
    orm_cache_ref_release(r);
    ck_assert_ok(orm_cache_set_bytes(c, "digits", "123", 3, 0)); /* bytes, not a counter */
    ck_assert_ok(orm_cache_get(c, "digits", &r));
    ck_assert(!orm_cache_ref_int(r, NULL));
    orm_cache_ref_release(r);

    item it = sample_item(), out;
    ck_assert_ok(orm_cache_set_obj(c, "items:1", &item_type, &it, 0));
    ck_assert_ok(orm_cache_get(c, "items:1", &r));
    ck_assert_ptr_eq(orm_cache_ref_type(r), &item_type);
    check_item(orm_cache_ref_data(r));
    ck_assert_ok(orm_cache_ref_copy(r, &out));
    orm_cache_ref_release(r);
    check_item(&out);
    orm_model_clear(&item_model, &out);
    size_t n = 0;
    ck_assert_ok(orm_cache_get_copy(c, "items:1", &out, sizeof out, &n));
    ck_assert_uint_eq(n, sizeof(item));
    check_item(&out);
    orm_model_clear(&item_model, &out);

    ck_assert_orm(orm_cache_get(c, "nope", &r), ORM_ENOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_orm(orm_cache_get(c, "", &r), ORM_EINVAL);
    ck_assert_orm(orm_cache_delete(c, "nope"), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_delete(c, "k1"));
    ck_assert_orm(orm_cache_get(c, "k1", &r), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_set_bytes(c, "k", "x", 1, -1), ORM_EINVAL);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(contract_compound)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "compound");
    orm_cache *c = mkb(_i, pre);
    orm_cache_ref *a, *b, *out;
    int loaded = -1;
    ck_assert_ok(orm_cache_ref_new_bytes(&a, "first", 5));
    ck_assert_ok(orm_cache_ref_new_bytes(&b, "second", 6));
    ck_assert_ok(orm_cache_load_or_store(c, "los", a, 0, &out, &loaded));
    ck_assert_int_eq(loaded, 0);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(out), "first", 5), 0);
    orm_cache_ref_release(out);
    ck_assert_ok(orm_cache_load_or_store(c, "los", b, 0, &out, &loaded));
    ck_assert_int_eq(loaded, 1);
    ck_assert_int_eq(memcmp(orm_cache_ref_data(out), "first", 5), 0);
    orm_cache_ref_release(out);

    ck_assert_ok(orm_cache_load_and_delete(c, "los", &out));
    ck_assert_int_eq(memcmp(orm_cache_ref_data(out), "first", 5), 0);
    orm_cache_ref_release(out);
    ck_assert_orm(orm_cache_load_and_delete(c, "los", &out), ORM_ENOTFOUND);
    ck_assert_ptr_null(out);

    int64_t v = 0;
    ck_assert_ok(orm_cache_incr(c, "ctr", 5, 0, &v));
    ck_assert_int_eq(v, 5);
    ck_assert_ok(orm_cache_decr(c, "ctr", 7, 0, &v));
    ck_assert_int_eq(v, -2);
    ck_assert_int_eq(get_int(c, "ctr"), -2);
    /* past 2^53 (where the row cache's generations live) exactly, not as a double */
    ck_assert_ok(orm_cache_incr(c, "big", (INT64_C(1) << 60) + 1, 0, &v));
    ck_assert_ok(orm_cache_incr(c, "big", 1, 0, &v));
    ck_assert_int_eq(v, (INT64_C(1) << 60) + 2);
    ck_assert_ok(orm_cache_set(c, "b", b, 0));
    ck_assert_orm(orm_cache_incr(c, "b", 1, 0, &v), ORM_EINVAL);

    /* generations: a write in between makes set_if_gen refuse */
    uint64_t g1 = 0, g2 = 0;
    ck_assert_ok(orm_cache_gen(c, "g", &g1));
    ck_assert_ok(orm_cache_set_if_gen(c, "g", a, 0, g1));
    ck_assert_ok(orm_cache_gen(c, "g", &g2));
    ck_assert_uint_ne(g1, g2);
    ck_assert_orm(orm_cache_set_if_gen(c, "g", b, 0, g1), ORM_EBUSY);
    ck_assert_ok(orm_cache_get(c, "g", &out));
    ck_assert_int_eq(memcmp(orm_cache_ref_data(out), "first", 5), 0);
    orm_cache_ref_release(out);
    ck_assert_ok(orm_cache_gen(c, "g", &g1));
    ck_assert_ok(orm_cache_clear(c));
    ck_assert_orm(orm_cache_set_if_gen(c, "g", b, 0, g1), ORM_EBUSY);
    ck_assert_orm(orm_cache_get(c, "g", &out), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_get(c, "ctr", &out), ORM_ENOTFOUND);
    /* a delete of a key that holds nothing is a write too: a load that began before it (the
     * row cache drops after the database committed) must not install what it read */
    ck_assert_ok(orm_cache_gen(c, "absent", &g1));
    ck_assert_orm(orm_cache_delete(c, "absent"), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_set_if_gen(c, "absent", a, 0, g1), ORM_EBUSY);
    ck_assert_orm(orm_cache_get(c, "absent", &out), ORM_ENOTFOUND);
    /* a generation read is never 0, also of a key (and stripe) never written: 0 is what a
     * cache that could not read it gives, and set_if_gen against 0 never stores */
    ck_assert_ok(orm_cache_gen(c, "never-written", &g1));
    ck_assert_uint_ne(g1, 0);
    ck_assert_orm(orm_cache_set_if_gen(c, "never-written", a, 0, 0), ORM_EBUSY);
    ck_assert_orm(orm_cache_get(c, "never-written", &out), ORM_ENOTFOUND);

    orm_cache_ref_release(a);
    orm_cache_ref_release(b);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

START_TEST(contract_ttl)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "ttl");
    orm_cache *c = mkb(_i, pre);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_set_bytes(c, "t", "x", 1, 150));
    ck_assert_ok(orm_cache_set_bytes(c, "forever", "y", 1, 0));
    ck_assert_ok(orm_cache_incr(c, "tc", 1, 150, NULL));
    orm_cache_meta m;
    ck_assert_ok(orm_cache_get_meta(c, "t", &r, &m));
    orm_cache_ref_release(r);
    ck_assert_int_eq(m.ttl_ms, 150);
    ck_assert_int_gt(m.expires_ms, m.now_ms);
    ck_assert_int_le(m.expires_ms - m.now_ms, 150);
    rt_sleep_ms(350);
    ck_assert_orm(orm_cache_get(c, "t", &r), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_get(c, "tc", &r), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_get(c, "forever", &r));
    orm_cache_ref_release(r);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

typedef struct ev_log {
    int n[ORM_CACHE_REASON_COUNT];
    int64_t last_old, last_new;
} ev_log;

static void on_event(const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why, void *ud)
{
    ev_log *l = ud;
    l->n[why]++;
    l->last_old = l->last_new = -1;
    orm_cache_ref_int(old, &l->last_old);
    if (nv)
        orm_cache_ref_int(nv, &l->last_new);
}

START_TEST(contract_listeners)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "listen");
    orm_cache *c = mkb(_i, pre);
    ev_log log;
    memset(&log, 0, sizeof log);
    ck_assert_ok(orm_cache_subscribe(c, on_event, &log));
    ck_assert_ok(orm_cache_incr(c, "n", 1, 0, NULL));
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 0); /* a new key replaces nothing */
    ck_assert_ok(orm_cache_incr(c, "n", 1, 0, NULL));
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 1);
    ck_assert_int_eq(log.last_old, 1);
    ck_assert_int_eq(log.last_new, 2);
    ck_assert_ok(orm_cache_set_bytes(c, "n", "z", 1, 0));
    ck_assert_int_eq(log.n[ORM_CACHE_REPLACED], 2);
    ck_assert_ok(orm_cache_delete(c, "n"));
    ck_assert_int_eq(log.n[ORM_CACHE_DELETED], 1);
    ck_assert_ok(orm_cache_set_bytes(c, "a", "1", 1, 0));
    ck_assert_ok(orm_cache_set_bytes(c, "b", "2", 1, 0));
    ck_assert_ok(orm_cache_clear(c));
    ck_assert_int_eq(log.n[ORM_CACHE_CLEARED], 2);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* The read-through decorator over each backend: 8 threads miss one key, one load. */
static atomic_int loader_calls;

static int slow_loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    atomic_fetch_add(&loader_calls, 1);
    rt_sleep_ms(60);
    return orm_cache_ref_new_bytes(out, key, strlen(key));
}

static void *get_thread(void *arg)
{
    orm_cache *c = arg;
    orm_cache_ref *r = NULL;
    int rc = orm_cache_get(c, "loaded:1", &r);
    int ok = rc == ORM_OK && orm_cache_ref_size(r) == 8 && memcmp(orm_cache_ref_data(r), "loaded:1", 8) == 0;
    orm_cache_ref_release(r);
    return ok ? arg : NULL;
}

START_TEST(contract_read_through)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "rt");
    orm_cache *inner = mkb(_i, pre), *c = NULL;
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = slow_loader;
    lo.ttl_ms = 10000;
    ck_assert_ok(orm_cache_loading_new(&c, inner, &lo));
    atomic_store(&loader_calls, 0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, get_thread, c);
    for (int i = 0; i < 8; i++) {
        void *res;
        pthread_join(th[i], &res);
        ck_assert_msg(res == c, "%s: a get failed", bnames[_i]);
    }
    ck_assert_int_eq(atomic_load(&loader_calls), 1);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(c, &st));
    ck_assert_uint_eq(st.loads, 1);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- the model codec ---- */

START_TEST(codec_roundtrip_and_errors)
{
    types_init();
    item it = sample_item(), out;
    size_t need = 0;
    ck_assert_ok(item_type.encode(&it, NULL, 0, &need, item_type.userdata));
    ck_assert_uint_gt(need, 10);
    ck_assert_uint_lt(need, 48); /* compact: varints, no field names */
    unsigned char buf[64];
    size_t got = 0;
    ck_assert_ok(item_type.encode(&it, buf, sizeof buf, &got, item_type.userdata));
    ck_assert_uint_eq(got, need);
    memset(&out, 0, sizeof out);
    ck_assert_ok(item_type.decode(&out, buf, got, item_type.userdata));
    check_item(&out);
    orm_model_clear(&item_model, &out);

    /* NULLs: text, blob, a nullable scalar */
    item nul = it;
    nul.name = NULL;
    nul.data.data = NULL;
    nul.data.len = 0;
    nul.has_qty = false;
    ck_assert_ok(item_type.encode(&nul, buf, sizeof buf, &got, item_type.userdata));
    memset(&out, 0, sizeof out);
    ck_assert_ok(item_type.decode(&out, buf, got, item_type.userdata));
    ck_assert_ptr_null(out.name);
    ck_assert_ptr_null(out.data.data);
    ck_assert(!out.has_qty);
    ck_assert_int_eq(out.small, -300);

    /* every truncation, a padded and a foreign encoding: ORM_EPARSE, nothing owned */
    ck_assert_ok(item_type.encode(&it, buf, sizeof buf, &got, item_type.userdata));
    for (size_t n = 0; n < got; n++) {
        memset(&out, 0, sizeof out);
        ck_assert_orm(item_type.decode(&out, buf, n, item_type.userdata), ORM_EPARSE);
        ck_assert_ptr_null(out.name);
    }
    buf[got] = 0;
    ck_assert_orm(item_type.decode(&out, buf, got + 1, item_type.userdata), ORM_EPARSE);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "item"));
    ck_assert_orm(item_type_v2.decode(&out, buf, got, item_type_v2.userdata), ORM_EPARSE);

    /* the fingerprint follows the descriptor */
    ck_assert_uint_ne(orm_cache_model_fingerprint(&item_model), orm_cache_model_fingerprint(&item_model_v2));
    ck_assert_uint_eq(item_type.fingerprint(item_type.userdata), orm_cache_model_fingerprint(&item_model));
    orm_model gen = item_model;
    gen.fingerprint = "0123456789abcdef"; /* the DDL changed, the struct did not */
    ck_assert_uint_ne(orm_cache_model_fingerprint(&gen), orm_cache_model_fingerprint(&item_model));
    orm_model bad = item_model;
    bad.version = 99;
    orm_cache_type t;
    ck_assert_orm(orm_cache_type_from_model(&t, &bad), ORM_EINVAL);
    ck_assert_orm(orm_cache_type_from_model(NULL, &item_model), ORM_EINVAL);
}
END_TEST

/* A new deploy (changed model) reads the old deploy's entry as a miss, counted. */
START_TEST(old_fingerprint_is_a_miss)
{
    char pre[96];
    rt_prefix(pre, sizeof pre, "fp");
    types_init();
    orm_cache *old_deploy = rt_redis(rt_url(), pre, NULL), *new_deploy = rt_redis(rt_url(), pre, NULL);
    ck_assert_ok(orm_cache_redis_add_type(old_deploy, &item_type));
    ck_assert_ok(orm_cache_redis_add_type(new_deploy, &item_type_v2));
    item it = sample_item();
    ck_assert_ok(orm_cache_set_obj(old_deploy, "items:9", &item_type, &it, 0));
    orm_cache_ref *r;
    ck_assert_orm(orm_cache_get(new_deploy, "items:9", &r), ORM_ENOTFOUND);
    ck_assert_ptr_null(r);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(new_deploy, &rs));
    ck_assert_uint_eq(rs.stale_reads, 1);
    orm_cache_stats st;
    ck_assert_ok(orm_cache_stats_get(new_deploy, &st));
    ck_assert_uint_eq(st.misses, 1);
    /* the new deploy's write replaces it, and the old one now misses in turn */
    ck_assert_ok(orm_cache_set_obj(new_deploy, "items:9", &item_type_v2, &it, 0));
    ck_assert_ok(orm_cache_get(new_deploy, "items:9", &r));
    orm_cache_ref_release(r);
    ck_assert_orm(orm_cache_get(old_deploy, "items:9", &r), ORM_ENOTFOUND);
    /* load_or_store over an unreadable entry stores */
    int loaded = -1;
    orm_cache_ref *v, *out;
    ck_assert_ok(orm_cache_ref_new_obj(&v, &item_type, &it));
    ck_assert_ok(orm_cache_load_or_store(old_deploy, "items:9", v, 0, &out, &loaded));
    ck_assert_int_eq(loaded, 0);
    orm_cache_ref_release(out);
    orm_cache_ref_release(v);
    /* a corrupt body of a known fingerprint is a miss too */
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    char key[160];
    snprintf(key, sizeof key, "%sitems:bad", pre);
    unsigned char wire[17 + 3] = { 0xB1 };
    uint64_t fp = orm_cache_model_fingerprint(&item_model);
    for (int i = 0; i < 8; i++)
        wire[9 + i] = (unsigned char)(fp >> (8 * i));
    redisReply *rr = redisCommand(raw, "SET %s %b", key, wire, sizeof wire);
    freeReplyObject(rr);
    ck_assert_orm(orm_cache_get(old_deploy, "items:bad", &r), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_redis_stats_get(old_deploy, &rs));
    ck_assert_uint_eq(rs.stale_reads, 3); /* the v2 entry by get and by load_or_store, the corrupt one */
    /* a type without a codec cannot be stored in Redis, and says why */
    orm_cache_type plain = item_type;
    plain.encode = NULL;
    ck_assert_orm(orm_cache_set_obj(old_deploy, "x", &plain, &it, 0), ORM_EUNSUPPORTED);
    ck_assert_orm(orm_cache_redis_add_type(old_deploy, &plain), ORM_EINVAL);
    /* a value another client wrote is read as bytes */
    snprintf(key, sizeof key, "%sforeign", pre);
    rr = redisCommand(raw, "SET %s %s", key, "plain text");
    freeReplyObject(rr);
    ck_assert_ok(orm_cache_get(old_deploy, "foreign", &r));
    ck_assert_uint_eq(orm_cache_ref_size(r), 10);
    orm_cache_ref_release(r);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(old_deploy));
    ck_assert_ok(orm_cache_close(new_deploy));
}
END_TEST

/* ---- URLs and options ---- */

START_TEST(urls_and_options)
{
    orm_cache *c = NULL;
    orm_cache_redis_options o = ORM_CACHE_REDIS_OPTIONS_INIT;
    const char *bad[] = { "http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:12a", "redis://h/x",
                          "redis://nopass@h", "unix://relative", "unix:///s?dbx=1", "redis://[::1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.url = bad[i];
        ck_assert_orm(orm_cache_redis_new(&c, &o), ORM_EINVAL);
        ck_assert_ptr_null(c);
        ck_assert_ptr_nonnull(strstr(orm_error_last()->message, bad[i]));
    }
    o.url = NULL;
    o.version = 99;
    ck_assert_orm(orm_cache_redis_new(&c, &o), ORM_EINVAL);
    o.version = ORM_CACHE_REDIS_OPTIONS_VERSION;
    o.command_timeout_ms = -1;
    ck_assert_orm(orm_cache_redis_new(&c, &o), ORM_EINVAL);
    o.command_timeout_ms = 0;
    o.prefix = "\x01x";
    ck_assert_orm(orm_cache_redis_new(&c, &o), ORM_EINVAL);
    ck_assert_orm(orm_cache_redis_stats_get(NULL, NULL), ORM_EINVAL);

    /* the unix socket, a database number and credentials in the URL all connect */
    char pre[96], url[512];
    rt_prefix(pre, sizeof pre, "url");
    const char *sock = getenv("ORM_TEST_REDIS_SOCK");
    ck_assert_ptr_nonnull(sock);
    snprintf(url, sizeof url, "unix://%s?db=3", sock);
    orm_cache *u = rt_redis(url, pre, NULL);
    ck_assert_ok(orm_cache_set_bytes(u, "k", "v", 1, 0));
    snprintf(url, sizeof url, "%s", rt_url());
    url[strlen(url) - 1] = '3'; /* .../0 -> .../3 */
    orm_cache *t3 = rt_redis(url, pre, NULL), *t0 = rt_redis(rt_url(), pre, NULL);
    orm_cache_ref *r;
    ck_assert_ok(orm_cache_get(t3, "k", &r));
    orm_cache_ref_release(r);
    ck_assert_orm(orm_cache_get(t0, "k", &r), ORM_ENOTFOUND); /* another database */
    /* a password the server does not want is refused: the cache is bypassed, not failed */
    char authurl[512];
    snprintf(authurl, sizeof authurl, "redis://:secret@127.0.0.1:%d/0", rt_port_of(rt_url()));
    rt_log log = { 0, 0, 0 };
    orm_cache *a = rt_redis(authurl, pre, &log);
    ck_assert_orm(orm_cache_get(a, "k", &r), ORM_ENOTFOUND);
    ck_assert_ok(orm_cache_set_bytes(a, "k", "w", 1, 0));
    ck_assert_int_eq(log.down, 1);
    ck_assert_ok(orm_cache_close(a));
    ck_assert_ok(orm_cache_close(u));
    ck_assert_ok(orm_cache_close(t3));
    ck_assert_ok(orm_cache_close(t0));
}
END_TEST

/* Credentials in the URL: an ACL user, the default user's password, percent-escapes; a wrong
 * password is a bypassed cache, not a failure. */
START_TEST(auth_urls)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "ACL SETUSER app on >s3cr:t ~* &* +@all");
    ck_assert(rr && rr->type == REDIS_REPLY_STATUS);
    freeReplyObject(rr);
    rr = redisCommand(raw, "CONFIG SET requirepass pw");
    ck_assert(rr && rr->type == REDIS_REPLY_STATUS);
    freeReplyObject(rr);
    char url[160];
    orm_cache_ref *r;
    snprintf(url, sizeof url, "redis://app:s3cr%%3At@127.0.0.1:%d/2", port);
    orm_cache *app = rt_redis(url, "auth:", NULL);
    ck_assert_ok(orm_cache_set_bytes(app, "k", "app", 3, 0));
    snprintf(url, sizeof url, "redis://:pw@127.0.0.1:%d/2", port);
    orm_cache *dflt = rt_redis(url, "auth:", NULL);
    ck_assert_ok(orm_cache_get(dflt, "k", &r)); /* the same database 2 */
    ck_assert_uint_eq(orm_cache_ref_size(r), 3);
    orm_cache_ref_release(r);
    rt_log log = { 0, 0, 0 };
    snprintf(url, sizeof url, "redis://app:wrong@127.0.0.1:%d/2", port);
    orm_cache *bad = rt_redis(url, "auth:", &log);
    ck_assert_orm(orm_cache_get(bad, "k", &r), ORM_ENOTFOUND);
    ck_assert_int_eq(log.down, 1);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(bad, &rs));
    ck_assert_uint_eq(rs.bypassed, 1);
    ck_assert_int_eq(rs.up, 0);
    ck_assert_ok(orm_cache_close(bad));
    ck_assert_ok(orm_cache_close(dflt));
    ck_assert_ok(orm_cache_close(app));
    redisFree(raw);
    rt_server_kill(srv);
}
END_TEST

START_TEST(two_level_arguments)
{
    orm_cache *c = NULL, *l = NULL, *l2 = NULL;
    char pre[96];
    rt_prefix(pre, sizeof pre, "args");
    ck_assert_ok(orm_cache_local_new(&l, NULL));
    ck_assert_ok(orm_cache_local_new(&l2, NULL));
    orm_cache *r = rt_redis(rt_url(), pre, NULL);
    ck_assert_orm(orm_cache_two_level_new(&c, l, l2, NULL), ORM_EINVAL); /* the second level is not Redis */
    ck_assert_ptr_null(c);
    ck_assert_orm(orm_cache_two_level_new(&c, NULL, r, NULL), ORM_EINVAL);
    ck_assert_orm(orm_cache_two_level_new(NULL, l, r, NULL), ORM_EINVAL);
    orm_cache_two_level_options o = ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
    o.lease_ms = -1;
    ck_assert_orm(orm_cache_two_level_new(&c, l, r, &o), ORM_EINVAL);
    o = (orm_cache_two_level_options)ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
    o.version = 7;
    ck_assert_orm(orm_cache_two_level_new(&c, l, r, &o), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "orm_cache_two_level_options"));
    orm_cache_two_level_stats ts;
    ck_assert_orm(orm_cache_two_level_stats_get(r, &ts), ORM_EINVAL); /* not a two-level cache */
    ck_assert_orm(orm_cache_redis_add_type(l, &item_type), ORM_EINVAL); /* not Redis */
    /* nothing was taken by the failures: all three are still ours to close */
    ck_assert_ok(orm_cache_close(l2));
    ck_assert_ok(orm_cache_two_level_new(&c, l, r, NULL));
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(c, &rs)); /* through to its Redis level */
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

/* ---- Redis down, killed, restarted ---- */

START_TEST(down_is_bypassed)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", rt_free_port()); /* nothing listens */
    rt_log log = { 0, 0, 0 };
    orm_cache *c = rt_redis(url, "down:", &log);
    orm_cache_ref *r, *v;
    ck_assert_ok(orm_cache_ref_new_bytes(&v, "v", 1));
    for (int i = 0; i < 50; i++) {
        ck_assert_orm(orm_cache_get(c, "k", &r), ORM_ENOTFOUND);
        ck_assert_ok(orm_cache_set(c, "k", v, 0));
        ck_assert_ok(orm_cache_set_bytes(c, "k", "x", 1, 0));
        int loaded = -1;
        ck_assert_ok(orm_cache_load_or_store(c, "k", v, 0, &r, &loaded));
        ck_assert_ptr_eq(r, v);
        orm_cache_ref_release(r);
        uint64_t g;
        ck_assert_ok(orm_cache_gen(c, "k", &g));
        ck_assert_ok(orm_cache_set_if_gen(c, "k", v, 0, g));
        ck_assert_orm(orm_cache_incr(c, "n", 1, 0, NULL), ORM_ECONN);
    }
    orm_cache_ref_release(v);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(c, &rs));
    ck_assert_int_eq(rs.up, 0);
    ck_assert_uint_ge(rs.bypassed, 300);
    ck_assert_uint_eq(rs.down_events, 1);
    ck_assert_int_eq(log.down, 1); /* logged once, not per operation */
    ck_assert_int_eq(log.up, 0);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

typedef struct churn {
    orm_cache *c;
    atomic_int *stop;
    long gets, failed;
} churn;

static int echo_loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    return orm_cache_ref_new_bytes(out, key, strlen(key));
}

static void *churn_thread(void *arg)
{
    churn *ch = arg;
    char key[32];
    unsigned seed = 7;
    while (!atomic_load(ch->stop)) {
        seed = seed * 1103515245u + 12345u;
        snprintf(key, sizeof key, "k%u", (seed >> 8) % 200);
        orm_cache_ref *r = NULL;
        int rc = orm_cache_get(ch->c, key, &r);
        if (rc != ORM_OK || orm_cache_ref_size(r) != strlen(key))
            ch->failed++;
        orm_cache_ref_release(r);
        if (seed % 7 == 0 && orm_cache_set_bytes(ch->c, key, key, strlen(key), 5000) != ORM_OK)
            ch->failed++;
        ch->gets++;
    }
    return NULL;
}

/* Redis killed and restarted under 4 threads of reads and writes through the read-through
 * decorator: no get fails (a bypassed Redis is a miss, which loads), the outage is logged
 * once each way, and the cache is used again after the restart. */
START_TEST(killed_and_restarted)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_log log = { 0, 0, 0 };
    orm_cache *redis = rt_redis(url, "kr:", &log), *c = NULL;
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = echo_loader;
    lo.ttl_ms = 5000;
    ck_assert_ok(orm_cache_loading_new(&c, redis, &lo));
    atomic_int stop = 0;
    churn ch[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        ch[i] = (churn){ c, &stop, 0, 0 };
        pthread_create(&th[i], NULL, churn_thread, &ch[i]);
    }
    rt_sleep_ms(300);
    rt_server_kill(srv);
    rt_sleep_ms(400);
    orm_cache_redis_stats rs;
    ck_assert_ok(orm_cache_redis_stats_get(redis, &rs));
    ck_assert_int_eq(rs.up, 0);
    uint64_t bypassed_down = rs.bypassed;
    srv = rt_server_start(port); /* a new server: empty, no scripts loaded */
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        rt_sleep_ms(20);
        ck_assert_ok(orm_cache_redis_stats_get(redis, &rs));
        up = rs.up;
    }
    rt_sleep_ms(300);
    atomic_store(&stop, 1);
    long gets = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ch[i].failed, 0);
        gets += ch[i].gets;
    }
    ck_assert_int_gt(gets, 100);
    ck_assert_msg(up, "the cache did not reconnect");
    ck_assert_uint_gt(bypassed_down, 0);
    ck_assert_int_eq(log.down, 1);
    ck_assert_int_eq(log.up, 1);
    /* used again: a write lands in the new server */
    ck_assert_ok(orm_cache_set_bytes(redis, "after", "yes", 3, 0));
    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "GET kr:after");
    ck_assert(rr && rr->type == REDIS_REPLY_STRING);
    freeReplyObject(rr);
    /* SCRIPT FLUSH: the next script call reloads them (NOSCRIPT) and succeeds */
    ck_assert_ok(orm_cache_redis_stats_get(redis, &rs));
    uint64_t loads = rs.script_loads;
    rr = redisCommand(raw, "SCRIPT FLUSH");
    freeReplyObject(rr);
    int64_t v = 0;
    ck_assert_ok(orm_cache_incr(redis, "ctr", 3, 0, &v));
    ck_assert_int_eq(v, 3);
    ck_assert_ok(orm_cache_redis_stats_get(redis, &rs));
    ck_assert_uint_gt(rs.script_loads, loads);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
    rt_server_kill(srv);
}
END_TEST

/* A slow Redis (paused past the command timeout) is bypassed like a dead one. */
START_TEST(slow_is_bypassed)
{
    int port = rt_free_port();
    pid_t srv = rt_server_start(port);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    rt_log log = { 0, 0, 0 };
    orm_cache_redis_options o = ORM_CACHE_REDIS_OPTIONS_INIT;
    o.url = url;
    o.command_timeout_ms = 50;
    o.backoff_min_ms = 20;
    o.log = rt_log_cb;
    o.log_userdata = &log;
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_redis_new(&c, &o));
    ck_assert_ok(orm_cache_set_bytes(c, "k", "v", 1, 0));
    redisContext *raw = rt_raw(port);
    redisReply *rr = redisCommand(raw, "CLIENT PAUSE 400 ALL");
    freeReplyObject(rr);
    orm_cache_ref *r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_orm(orm_cache_get(c, "k", &r), ORM_ENOTFOUND);
    ck_assert_orm(orm_cache_get(c, "k", &r), ORM_ENOTFOUND); /* down: answered at once */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ck_assert_int_lt(ms, 200);
    rt_sleep_ms(600);
    int ok = 0;
    for (int i = 0; i < 50 && !ok; i++) {
        ok = orm_cache_get(c, "k", &r) == ORM_OK;
        if (ok)
            orm_cache_ref_release(r);
        else
            rt_sleep_ms(20);
    }
    ck_assert(ok);
    ck_assert_int_eq(log.down, 1);
    ck_assert_int_eq(log.up, 1);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
    rt_server_kill(srv);
}
END_TEST

/* ---- the lease: 20 processes miss one key, one load ---- */

static int counting_loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    /* the "database": count the load in Redis itself, where the parent can read it */
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    redisReply *r = redisCommand(raw, "INCR %s", (const char *)ud);
    freeReplyObject(r);
    redisFree(raw);
    rt_sleep_ms(100); /* a slow query: the others arrive while it runs */
    return orm_cache_ref_new_bytes(out, "row", 3);
}

START_TEST(lease_one_load_for_20_processes)
{
    char pre[96], counter[160];
    rt_prefix(pre, sizeof pre, "lease");
    snprintf(counter, sizeof counter, "%sloads-counter", pre);
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t kids[20];
    for (int i = 0; i < 20; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            close(go[1]);
            orm_cache *l = NULL, *c = NULL;
            orm_cache *r = rt_redis(rt_url(), pre, NULL);
            orm_cache_two_level_options to = ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
            to.loader = counting_loader;
            to.userdata = counter;
            to.ttl_ms = 60000;
            to.lease_ms = 5000;
            if (orm_cache_local_new(&l, NULL) || orm_cache_two_level_new(&c, l, r, &to))
                _exit(2);
            char b;
            if (read(go[0], &b, 1) != 0) /* wait for the parent to close the pipe */
                _exit(3);
            orm_cache_ref *v = NULL;
            int rc = orm_cache_get(c, "users:1", &v);
            int ok = rc == ORM_OK && orm_cache_ref_size(v) == 3 && memcmp(orm_cache_ref_data(v), "row", 3) == 0;
            orm_cache_ref_release(v);
            orm_cache_close(c);
            _exit(ok ? 0 : 1);
        }
    }
    close(go[0]);
    rt_sleep_ms(300); /* every child connected */
    close(go[1]);
    for (int i = 0; i < 20; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", i, st);
    }
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    ck_assert_int_eq(rt_int(raw, "GET %s", counter), 1);
    redisFree(raw);
}
END_TEST

/* The lease's bound: a holder that never stores (it died) holds the others off for
 * lease_wait_ms at most, then they load themselves. */
START_TEST(lease_wait_is_bounded)
{
    char pre[96], counter[160], lease[200];
    rt_prefix(pre, sizeof pre, "lbound");
    snprintf(counter, sizeof counter, "%sloads-counter", pre);
    snprintf(lease, sizeof lease, "\x01orm:%slease:users:2", pre);
    redisContext *raw = rt_raw(rt_port_of(rt_url()));
    redisReply *rr = redisCommand(raw, "SET %s dead-holder PX 10000", lease);
    freeReplyObject(rr);
    orm_cache *l = NULL, *c = NULL, *r = rt_redis(rt_url(), pre, NULL);
    orm_cache_two_level_options to = ORM_CACHE_TWO_LEVEL_OPTIONS_INIT;
    to.loader = counting_loader;
    to.userdata = counter;
    to.lease_ms = 10000;
    to.lease_wait_ms = 150;
    ck_assert_ok(orm_cache_local_new(&l, NULL));
    ck_assert_ok(orm_cache_two_level_new(&c, l, r, &to));
    orm_cache_ref *v;
    ck_assert_ok(orm_cache_get(c, "users:2", &v));
    orm_cache_ref_release(v);
    orm_cache_two_level_stats ts;
    ck_assert_ok(orm_cache_two_level_stats_get(c, &ts));
    ck_assert_uint_eq(ts.lease_waits, 1);
    ck_assert_uint_eq(ts.lease_timeouts, 1);
    ck_assert_uint_eq(ts.loads, 1);
    ck_assert_int_eq(rt_int(raw, "GET %s", counter), 1);
    redisFree(raw);
    ck_assert_ok(orm_cache_close(c));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache_redis");
    TCase *tc = tcase_create("contract");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, contract_values, 0, 3);
    tcase_add_loop_test(tc, contract_compound, 0, 3);
    tcase_add_loop_test(tc, contract_ttl, 0, 3);
    tcase_add_loop_test(tc, contract_listeners, 0, 3);
    tcase_add_loop_test(tc, contract_read_through, 0, 3);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("redis");
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, codec_roundtrip_and_errors);
    tcase_add_test(tr, old_fingerprint_is_a_miss);
    tcase_add_test(tr, urls_and_options);
    tcase_add_test(tr, two_level_arguments);
    tcase_add_test(tr, auth_urls);
    tcase_add_test(tr, down_is_bypassed);
    tcase_add_test(tr, killed_and_restarted);
    tcase_add_test(tr, slow_is_bypassed);
    tcase_add_test(tr, lease_one_load_for_20_processes);
    tcase_add_test(tr, lease_wait_is_bounded);
    suite_add_tcase(s, tr);
    return orm_test_run(s);
}
