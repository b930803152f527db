/* Allocation-failure loop over the row cache's read and write paths (SQLite in memory): for
 * n = 0, 1, 2, ... fail the nth allocation liborm makes during a sequence of cached gets,
 * get_many, writes by key, a builder and a raw update, an insert, a delete, a committed and a
 * rolled-back transaction (row 1's name is long: the cached value's arena); and, on a
 * write-back model, saves, inserts with a key and flushes inside transactions. Every call must succeed or return ORM_ENOMEM (ORM_ENOTFOUND where
 * the row may be gone), and afterwards, with allocations working again, every row read
 * through the cache must equal the database's (read with the select builder, never cached):
 * a failure never leaves the cache holding a row the database does not. Under ASan: no leak.
 * Built with Redis, the loop runs again over Redis alone and over two levels (the Redis of
 * scripts/with-redis.sh, a fresh prefix each run): the wire encoding, the decode, the shared
 * generations. hiredis' own allocations are not liborm's, so they are not failed. */
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/orm.h"
#include "testutil.h"
#ifdef ORM_WITH_REDIS
#include "redis_testutil.h"
#endif

typedef struct item {
    int64_t id;
    char *name;
    double score;
} item;

static const orm_field item_fields[] = {
    ORM_FIELD(item, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(item, name, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(item, score, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
};
static const size_t item_pk[] = { 0 };
static const orm_model item_model = ORM_MODEL(item, "items", item_fields, item_pk);

#define NROWS 5
/* Row 1's name is too long to be packed inside its cached value: the arena path fails too. */
#define LONG_NAME "a-name-of-more-than-sixty-four-bytes-so-that-its-cached-row-needs-an-arena-of-its-own"

static int allowed(int rc) { return rc == ORM_OK || rc == ORM_ENOMEM || rc == ORM_ENOTFOUND; }

#define STEP(call)                                                                          \
    do {                                                                                    \
        int rc_ = (call);                                                                   \
        ck_assert_msg(allowed(rc_), "run %ld: %s: rc %d (%s): %s", n, #call, rc_,            \
                      orm_strerror(rc_), orm_error_last()->message);                       \
    } while (0)

static int set_score(orm_session *s, int64_t id, double v)
{
    item it;
    memset(&it, 0, sizeof it);
    orm_value k = orm_int(id);
    int rc = orm_get(s, NULL, &item_model, &it, &k);
    if (rc == ORM_OK) {
        it.score = v;
        rc = orm_update_one(s, NULL, &item_model, &it);
    }
    orm_model_clear(&item_model, &it);
    return rc;
}

static void ops(orm_db *db, long n)
{
    orm_session *s = orm_db_session(db);
    item it;
    memset(&it, 0, sizeof it);
    orm_value k1 = orm_int(1);
    STEP(orm_get(s, NULL, &item_model, &it, &k1));
    orm_model_clear(&item_model, &it);
    STEP(orm_get(s, NULL, &item_model, &it, &k1));
    orm_model_clear(&item_model, &it);
    orm_value keys[3] = { orm_int(1), orm_int(2), orm_int(3) };
    item out[3];
    bool found[3];
    STEP(orm_get_many(s, NULL, &item_model, out, found, keys, 3));
    for (int i = 0; i < 3; i++)
        orm_model_clear(&item_model, &out[i]);
    STEP(set_score(s, 2, 20));
    orm_value a[1] = { orm_int(3) };
    STEP(orm_raw_exec(s, NULL, "UPDATE items SET score = score + 1 WHERE id = ?", a, 1, NULL));
    orm_update *up = orm_update_new(s, &item_model);
    if (up) {
        int rc = orm_update_set(up, "score", orm_double(11));
        if (rc == ORM_OK)
            rc = orm_update_where(up, orm_eq("id", orm_int(1)));
        if (rc == ORM_OK)
            rc = orm_update_exec(up, NULL, NULL);
        STEP(rc);
        orm_update_free(up);
    }
    orm_tx *tx = NULL;
    int rc = orm_tx_begin(&tx, db, NULL, NULL);
    STEP(rc);
    if (rc == ORM_OK) {
        rc = set_score(orm_tx_session(tx), 1, 12);
        STEP(rc);
        STEP(rc == ORM_OK ? orm_tx_commit(tx) : orm_tx_rollback(tx));
        orm_tx_free(tx);
    }
    rc = orm_tx_begin(&tx, db, NULL, NULL);
    STEP(rc);
    if (rc == ORM_OK) {
        STEP(set_score(orm_tx_session(tx), 2, 99));
        STEP(orm_tx_rollback(tx));
        orm_tx_free(tx);
    }
    item del = { 4, NULL, 0 };
    STEP(orm_delete_one(s, NULL, &item_model, &del));
    orm_value k4 = orm_int(4);
    STEP(orm_get(s, NULL, &item_model, &it, &k4));
    orm_model_clear(&item_model, &it);
    item add = { 0, "new", 7 };
    STEP(orm_insert_one(s, NULL, &item_model, &add));
}

/* With allocations working: every key read through the cache equals the database's. */
static void check_coherent(orm_db *db)
{
    orm_session *s = orm_db_session(db);
    for (int64_t id = 1; id <= NROWS + 1; id++) {
        item c, t;
        memset(&c, 0, sizeof c);
        memset(&t, 0, sizeof t);
        orm_value k = orm_int(id);
        int rc = orm_get(s, NULL, &item_model, &c, &k);
        orm_select *q = orm_select_new(s, &item_model);
        ck_assert_ok(orm_select_where(q, orm_eq("id", orm_int(id))));
        int rt = orm_select_get(q, NULL, &t);
        orm_select_free(q);
        ck_assert_int_eq(rc, rt);
        if (rc == ORM_OK) {
            ck_assert_msg(c.score == t.score, "id %lld: cached %f, database %f", (long long)id, c.score, t.score);
            ck_assert_str_eq(c.name, t.name);
        }
        orm_model_clear(&item_model, &c);
        orm_model_clear(&item_model, &t);
    }
}

/* The cache of loop index kind: 0 local, 1 Redis alone, 2 two levels. */
static orm_cache *cache_of(int kind)
{
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
#ifdef ORM_WITH_REDIS
    if (kind) {
        char prefix[96];
        rt_prefix(prefix, sizeof prefix, "alloc");
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

START_TEST(row_cache_allocation_failures)
{
    long n;
    for (n = 0; n < 100000; n++) {
        orm_db *db = NULL;
        ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
        orm_cache *c = cache_of(_i);
        orm_row_cache *rc;
        ck_assert_ok(orm_row_cache_attach(&rc, db, c, NULL));
        orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
        mo.mode = ORM_ROW_CACHE_READ_WRITE;
        mo.negative = true;
        ck_assert_ok(orm_row_cache_model(rc, &item_model, &mo));
        ck_assert_ok(orm_db_register(db, &item_model));
        ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL,
                                  "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);"
                                  "INSERT INTO items(name, score) VALUES ('" LONG_NAME "', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5);"));
        /* warm a little: some rows cached before the failures start */
        item it;
        memset(&it, 0, sizeof it);
        orm_value k2 = orm_int(2);
        ck_assert_ok(orm_get(orm_db_session(db), NULL, &item_model, &it, &k2));
        orm_model_clear(&item_model, &it);
        orm__alloc_fail_after(n);
        ops(db, n);
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        check_coherent(db);
        orm_db_close(db);
        if (!injected)
            break;
    }
    ck_assert_int_gt(n, 20); /* the loop did inject failures */
}
END_TEST

/* Write-back: saves (update, insert with a key, delete), a query in a transaction that
 * commits (its flush on the transaction's connection), one that rolls back, a flush. */
static void ops_wb(orm_db *db, orm_row_cache *rcache, long n)
{
    orm_session *s = orm_db_session(db);
    STEP(set_score(s, 1, 10));
    item add = { 100, "hundred", 100 };
    STEP(orm_insert_one(s, NULL, &item_model, &add));
    item del = { 3, NULL, 0 };
    STEP(orm_delete_one(s, NULL, &item_model, &del));
    for (int commit = 1; commit >= 0; commit--) {
        orm_tx *tx = NULL;
        int rc = orm_tx_begin(&tx, db, NULL, NULL);
        STEP(rc);
        if (rc != ORM_OK)
            continue;
        orm_select *q = orm_select_new(orm_tx_session(tx), &item_model);
        int64_t cnt = 0;
        rc = q ? orm_select_count(q, NULL, &cnt) : ORM_ENOMEM;
        orm_select_free(q);
        STEP(rc);
        if (rc == ORM_OK)
            rc = set_score(orm_tx_session(tx), 2, commit ? 22 : 23);
        STEP(rc);
        STEP(rc == ORM_OK && commit ? orm_tx_commit(tx) : orm_tx_rollback(tx));
        orm_tx_free(tx);
        STEP(set_score(s, 4, commit ? 40 : 41));
    }
    STEP(orm_row_cache_flush(rcache));
}

/* With allocations working again: everything saved reaches the database, and every key read
 * through the cache (the buffer first) equals the database's. */
static void check_written(orm_db *db, orm_row_cache *rc)
{
    ck_assert_ok(orm_row_cache_flush(rc));
    orm_row_cache_stats st;
    ck_assert_ok(orm_row_cache_stats_get(rc, &item_model, &st));
    ck_assert_uint_eq(st.dirty, 0);
    check_coherent(db);
    orm_session *s = orm_db_session(db);
    item c;
    memset(&c, 0, sizeof c);
    orm_value k = orm_int(100);
    int r = orm_get(s, NULL, &item_model, &c, &k);
    orm_select *q = orm_select_new(s, &item_model);
    ck_assert_ok(orm_select_where(q, orm_eq("id", orm_int(100))));
    item t;
    memset(&t, 0, sizeof t);
    ck_assert_int_eq(orm_select_get(q, NULL, &t), r);
    orm_select_free(q);
    orm_model_clear(&item_model, &c);
    orm_model_clear(&item_model, &t);
}

START_TEST(row_cache_write_back_allocation_failures)
{
    long n;
    for (n = 0; n < 100000; n++) {
        orm_db *db = NULL;
        ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
        orm_cache *c;
        ck_assert_ok(orm_cache_local_new(&c, NULL));
        orm_row_cache *rc;
        ck_assert_ok(orm_row_cache_attach(&rc, db, c, NULL));
        orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
        mo.mode = ORM_ROW_CACHE_WRITE_BACK;
        ck_assert_ok(orm_row_cache_model(rc, &item_model, &mo));
        ck_assert_ok(orm_db_register(db, &item_model));
        ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL,
                                  "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL);"
                                  "INSERT INTO items(name, score) VALUES ('" LONG_NAME "', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5);"));
        orm__alloc_fail_after(n);
        ops_wb(db, rc, n);
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        check_written(db, rc);
        orm_db_close(db);
        if (!injected)
            break;
    }
    ck_assert_int_gt(n, 20);
}
END_TEST

static Suite *row_cache_alloc_suite(void)
{
    Suite *s = suite_create("row_cache_alloc");
    TCase *tc = tcase_create("paths");
    tcase_set_timeout(tc, 300);
#ifdef ORM_WITH_REDIS
    tcase_add_loop_test(tc, row_cache_allocation_failures, 0, 3);
#else
    tcase_add_loop_test(tc, row_cache_allocation_failures, 0, 1);
#endif
    tcase_add_test(tc, row_cache_write_back_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(row_cache_alloc_suite()); }
