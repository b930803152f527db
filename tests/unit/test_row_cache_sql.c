/* The row cache's raw-SQL scanner (cache/row_cache_sql.c): which tables a statement writes,
 * and when it cannot tell (every model is dropped then). */
#include <string.h>

#include "cache/row_cache_internal.h"
#include "orm/sql_scan.h"
#include "testutil.h"

static char seen[512];

static void add(const char *name, size_t len, void *ud)
{
    (void)ud;
    if (seen[0])
        strcat(seen, ",");
    strncat(seen, name, len);
}

/* The tables named, comma-separated, or "?" when the scanner cannot tell. */
static const char *tables(const char *sql)
{
    seen[0] = '\0';
    if (orm__rc_sql_tables(sql, strlen(sql), add, NULL) != 0)
        strcat(seen, seen[0] ? ",?" : "?");
    return seen;
}

START_TEST(writes_name_their_tables)
{
    ck_assert_str_eq(tables("UPDATE users SET a = 1"), "users");
    ck_assert_str_eq(tables("update \"Users\" set a = 1 where b = 'UPDATE posts'"), "Users");
    ck_assert_str_eq(tables("DELETE FROM main.users WHERE id = ?"), "users");
    ck_assert_str_eq(tables("DELETE FROM ONLY public.\"odd name\" WHERE x"), "odd name");
    ck_assert_str_eq(tables("DELETE FROM \"odd \"\"name\"\"\" WHERE x"), "?"); /* escaped: all */
    ck_assert_str_eq(tables("INSERT INTO t (a) VALUES (1)"), "t");
    ck_assert_str_eq(tables("INSERT OR REPLACE INTO `t2` VALUES (1)"), "t2");
    ck_assert_str_eq(tables("REPLACE INTO t3 VALUES (1)"), "t3");
    ck_assert_str_eq(tables("UPDATE OR IGNORE t4 SET a = 1"), "t4");
    ck_assert_str_eq(tables("WITH x AS (SELECT 1) UPDATE t5 SET a = (SELECT * FROM x)"), "t5");
    ck_assert_str_eq(tables("WITH d AS (DELETE FROM t6 RETURNING *) SELECT * FROM d"), "t6");
    ck_assert_str_eq(tables("ALTER TABLE IF EXISTS t7 ADD COLUMN c int"), "t7");
    ck_assert_str_eq(tables("DROP TABLE IF EXISTS a, b.c"), "a,c");
    ck_assert_str_eq(tables("TRUNCATE TABLE ONLY x, y"), "x,y");
    ck_assert_str_eq(tables("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2"), "t");
    ck_assert_str_eq(tables("UPDATE a SET x = 1; DELETE FROM b; -- UPDATE c\nSELECT 1"), "a,b");
}
END_TEST

START_TEST(reads_name_nothing)
{
    ck_assert_str_eq(tables("SELECT * FROM users FOR UPDATE"), "");
    ck_assert_str_eq(tables("SELECT replace(name, 'a', 'b') FROM users"), "");
    ck_assert_str_eq(tables("select 'DELETE FROM users' /* UPDATE users */"), "");
    ck_assert_str_eq(tables("SELECT $$ UPDATE users $$, $tag$ x $tag$"), "");
    ck_assert_str_eq(tables("CREATE INDEX i ON users(a); DROP INDEX i"), "");
    ck_assert_str_eq(tables("EXPLAIN SELECT 1"), "");
    ck_assert_str_eq(tables("BEGIN; COMMIT"), "");
    ck_assert_str_eq(tables(""), "");
}
END_TEST

START_TEST(unknown_writes_drop_everything)
{
    ck_assert_str_eq(tables("PRAGMA user_version = 3"), "?");
    ck_assert_str_eq(tables("DO $$ BEGIN UPDATE x SET a = 1; END $$"), "?");
    ck_assert_str_eq(tables("CALL refresh()"), "?");
    ck_assert_str_eq(tables("EXPLAIN ANALYZE DELETE FROM t"), "t");
    ck_assert_str_eq(tables("EXPLAIN ANALYZE SELECT f()"), "?");
    ck_assert_str_eq(tables("UPDATE"), "?");
    ck_assert_str_eq(tables("SELECT 1; VACUUM; MERGE INTO t USING s ON true"), "?");
}
END_TEST

/* tables() as one database's server reads the text (orm/sql_scan.h's rules). */
static const char *tables_by(const char *sql, unsigned rules)
{
    seen[0] = '\0';
    if (orm__rc_sql_tables_by(sql, strlen(sql), rules, add, NULL) != 0)
        strcat(seen, seen[0] ? ",?" : "?");
    return seen;
}

START_TEST(each_database_reads_its_own_quotes)
{
    const unsigned pg = ORM_SCAN_RULES_POSTGRES, lite = ORM_SCAN_RULES_SQLITE;
    /* E'\'' ends where PostgreSQL ends it: the DELETE after it is seen */
    ck_assert_str_eq(tables_by("UPDATE a SET x = E'\\''; DELETE FROM b; --'", pg), "a,b");
    /* with standard_conforming_strings off, '\'' is one quote too */
    ck_assert_str_eq(tables_by("UPDATE a SET x = '\\''; DELETE FROM b; --'",
                               pg | ORM_SCAN_BACKSLASH), "a,b");
    /* nested comments on PostgreSQL, not on SQLite */
    ck_assert_str_eq(tables_by("/* /* */ ' */ DELETE FROM b; -- '", pg), "b");
    ck_assert_str_eq(tables_by("/* /* */ DELETE FROM b; SELECT 1 -- */", lite), "b");
    /* $a$ is SQLite's parameter, PostgreSQL's quote */
    ck_assert_str_eq(tables_by("SELECT $a$; DELETE FROM b; SELECT $a$", lite), "b");
    ck_assert_str_eq(tables_by("SELECT $a$; DELETE FROM b; SELECT $a$", pg), "");
    /* brackets quote names on SQLite; on PostgreSQL they are subscripts */
    ck_assert_str_eq(tables_by("UPDATE [t] SET a = 1", lite), "t");
    ck_assert_str_eq(tables_by("UPDATE t SET a[1] = 2", pg), "t");
}
END_TEST

static Suite *row_cache_sql_suite(void)
{
    Suite *s = suite_create("row_cache_sql");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, writes_name_their_tables);
    tcase_add_test(tc, reads_name_nothing);
    tcase_add_test(tc, unknown_writes_drop_everything);
    tcase_add_test(tc, each_database_reads_its_own_quotes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(row_cache_sql_suite()); }
