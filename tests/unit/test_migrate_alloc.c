/* Unit tests: the migrator (migrations/) under injected allocation failures — for every N,
 * the Nth allocation of opening a folder, up (transactional and no-transaction migrations),
 * status, down and goto fails; the call reports ORM_ENOMEM, leaks nothing (the sanitizer
 * build checks), and leaves the database where a clean retry reaches the right version. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrations/migrate_internal.h"
#include "orm/alloc.h"
#include "orm/orm.h"
#include "testutil.h"

static char *dir;

static void put(const char *file, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    dir = orm_test_temp_path("migalloc");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    put("0001_a.up.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY, s TEXT);\n"
                         "INSERT INTO a (s) VALUES ('x;y');\n");
    put("0001_a.down.sql", "DROP TABLE a;\n");
    put("0002_idx.up.sql", "-- orm:no-transaction\nCREATE INDEX a_s ON a (s);\n");
    put("0002_idx.down.sql", "-- orm:no-transaction\nDROP INDEX a_s;\n");
    put("0003_b.up.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);\n");
    put("0003_b.down.sql", "DROP TABLE b;\n");
}

static void teardown(void)
{
    static const char *const files[] = { "0001_a.up.sql", "0001_a.down.sql", "0002_idx.up.sql",
                                         "0002_idx.down.sql", "0003_b.up.sql", "0003_b.down.sql" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    free(dir);
}

/* One run of the operations under test, on db. */
static int run(orm_db *db)
{
    orm_migrator *m = NULL;
    char *text = NULL;
    int rc = orm_migrator_open_dir(&m, db, dir, NULL);
    if (rc == ORM_OK)
        rc = orm_migrate_up(m, NULL, 0, NULL);
    if (rc == ORM_OK)
        rc = orm_migrate_status_text(m, NULL, &text);
    if (rc == ORM_OK)
        rc = orm_migrate_down(m, NULL, 2, NULL);
    if (rc == ORM_OK)
        rc = orm_migrate_goto(m, NULL, 3);
    orm_free_string(text);
    orm_migrator_free(m);
    return rc;
}

START_TEST(every_allocation_fails_cleanly)
{
    long n;
    for (n = 0; n < 100000; n++) {
        orm_db *db;
        ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
        orm__alloc_fail_after(n);
        int rc = run(db);
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        if (!injected) {
            ck_assert_ok(rc);
            orm_db_close(db);
            break;
        }
        /* ORM_OK: the failure hit an allocation the library may do without (the statement
         * cache not keeping a statement) */
        ck_assert_msg(rc == ORM_ENOMEM || rc == ORM_OK, "run %ld: rc %d (%s): %s", n, rc, orm_strerror(rc),
                      orm_error_last()->message);
        /* what is recorded is what is there: a clean retry reaches version 3, unless a
         * no-transaction step was cut (dirty): then force is the operator's way out */
        orm_migrator *m;
        ck_assert_ok(orm_migrator_open_dir(&m, db, dir, NULL));
        int64_t v;
        int dirty;
        ck_assert_ok(orm_migrate_version(m, NULL, &v, &dirty));
        if (dirty)
            ck_assert_ok(orm_migrate_force(m, NULL, v));
        else
            ck_assert_msg(orm_migrate_goto(m, NULL, 3) == ORM_OK, "run %ld: retry: %s", n,
                          orm_error_last()->message);
        orm_migrator_free(m);
        orm_db_close(db);
    }
    ck_assert_int_gt(n, 20);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("migrate_alloc");
    TCase *tc = tcase_create("migrate_alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_allocation_fails_cleanly);
    suite_add_tcase(su, tc);
    return orm_test_run(su);
}
