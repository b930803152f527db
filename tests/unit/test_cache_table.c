/* Unit tests of the local cache's hash table (cache/ctable.c): random inserts, removals and
 * lookups against a reference array, through incremental growth, with hashes forced to
 * collide (equal hashes, equal tags, equal home groups) so probing, overflow counts and
 * removal without tombstones are all exercised. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/ctable.h"
#include "orm/alloc.h"
#include "orm/error.h"
#include "testutil.h"

#define KEYS 3000

static orm__centry *entry(const char *key, uint32_t h)
{
    size_t klen = strlen(key);
    orm__centry *e = calloc(1, offsetof(orm__centry, key) + klen + 1);
    ck_assert_ptr_nonnull(e);
    memcpy(e->key, key, klen + 1);
    e->klen = (uint16_t)klen;
    e->hash = h;
    return e;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void visit(orm__centry *e, void *arg)
{
    e->flags++;
    ++*(uint64_t *)arg;
}

/* hash_values: how many distinct hash values the keys share (few: heavy collisions). */
static void random_workload(uint32_t hash_values, uint64_t expected, uint64_t seed)
{
    orm__ctable t;
    ck_assert_int_eq(orm__ctable_init(&t, expected), ORM_OK);
    static orm__centry *in[KEYS]; /* reference: in[i] is key i's entry when present */
    static char keys[KEYS][16];
    memset(in, 0, sizeof in);
    uint64_t present = 0, grew = 0;
    for (int i = 0; i < KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "k%d", i);
    for (int step = 0; step < 40000; step++) {
        int i = (int)(rng(&seed) % KEYS);
        uint32_t h = (uint32_t)((uint64_t)i * 2654435761u % hash_values) * 0x01000193u;
        int op = (int)(rng(&seed) % 4);
        orm__centry *f = orm__ctable_find(&t, h, keys[i], strlen(keys[i]));
        ck_assert_ptr_eq(f, in[i]);
        if (op < 2 && !in[i]) {
            in[i] = entry(keys[i], h);
            ck_assert_int_eq(orm__ctable_insert(&t, in[i]), ORM_OK);
            present++;
        } else if (op == 2 && in[i]) {
            orm__ctable_remove(&t, in[i]);
            free(in[i]);
            in[i] = NULL;
            present--;
        }
        grew |= t.cursor >= 0;
        orm__ctable_step(&t);
        ck_assert_uint_eq(t.used[0] + t.used[1], present);
    }
    for (int i = 0; i < KEYS; i++) {
        uint32_t h = (uint32_t)((uint64_t)i * 2654435761u % hash_values) * 0x01000193u;
        ck_assert_ptr_eq(orm__ctable_find(&t, h, keys[i], strlen(keys[i])), in[i]);
    }
    if (!expected)
        ck_assert_msg(grew, "the table never grew from its minimum size");
    /* drain visits every entry exactly once and leaves the table empty */
    uint64_t seen = 0;
    for (int i = 0; i < KEYS; i++)
        if (in[i])
            in[i]->flags = 0;
    orm__ctable_drain(&t, visit, &seen);
    ck_assert_uint_eq(seen, present);
    ck_assert_uint_eq(t.used[0] + t.used[1], 0);
    for (int i = 0; i < KEYS; i++) {
        if (in[i]) {
            ck_assert_uint_eq(in[i]->flags, 1);
            ck_assert_ptr_null(orm__ctable_find(&t, in[i]->hash, keys[i], strlen(keys[i])));
            free(in[i]);
        }
    }
    orm__ctable_free(&t);
}

START_TEST(test_table_random_distinct_hashes)
{
    random_workload(UINT32_MAX, 0, 88172645463325252ULL);
}
END_TEST

START_TEST(test_table_random_colliding_hashes)
{
    /* 40 hash values for 3,000 keys: long probe runs, overflow counts that saturate */
    random_workload(40, 0, 1234567);
}
END_TEST

/* A table left part-moved (growth goes on only with writes): lookups try the half a key most
 * likely is in first, and find every key in either half, before and after the cursor, moved,
 * unmoved and inserted since growth began; removals from both halves are seen. */
START_TEST(test_table_part_moved_finds_all)
{
    orm__ctable t;
    ck_assert_int_eq(orm__ctable_init(&t, 1000), ORM_OK); /* big enough that one step moves a few groups of many */
    static orm__centry *e[KEYS];
    static char keys[KEYS][16];
    int n = 0;
    while (t.cursor < 0) { /* fill until growth starts */
        snprintf(keys[n], sizeof keys[n], "u:%d", n);
        e[n] = entry(keys[n], (uint32_t)n * 2654435761u);
        ck_assert_int_eq(orm__ctable_insert(&t, e[n]), ORM_OK);
        n++;
    }
    orm__ctable_step(&t); /* a few groups moved, most not */
    ck_assert_int_gt(t.cursor, 0);
    ck_assert_int_lt(t.cursor, (int64_t)t.n[0]);
    for (int i = 0; i < 20; i++, n++) { /* these go into the larger table */
        snprintf(keys[n], sizeof keys[n], "u:%d", n);
        e[n] = entry(keys[n], (uint32_t)n * 2654435761u);
        ck_assert_int_eq(orm__ctable_insert(&t, e[n]), ORM_OK); /* no step: the cursor stays */
    }
    ck_assert_int_ge(t.cursor, 0);
    ck_assert_uint_gt(t.used[0], 0);
    ck_assert_uint_gt(t.used[1], 20);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_eq(orm__ctable_find(&t, e[i]->hash, keys[i], strlen(keys[i])), e[i]);
    /* every third key removed, from either half; the rest still found */
    uint64_t left = (uint64_t)n;
    for (int i = 0; i < n; i += 3, left--) {
        orm__ctable_remove(&t, e[i]);
        ck_assert_ptr_null(orm__ctable_find(&t, e[i]->hash, keys[i], strlen(keys[i])));
    }
    ck_assert_uint_eq(t.used[0] + t.used[1], left);
    for (int i = 0; i < n; i++) {
        if (i % 3)
            ck_assert_ptr_eq(orm__ctable_find(&t, e[i]->hash, keys[i], strlen(keys[i])), e[i]);
        free(e[i]);
    }
    orm__ctable_free(&t);
}
END_TEST

START_TEST(test_table_presized_does_not_grow)
{
    orm__ctable t;
    ck_assert_int_eq(orm__ctable_init(&t, 1000), ORM_OK);
    static orm__centry *e[1000];
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "p%d", i);
        e[i] = entry(key, (uint32_t)i * 0x9E3779B1u);
        ck_assert_int_eq(orm__ctable_insert(&t, e[i]), ORM_OK);
        ck_assert_int_lt(t.cursor, 0);
    }
    /* sized at 0.78 load: 64 bytes a group of 7 lanes, about ORM__CTABLE_SHARE per entry */
    ck_assert_uint_le((uint64_t)t.n[0] * sizeof(orm__cgroup), 1000u * ORM__CTABLE_SHARE + 64);
    for (int i = 0; i < 1000; i++) {
        orm__ctable_remove(&t, e[i]);
        free(e[i]);
    }
    ck_assert_uint_eq(t.used[0], 0);
    orm__ctable_free(&t);
}
END_TEST

START_TEST(test_table_full_is_enomem)
{
    /* A table that cannot grow (every allocation fails) refuses the insert that would overfill
     * it, and stays consistent. */
    orm__ctable t;
    ck_assert_int_eq(orm__ctable_init(&t, 0), ORM_OK);
    uint32_t lanes = t.n[0] * ORM__CGROUP_LANES;
    static orm__centry *e[64];
    char key[16];
    uint32_t ok = 0;
    int rc = ORM_OK;
    for (uint32_t i = 0; i < lanes + 1 && i < 64; i++) {
        snprintf(key, sizeof key, "f%u", i);
        e[i] = entry(key, i * 0x85EBCA77u);
        orm__alloc_fail_after(0); /* the next allocation (the larger table) fails */
        rc = orm__ctable_insert(&t, e[i]);
        if (rc != ORM_OK) {
            free(e[i]);
            e[i] = NULL;
            break;
        }
        ok++;
    }
    orm__alloc_fail_after(-1);
    ck_assert_int_eq(rc, ORM_ENOMEM);
    ck_assert_uint_eq(ok, lanes);
    for (uint32_t i = 0; i < ok; i++) {
        ck_assert_ptr_eq(orm__ctable_find(&t, e[i]->hash, e[i]->key, e[i]->klen), e[i]);
        orm__ctable_remove(&t, e[i]);
        free(e[i]);
    }
    orm__ctable_free(&t);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("cache_table");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_table_random_distinct_hashes);
    tcase_add_test(tc, test_table_random_colliding_hashes);
    tcase_add_test(tc, test_table_presized_does_not_grow);
    tcase_add_test(tc, test_table_part_moved_finds_all);
    tcase_add_test(tc, test_table_full_is_enomem);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(table_suite()); }
