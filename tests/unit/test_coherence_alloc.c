/* Allocation-failure loop over SQLite's change feed (orm/driver/sqlite/feed.c,
 * cache/row_cache_notify.c): for n = 0, 1, 2, ... fail the nth liborm allocation during
 * open + row cache + listen + a write made by a database trigger (which only the feed can
 * report) + reads. Every call succeeds or reports ORM_ENOMEM; a failure inside the feed's
 * hooks (no error can reach a caller there) reports more, never less: after a committed
 * write, no read returns the row from before it. Under ASan: nothing leaks. */
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/orm.h"
#include "testutil.h"

typedef struct cell { int64_t id; int64_t v; } cell;
static const orm_field cell_fields[] = {
    ORM_FIELD(cell, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(cell, v, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
};
static const size_t cell_pk[] = { 0 };
static const orm_model cell_model = ORM_MODEL(cell, "cells", cell_fields, cell_pk);

static int get_v(orm_db *db, int64_t *v)
{
    cell c = { 0, 0 };
    orm_value k = orm_int(1);
    int rc = orm_get(orm_db_session(db), NULL, &cell_model, &c, &k);
    *v = c.v;
    return rc;
}

/* 0 when every step ran, else the first error (ORM_ENOMEM expected). *stale is set when a
 * read after the committed write returned the old value. */
static int run(int *stale)
{
    orm_db *db = NULL;
    orm_cache *c = NULL;
    orm_row_cache *rc_ = NULL;
    int64_t v = 0;
    *stale = 0;
    int rc = orm_db_open(&db, "sqlite::memory:", NULL);
    if (rc == ORM_OK)
        rc = orm_cache_local_new(&c, NULL);
    if (rc == ORM_OK)
        rc = orm_row_cache_attach(&rc_, db, c, NULL);
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    if (rc == ORM_OK)
        rc = orm_row_cache_model(rc_, &cell_model, &mo);
    if (rc == ORM_OK)
        rc = orm_db_register(db, &cell_model);
    if (rc == ORM_OK)
        rc = orm_exec_sql(orm_db_session(db), NULL,
                          "CREATE TABLE cells (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);"
                          "CREATE TABLE pokes (x INTEGER);"
                          "CREATE TRIGGER poke AFTER INSERT ON pokes BEGIN "
                          "UPDATE cells SET v = v + 1 WHERE id = 1; END;"
                          "INSERT INTO cells VALUES (1, 0);");
    if (rc == ORM_OK)
        rc = orm_row_cache_triggers_install(db, NULL, &cell_model, 0);
    if (rc == ORM_OK)
        rc = orm_row_cache_listen(rc_, &cell_model, NULL);
    if (rc == ORM_OK)
        rc = get_v(db, &v); /* cached */
    if (rc == ORM_OK)
        rc = get_v(db, &v);
    if (rc == ORM_OK) /* the scanner sees pokes, not cells: only the feed drops cells:1 */
        rc = orm_raw_exec(orm_db_session(db), NULL, "INSERT INTO pokes VALUES (1)", NULL, 0, NULL);
    if (rc == ORM_OK) {
        rc = get_v(db, &v);
        if (rc == ORM_OK && v != 1)
            *stale = 1;
    }
    orm_db_close(db);
    return rc;
}

START_TEST(every_allocation_fails_cleanly)
{
    long n;
    for (n = 0; n < 100000; n++) {
        orm__alloc_fail_after(n);
        int stale = 0;
        int rc = run(&stale);
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        ck_assert_msg(!stale, "run %ld: a read after the committed write returned the old row", n);
        if (!injected) {
            ck_assert_ok(rc);
            break;
        }
        ck_assert_msg(rc == ORM_OK || rc == ORM_ENOMEM, "run %ld: rc %d (%s): %s", n, rc, orm_strerror(rc),
                      orm_error_last()->message);
    }
    ck_assert_int_gt(n, 5);
}
END_TEST

static Suite *coherence_alloc_suite(void)
{
    Suite *s = suite_create("coherence_alloc");
    TCase *tc = tcase_create("sqlite_feed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_allocation_fails_cleanly);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(coherence_alloc_suite()); }
