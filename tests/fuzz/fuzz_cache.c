/* libFuzzer target: drives two local caches (unbounded, and bounded at 8 entries with
 * tinylfu or lru) with random operations and checks them against a simple reference model.
 *
 * The unbounded cache must agree with the model exactly; the bounded one may miss, but a hit
 * must return the model's current value, it must never hold more than its limit, and neither
 * may return an expired entry. When the first byte's bit 1 is set it drives instead a stack of
 * decorators, loading(write-through(local, 8 entries)) with negative caching, against a model
 * "database": every get must answer what the database holds. Build: see
 * tests/fuzz/CMakeLists.txt. */
#include <stdint.h>
#include <string.h>

#include "orm/cache.h"
#include "orm/cache_patterns.h"
#include "orm/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NKEYS 16

typedef struct model {
    int present[NKEYS];
    int64_t value[NKEYS];
    int64_t expires[NKEYS]; /* 0: never */
    int bytes[NKEYS];       /* the value was set as 8 bytes (built into its entry), not a counter */
} model;

static int64_t now;
static int64_t clock_cb(void *ud)
{
    (void)ud;
    return now;
}

static orm_cache *mk(size_t max, orm_cache_policy p)
{
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.max_entries = max;
    o.policy = p;
    o.background_sweep = 0;
    o.clock = clock_cb;
    o.tick_ms = 3;
    o.sweep_max_entries = 4;
    o.shards = 4;
    orm_cache *c = NULL;
    if (orm_cache_local_new(&c, &o) != ORM_OK)
        __builtin_trap();
    return c;
}

static int live(const model *m, int k) { return m->present[k] && (!m->expires[k] || m->expires[k] > now); }

/* A value's number: a counter, or 8 bytes set with orm_cache_set_bytes. */
static int64_t value_of(const orm_cache_ref *r)
{
    int64_t v;
    if (orm_cache_ref_int(r, &v))
        return v;
    if (orm_cache_ref_size(r) != sizeof v)
        __builtin_trap();
    memcpy(&v, orm_cache_ref_data(r), sizeof v);
    return v;
}

/* -1: miss, else the value; get_copy must agree with get (every value is 8 bytes) */
static int64_t get(orm_cache *c, const char *key)
{
    orm_cache_ref *r;
    int64_t copied;
    size_t n = 0;
    int rc = orm_cache_get_copy(c, key, &copied, sizeof copied, &n);
    if (orm_cache_get(c, key, &r) != ORM_OK) {
        if (rc != ORM_ENOTFOUND)
            __builtin_trap();
        return -1;
    }
    int64_t v = value_of(r);
    orm_cache_ref_release(r);
    if (rc != ORM_OK || n != sizeof copied || copied != v)
        __builtin_trap();
    return v;
}

static void check(orm_cache *exact, orm_cache *bounded, const model *m, int k, const char *key)
{
    int64_t a = get(exact, key), b = get(bounded, key);
    if (live(m, k) ? a != m->value[k] : a != -1)
        __builtin_trap();
    if (b != -1 && (!live(m, k) || b != m->value[k]))
        __builtin_trap();
}

/* ---- the decorator stack against a model database ---- */

typedef struct db {
    int present[NKEYS];
    int64_t value[NKEYS];
} db;

static int key_index(const char *key) { return key[1] - 'a'; }

static int db_load(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    db *d = ud;
    int k = key_index(key);
    if (!d->present[k])
        return ORM_ENOTFOUND;
    return orm_cache_ref_new_int(out, d->value[k]);
}

static int db_store(const char *key, orm_cache_ref *v, void *ud)
{
    db *d = ud;
    int k = key_index(key);
    d->present[k] = v != NULL;
    if (v)
        orm_cache_ref_int(v, &d->value[k]);
    return ORM_OK;
}

static void run_stack(const uint8_t *data, size_t size)
{
    db d;
    memset(&d, 0, sizeof d);
    now = 1000;
    orm_cache *wt, *c;
    if (orm_cache_write_through_new(&wt, mk(8, ORM_CACHE_TINYLFU), db_store, &d) != ORM_OK)
        __builtin_trap();
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = db_load;
    lo.userdata = &d;
    lo.ttl_ms = 20;
    lo.negative_ttl_ms = 5;
    if (orm_cache_loading_new(&c, wt, &lo) != ORM_OK)
        __builtin_trap();
    for (size_t i = 1; i + 2 < size; i += 3) {
        int op = data[i] % 5, k = data[i + 1] % NKEYS;
        int64_t arg = data[i + 2];
        char key[8] = { 'k', (char)('a' + k), 0 };
        if (op == 0) {
            orm_cache_ref *r;
            if (orm_cache_ref_new_int(&r, arg) != ORM_OK || orm_cache_set(c, key, r, arg % 7) != ORM_OK)
                __builtin_trap();
            orm_cache_ref_release(r);
        } else if (op == 1) {
            if (orm_cache_delete(c, key) != ORM_OK)
                __builtin_trap();
        } else if (op == 2) {
            now += arg % 8;
        } else if (op == 3) {
            orm_cache_local_sweep(NULL, NULL); /* refused: not a local cache */
        } else {
            int64_t v = get(c, key);
            if (d.present[k] ? v != d.value[k] : v != -1)
                __builtin_trap();
        }
    }
    orm_cache_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && (data[0] & 2)) {
        run_stack(data, size);
        return 0;
    }
    model m;
    memset(&m, 0, sizeof m);
    now = 1000;
    orm_cache *exact = mk(0, ORM_CACHE_TINYLFU);
    orm_cache *bounded = mk(8, size && (data[0] & 1) ? ORM_CACHE_LRU : ORM_CACHE_TINYLFU);
    orm_cache *both[2] = { exact, bounded };
    size_t i = size ? 1 : 0;
    while (i + 2 < size) {
        int op = data[i] % 10, k = data[i + 1] % NKEYS;
        int64_t arg = data[i + 2];
        i += 3;
        char key[8] = { 'k', (char)('a' + k), 0 };
        int64_t ttl = (arg & 3) == 0 ? (arg >> 2) % 20 + 1 : 0;
        switch (op) {
        case 0: /* set a counter */
            for (int j = 0; j < 2; j++) {
                orm_cache_ref *r;
                if (orm_cache_ref_new_int(&r, arg) != ORM_OK || orm_cache_set(both[j], key, r, ttl) != ORM_OK)
                    __builtin_trap();
                orm_cache_ref_release(r);
            }
            m.present[k] = 1;
            m.value[k] = arg;
            m.expires[k] = ttl ? now + ttl : 0;
            m.bytes[k] = 0;
            break;
        case 1: /* set bytes: a new key's value is built into its entry */
            for (int j = 0; j < 2; j++)
                if (orm_cache_set_bytes(both[j], key, &arg, sizeof arg, ttl) != ORM_OK)
                    __builtin_trap();
            m.present[k] = 1;
            m.value[k] = arg;
            m.expires[k] = ttl ? now + ttl : 0;
            m.bytes[k] = 1;
            break;
        case 2: /* get */
            check(exact, bounded, &m, k, key);
            break;
        case 3: { /* delete */
            int rc = orm_cache_delete(exact, key);
            if ((rc == ORM_OK) != live(&m, k))
                __builtin_trap();
            orm_cache_delete(bounded, key);
            m.present[k] = 0;
            break;
        }
        case 4: { /* incr: on counters and absent keys; refused on bytes */
            int64_t out;
            int was = live(&m, k);
            if (was && m.bytes[k]) {
                if (orm_cache_incr(exact, key, arg, ttl, &out) != ORM_EINVAL)
                    __builtin_trap();
                break;
            }
            if (orm_cache_incr(exact, key, arg, ttl, &out) != ORM_OK)
                __builtin_trap();
            int64_t want = (was ? m.value[k] : 0) + arg;
            if (out != want)
                __builtin_trap();
            /* the bounded cache may have lost the key: set it to the model's value */
            orm_cache_ref *r;
            if (orm_cache_ref_new_int(&r, want) != ORM_OK ||
                orm_cache_set(bounded, key, r, was ? (m.expires[k] ? m.expires[k] - now : 0) : ttl) != ORM_OK)
                __builtin_trap();
            orm_cache_ref_release(r);
            if (!was)
                m.expires[k] = ttl ? now + ttl : 0;
            m.present[k] = 1;
            m.value[k] = want;
            m.bytes[k] = 0;
            break;
        }
        case 5: { /* load-or-store */
            orm_cache_ref *r, *got;
            int loaded;
            if (orm_cache_ref_new_int(&r, arg) != ORM_OK ||
                orm_cache_load_or_store(exact, key, r, ttl, &got, &loaded) != ORM_OK)
                __builtin_trap();
            int64_t v = value_of(got);
            if (loaded != live(&m, k) || v != (loaded ? m.value[k] : arg))
                __builtin_trap();
            orm_cache_ref_release(got);
            orm_cache_ref_release(r);
            if (!loaded) {
                orm_cache_delete(bounded, key);
                m.present[k] = 1;
                m.value[k] = arg;
                m.expires[k] = ttl ? now + ttl : 0;
                m.bytes[k] = 0;
            }
            break;
        }
        case 6: { /* load-and-delete */
            orm_cache_ref *r;
            int rc = orm_cache_load_and_delete(exact, key, &r);
            if ((rc == ORM_OK) != live(&m, k))
                __builtin_trap();
            if (rc == ORM_OK) {
                if (value_of(r) != m.value[k])
                    __builtin_trap();
                orm_cache_ref_release(r);
            }
            orm_cache_delete(bounded, key);
            m.present[k] = 0;
            break;
        }
        case 7: /* time passes */
            now += arg % 16;
            break;
        case 8: /* background sweep */
            orm_cache_local_sweep(exact, NULL);
            orm_cache_local_sweep(bounded, NULL);
            break;
        default:
            if (arg == 0) {
                orm_cache_clear(exact);
                orm_cache_clear(bounded);
                memset(&m, 0, sizeof m);
            } else {
                check(exact, bounded, &m, k, key);
            }
            break;
        }
        orm_cache_stats st;
        orm_cache_stats_get(bounded, &st);
        if (st.count > 8)
            __builtin_trap();
    }
    for (int k = 0; k < NKEYS; k++) {
        char key[8] = { 'k', (char)('a' + k), 0 };
        check(exact, bounded, &m, k, key);
    }
    orm_cache_close(exact);
    orm_cache_close(bounded);
    return 0;
}
