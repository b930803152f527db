/* Unit tests: transactions (tx/tx.c) on SQLite. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "orm/orm.h"
#include "orm/session_internal.h"
#include "testutil.h"

static orm_db *db;
static char *path;

static void setup(void)
{
    path = orm_test_temp_path("tx");
    char dsn[512];
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.busy_timeout_ms = 200;
    ck_assert_ok(orm_db_open(&db, dsn, &o));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "CREATE TABLE x(v INT UNIQUE)"));
}

static void teardown(void)
{
    orm_db_close(db);
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    free(path);
}

static int64_t count_rows(void)
{
    orm_query q = { ORM_QUERY_SELECT, NULL, "SELECT count(*) FROM x", 22, 0, NULL, 0, NULL };
    orm_rows *r;
    ck_assert_ok(orm__session_query(orm_db_session(db), NULL, &q, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    int64_t n = orm_rows_int(r, 0);
    orm_rows_free(r);
    return n;
}

START_TEST(commit_persists)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert(orm_tx_is_open(tx));
    ck_assert_ptr_eq(orm_session_db(orm_tx_session(tx)), db);
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1); INSERT INTO x VALUES(2)"));
    ck_assert_ok(orm_tx_commit(tx));
    ck_assert(!orm_tx_is_open(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(count_rows(), 2);
}
END_TEST

START_TEST(rollback_discards_and_etxdone_after)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    ck_assert_ok(orm_tx_rollback(tx));
    ck_assert_orm(orm_tx_commit(tx), ORM_ETXDONE);
    ck_assert_orm(orm_tx_rollback(tx), ORM_ETXDONE);
    ck_assert_orm(orm_exec_sql(orm_tx_session(tx), NULL, "SELECT 1"), ORM_ETXDONE);
    orm_query q = { ORM_QUERY_SELECT, NULL, "SELECT 1", 8, 0, NULL, 0, NULL };
    orm_rows *r = (orm_rows *)1;
    ck_assert_orm(orm__session_query(orm_tx_session(tx), NULL, &q, &r), ORM_ETXDONE);
    ck_assert_ptr_null(r);
    /* The connection is back with the db before the tx is freed. */
    ck_assert_int_eq(count_rows(), 0);
    orm_tx_free(tx);
}
END_TEST

START_TEST(free_rolls_back)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    orm_tx_free(tx);
    orm_tx_free(NULL);
    ck_assert_int_eq(count_rows(), 0);
    /* The db is usable and a new transaction can begin. */
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
}
END_TEST

START_TEST(error_inside_keeps_tx_usable)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    ck_assert_orm(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"), ORM_ECONSTRAINT);
    ck_assert(orm_tx_is_open(tx));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(2)"));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(count_rows(), 2);
}
END_TEST

START_TEST(options)
{
    orm_tx_options o;
    ck_assert_orm(orm_tx_options_init(&o, 9), ORM_EINVAL);
    ck_assert_ok(orm_tx_options_init(&o, ORM_TX_OPTIONS_VERSION));
    ck_assert_int_eq(o.sqlite_begin, ORM_SQLITE_DEFERRED);
    orm_tx *tx = (orm_tx *)1;
    o.version = 3;
    ck_assert_orm(orm_tx_begin(&tx, db, NULL, &o), ORM_EINVAL);
    ck_assert_ptr_null(tx);
    ck_assert_orm(orm_tx_begin(&tx, NULL, NULL, NULL), ORM_EINVAL);

    /* read_only: writes refused while open, allowed again after. */
    ck_assert_ok(orm_tx_options_init(&o, ORM_TX_OPTIONS_VERSION));
    o.read_only = 1;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, &o));
    ck_assert_orm(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"), ORM_EDB);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "INSERT INTO x VALUES(1)"));

    o.read_only = 0;
    o.sqlite_begin = ORM_SQLITE_EXCLUSIVE;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, &o));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    o.sqlite_begin = ORM_SQLITE_IMMEDIATE;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, &o));
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
}
END_TEST

START_TEST(same_thread_db_session_is_ebusy)
{
    /* A file database has a pool of connections: the db session takes another one. */
    orm_tx *tx, *tx2;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, "SELECT 1"));
    ck_assert_ok(orm_tx_begin(&tx2, db, NULL, NULL));
    orm_tx_free(tx2);
    orm_tx_free(tx);
    /* An in-memory database has exactly one connection: asking for it again on the thread
     * that holds it is refused at once instead of deadlocking. */
    orm_db *mem;
    ck_assert_ok(orm_db_open(&mem, "sqlite::memory:", NULL));
    ck_assert_ok(orm_tx_begin(&tx, mem, NULL, NULL));
    ck_assert_orm(orm_exec_sql(orm_db_session(mem), NULL, "SELECT 1"), ORM_EBUSY);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "transaction"));
    ck_assert_orm(orm_tx_begin(&tx2, mem, NULL, NULL), ORM_EBUSY);
    orm_tx_free(tx);
    orm_db_close(mem);
}
END_TEST

typedef struct { int rc; } thread_result;

static void *writer(void *arg)
{
    thread_result *res = arg;
    res->rc = orm_exec_sql(orm_db_session(db), NULL, "INSERT INTO x VALUES(10)");
    return NULL;
}

START_TEST(other_thread_waits_then_runs)
{
    /* Another thread waits for the connection while the tx holds it (up to the busy
     * timeout, 200 ms here), then runs once the tx commits. */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    thread_result res = { 99 };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, writer, &res), 0);
    struct timespec pause = { 0, 20000000L };
    nanosleep(&pause, NULL);
    ck_assert_ok(orm_tx_commit(tx));
    pthread_join(t, NULL);
    ck_assert_ok(res.rc);
    orm_tx_free(tx);
    ck_assert_int_eq(count_rows(), 2);

    /* The write lock held past the busy timeout: EBUSY. */
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(2)"));
    ck_assert_int_eq(pthread_create(&t, NULL, writer, &res), 0);
    pthread_join(t, NULL);
    ck_assert_orm(res.rc, ORM_EBUSY);
    orm_tx_free(tx);
}
END_TEST

static void *commit_elsewhere(void *arg)
{
    orm_tx *tx = arg;
    return orm_tx_commit(tx) == ORM_OK ? arg : NULL;
}

START_TEST(tx_handed_to_another_thread)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    pthread_t t;
    void *res;
    ck_assert_int_eq(pthread_create(&t, NULL, commit_elsewhere, tx), 0);
    pthread_join(t, &res);
    ck_assert_ptr_eq(res, tx);
    orm_tx_free(tx);
    ck_assert_int_eq(count_rows(), 1);
}
END_TEST

static Suite *tx_suite(void)
{
    Suite *s = suite_create("tx");
    TCase *tc = tcase_create("tx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, commit_persists);
    tcase_add_test(tc, rollback_discards_and_etxdone_after);
    tcase_add_test(tc, free_rolls_back);
    tcase_add_test(tc, error_inside_keeps_tx_usable);
    tcase_add_test(tc, options);
    tcase_add_test(tc, same_thread_db_session_is_ebusy);
    tcase_add_test(tc, other_thread_waits_then_runs);
    tcase_add_test(tc, tx_handed_to_another_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(tx_suite()); }
