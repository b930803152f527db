/* Unit tests: the bounded LRU statement cache (orm/stmt_cache.c). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error.h"
#include "orm/query.h"
#include "orm/stmt_cache.h"
#include "testutil.h"

static int evicted[4096];
static int nevicted;

static void evict_cb(void *stmt, void *userdata)
{
    ck_assert_ptr_eq(userdata, (void *)evicted);
    evicted[nevicted++] = (int)(intptr_t)stmt;
}

static void *get(orm_stmt_cache *c, const char *sql)
{
    return orm__stmt_cache_get(c, sql, strlen(sql), orm__sql_hash(sql, strlen(sql)));
}

static int put(orm_stmt_cache *c, const char *sql, int id)
{
    return orm__stmt_cache_put(c, sql, strlen(sql), orm__sql_hash(sql, strlen(sql)),
                               (void *)(intptr_t)id);
}

START_TEST(lru_order_and_counts)
{
    orm_stmt_cache *c;
    nevicted = 0;
    ck_assert_ok(orm__stmt_cache_new(&c, 3, evict_cb, evicted));
    ck_assert_ptr_null(get(c, "a"));
    ck_assert_ok(put(c, "a", 1));
    ck_assert_ok(put(c, "b", 2));
    ck_assert_ok(put(c, "c", 3));
    ck_assert_orm(put(c, "c", 3), ORM_EINVAL);
    ck_assert_int_eq((int)(intptr_t)get(c, "a"), 1); /* a is now most recent: b is oldest */
    ck_assert_ok(put(c, "d", 4));
    ck_assert_int_eq(nevicted, 1);
    ck_assert_int_eq(evicted[0], 2);
    ck_assert_ptr_null(get(c, "b"));
    ck_assert_ok(put(c, "e", 5)); /* evicts c */
    ck_assert_int_eq(evicted[1], 3);
    ck_assert_int_eq((int)(intptr_t)orm__stmt_cache_take(c, "a", 1, orm__sql_hash("a", 1)), 1);
    ck_assert_int_eq(nevicted, 2); /* take does not call back */
    orm_stmt_cache_stats st;
    orm__stmt_cache_stats_get(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.misses, 2);
    ck_assert_uint_eq(st.evictions, 2);
    ck_assert_uint_eq(st.count, 2);
    ck_assert_uint_eq(st.capacity, 3);
    orm__stmt_cache_free(c); /* d and e go to the callback */
    ck_assert_int_eq(nevicted, 4);
    orm__stmt_cache_free(NULL);
}
END_TEST

START_TEST(bounded_under_a_stream)
{
    orm_stmt_cache *c;
    nevicted = 0;
    ck_assert_ok(orm__stmt_cache_new(&c, 100, evict_cb, evicted));
    char sql[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        ck_assert_ptr_null(get(c, sql));
        ck_assert_ok(put(c, sql, i));
        orm_stmt_cache_stats st;
        orm__stmt_cache_stats_get(c, &st);
        ck_assert_uint_le(st.count, 100);
    }
    ck_assert_int_eq(nevicted, 2900);
    for (int i = 0; i < 2900; i++)
        ck_assert_int_eq(evicted[i], i); /* oldest first */
    for (int i = 2900; i < 3000; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        ck_assert_int_eq((int)(intptr_t)get(c, sql), i);
    }
    orm__stmt_cache_free(c);
    ck_assert_int_eq(nevicted, 3000);
}
END_TEST

START_TEST(same_hash_different_text)
{
    /* Keys are checked by bytes, not only by hash. */
    orm_stmt_cache *c;
    ck_assert_ok(orm__stmt_cache_new(&c, 0, NULL, NULL)); /* 0 means 1 */
    ck_assert_ok(orm__stmt_cache_put(c, "x", 1, 42, (void *)1));
    ck_assert_ptr_null(orm__stmt_cache_get(c, "y", 1, 42));
    ck_assert_ptr_null(orm__stmt_cache_get(c, "xx", 2, 42));
    ck_assert_ptr_eq(orm__stmt_cache_get(c, "x", 1, 42), (void *)1);
    ck_assert_ok(orm__stmt_cache_put(c, "y", 1, 42, (void *)2)); /* evicts x */
    ck_assert_ptr_null(orm__stmt_cache_get(c, "x", 1, 42));
    orm__stmt_cache_free(c);
}
END_TEST

START_TEST(enomem)
{
    orm_stmt_cache *c;
    orm__alloc_fail_after(0);
    ck_assert_orm(orm__stmt_cache_new(&c, 4, NULL, NULL), ORM_ENOMEM);
    ck_assert_ptr_null(c);
    orm__alloc_fail_after(-1);
    ck_assert_ok(orm__stmt_cache_new(&c, 4, NULL, NULL));
    /* The first put allocates the entry, then uthash's table and its buckets: each failure
     * leaves the cache empty. */
    for (long n = 0; n < 3; n++) {
        orm__alloc_fail_after(n);
        ck_assert_orm(put(c, "a", 1), ORM_ENOMEM);
        orm__alloc_fail_after(-1);
        ck_assert_ptr_null(get(c, "a"));
        orm_stmt_cache_stats st;
        orm__stmt_cache_stats_get(c, &st);
        ck_assert_uint_eq(st.count, 0);
    }
    ck_assert_ok(put(c, "a", 1));
    ck_assert_ok(put(c, "b", 2));
    /* A full cache that fails to add drops nothing. */
    ck_assert_ok(put(c, "c", 3));
    ck_assert_ok(put(c, "d", 4));
    orm__alloc_fail_after(0);
    ck_assert_orm(put(c, "e", 5), ORM_ENOMEM);
    orm__alloc_fail_after(-1);
    for (int i = 0; i < 4; i++) {
        char k[2] = { (char)('a' + i), 0 };
        ck_assert_int_eq((int)(intptr_t)get(c, k), i + 1);
    }
    orm__stmt_cache_free(c);
}
END_TEST

/* A hit on an older statement moves it to the newest place by deleting and adding it again
 * (uthash's LRU idiom). The add puts it back in the bucket it just left, so it never grows
 * the table: a hit allocates nothing, whatever the table's shape. All keys share one hash
 * here, so the one bucket keeps reaching uthash's grow threshold. */
START_TEST(a_hit_never_allocates)
{
    orm_stmt_cache *c;
    nevicted = 0;
    ck_assert_ok(orm__stmt_cache_new(&c, 1000, evict_cb, evicted));
    /* Each text at its own address: the same address, hash and length would be the same
     * statement (the pointer shortcut). */
    static char texts[300][8];
    for (int i = 0; i < 300; i++) {
        snprintf(texts[i], sizeof texts[i], "S%d", i);
        ck_assert_ok(orm__stmt_cache_put(c, texts[i], strlen(texts[i]), i % 3 ? 7 : (uint64_t)i,
                                         (void *)(intptr_t)(i + 1)));
        int older = i / 2;
        orm__alloc_fail_after(0);
        void *st = orm__stmt_cache_get(c, texts[older], strlen(texts[older]),
                                       older % 3 ? 7 : (uint64_t)older);
        ck_assert_int_eq(orm__alloc_failed(), 0);
        orm__alloc_fail_after(-1);
        ck_assert_int_eq((int)(intptr_t)st, older + 1);
    }
    ck_assert_int_eq(nevicted, 0);
    orm__stmt_cache_free(c);
    ck_assert_int_eq(nevicted, 300);
}
END_TEST

static Suite *stmt_cache_suite(void)
{
    Suite *s = suite_create("stmt_cache");
    TCase *tc = tcase_create("lru");
    tcase_add_test(tc, lru_order_and_counts);
    tcase_add_test(tc, bounded_under_a_stream);
    tcase_add_test(tc, same_hash_different_text);
    tcase_add_test(tc, enomem);
    tcase_add_test(tc, a_hit_never_allocates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(stmt_cache_suite()); }
