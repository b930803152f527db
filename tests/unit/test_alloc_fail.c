/* Allocation-failure loop over the runtime: for n = 0, 1, 2, ... fail the nth allocation
 * liborm makes during open + register + exec_sql + a mapped query + a transaction, and check
 * that every call reports ORM_ENOMEM or succeeds, that nothing crashes, and (under ASan)
 * that nothing leaks. Stops at the first run in which no failure was injected.
 *
 * Only liborm's own allocations (orm/alloc.h) are failed: SQLite's are its own (its
 * test_malloc.c covers them), so an EDB/EIO wrapping SQLite's NOMEM cannot happen here. */
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/mapper.h"
#include "orm/orm.h"
#include "orm/session_internal.h"
#include "testutil.h"

typedef struct item { int64_t id; char *name; orm_blob data; double price; bool has_price; } item;
static const orm_field item_fields[] = {
    ORM_FIELD(item, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(item, name, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(item, data, ORM_FIELD_BLOB, 0),
    ORM_FIELD_NULLABLE(item, price, ORM_FIELD_DOUBLE, 0),
};
static const size_t item_pk[] = { 0 };
#define NMODELS 6 /* enough to grow the registry table once */
static orm_model models[NMODELS];
static char tables[NMODELS][8];

/* Run everything; the first error stops the run (and is returned). */
static int run(void)
{
    orm_db *db = NULL;
    orm_rows *r = NULL;
    orm_tx *tx = NULL;
    item it, copy;
    memset(&it, 0, sizeof it);
    memset(&copy, 0, sizeof copy);
    int rc = orm_db_open(&db, "sqlite::memory:", NULL);
    if (rc != ORM_OK) {
        ck_assert_ptr_null(db);
        return rc;
    }
    for (int i = 0; i < NMODELS && rc == ORM_OK; i++)
        rc = orm_db_register(db, &models[i]);
    if (rc == ORM_OK)
        rc = orm_exec_sql(orm_db_session(db), NULL,
                          "CREATE TABLE m0(id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB, price REAL);"
                          "INSERT INTO m0(name, data, price) VALUES('a', x'0001', 1.5), ('b', NULL, NULL);");
    if (rc == ORM_OK) {
        orm_value arg = orm_text("a");
        orm_query q = { ORM_QUERY_SELECT, &models[0], "SELECT id, name, data, price FROM m0 WHERE name >= ?",
                        0, 0, &arg, 1, NULL };
        q.sql_len = strlen(q.sql);
        rc = orm__session_query(orm_db_session(db), NULL, &q, &r);
    }
    if (rc == ORM_OK) {
        static const size_t map[] = { 0, 1, 2, 3 };
        while ((rc = orm_rows_next(r)) == 1) {
            orm_model_clear(&models[0], &it);
            if ((rc = orm__map_row(&models[0], r, map, 4, &it)) != ORM_OK)
                break;
        }
        orm_rows_free(r);
    }
    if (rc == ORM_OK)
        rc = orm_model_copy(&models[0], &copy, &it);
    if (rc == ORM_OK)
        rc = orm_tx_begin(&tx, db, NULL, NULL);
    if (rc == ORM_OK) {
        rc = orm_exec_sql(orm_tx_session(tx), NULL, "DELETE FROM m0 WHERE name = 'b'");
        rc = rc ? rc : orm_tx_commit(tx);
        orm_tx_free(tx);
    }
    orm_model_clear(&models[0], &it);
    orm_model_clear(&models[0], &copy);
    orm_db_close(db);
    return rc;
}

START_TEST(every_allocation_fails_cleanly)
{
    for (int i = 0; i < NMODELS; i++) {
        const orm_model m = ORM_MODEL(item, "m", item_fields, item_pk);
        models[i] = m;
        snprintf(tables[i], sizeof tables[i], "m%d", i);
        models[i].table = tables[i];
    }
    long n;
    for (n = 0; n < 100000; n++) {
        orm__alloc_fail_after(n);
        int rc = run();
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        if (!injected) {
            ck_assert_ok(rc);
            break;
        }
        ck_assert_msg(rc == ORM_ENOMEM, "run %ld: rc %d (%s): %s", n, rc, orm_strerror(rc),
                      orm_error_last()->message);
    }
    ck_assert_int_gt(n, 5); /* the loop did inject failures */
}
END_TEST

/* Until the hook is armed an allocation counts nothing (no shared counter for every thread
 * to write); from the first orm__alloc_fail_after on, every attempt counts. Runs in its own
 * process (Check forks per test), where nothing armed the hook before. */
START_TEST(counting_starts_when_armed)
{
    for (int i = 0; i < 3; i++)
        orm__free(orm__malloc(16));
    ck_assert_int_eq(orm__alloc_fail_after(-1), 0);
    char *a = orm__malloc(8), *b = orm__strdup("xy");
    void *c = orm__calloc(2, 4);
    ck_assert(a && b && c);
    orm__free(a);
    orm__free(b);
    orm__free(c);
    ck_assert_int_eq(orm__alloc_fail_after(0), 3);
    ck_assert_ptr_null(orm__malloc(8)); /* armed: the next allocation fails */
    ck_assert_int_eq(orm__alloc_failed(), 1);
    ck_assert_int_eq(orm__alloc_fail_after(-1), 1);
}
END_TEST

static Suite *alloc_fail_suite(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counting_starts_when_armed);
    tcase_add_test(tc, every_allocation_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(alloc_fail_suite()); }
