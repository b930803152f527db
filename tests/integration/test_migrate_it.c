/* Integration: migrations on the backend ORM_TEST_DSN names (see it.h) — up, down, goto,
 * status output, a failing migration in the middle, checksum drift, force, baseline,
 * no-transaction migrations and the dirty state, compiled-in migrations, the middleware
 * seeing every statement, and processes migrating at once (fork) applying each migration
 * exactly once.
 *
 * Its own fixture: each test gets a fresh migrations folder and a database without the
 * mig_* tables or orm_schema_migrations (a fresh temporary file on SQLite; dropped first on
 * PostgreSQL), because the child processes need the DSN to open their own connections. */
#define _DEFAULT_SOURCE /* usleep */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it.h"

Suite *it_migrate_suite(void);

static char dsn[4096];
static char *db_path; /* SQLite: the temporary file */
static char *dir;     /* the migrations folder */
static orm_db *db;
static orm_session *s;

static const char *const tables[] = { "mig_log", "mig_c", "mig_b", "mig_a", "mig_nt",
                                      "orm_schema_migrations" };

static void resolve_dsn(void)
{
    const char *v = orm_test_backend_dsn(&db_path, "migrate", NULL);
    ck_assert_ptr_nonnull(v);
    snprintf(dsn, sizeof dsn, "%s", v);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

static void setup(void)
{
    resolve_dsn();
    dir = orm_test_temp_path("migrations");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    s = orm_db_session(db);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", tables[i]);
        ck_assert_ok(orm_exec_sql(s, NULL, sql));
    }
    orm_error_clear();
}

static void teardown(void)
{
    orm_db_close(db);
    db = NULL;
    remove_tree(dir);
    free(dir);
    if (db_path) {
        static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
        for (size_t i = 0; i < 4; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s%s", db_path, sfx[i]);
            unlink(p);
        }
        free(db_path);
        db_path = NULL;
    }
}

static bool is_pg(void)
{
    return strcmp(orm_dialect_name(orm_db_dialect(db)), "postgres") == 0;
}

static void put(const char *file, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static orm_migrator *open_dir(void)
{
    orm_migrator *m;
    ck_assert_ok(orm_migrator_open_dir(&m, db, dir, NULL));
    return m;
}

static int64_t scalar(const char *sql, const char *arg)
{
    orm_value a[] = { orm_text(arg ? arg : "") };
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(s, NULL, sql, a, arg ? 1 : 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    int64_t v = orm_rows_int(r, 0);
    orm_rows_free(r);
    return v;
}

static bool table_exists(const char *name)
{
    return scalar(is_pg()
                      ? "SELECT count(*) FROM information_schema.tables WHERE table_name = $1"
                      : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                  name) == 1;
}

static int64_t version_of(orm_migrator *m, int *dirty)
{
    int64_t v = -1;
    int d = -1;
    ck_assert_ok(orm_migrate_version(m, NULL, &v, &d));
    if (dirty)
        *dirty = d;
    return v;
}

static bool msg_has(const char *needle)
{
    return strstr(orm_error_last()->message, needle) != NULL;
}

/* Three migrations with a gap: mig_a, mig_b (+ a row), mig_c. */
static void put_three(void)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY, note TEXT);\n");
    put("0001_a.down.sql", "DROP TABLE mig_a;\n");
    put("0002_b.up.sql", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY, s TEXT);\n"
                         "INSERT INTO mig_b (id, s) VALUES (1, 'semi;colon -- not a comment');\n");
    put("0002_b.down.sql", "DROP TABLE mig_b;");
    put("0005_c.up.sql", "CREATE TABLE mig_c (id INTEGER PRIMARY KEY);");
    put("0005_c.down.sql", "DROP TABLE mig_c;");
}

START_TEST(test_up_down_goto_status)
{
    put_three();
    orm_migrator *m = open_dir();
    char *text;
    ck_assert_ok(orm_migrate_status_text(m, NULL, &text));
    ck_assert_ptr_nonnull(strstr(text, "0002      b     pending"));
    ck_assert_ptr_nonnull(strstr(text, "version 0, 3 pending"));
    orm_free_string(text);

    size_t n;
    ck_assert_ok(orm_migrate_up(m, NULL, 1, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(version_of(m, NULL), 1);
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, NULL), 5);
    ck_assert(table_exists("mig_a") && table_exists("mig_b") && table_exists("mig_c"));
    ck_assert_int_eq(scalar("SELECT count(*) FROM mig_b", NULL), 1);
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n)); /* nothing left: fine */
    ck_assert_uint_eq(n, 0);

    ck_assert_ok(orm_migrate_status_text(m, NULL, &text));
    ck_assert_ptr_nonnull(strstr(text, "VERSION   NAME  STATE     APPLIED AT"));
    ck_assert_ptr_nonnull(strstr(text, "0005      c     applied   "));
    ck_assert_ptr_nonnull(strstr(text, "version 5, 0 pending\n"));
    orm_free_string(text);
    orm_migration_status *st;
    ck_assert_ok(orm_migrate_status(m, NULL, &st, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(st[1].version, 2);
    ck_assert_str_eq(st[1].name, "b");
    ck_assert_int_eq(st[1].state, ORM_MIGRATION_APPLIED);
    ck_assert_ptr_nonnull(st[1].applied_at);
    ck_assert_int_eq(strlen(st[1].applied_at), 19);
    orm_migration_status_free(st, n);

    ck_assert_ok(orm_migrate_down(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(version_of(m, NULL), 2);
    ck_assert(!table_exists("mig_c"));
    ck_assert_ok(orm_migrate_down(m, NULL, 5, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, NULL), 0);
    ck_assert(!table_exists("mig_a"));

    ck_assert_ok(orm_migrate_goto(m, NULL, 2));
    ck_assert_int_eq(version_of(m, NULL), 2);
    ck_assert(table_exists("mig_b") && !table_exists("mig_c"));
    ck_assert_ok(orm_migrate_goto(m, NULL, 5));
    ck_assert_int_eq(version_of(m, NULL), 5);
    ck_assert_ok(orm_migrate_goto(m, NULL, 1));
    ck_assert_int_eq(version_of(m, NULL), 1);
    ck_assert(table_exists("mig_a") && !table_exists("mig_b"));
    ck_assert_orm(orm_migrate_goto(m, NULL, 3), ORM_EINVAL); /* no such version */
    ck_assert(msg_has("no migration has version 3"));
    ck_assert_ok(orm_migrate_goto(m, NULL, 0));
    ck_assert_int_eq(version_of(m, NULL), 0);
    orm_migrator_free(m);
}
END_TEST

START_TEST(test_failure_in_the_middle_changes_nothing)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY);");
    put("0002_bad.up.sql", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY);\n"
                           "INSERT INTO mig_a (id) VALUES (1);\n"
                           "INSERT INTO mig_nowhere (id) VALUES (1);\n");
    put("0003_c.up.sql", "CREATE TABLE mig_c (id INTEGER PRIMARY KEY);");
    orm_migrator *m = open_dir();
    size_t n = 99;
    int rc = orm_migrate_up(m, NULL, 0, &n);
    ck_assert_int_lt(rc, 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_msg(msg_has("0002_bad.up.sql: statement 3 (line 3): ") && msg_has("mig_nowhere"),
                  "%s", orm_error_last()->message);
    if (is_pg())
        ck_assert_str_eq(orm_error_last()->sqlstate, "42P01"); /* the database's own error */
    ck_assert_int_eq(version_of(m, NULL), 1);
    ck_assert(!table_exists("mig_b") && !table_exists("mig_c"));
    ck_assert_int_eq(scalar("SELECT count(*) FROM mig_a", NULL), 0);
    /* fixed, it goes on */
    put("0002_bad.up.sql", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY);");
    orm_migrator_free(m);
    m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, NULL), 3);
    orm_migrator_free(m);
}
END_TEST

START_TEST(test_checksum_drift_stops_up_until_force)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY);\n");
    orm_migrator *m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 0, NULL));
    orm_migrator_free(m);
    /* the same text with CRLF and trailing spaces is not drift */
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY);   \r\n");
    put("0002_b.up.sql", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY);\n");
    put("0002_b.down.sql", "DROP TABLE mig_b;\n");
    m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 1, NULL));
    ck_assert_ok(orm_migrate_down(m, NULL, 1, NULL));
    orm_migrator_free(m);
    /* a real edit is */
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY, x INT);\n");
    m = open_dir();
    ck_assert_orm(orm_migrate_up(m, NULL, 0, NULL), ORM_EINVAL);
    ck_assert_msg(msg_has("0001_a.up.sql changed after it was applied"), "%s",
                  orm_error_last()->message);
    ck_assert_int_eq(version_of(m, NULL), 1);
    ck_assert(!table_exists("mig_b"));
    orm_migration_status *st;
    size_t n;
    ck_assert_ok(orm_migrate_status(m, NULL, &st, &n));
    ck_assert_int_eq(st[0].state, ORM_MIGRATION_CHANGED);
    ck_assert_int_eq(st[1].state, ORM_MIGRATION_PENDING);
    orm_migration_status_free(st, n);
    /* the operator accepts the file as it is */
    ck_assert_ok(orm_migrate_force(m, NULL, 1));
    ck_assert_ok(orm_migrate_up(m, NULL, 0, NULL));
    ck_assert_int_eq(version_of(m, NULL), 2);
    /* force can also move the recorded version without running anything */
    ck_assert_ok(orm_migrate_force(m, NULL, 0));
    ck_assert_int_eq(version_of(m, NULL), 0);
    ck_assert(table_exists("mig_b"));
    ck_assert_ok(orm_migrate_force(m, NULL, 2));
    ck_assert_int_eq(version_of(m, NULL), 2);
    orm_migrator_free(m);
}
END_TEST

START_TEST(test_no_transaction_and_dirty)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY, x INT);");
    put("0002_idx.up.sql", is_pg()
                               ? "-- orm:no-transaction\nCREATE INDEX CONCURRENTLY mig_a_x ON mig_a (x);\n"
                               : "-- orm:no-transaction\nCREATE INDEX mig_a_x ON mig_a (x);\n");
    put("0002_idx.down.sql", "-- orm:no-transaction\nDROP INDEX mig_a_x;\n");
    put("0003_nt.up.sql", "-- orm:no-transaction\n"
                          "CREATE TABLE mig_nt (id INTEGER PRIMARY KEY);\n"
                          "INSERT INTO mig_nowhere VALUES (1);\n");
    put("0004_c.up.sql", "CREATE TABLE mig_c (id INTEGER PRIMARY KEY);");
    orm_migrator *m = open_dir();
    size_t n;
    ck_assert_int_lt(orm_migrate_up(m, NULL, 0, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_msg(msg_has("0003_nt.up.sql: statement 2 (line 3)"), "%s", orm_error_last()->message);
    int dirty;
    ck_assert_int_eq(version_of(m, &dirty), 3);
    ck_assert_int_eq(dirty, 1);
    ck_assert(table_exists("mig_nt")); /* no transaction: the first statement stayed */
    ck_assert_orm(orm_migrate_up(m, NULL, 0, NULL), ORM_EINVAL);
    ck_assert_msg(msg_has("dirty at version 3 (0003_nt.up.sql)"), "%s", orm_error_last()->message);
    ck_assert_orm(orm_migrate_down(m, NULL, 1, NULL), ORM_EINVAL);
    char *text;
    ck_assert_ok(orm_migrate_status_text(m, NULL, &text));
    ck_assert_ptr_nonnull(strstr(text, "0003      nt    dirty"));
    orm_free_string(text);
    /* the operator finishes it by hand and forces the version */
    ck_assert_ok(orm_exec_sql(s, NULL, "DROP TABLE mig_nt"));
    ck_assert_ok(orm_migrate_force(m, NULL, 2));
    ck_assert_int_eq(version_of(m, &dirty), 2);
    ck_assert_int_eq(dirty, 0);
    put("0003_nt.up.sql", "-- orm:no-transaction\nCREATE TABLE mig_nt (id INTEGER PRIMARY KEY);\n");
    orm_migrator_free(m);
    m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, &dirty), 4);
    ck_assert_int_eq(dirty, 0);
    /* a no-transaction down */
    ck_assert_ok(orm_migrate_force(m, NULL, 2));
    ck_assert_ok(orm_migrate_down(m, NULL, 1, &n));
    ck_assert_int_eq(version_of(m, &dirty), 1);
    ck_assert_int_eq(dirty, 0);
    orm_migrator_free(m);
}
END_TEST

START_TEST(test_baseline)
{
    put_three();
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE mig_a (id INTEGER PRIMARY KEY, note TEXT)"));
    orm_migrator *m = open_dir();
    ck_assert_orm(orm_migrate_baseline(m, NULL, 4), ORM_EINVAL);
    ck_assert_ok(orm_migrate_baseline(m, NULL, 1));
    ck_assert_int_eq(version_of(m, NULL), 1);
    ck_assert_orm(orm_migrate_baseline(m, NULL, 1), ORM_EINVAL);
    ck_assert(msg_has("already records 1 migration"));
    size_t n;
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n)); /* 0001 is not run again */
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, NULL), 5);
    orm_migrator_free(m);
}
END_TEST

static const orm_migration compiled[] = {
    { 2, "b", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY);", "DROP TABLE mig_b;" },
    { 1, "a", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY);\nINSERT INTO mig_a VALUES (7);",
      "DROP TABLE mig_a;" },
};

START_TEST(test_compiled_in)
{
    orm_migrator *m;
    ck_assert_ok(orm_migrator_open_list(&m, db, compiled, 2, NULL));
    size_t n;
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(version_of(m, NULL), 2);
    ck_assert_int_eq(scalar("SELECT id FROM mig_a", NULL), 7);
    ck_assert_ok(orm_migrate_down(m, NULL, 1, NULL));
    ck_assert(!table_exists("mig_b"));
    orm_migrator_free(m);
    /* the same migrations from a folder are the same migrations (same checksums) */
    put("0001_a.up.sql", compiled[1].up);
    put("0002_b.up.sql", compiled[0].up);
    m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 1);
    orm_migrator_free(m);
}
END_TEST

static int ddl_seen, raw_seen;

static int count_kinds(orm_stmt *st, void *userdata)
{
    (void)userdata;
    if (st->kind == ORM_STMT_DDL && strstr(st->sql, "mig_a"))
        ddl_seen++;
    if (st->kind == ORM_STMT_RAW && strstr(st->sql, "orm_schema_migrations"))
        raw_seen++;
    return orm_stmt_next(st);
}

START_TEST(test_middleware_sees_statements)
{
    put_three();
    orm_db *db2;
    ck_assert_ok(orm_db_open(&db2, dsn, NULL));
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "count";
    mw.fn = count_kinds;
    ck_assert_ok(orm_db_use(db2, &mw));
    orm_migrator *m;
    ck_assert_ok(orm_migrator_open_dir(&m, db2, dir, NULL));
    ck_assert_ok(orm_migrate_up(m, NULL, 1, NULL));
    ck_assert_int_eq(ddl_seen, 1);
    ck_assert_int_gt(raw_seen, 0);
    orm_migrator_free(m);
    orm_db_close(db2);
}
END_TEST

START_TEST(test_lock_wait_is_bounded)
{
    put_three();
    /* another deployer holds the lock: a transaction that took it and is still open */
    orm_db *holder;
    ck_assert_ok(orm_db_open(&holder, dsn, NULL));
    orm_tx_options to = ORM_TX_OPTIONS_INIT;
    to.sqlite_begin = ORM_SQLITE_IMMEDIATE;
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, holder, NULL, &to));
    if (is_pg()) {
        orm_rows *r;
        orm_value key[] = { orm_int(INT64_C(0x6f726d5f6d696772)) };
        ck_assert_ok(orm_raw_rows(orm_tx_session(tx), NULL, "SELECT pg_advisory_xact_lock($1)", key, 1, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        orm_rows_free(r);
    }
    orm_db_options dbo = ORM_DB_OPTIONS_INIT;
    dbo.busy_timeout_ms = 200;
    orm_db *db2;
    ck_assert_ok(orm_db_open(&db2, dsn, &dbo));
    orm_migrate_options mo = ORM_MIGRATE_OPTIONS_INIT;
    mo.lock_timeout_ms = 200;
    orm_migrator *m;
    ck_assert_ok(orm_migrator_open_dir(&m, db2, dir, &mo));
    int64_t t0 = orm_ctx_now_us();
    int rc = orm_migrate_up(m, NULL, 0, NULL);
    int64_t waited_ms = (orm_ctx_now_us() - t0) / 1000;
    ck_assert_msg(rc == (is_pg() ? ORM_ETIMEOUT : ORM_EBUSY), "rc %d: %s", rc, orm_error_last()->message);
    ck_assert(msg_has("migration lock"));
    ck_assert_int_lt(waited_ms, 5000);
    /* a ctx deadline sooner than lock_timeout_ms bounds the wait too (postgres) */
    if (is_pg()) {
        mo.lock_timeout_ms = 60000;
        orm_migrator_free(m);
        ck_assert_ok(orm_migrator_open_dir(&m, db2, dir, &mo));
        orm_ctx *ctx;
        ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 300));
        t0 = orm_ctx_now_us();
        ck_assert_int_lt(orm_migrate_up(m, ctx, 0, NULL), 0);
        ck_assert_int_lt((orm_ctx_now_us() - t0) / 1000, 5000);
        orm_ctx_free(ctx);
    }
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    /* a cancelled ctx stops before the first step */
    orm_ctx *c;
    ck_assert_ok(orm_ctx_new(&c, NULL));
    orm_ctx_cancel(c);
    ck_assert_orm(orm_migrate_up(m, c, 0, NULL), ORM_ECANCELED);
    orm_ctx_free(c);
    ck_assert_ok(orm_migrate_up(m, NULL, 0, NULL)); /* the lock is free again */
    orm_migrator_free(m);
    orm_db_close(db2);
    orm_db_close(holder);
}
END_TEST

/* Issue 7: a pending migration below the highest applied version (0002 added after 0003
 * was applied) is refused by up and goto unless the migrator allows it. */
START_TEST(test_out_of_order_refused_unless_allowed)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY);");
    put("0003_c.up.sql", "CREATE TABLE mig_c (id INTEGER PRIMARY KEY);");
    orm_migrator *m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 0, NULL));
    orm_migrator_free(m);
    put("0002_b.up.sql", "CREATE TABLE mig_b (id INTEGER PRIMARY KEY);");
    m = open_dir();
    size_t n = 99;
    ck_assert_orm(orm_migrate_up(m, NULL, 0, &n), ORM_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert_msg(msg_has("0002_b.up.sql") && msg_has("version 3"), "%s", orm_error_last()->message);
    ck_assert(!table_exists("mig_b"));
    ck_assert_orm(orm_migrate_goto(m, NULL, 3), ORM_EINVAL);
    ck_assert(!table_exists("mig_b"));
    ck_assert_int_eq(version_of(m, NULL), 3);
    orm_migrator_free(m);
    /* a version 1 options struct (without the field) is still accepted and refuses too */
    orm_migrate_options v1 = ORM_MIGRATE_OPTIONS_INIT;
    v1.version = 1;
    ck_assert_ok(orm_migrator_open_dir(&m, db, dir, &v1));
    ck_assert_orm(orm_migrate_up(m, NULL, 0, NULL), ORM_EINVAL);
    orm_migrator_free(m);
    orm_migrate_options mo;
    ck_assert_ok(orm_migrate_options_init(&mo, ORM_MIGRATE_OPTIONS_VERSION));
    ck_assert_int_eq(mo.allow_out_of_order, 0);
    mo.allow_out_of_order = 1;
    ck_assert_ok(orm_migrator_open_dir(&m, db, dir, &mo));
    ck_assert_ok(orm_migrate_up(m, NULL, 0, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert(table_exists("mig_b"));
    ck_assert_int_eq(version_of(m, NULL), 3);
    orm_migrator_free(m);
    mo.version = 99;
    ck_assert_orm(orm_migrator_open_dir(&m, db, dir, &mo), ORM_EINVAL);
}
END_TEST

/* Issue 7: on PostgreSQL a migrator meeting another process's no-transaction migration
 * while it runs waits for it (bounded by lock_timeout_ms) instead of failing as dirty; on
 * SQLite (no lock outlives a statement there) the dirty row is refused at once. */
START_TEST(test_waits_for_running_no_transaction_migration)
{
    put("0001_a.up.sql", "CREATE TABLE mig_a (id INTEGER PRIMARY KEY, x INT);");
    put("0002_slow.up.sql", is_pg() ? "-- orm:no-transaction\nSELECT pg_sleep(2);\n"
                                      "CREATE INDEX CONCURRENTLY mig_a_x ON mig_a (x);\n"
                                    : "-- orm:no-transaction\nCREATE INDEX mig_a_x ON mig_a (x);\n");
    put("0003_c.up.sql", "CREATE TABLE mig_c (id INTEGER PRIMARY KEY);");
    orm_migrator *m = open_dir();
    ck_assert_ok(orm_migrate_up(m, NULL, 1, NULL));
    orm_migrator_free(m);
    if (!is_pg()) {
        /* a dirty row as a running (or dead) process leaves it */
        ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO orm_schema_migrations (version, name, "
                                           "checksum, applied_at, duration_ms, dirty) VALUES "
                                           "(2, 'slow', 'x', '2024-01-01', 0, 1)"));
        m = open_dir();
        ck_assert_orm(orm_migrate_up(m, NULL, 0, NULL), ORM_EINVAL);
        ck_assert(msg_has("dirty at version 2"));
        orm_migrator_free(m);
        return;
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        orm_db *cdb;
        orm_migrator *cm;
        orm_ctx *cctx; /* a ctx: the steps' transactions are recorded on it */
        if (orm_db_open(&cdb, dsn, NULL) != ORM_OK || orm_migrator_open_dir(&cm, cdb, dir, NULL) != ORM_OK ||
            orm_ctx_with_timeout(&cctx, NULL, 60000) != ORM_OK)
            _exit(101);
        int rc = orm_migrate_up(cm, cctx, 1, NULL);
        orm_ctx_free(cctx);
        if (rc != ORM_OK)
            fprintf(stderr, "child: %s\n", orm_error_last()->message);
        orm_migrator_free(cm);
        orm_db_close(cdb);
        _exit(rc == ORM_OK ? 0 : 102);
    }
    /* wait until the child's dirty row is there */
    int dirty = 0;
    for (int i = 0; i < 400 && !dirty; i++) {
        if (table_exists("orm_schema_migrations"))
            dirty = scalar("SELECT count(*) FROM orm_schema_migrations WHERE dirty <> 0", NULL) == 1;
        if (!dirty)
            usleep(5000);
    }
    ck_assert(dirty);
    orm_migrate_options mo = ORM_MIGRATE_OPTIONS_INIT;
    mo.lock_timeout_ms = 200;
    ck_assert_ok(orm_migrator_open_dir(&m, db, dir, &mo));
    int rc = orm_migrate_up(m, NULL, 0, NULL);
    ck_assert_msg(rc == ORM_ETIMEOUT && msg_has("0002_slow.up.sql") && msg_has("still running"),
                  "rc %d: %s", rc, orm_error_last()->message);
    orm_migrator_free(m);
    mo.lock_timeout_ms = 30000;
    ck_assert_ok(orm_migrator_open_dir(&m, db, dir, &mo));
    size_t n = 0;
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 60000));
    rc = orm_migrate_up(m, ctx, 0, &n);
    orm_ctx_free(ctx);
    ck_assert_msg(rc == ORM_OK, "rc %d: %s", rc, orm_error_last()->message);
    ck_assert_uint_eq(n, 1); /* 0003 only: 0002 was the child's */
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(version_of(m, &dirty), 3);
    ck_assert_int_eq(dirty, 0);
    orm_migrator_free(m);
}
END_TEST

/* A ctx that carries an open transaction on the db would turn every step into a savepoint
 * of it: the lock would not be the step's, a no-transaction migration would run inside it,
 * and the caller's rollback would undo migrations reported as applied. Refused. */
START_TEST(test_ctx_with_open_transaction_is_refused)
{
    put_three();
    orm_migrator *m = open_dir();
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, db, ctx, NULL));
    size_t n = 99;
    ck_assert_orm(orm_migrate_up(m, ctx, 0, &n), ORM_EINVAL);
    ck_assert_uint_eq(n, 0);
    ck_assert(msg_has("transaction"));
    ck_assert_orm(orm_migrate_goto(m, ctx, 2), ORM_EINVAL);
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_ok(orm_migrate_up(m, ctx, 0, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert(table_exists("mig_c"));
    orm_ctx_free(ctx);
    orm_migrator_free(m);
}
END_TEST

enum { NPROC = 3, NMIG = 6 };

START_TEST(test_processes_apply_each_once)
{
    put("0001_log.up.sql", "CREATE TABLE mig_log (version INTEGER NOT NULL, pid INTEGER NOT NULL);");
    for (int v = 2; v <= NMIG; v++) {
        char f[64], sql[256];
        snprintf(f, sizeof f, "%04d_step%d.up.sql", v, v);
        /* a table per migration: applying one twice would fail on CREATE TABLE */
        snprintf(sql, sizeof sql, "CREATE TABLE mig_t%d (id INTEGER);\n"
                                  "INSERT INTO mig_log (version, pid) VALUES (%d, 0);\n"
                                  "DROP TABLE mig_t%d;\n", v, v, v);
        put(f, sql);
    }
    int go[2];
    ck_assert_int_eq(pipe(go), 0);
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            close(go[1]);
            char c;
            if (read(go[0], &c, 1) != 0) /* wait until the parent closes: all start at once */
                _exit(100);
            orm_db *cdb;
            orm_migrator *m;
            size_t n = 0;
            if (orm_db_open(&cdb, dsn, NULL) != ORM_OK)
                _exit(101);
            if (orm_migrator_open_dir(&m, cdb, dir, NULL) != ORM_OK ||
                orm_migrate_up(m, NULL, 0, &n) != ORM_OK) {
                fprintf(stderr, "child: %s\n", orm_error_last()->message);
                _exit(102);
            }
            orm_migrator_free(m);
            orm_db_close(cdb);
            _exit((int)n);
        }
    }
    close(go[0]);
    close(go[1]);
    int total = 0;
    for (int i = 0; i < NPROC; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_le(WEXITSTATUS(status), NMIG);
        total += WEXITSTATUS(status);
    }
    ck_assert_int_eq(total, NMIG);
    ck_assert_int_eq(scalar("SELECT count(*) FROM mig_log", NULL), NMIG - 1);
    ck_assert_int_eq(scalar("SELECT count(DISTINCT version) FROM mig_log", NULL), NMIG - 1);
    ck_assert_int_eq(scalar("SELECT count(*) FROM orm_schema_migrations", NULL), NMIG);
}
END_TEST

Suite *it_migrate_suite(void)
{
    Suite *su = suite_create("migrate");
    TCase *tc = tcase_create("migrate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_up_down_goto_status);
    tcase_add_test(tc, test_failure_in_the_middle_changes_nothing);
    tcase_add_test(tc, test_checksum_drift_stops_up_until_force);
    tcase_add_test(tc, test_no_transaction_and_dirty);
    tcase_add_test(tc, test_baseline);
    tcase_add_test(tc, test_compiled_in);
    tcase_add_test(tc, test_middleware_sees_statements);
    tcase_add_test(tc, test_lock_wait_is_bounded);
    tcase_add_test(tc, test_processes_apply_each_once);
    tcase_add_test(tc, test_out_of_order_refused_unless_allowed);
    tcase_add_test(tc, test_waits_for_running_no_transaction_migration);
    tcase_add_test(tc, test_ctx_with_open_transaction_is_refused);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(it_migrate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
