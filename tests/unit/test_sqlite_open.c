/* Unit tests: opening SQLite files through the public API — the DSN options (mode,
 * journal_mode, foreign_keys, synchronous), what liborm changes in a file it did not create
 * (nothing persistent), and `ormctl migrate status` never creating a database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orm/orm.h"
#include "testutil.h"

#ifndef ORMCTL_PATH
#error "ORMCTL_PATH must name the ormctl binary"
#endif

static char *path;
static char dsn[600];

static void setup(void)
{
    path = orm_test_temp_path("sqlite_open");
    remove(path);
}

static void teardown(void)
{
    char side[600];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
    free(path);
}

/* The first column of the first row of sql on db, as text (static buffer). */
static const char *scalar(orm_db *db, const char *sql)
{
    static char buf[64];
    orm_rows *r;
    buf[0] = '\0';
    ck_assert_ok(orm_raw_rows(orm_db_session(db), NULL, sql, NULL, 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    snprintf(buf, sizeof buf, "%s", orm_rows_text(r, 0, NULL));
    orm_rows_free(r);
    return buf;
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

START_TEST(mode_rw_does_not_create)
{
    orm_db *db = (orm_db *)1;
    snprintf(dsn, sizeof dsn, "sqlite:%s?mode=rw", path);
    ck_assert_int_ne(orm_db_open(&db, dsn, NULL), ORM_OK);
    ck_assert_ptr_null(db);
    ck_assert(strstr(orm_error_last()->message, "must exist") != NULL);
    ck_assert(!exists(path));
    /* the default still creates, and then mode=rw opens it */
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    orm_db_close(db);
    ck_assert(exists(path));
    snprintf(dsn, sizeof dsn, "sqlite:%s?mode=rw", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    orm_db_close(db);
    /* mode=ro: reads, refuses writes */
    snprintf(dsn, sizeof dsn, "sqlite:%s?mode=ro", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_int_ne(orm_exec_sql(orm_db_session(db), NULL, "CREATE TABLE t (a)"), ORM_OK);
    orm_db_close(db);
}
END_TEST

START_TEST(bad_options_are_refused)
{
    static const char *bad[] = { "?mode=rwx", "?journal_mode=fast", "?foreign_keys=maybe",
                                 "?synchronous=2x", "?colour=blue", "?mode" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orm_db *db;
        snprintf(dsn, sizeof dsn, "sqlite:%s%s", path, bad[i]);
        ck_assert_orm(orm_db_open(&db, dsn, NULL), ORM_EINVAL);
        ck_assert(strstr(orm_error_last()->message, "DSN") != NULL);
        ck_assert(!exists(path));
    }
}
END_TEST

/* A file made by another tool keeps its journal mode; one liborm creates gets WAL; the
 * settings are per connection and the DSN turns each off. */
START_TEST(existing_files_are_not_changed)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE t (a INTEGER)'", path);
    ck_assert_int_eq(system(cmd), 0);
    orm_db *db;
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_str_eq(scalar(db, "PRAGMA journal_mode"), "delete");
    ck_assert_str_eq(scalar(db, "PRAGMA foreign_keys"), "1");
    ck_assert_str_eq(scalar(db, "PRAGMA synchronous"), "2"); /* FULL: NORMAL only with WAL */
    orm_db_close(db);
    /* opting in and out */
    snprintf(dsn, sizeof dsn, "sqlite:%s?journal_mode=wal&foreign_keys=off&synchronous=normal", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_str_eq(scalar(db, "PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(scalar(db, "PRAGMA foreign_keys"), "0");
    ck_assert_str_eq(scalar(db, "PRAGMA synchronous"), "1");
    orm_db_close(db);
    teardown();
    path = orm_test_temp_path("sqlite_open");
    remove(path);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_str_eq(scalar(db, "PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(scalar(db, "PRAGMA synchronous"), "1");
    orm_db_close(db);
}
END_TEST

START_TEST(migrate_status_never_creates)
{
    char dir[600], cmd[1600];
    snprintf(dir, sizeof dir, "%s.migrations", path);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && echo 'CREATE TABLE t (a INTEGER);' > '%s/0001_t.up.sql'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' migrate -d 'sqlite:%s' -m '%s' status 2>/dev/null", ORMCTL_PATH, path, dir);
    ck_assert_int_ne(system(cmd), 0);
    ck_assert(!exists(path));
    snprintf(cmd, sizeof cmd, "'%s' migrate -d 'sqlite:%s' -m '%s' version 2>/dev/null", ORMCTL_PATH, path, dir);
    ck_assert_int_ne(system(cmd), 0);
    ck_assert(!exists(path));
    /* up creates, then status reads it */
    snprintf(cmd, sizeof cmd, "'%s' migrate -d 'sqlite:%s' -m '%s' up >/dev/null && '%s' migrate -d 'sqlite:%s' -m '%s' status >/dev/null",
             ORMCTL_PATH, path, dir, ORMCTL_PATH, path, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *sqlite_open_suite(void)
{
    Suite *s = suite_create("sqlite_open");
    TCase *tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mode_rw_does_not_create);
    tcase_add_test(tc, bad_options_are_refused);
    tcase_add_test(tc, existing_files_are_not_changed);
    tcase_add_test(tc, migrate_status_never_creates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(sqlite_open_suite()); }
