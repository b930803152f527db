/* Unit tests: the guard middleware (orm/mw_guard.c) on raw statements the WHERE test used to
 * misread — a DELETE/UPDATE behind a WITH clause, a 'where' inside a PostgreSQL dollar-quoted
 * string, an E'..\'..' string or a SQLite [identifier], and a WHERE belonging to a
 * statement after a ';'. */
#include <string.h>

#include "orm/middleware_internal.h"
#include "orm/orm.h"
#include "testutil.h"

static orm__chain chain;
static int term_calls;

static int fake_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    (void)s;
    (void)ctx;
    (void)q;
    (void)res;
    term_calls++;
    return ORM_OK;
}

static int run_raw(const char *sql)
{
    orm_query q = { ORM_QUERY_RAW, NULL, sql, strlen(sql), 0, NULL, 0, NULL };
    orm_exec_result res;
    return orm__chain_exec(&chain, NULL, NULL, &q, &res, fake_exec);
}

static void setup(void)
{
    orm__chain_init(&chain);
    orm_middleware mw;
    ck_assert_ok(orm_guard_middleware(&mw));
    ck_assert_ok(orm__chain_use(&chain, &mw));
    term_calls = 0;
}

static void teardown(void) { orm__chain_free(&chain); }

START_TEST(cte_statements_are_checked)
{
    ck_assert_orm(run_raw("WITH gone AS (SELECT id FROM u WHERE x = 1) DELETE FROM t"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("with recursive r(n) AS (SELECT 1) UPDATE t SET a = 1"), ORM_EUNSAFE);
    ck_assert_ok(run_raw("WITH g AS (SELECT 1) DELETE FROM t WHERE id IN (SELECT * FROM g)"));
    ck_assert_ok(run_raw("WITH g AS (SELECT 1) SELECT * FROM g")); /* a read: not guarded */
    ck_assert_int_eq(term_calls, 2);
}
END_TEST

START_TEST(where_inside_strings_does_not_count)
{
    ck_assert_orm(run_raw("UPDATE t SET a = $$ where $$"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("UPDATE t SET a = $tag$ it's where $tag$"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("UPDATE t SET a = E'it\\'s where '"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("UPDATE t SET [where] = 1"), ORM_EUNSAFE); /* SQLite identifier */
    ck_assert_ok(run_raw("UPDATE t SET a = $1 WHERE id = $2")); /* parameters are not quotes */
    ck_assert_ok(run_raw("UPDATE t SET a = $$x$$ WHERE id = 1"));
    ck_assert_int_eq(term_calls, 2);
}
END_TEST

START_TEST(where_of_a_later_statement_does_not_count)
{
    ck_assert_orm(run_raw("DELETE FROM t; SELECT 1 WHERE true"), ORM_EUNSAFE);
    ck_assert_ok(run_raw("DELETE FROM t WHERE id = 1;"));
    ck_assert_int_eq(term_calls, 1);
}
END_TEST

/* Issue 19 item 9: PostgreSQL nests block comments, and with standard_conforming_strings
 * off a backslash escapes a quote in '...': the guard reads the statement every way a
 * backend may, and passes it only when each reading finds a WHERE. */
START_TEST(every_backend_reading_must_find_where)
{
    ck_assert_orm(run_raw("DELETE FROM t /* /* */ WHERE */"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("DELETE FROM t /* a /* b */ c */ /* /* */ WHERE true */"), ORM_EUNSAFE);
    ck_assert_orm(run_raw("UPDATE t SET a = '\\' WHERE id = 1 --'"), ORM_EUNSAFE);
    /* nested comments that close, a real WHERE after them: fine in every reading */
    ck_assert_ok(run_raw("DELETE FROM t /* a /* b */ c */ WHERE id = 1"));
    ck_assert_ok(run_raw("UPDATE t SET a = 'it''s' WHERE id = 1"));
    ck_assert_ok(run_raw("UPDATE t SET a = '\\\\' WHERE id = 1")); /* '\\': one reading each way, both end */
    ck_assert_int_eq(term_calls, 3);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("mw_guard");
    TCase *tc = tcase_create("mw_guard");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cte_statements_are_checked);
    tcase_add_test(tc, where_inside_strings_does_not_count);
    tcase_add_test(tc, where_of_a_later_statement_does_not_count);
    tcase_add_test(tc, every_backend_reading_must_find_where);
    suite_add_tcase(su, tc);
    return orm_test_run(su);
}
