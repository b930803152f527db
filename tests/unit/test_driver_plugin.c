/* The driver interface as a plug-in point (orm/sys/driver.h): registration and its refusals
 * (a half change feed included), lookup, a db's driver and dialect, the driver's error call,
 * and the recording driver (tests/driver_record) answering through SQLite while counting
 * every call, the change feed's included. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "orm/orm.h"
#include "orm/sys/driver.h"
#include "builder_models.h"
#include "record.h"
#include "testutil.h"

START_TEST(test_builtin_drivers_are_found)
{
    const orm_driver *s = orm_driver_find("sqlite");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->version, ORM_DRIVER_VERSION);
    ck_assert_ptr_eq(s->dialect, orm_dialect_sqlite());
    ck_assert_str_eq(s->trace_name, "sqlite");
    ck_assert_ptr_null(orm_driver_find("mysql"));
    ck_assert_ptr_null(orm_driver_find(NULL));
#ifdef ORM_WITH_POSTGRES
    const orm_driver *p = orm_driver_find("postgres");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(p->dialect, orm_dialect_postgres());
    ck_assert_str_eq(p->trace_name, "postgresql");
#endif
}
END_TEST

START_TEST(test_register_refuses_bad_drivers)
{
    ck_assert_int_eq(orm_driver_register(NULL), ORM_EINVAL);
    orm_driver d = *orm_driver_find("sqlite");
    d.name = "plugin_v99";
    d.version = ORM_DRIVER_VERSION + 1;
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "version"));
    d.version = ORM_DRIVER_VERSION;
    d.begin_sql = NULL;
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "begin_sql"));
    d = *orm_driver_find("sqlite"); /* the name is taken */
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "already registered"));
    ck_assert_ptr_null(orm_driver_find("plugin_v99"));
}
END_TEST

static int fake_install(orm_conn *c, const orm_model *m, const char *prefix, size_t row_limit)
{
    (void)c, (void)m, (void)prefix, (void)row_limit;
    return ORM_OK;
}

static int fake_remove(orm_conn *c, const orm_model *m)
{
    (void)c, (void)m;
    return ORM_OK;
}

/* A feed is whole or refused: start and stop always, install and remove as a pair; the
 * message names the driver and the member. */
START_TEST(test_register_refuses_half_a_feed)
{
    const orm_driver *sq = orm_driver_find("sqlite");
    ck_assert_ptr_nonnull(sq->feed);
    ck_assert(sq->feed->start != NULL);
    ck_assert(sq->feed->stop != NULL);
    orm_driver d = *sq;
    d.name = "plugin_feed";
    orm_driver_feed f = *sq->feed;
    d.feed = &f;
    f.stop = NULL; /* start without stop */
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "\"plugin_feed\""));
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "feed->stop"));
    f = *sq->feed;
    f.start = NULL; /* no start at all */
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "feed->start"));
    f = *sq->feed;
    f.install = fake_install; /* install without remove */
    f.remove = NULL;
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "\"plugin_feed\""));
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "feed->remove"));
    f.install = NULL; /* remove without install */
    f.remove = fake_remove;
    ck_assert_int_eq(orm_driver_register(&d), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "feed->install"));
    ck_assert_ptr_null(orm_driver_find("plugin_feed"));
    /* whole: the pair, or neither (SQLite's own), registers */
    f.install = fake_install;
    ck_assert_ok(orm_driver_register(&d));
    ck_assert_ptr_eq(orm_driver_find("plugin_feed"), &d);
}
END_TEST

START_TEST(test_driver_error_set)
{
    ck_assert_int_eq(orm_driver_error_set(ORM_ECONSTRAINT, "plugin", "23505", 7, "dup %d", 42),
                     ORM_ECONSTRAINT);
    const orm_error *e = orm_error_last();
    ck_assert_int_eq(e->code, ORM_ECONSTRAINT);
    ck_assert_str_eq(e->module, "plugin");
    ck_assert_str_eq(e->sqlstate, "23505");
    ck_assert_int_eq(e->native_code, 7);
    ck_assert_str_eq(e->message, "dup 42");
}
END_TEST

START_TEST(test_unknown_dsn_before_registration)
{
    orm_db *db = (orm_db *)1;
    ck_assert_int_eq(orm_db_open(&db, "record+nosuch:x", NULL), ORM_EINVAL);
    ck_assert_ptr_null(db);
    ck_assert_int_eq(orm_record_register("nosuch"), ORM_EINVAL);
}
END_TEST

START_TEST(test_recorder_answers_through_sqlite)
{
    ck_assert_ok(orm_record_register("sqlite"));
    ck_assert_ok(orm_record_register("sqlite")); /* twice: still one driver */
    const orm_driver *r = orm_driver_find("record+sqlite");
    ck_assert_ptr_nonnull(r);
    char logpath[] = "/tmp/orm-record-log-XXXXXX";
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    FILE *log = fdopen(fd, "w+");
    ck_assert_ptr_nonnull(log);
    orm_record_log_to(log);

    uint64_t opens = orm_record_count(ORM_RECORD_OPEN), execs = orm_record_count(ORM_RECORD_EXEC),
             queries = orm_record_count(ORM_RECORD_QUERY), begins = orm_record_count(ORM_RECORD_BEGIN),
             commits = orm_record_count(ORM_RECORD_COMMIT), nexts = orm_record_count(ORM_RECORD_NEXT),
             closes = orm_record_count(ORM_RECORD_CLOSE);
    orm_db *db = NULL;
    ck_assert_ok(orm_db_open(&db, "record+sqlite::memory:", NULL));
    ck_assert_ptr_eq(orm_db_driver(db), r);
    ck_assert_str_eq(orm_db_backend(db), "record+sqlite");
    ck_assert_ptr_eq(orm_db_dialect(db), orm_dialect_sqlite()); /* the SQL it speaks */
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_OPEN), opens + 1);
    orm_session *s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"));
    orm_tx *tx = NULL;
    orm_tx_options to = ORM_TX_OPTIONS_INIT;
    to.begin_mode = ORM_SQLITE_IMMEDIATE;
    ck_assert_ok(orm_tx_begin(&tx, db, NULL, &to));
    orm_value a[] = { orm_text("x") };
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(orm_tx_session(tx), NULL, "INSERT INTO t (v) VALUES ($1)", a, 1, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    orm_rows *rows = NULL;
    ck_assert_ok(orm_raw_rows(s, NULL, "SELECT v FROM t", NULL, 0, &rows));
    ck_assert_int_eq(orm_rows_next(rows), 1);
    ck_assert_str_eq(orm_rows_text(rows, 0, NULL), "x");
    ck_assert_int_eq(orm_rows_next(rows), 0);
    orm_rows_free(rows);
    orm_db_close(db);

    ck_assert_uint_ge(orm_record_count(ORM_RECORD_EXEC), execs + 1); /* the INSERT at least */
    ck_assert_uint_ge(orm_record_count(ORM_RECORD_QUERY), queries + 1);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_BEGIN), begins + 1);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_COMMIT), commits + 1);
    ck_assert_uint_ge(orm_record_count(ORM_RECORD_NEXT), nexts + 2);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_CLOSE), closes + 1);

    orm_record_log_to(NULL);
    rewind(log);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, log);
    text[len] = '\0';
    fclose(log);
    unlink(logpath);
    ck_assert_ptr_nonnull(strstr(text, "open record+sqlite::memory:\n"));
    ck_assert_ptr_nonnull(strstr(text, "begin BEGIN IMMEDIATE\n"));
    ck_assert_ptr_nonnull(strstr(text, "exec INSERT INTO t (v) VALUES (?1)\n")); /* rewritten for SQLite */
    ck_assert_ptr_nonnull(strstr(text, "query SELECT v FROM t\n"));
    ck_assert_ptr_nonnull(strstr(text, "commit\n"));
    ck_assert_ptr_nonnull(strstr(text, "close\n"));
}
END_TEST

static char *slurp(FILE *f)
{
    static char text[65536];
    rewind(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    return text;
}

/* The change feed through the recorder: the row cache's listener over record+sqlite (a file,
 * so the poller runs) reaches SQLite's feed only through the recorder's orm_driver_feed —
 * each call logged and counted — and its connection hooks still report to the row cache. */
START_TEST(test_recorder_wraps_the_feed)
{
    ck_assert_ok(orm_record_register("sqlite"));
    const orm_driver *r = orm_driver_find("record+sqlite");
    ck_assert_ptr_nonnull(r->feed);
    ck_assert_ptr_ne(r->feed, orm_driver_find("sqlite")->feed); /* its own, not SQLite's */
    ck_assert(r->feed->install != NULL); /* as the wrapped feed: SQLite's change-log triggers */
    ck_assert(r->feed->remove != NULL);
    ck_assert(r->feed->watch_conn != NULL);
    char logpath[] = "/tmp/orm-record-feed-XXXXXX";
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    FILE *log = fdopen(fd, "w+");
    ck_assert_ptr_nonnull(log);
    orm_record_log_to(log);
    uint64_t starts = orm_record_count(ORM_RECORD_FEED_START), stops = orm_record_count(ORM_RECORD_FEED_STOP),
             checks = orm_record_count(ORM_RECORD_FEED_CHECK);

    char *path = orm_test_temp_path("record_feed");
    char dsn[4200];
    snprintf(dsn, sizeof dsn, "record+sqlite:%s", path);
    orm_db *db = NULL;
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    ck_assert_ok(orm_db_register(db, &b_user_model));
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_local_new(&c, NULL));
    orm_row_cache *rc = NULL;
    ck_assert_ok(orm_row_cache_attach(&rc, db, c, NULL));
    orm_row_cache_model_options mo = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    mo.mode = ORM_ROW_CACHE_READ_WRITE;
    ck_assert_ok(orm_row_cache_model(rc, &b_user_model, &mo));
    orm_session *s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                                       "email TEXT, age INTEGER, score REAL NOT NULL)"));
    orm_row_cache_listen_options lo = ORM_ROW_CACHE_LISTEN_OPTIONS_INIT;
    lo.strict = true; /* a get by key checks first: the feed's check */
    ck_assert_ok(orm_row_cache_triggers_install(db, NULL, &b_user_model, 0)); /* the change log's */
    ck_assert_ok(orm_row_cache_listen(rc, &b_user_model, &lo));
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_START), starts + 1);
    /* A committed write through the db: the hooks the recorder set report its rowid. */
    orm_row_cache_listen_stats st;
    ck_assert_ok(orm_row_cache_listen_stats_get(rc, &st));
    uint64_t before = st.notifications;
    b_user u = { 0, "ada", NULL, 0, false, 1.5 };
    ck_assert_ok(orm_insert_one(s, NULL, &b_user_model, &u));
    ck_assert_ok(orm_row_cache_listen_stats_get(rc, &st));
    ck_assert_uint_gt(st.notifications, before);
    b_user got = { 0 };
    orm_value key = orm_int(u.id);
    ck_assert_ok(orm_get(s, NULL, &b_user_model, &got, &key));
    orm_model_clear(&b_user_model, &got);
    ck_assert_uint_gt(orm_record_count(ORM_RECORD_FEED_CHECK), checks);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_STOP), stops);
    orm_db_close(db);
    ck_assert_uint_eq(orm_record_count(ORM_RECORD_FEED_STOP), stops + 1);

    orm_record_log_to(NULL);
    const char *text = slurp(log);
    fclose(log);
    unlink(logpath);
    orm_test_remove_db(&path);
    char want[4300];
    snprintf(want, sizeof want, "feed_start %s\n", dsn);
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_nonnull(strstr(text, "feed_watch_conn\n"));
    ck_assert_ptr_nonnull(strstr(text, "feed_rowid_is users.id\n"));
    ck_assert_ptr_nonnull(strstr(text, "feed_check\n"));
    ck_assert_ptr_nonnull(strstr(text, "feed_stop\n"));
    ck_assert_ptr_nonnull(strstr(text, "feed_install users\n")); /* SQLite's change-log triggers */
}
END_TEST

/* A driver that is SQLite's with a dialect of its own: identifiers in backquotes (SQLite reads
 * them too) and no upsert. The builders must render by it, not by a default. */
static orm_dialect bq_dialect;
static orm_driver bq_driver;

static int bq_accepts(const char *dsn) { return strncmp(dsn, "bq:", 3) == 0; }

static int bq_open(orm_conn **out, const char *dsn, const orm_db_options *opts, int64_t deadline_us)
{
    (void)dsn; /* always a private in-memory database */
    return orm_driver_find("sqlite")->open(out, "sqlite::memory:", opts, deadline_us);
}

static void bq_pool_defaults(const char *dsn, orm_driver_pool *out)
{
    (void)dsn;
    out->max_open = 1;
    out->single = 1;
    out->park_hot = 0;
}

START_TEST(test_builders_render_by_the_drivers_dialect)
{
    if (!orm_driver_find("bq")) {
        bq_dialect = *orm_dialect_sqlite();
        bq_dialect.name = "bq";
        bq_dialect.ident_quote = '`';
        bq_dialect.upsert = ORM_UPSERT_NONE;
        bq_driver = *orm_driver_find("sqlite");
        bq_driver.name = "bq";
        bq_driver.accepts = bq_accepts;
        bq_driver.open = bq_open;
        bq_driver.pool_defaults = bq_pool_defaults;
        bq_driver.dialect = &bq_dialect;
        bq_driver.feed = NULL;
        ck_assert_ok(orm_driver_register(&bq_driver));
    }
    orm_db *db = NULL;
    ck_assert_ok(orm_db_open(&db, "bq:", NULL));
    ck_assert_str_eq(orm_dialect_name(orm_db_dialect(db)), "bq");
    ck_assert_ok(orm_db_register(db, &b_user_model));
    orm_session *s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                                       "email TEXT, age INTEGER, score REAL NOT NULL)"));
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_sql sql = ORM_SQL_INIT;
    ck_assert_ok(orm_select_to_sql(q, NULL, &sql));
    ck_assert_ptr_nonnull(strstr(sql.text, "FROM `users`"));
    ck_assert_ptr_null(strchr(sql.text, '"'));
    orm_sql_clear(&sql);
    orm_select_free(q);

    b_user u = { 0, "ada", NULL, 0, false, 1.5 };
    ck_assert_ok(orm_insert_one(s, NULL, &b_user_model, &u)); /* runs, backquoted, on SQLite */
    ck_assert_int_eq(u.id, 1);
    b_user got = { 0 };
    orm_value key = orm_int(1);
    ck_assert_ok(orm_get(s, NULL, &b_user_model, &got, &key));
    ck_assert_str_eq(got.name, "ada");
    orm_model_clear(&b_user_model, &got);

    orm_insert *ins = orm_insert_new(s, &b_user_model);
    ck_assert_ok(orm_insert_add(ins, &u));
    ck_assert_int_eq(orm_insert_on_conflict(ins, (const char *[]){ "id" }, 1, ORM_CONFLICT_NOTHING, NULL, 0),
                     ORM_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "bq has no ON CONFLICT upsert"));
    orm_insert_free(ins);
    orm_db_close(db);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("driver_plugin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_builtin_drivers_are_found);
    tcase_add_test(tc, test_register_refuses_bad_drivers);
    tcase_add_test(tc, test_register_refuses_half_a_feed);
    tcase_add_test(tc, test_driver_error_set);
    tcase_add_test(tc, test_unknown_dsn_before_registration);
    tcase_add_test(tc, test_recorder_answers_through_sqlite);
    tcase_add_test(tc, test_recorder_wraps_the_feed);
    tcase_add_test(tc, test_builders_render_by_the_drivers_dialect);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(suite()); }
