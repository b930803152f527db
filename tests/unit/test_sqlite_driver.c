/* Unit tests: the SQLite driver through the db and session layers (orm/driver/sqlite/driver.c,
 * orm/db.c, orm/session.c, orm/rows.c). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "orm/driver/sqlite/sqlite.h"
#include "orm/orm.h"
#include "orm/session_internal.h"
#include "testutil.h"

static orm_db *db;
static orm_session *s;

static void setup(void)
{
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL,
                              "CREATE TABLE t(id INTEGER PRIMARY KEY, i INT, d REAL, s TEXT, b BLOB,"
                              " f INT, ts TEXT, u TEXT UNIQUE);"));
}

static void teardown(void) { orm_db_close(db); }

static orm_query mkq(const char *sql, const orm_value *args, size_t nargs)
{
    orm_query q = { ORM_QUERY_RAW, NULL, sql, strlen(sql), 0, args, nargs, NULL };
    return q;
}

static int exec(const char *sql, const orm_value *args, size_t nargs, orm_exec_result *res)
{
    orm_query q = mkq(sql, args, nargs);
    return orm__session_exec(s, NULL, &q, res);
}

static orm_rows *query(const char *sql, const orm_value *args, size_t nargs)
{
    orm_query q = mkq(sql, args, nargs);
    orm_rows *r = NULL;
    ck_assert_ok(orm__session_query(s, NULL, &q, &r));
    return r;
}

static void cache_stats(orm_stmt_cache_stats *st)
{
    orm_conn *c;
    ck_assert_ok(orm__db_acquire(db, NULL, &c));
    orm__sqlite_stmt_cache_stats(c, st);
    orm__db_release(db, c);
}

START_TEST(dsn_forms)
{
    orm_db *d = NULL;
    char *path = orm_test_temp_path("dsn");
    char dsn[512];
    ck_assert_str_eq(orm_db_backend(db), "sqlite");
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    ck_assert_ok(orm_db_open(&d, dsn, NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(d), NULL, "CREATE TABLE x(a); INSERT INTO x VALUES(1);"));
    orm_db_close(d);
    /* A file database runs in WAL mode. */
    snprintf(dsn, sizeof dsn, "file:%s", path);
    ck_assert_ok(orm_db_open(&d, dsn, NULL));
    orm_query q = mkq("PRAGMA journal_mode", NULL, 0);
    orm_rows *r;
    ck_assert_ok(orm__session_query(orm_db_session(d), NULL, &q, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_str_eq(orm_rows_text(r, 0, NULL), "wal");
    orm_rows_free(r);
    orm_db_close(d);
    /* Read-only URI: reads work, writes fail. */
    snprintf(dsn, sizeof dsn, "sqlite:file:%s?mode=ro", path);
    ck_assert_ok(orm_db_open(&d, dsn, NULL));
    ck_assert_orm(orm_exec_sql(orm_db_session(d), NULL, "INSERT INTO x VALUES(2)"), ORM_EDB);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "readonly"));
    orm_db_close(d);
    unlink(path);
    strcat(path, "-wal");
    unlink(path);
    path[strlen(path) - 4] = '\0';
    strcat(path, "-shm");
    unlink(path);
    free(path);

    d = (orm_db *)1;
    ck_assert_orm(orm_db_open(&d, "mysql://x", NULL), ORM_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_orm(orm_db_open(&d, "sqlite:", NULL), ORM_EINVAL);
    ck_assert_orm(orm_db_open(&d, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_db_open(&d, "sqlite:/nonexistent-dir/x/y.db", NULL), ORM_EIO);
    ck_assert_ptr_null(d);
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.create = 0;
    ck_assert_orm(orm_db_open(&d, "sqlite:/tmp/orm-no-such-file-here.db", &o), ORM_EIO);
    o.version = 7;
    ck_assert_orm(orm_db_open(&d, "sqlite::memory:", &o), ORM_EINVAL);
    ck_assert_orm(orm_db_options_init(&o, ORM_DB_OPTIONS_VERSION + 1), ORM_EINVAL);
    ck_assert_ok(orm_db_options_init(&o, ORM_DB_OPTIONS_VERSION));
    ck_assert_uint_eq(o.stmt_cache_size, 128);
    orm_db_close(NULL);
}
END_TEST

/* Issue 19 item 15: only a DSN that names a private database (":memory:", a file: URI with
 * that path or mode=memory, an empty URI path) gets the single shared connection; a file
 * whose path merely holds ":memory:" is a file, on disk, with the usual pool. */
START_TEST(memory_only_when_the_dsn_says_so)
{
    static const char *const priv[] = { "sqlite::memory:", ":memory:", "file::memory:",
                                        "sqlite:file::memory:?cache=shared", "file:x.db?mode=memory",
                                        "file:db?cache=shared&mode=memory#frag",
                                        "file:", "file:?mode=ro" };
    for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
        ck_assert_msg(orm__sqlite_dsn_private(priv[i]), "%s", priv[i]);
    static const char *const files[] = { "sqlite:/tmp/a:memory:b.db", "file:/tmp/a:memory:?mode=rw",
                                         "file:/tmp/x.db?xmode=memory", "file:/tmp/x.db?mode=memoryx",
                                         "sqlite::memory:x", "file:/tmp/x.db#mode=memory", "sqlite:x",
                                         "file://localhost/:memory:" /* the file /:memory: */ };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        ck_assert_msg(!orm__sqlite_dsn_private(files[i]), "%s", files[i]);

    char *dir = orm_test_temp_path("memdir");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    char path[600], dsn[700];
    snprintf(path, sizeof path, "%s/a:memory:b.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    orm_db *d;
    ck_assert_ok(orm_db_open(&d, dsn, NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(d), NULL, "CREATE TABLE x(a); INSERT INTO x VALUES(1);"));
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(d, &st));
    ck_assert_uint_gt(st.max_open, 1);
    orm_db_close(d);
    ck_assert_int_eq(access(path, F_OK), 0); /* on disk, and still there after the close */
    ck_assert_ok(orm_db_open(&d, dsn, NULL));
    orm_query q = mkq("SELECT a FROM x", NULL, 0);
    orm_rows *r;
    ck_assert_ok(orm__session_query(orm_db_session(d), NULL, &q, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    orm_rows_free(r);
    orm_db_close(d);
    ck_assert_ok(orm_db_open(&d, "sqlite::memory:", NULL));
    ck_assert_ok(orm_db_stats(d, &st));
    ck_assert_uint_eq(st.max_open, 1);
    orm_db_close(d);
    for (const char *suffix = ""; suffix; suffix = *suffix ? (suffix[1] == 'w' ? "-shm" : NULL) : "-wal") {
        char p2[640];
        snprintf(p2, sizeof p2, "%s%s", path, suffix);
        unlink(p2);
    }
    rmdir(dir);
    free(dir);
}
END_TEST

/* Pool limits are ms in the options and µs in the pool: huge ones saturate, not overflow
 * (UBSan aborts this test if they do). */
START_TEST(huge_pool_limits)
{
    char *path = orm_test_temp_path("limits");
    char dsn[600];
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.idle_timeout_ms = INT64_MAX;
    o.max_lifetime_ms = INT64_MAX;
    orm_db *d;
    ck_assert_ok(orm_db_open(&d, dsn, &o));
    ck_assert_ok(orm_exec_sql(orm_db_session(d), NULL, "CREATE TABLE t (x INTEGER)"));
    orm_db_close(d);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(bind_and_read_every_type)
{
    static const char nul_text[] = "a\0b'; DROP TABLE t; --";
    const unsigned char blob[] = { 0, 1, 2, 255 };
    orm_value args[] = { orm_int(INT64_MIN), orm_double(-2.5), orm_text_n(nul_text, sizeof nul_text - 1),
                         orm_blob_n(blob, sizeof blob), orm_bool(true), orm_timestamp_us(1500000),
                         orm_null() };
    orm_exec_result res = { -1, -1 };
    ck_assert_ok(exec("INSERT INTO t(i,d,s,b,f,ts,u) VALUES(?,?,?,?,?,?,?)", args, 7, &res));
    ck_assert_int_eq(res.affected, 1);
    ck_assert_int_eq(res.last_id, 1);
    orm_rows *r = query("SELECT i,d,s,b,f,ts,u,typeof(s) FROM t WHERE s = ?", &args[2], 1);
    ck_assert_uint_eq(orm_rows_ncols(r), 8);
    ck_assert_str_eq(orm_rows_name(r, 1), "d");
    ck_assert_ptr_null(orm_rows_name(r, 8));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), INT64_MIN);
    ck_assert(orm_rows_double(r, 1) == -2.5);
    size_t len;
    const char *txt = orm_rows_text(r, 2, &len);
    ck_assert_uint_eq(len, sizeof nul_text - 1);
    ck_assert_int_eq(memcmp(txt, nul_text, len), 0);
    ck_assert_int_eq(orm_rows_type(r, 3), ORM_VALUE_BLOB);
    const void *bp = orm_rows_blob(r, 3, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_int_eq(memcmp(bp, blob, 4), 0);
    ck_assert_int_eq(orm_rows_int(r, 4), 1);
    ck_assert_str_eq(orm_rows_text(r, 5, NULL), "1970-01-01 00:00:01.500");
    ck_assert(orm_rows_is_null(r, 6));
    ck_assert_ptr_null(orm_rows_text(r, 6, NULL));
    ck_assert_str_eq(orm_rows_text(r, 7, NULL), "text");
    ck_assert_str_eq(orm_rows_text(r, 0, NULL), "-9223372036854775808"); /* int as text */
    ck_assert(orm_rows_is_null(r, 99));
    ck_assert_int_eq(orm_rows_next(r), 0);
    ck_assert_int_eq(orm_rows_next(r), 0); /* stays at the end */
    orm_rows_free(r);
    orm_rows_free(NULL);
}
END_TEST

START_TEST(error_mapping)
{
    orm_value u = orm_text("dup");
    ck_assert_ok(exec("INSERT INTO t(u) VALUES(?)", &u, 1, NULL));
    ck_assert_orm(exec("INSERT INTO t(u) VALUES(?)", &u, 1, NULL), ORM_ECONSTRAINT);
    const orm_error *e = orm_error_last();
    ck_assert_int_eq(e->native_code, SQLITE_CONSTRAINT_UNIQUE);
    ck_assert_str_eq(e->module, "sqlite");
    ck_assert_ptr_nonnull(strstr(e->message, "t.u"));
    /* NOT NULL and foreign keys (on by default) are constraints too. */
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
                                       "CREATE TABLE c(p INT NOT NULL REFERENCES p(id));"));
    ck_assert_orm(orm_exec_sql(s, NULL, "INSERT INTO c VALUES(NULL)"), ORM_ECONSTRAINT);
    ck_assert_int_eq(orm_error_last()->native_code, SQLITE_CONSTRAINT_NOTNULL);
    ck_assert_orm(orm_exec_sql(s, NULL, "INSERT INTO c VALUES(5)"), ORM_ECONSTRAINT);
    ck_assert_int_eq(orm_error_last()->native_code, SQLITE_CONSTRAINT_FOREIGNKEY);
    /* Syntax and unknown tables are EDB naming the SQL. */
    ck_assert_orm(exec("SELEKT 1", NULL, 0, NULL), ORM_EDB);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "SELEKT"));
    ck_assert_orm(exec("SELECT * FROM nope", NULL, 0, NULL), ORM_EDB);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "no such table: nope"));
    /* Misuse is EINVAL and reaches nothing. */
    ck_assert_orm(exec("SELECT ?", NULL, 0, NULL), ORM_EINVAL);
    ck_assert_orm(exec("SELECT 1; SELECT 2", NULL, 0, NULL), ORM_EINVAL);
    ck_assert_ok(exec("SELECT 1; ", NULL, 0, NULL));
    ck_assert_ok(exec("SELECT 1; -- trailing comment", NULL, 0, NULL));
    ck_assert_orm(exec("SELECT 1; /* c */ SELECT 2", NULL, 0, NULL), ORM_EINVAL);
    ck_assert_orm(exec("  -- nothing", NULL, 0, NULL), ORM_EINVAL);
    orm_value ts = orm_timestamp_us(INT64_MAX);
    ck_assert_orm(exec("SELECT ?", &ts, 1, NULL), ORM_EINVAL);
    /* A script stops at the first error; what ran before stays. */
    ck_assert_orm(orm_exec_sql(s, NULL, "INSERT INTO p VALUES(1); INSERT INTO p VALUES(1); INSERT INTO p VALUES(2);"),
                  ORM_ECONSTRAINT);
    orm_rows *r = query("SELECT count(*) FROM p", NULL, 0);
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), 1);
    orm_rows_free(r);
    ck_assert_ok(orm_exec_sql(s, NULL, "  /* only a comment */ "));
    ck_assert_orm(orm_exec_sql(s, NULL, NULL), ORM_EINVAL);
}
END_TEST

START_TEST(step_error_in_cursor)
{
    /* An error that shows only while stepping comes out of orm_rows_next. */
    ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO t(u) VALUES('a');"));
    orm_rows *r = query("INSERT INTO t(u) VALUES('a') RETURNING id", NULL, 0);
    ck_assert_orm(orm_rows_next(r), ORM_ECONSTRAINT);
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    ck_assert_ok(exec("SELECT 1", NULL, 0, NULL));
}
END_TEST

START_TEST(cursor_outlives_its_arguments)
{
    /* Arguments are borrowed for the call only: the cursor must not read them later. */
    ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO t(s) VALUES('k'),('x'),('k'),('k');"));
    char *key = malloc(2);
    strcpy(key, "k");
    orm_value arg = orm_text(key);
    orm_rows *r = query("SELECT id FROM t WHERE s = ?", &arg, 1);
    free(key); /* ASan flags any later read */
    int n = 0;
    while (orm_rows_next(r) == 1)
        n++;
    orm_rows_free(r);
    ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(cursor_holds_the_connection)
{
    orm_rows *r = query("SELECT 1", NULL, 0);
    /* Same thread, db session: refused at once rather than deadlocking. */
    ck_assert_orm(exec("SELECT 2", NULL, 0, NULL), ORM_EBUSY);
    orm_rows_free(r);
    ck_assert_ok(exec("SELECT 2", NULL, 0, NULL));
    /* Inside a transaction the cursor guard is the driver's. */
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, NULL));
    orm_query q = mkq("SELECT 1", NULL, 0);
    ck_assert_ok(orm__session_query(orm_tx_session(tx), NULL, &q, &r));
    ck_assert_orm(orm_exec_sql(orm_tx_session(tx), NULL, "SELECT 3"), ORM_EBUSY);
    ck_assert_orm(orm_tx_commit(tx), ORM_EBUSY);
    orm_rows_free(r);
    orm_tx_free(tx);
}
END_TEST

START_TEST(stmt_cache_reuse)
{
    orm_stmt_cache_stats a, b;
    cache_stats(&a);
    orm_value v = orm_int(3);
    ck_assert_ok(exec("SELECT ? + 1", &v, 1, NULL));
    ck_assert_ok(exec("SELECT ? + 1", &v, 1, NULL));
    orm_rows *r = query("SELECT ? + 1", &v, 1);
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), 4);
    orm_rows_free(r);
    cache_stats(&b);
    ck_assert_uint_eq(b.misses - a.misses, 1); /* prepared once */
    ck_assert_uint_eq(b.hits - a.hits, 2);
    /* Every parameter is rebound: a new value is seen. */
    v = orm_int(10);
    r = query("SELECT ? + 1", &v, 1);
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), 11);
    orm_rows_free(r);
}
END_TEST

START_TEST(stmt_cache_bounded)
{
    orm_db *d;
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.stmt_cache_size = 16;
    ck_assert_ok(orm_db_open(&d, "sqlite::memory:", &o));
    char sql[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        orm_query q = mkq(sql, NULL, 0);
        ck_assert_ok(orm__session_exec(orm_db_session(d), NULL, &q, NULL));
    }
    orm_conn *c;
    ck_assert_ok(orm__db_acquire(d, NULL, &c));
    orm_stmt_cache_stats st;
    orm__sqlite_stmt_cache_stats(c, &st);
    ck_assert_uint_eq(st.count, 16);
    ck_assert_uint_eq(st.capacity, 16);
    ck_assert_uint_eq(st.evictions, 1000 - 16);
    /* SQLite agrees: only the cached statements are alive. */
    int n = 0;
    for (sqlite3_stmt *p = sqlite3_next_stmt(orm__sqlite_handle(c), NULL); p;
         p = sqlite3_next_stmt(orm__sqlite_handle(c), p))
        n++;
    ck_assert_int_eq(n, 16);
    orm__db_release(d, c);
    orm_db_close(d);
}
END_TEST

START_TEST(busy_is_ebusy)
{
    char *path = orm_test_temp_path("busy");
    char dsn[512];
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    orm_db_options o = ORM_DB_OPTIONS_INIT;
    o.busy_timeout_ms = 50;
    orm_db *a, *b;
    ck_assert_ok(orm_db_open(&a, dsn, &o));
    ck_assert_ok(orm_db_open(&b, dsn, &o));
    ck_assert_ok(orm_exec_sql(orm_db_session(a), NULL, "CREATE TABLE x(v)"));
    orm_tx_options to = ORM_TX_OPTIONS_INIT;
    to.sqlite_begin = ORM_SQLITE_IMMEDIATE;
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, a, NULL, &to));
    ck_assert_ok(orm_exec_sql(orm_tx_session(tx), NULL, "INSERT INTO x VALUES(1)"));
    ck_assert_orm(orm_exec_sql(orm_db_session(b), NULL, "INSERT INTO x VALUES(2)"), ORM_EBUSY);
    ck_assert_int_eq(orm_error_last()->native_code & 0xff, SQLITE_BUSY);
    orm_tx *tx2;
    ck_assert_orm(orm_tx_begin(&tx2, b, NULL, &to), ORM_EBUSY);
    ck_assert_ptr_null(tx2);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_ok(orm_exec_sql(orm_db_session(b), NULL, "INSERT INTO x VALUES(2)"));
    orm_db_close(a);
    orm_db_close(b);
    unlink(path);
    free(path);
}
END_TEST

typedef struct user { int64_t id; char *name; } user;
static const orm_field user_fields[] = {
    ORM_FIELD(user, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(user, name, ORM_FIELD_TEXT, 0),
};
static const size_t user_pk[] = { 0 };
static const orm_model user_model = ORM_MODEL(user, "users", user_fields, user_pk);
static const orm_model user_model2 = ORM_MODEL(user, "users", user_fields, user_pk);
static const orm_model other_model = ORM_MODEL(user, "others", user_fields, user_pk);

START_TEST(registry)
{
    ck_assert(!orm_db_is_registered(db, &user_model));
    ck_assert_ptr_null(orm_db_model(db, "users"));
    ck_assert_ok(orm_db_register(db, &user_model));
    ck_assert_ok(orm_db_register(db, &user_model));
    ck_assert(orm_db_is_registered(db, &user_model));
    ck_assert_orm(orm_db_register(db, &user_model2), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "users"));
    ck_assert_ok(orm_db_register(db, &other_model));
    ck_assert_ptr_eq(orm_db_model(db, "users"), &user_model);
    ck_assert_ptr_eq(orm_db_model(db, "others"), &other_model);
    orm_model_entry *e = orm__db_model_entry(db, &user_model);
    ck_assert_ptr_eq(e->model, &user_model);
    char *sql = malloc(8);
    strcpy(sql, "SELECT");
    e->sql[ORM_MODEL_SLOT_GET] = sql; /* freed by close */
    orm_model bad = user_model;
    bad.npk = 0;
    ck_assert_orm(orm_db_register(db, &bad), ORM_EINVAL);
    ck_assert(!orm_db_is_registered(db, &bad));

    /* Many models: the table grows and every entry stays where builders saw it. */
    static orm_model many[100];
    static char names[100][16];
    orm_model_entry *seen[100];
    for (int i = 0; i < 100; i++) {
        many[i] = user_model;
        snprintf(names[i], sizeof names[i], "t%d", i);
        many[i].table = names[i];
        ck_assert_ok(orm_db_register(db, &many[i]));
        seen[i] = orm__db_model_entry(db, &many[i]);
    }
    for (int i = 0; i < 100; i++) {
        ck_assert_ptr_eq(orm__db_model_entry(db, &many[i]), seen[i]);
        ck_assert_ptr_eq(orm_db_model(db, names[i]), &many[i]);
    }
    ck_assert_ptr_eq(orm__db_model_entry(db, &user_model), e);
}
END_TEST

static Suite *sqlite_driver_suite(void)
{
    Suite *su = suite_create("sqlite_driver");
    TCase *tc = tcase_create("driver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dsn_forms);
    tcase_add_test(tc, huge_pool_limits);
    tcase_add_test(tc, bind_and_read_every_type);
    tcase_add_test(tc, error_mapping);
    tcase_add_test(tc, step_error_in_cursor);
    tcase_add_test(tc, cursor_outlives_its_arguments);
    tcase_add_test(tc, cursor_holds_the_connection);
    tcase_add_test(tc, stmt_cache_reuse);
    tcase_add_test(tc, stmt_cache_bounded);
    tcase_add_test(tc, busy_is_ebusy);
    tcase_add_test(tc, registry);
    tcase_add_test(tc, memory_only_when_the_dsn_says_so);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return orm_test_run(sqlite_driver_suite()); }
