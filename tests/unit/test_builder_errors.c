/* Builder error paths: unknown fields name the field and table, unregistered models, the
 * sticky first error, NULL arguments, bad limits; and nothing reaches the database. */
#include <string.h>

#include "builder_models.h"
#include "orm/orm.h"
#include "testutil.h"

static orm_db *db;
static orm_session *s;

static void setup(void)
{
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    ck_assert_ok(orm_db_register(db, &b_user_model));
    ck_assert_ok(orm_db_register(db, &b_order_model));
    ck_assert_ok(orm_db_register(db, &b_weird_model));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, b_schema));
    s = orm_db_session(db);
}

static void teardown(void)
{
    orm_db_close(db);
    db = NULL;
}

/* rc is code and the last error's message holds every needle. */
static void expect_err(int rc, int code, const char *n1, const char *n2)
{
    ck_assert_orm(rc, code);
    const char *m = orm_error_last()->message;
    ck_assert_int_eq(orm_error_last()->code, code);
    ck_assert_msg(!n1 || strstr(m, n1), "message \"%s\" lacks %s", m, n1);
    ck_assert_msg(!n2 || strstr(m, n2), "message \"%s\" lacks %s", m, n2);
}

static int sel_sql(orm_select *q)
{
    orm_sql out = ORM_SQL_INIT;
    int rc = orm_select_to_sql(q, orm_dialect_postgres(), &out);
    ck_assert_ptr_null(out.text);
    orm_sql_clear(&out);
    return rc;
}

START_TEST(unknown_in_where_order_group_columns)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_where(q, orm_eq("agee", orm_int(1)));
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"agee\"", "\"users\"");
    orm_list l = ORM_LIST_INIT;
    expect_err(orm_select_all(q, NULL, &l), ORM_EUNKNOWN_FIELD, "\"agee\"", "table \"users\"");
    ck_assert_uint_eq(l.count, 0);
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_order_by(q, "nope", ORM_ASC);
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"nope\"", "\"users\"");
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_group_by(q, "grp");
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"grp\"", "\"users\"");
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id", "colx" }, 2);
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"colx\"", "\"users\"");
    int64_t n;
    ck_assert_ok(orm_select_count(q, NULL, &n)); /* count ignores the column list */
    orm_select_free(q);

    /* A joined query names every table; qualified by a missing alias too. */
    q = orm_select_new(s, &b_user_model);
    orm_select_join(q, ORM_JOIN_INNER, &b_order_model, "o", orm_eq_col("id", "o.user_id"));
    orm_select_where(q, orm_eq("zzz", orm_int(1)));
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"zzz\"", "\"users\", \"orders\"");
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, orm_eq("x.id", orm_int(1)));
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "x.id", NULL);
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, orm_eq("users.idd", orm_int(1)));
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"idd\"", "\"users\"");
    orm_select_free(q);
}
END_TEST

START_TEST(unknown_in_join_using_set_insert)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_join_using(q, ORM_JOIN_INNER, &b_order_model, NULL, (const char *[]){ "user_id" }, 1);
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"user_id\"", "\"users\"");
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    orm_select_join_using(q, ORM_JOIN_INNER, &b_order_model, NULL, (const char *[]){ "name" }, 1);
    expect_err(sel_sql(q), ORM_EUNKNOWN_FIELD, "\"name\"", "\"orders\"");
    orm_select_free(q);

    orm_update *u = orm_update_new(s, &b_user_model);
    expect_err(orm_update_set(u, "nmae", orm_text("x")), ORM_EUNKNOWN_FIELD, "\"nmae\"", "\"users\"");
    /* Sticky: later calls and the run return it again, and the set expr is freed. */
    expect_err(orm_update_set_expr(u, "name", orm_val(orm_text("y"))), ORM_EUNKNOWN_FIELD, "\"nmae\"", NULL);
    int64_t n = -1;
    expect_err(orm_update_exec(u, NULL, &n), ORM_EUNKNOWN_FIELD, "\"nmae\"", "\"users\"");
    ck_assert_int_eq(n, 0);
    orm_update_free(u);

    u = orm_update_new(s, &b_user_model);
    orm_update_set(u, "name", orm_text("x"));
    orm_update_where(u, orm_eq("ghost", orm_int(1)));
    expect_err(orm_update_exec(u, NULL, NULL), ORM_EUNKNOWN_FIELD, "\"ghost\"", "\"users\"");
    orm_update_free(u);

    orm_insert *i = orm_insert_new(s, &b_user_model);
    expect_err(orm_insert_columns(i, (const char *[]){ "name", "zip" }, 2), ORM_EUNKNOWN_FIELD, "\"zip\"", "\"users\"");
    b_user row = { 0, "a", NULL, 0, false, 0 };
    expect_err(orm_insert_add(i, &row), ORM_EUNKNOWN_FIELD, "\"zip\"", NULL);
    expect_err(orm_insert_exec(i, NULL, NULL), ORM_EUNKNOWN_FIELD, "\"zip\"", NULL);
    orm_insert_free(i);

    orm_delete *d = orm_delete_new(s, &b_user_model);
    orm_delete_where(d, orm_is_null("mail"));
    expect_err(orm_delete_exec(d, NULL, NULL), ORM_EUNKNOWN_FIELD, "\"mail\"", "\"users\"");
    orm_delete_free(d);

    /* Nothing reached the database. */
    orm_select *c = orm_select_new(s, &b_user_model);
    int64_t cnt = -1;
    ck_assert_ok(orm_select_count(c, NULL, &cnt));
    ck_assert_int_eq(cnt, 0);
    orm_select_free(c);
}
END_TEST

START_TEST(unregistered_model)
{
    orm_select *q = orm_select_new(s, &b_stray_model);
    ck_assert_ptr_nonnull(q);
    orm_select_where(q, orm_eq("id", orm_int(1)));
    expect_err(sel_sql(q), ORM_EINVAL, "b_order", "\"stray\"");
    b_order o;
    expect_err(orm_select_get(q, NULL, &o), ORM_EINVAL, "not registered", NULL);
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    expect_err(orm_select_join(q, ORM_JOIN_LEFT, &b_stray_model, NULL, NULL), ORM_EINVAL, "\"stray\"", NULL);
    expect_err(sel_sql(q), ORM_EINVAL, "\"stray\"", NULL);
    orm_select_free(q);

    orm_insert *i = orm_insert_new(s, &b_stray_model);
    expect_err(orm_insert_exec(i, NULL, NULL), ORM_EINVAL, "\"stray\"", NULL);
    orm_insert_free(i);
    orm_update *u = orm_update_new(s, &b_stray_model);
    expect_err(orm_update_exec(u, NULL, NULL), ORM_EINVAL, "\"stray\"", NULL);
    orm_update_free(u);
    orm_delete *d = orm_delete_new(s, &b_stray_model);
    expect_err(orm_delete_exec(d, NULL, NULL), ORM_EINVAL, "\"stray\"", NULL);
    orm_delete_free(d);
    b_order o2 = { 1, 1, 1 };
    orm_value key = orm_int(1);
    expect_err(orm_get(s, NULL, &b_stray_model, &o2, &key), ORM_EINVAL, "\"stray\"", NULL);
    expect_err(orm_insert_one(s, NULL, &b_stray_model, &o2), ORM_EINVAL, "\"stray\"", NULL);
    expect_err(orm_update_one(s, NULL, &b_stray_model, &o2), ORM_EINVAL, "\"stray\"", NULL);
    expect_err(orm_delete_one(s, NULL, &b_stray_model, &o2), ORM_EINVAL, "\"stray\"", NULL);
}
END_TEST

START_TEST(sticky_first_error_and_limits)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    expect_err(orm_select_limit(q, -1), ORM_EINVAL, "negative limit", NULL);
    expect_err(orm_select_where(q, orm_eq("id", orm_int(1))), ORM_EINVAL, "negative limit", NULL);
    expect_err(orm_select_offset(q, 5), ORM_EINVAL, "negative limit", NULL);
    expect_err(sel_sql(q), ORM_EINVAL, "negative limit", NULL);
    int64_t n;
    expect_err(orm_select_count(q, NULL, &n), ORM_EINVAL, "negative limit", NULL);
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    expect_err(orm_select_offset(q, -3), ORM_EINVAL, "negative offset", NULL);
    orm_select_free(q);

    /* A raw expression whose '?' do not match its args. */
    q = orm_select_new(s, &b_user_model);
    orm_value one = orm_int(1);
    orm_select_where(q, orm_raw_expr("\"age\" > ? AND \"age\" < ?", &one, 1));
    expect_err(sel_sql(q), ORM_EINVAL, "raw expression", NULL);
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, orm_raw_expr("1 = 1", &one, 1));
    expect_err(sel_sql(q), ORM_EINVAL, "raw expression", NULL);
    orm_select_free(q);

    /* Too many parameters for the dialect. */
    enum { N = 40000 };
    static orm_value many[N];
    for (size_t i = 0; i < N; i++)
        many[i] = orm_int((int64_t)i);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, orm_in("id", many, N));
    orm_sql out = ORM_SQL_INIT;
    expect_err(orm_select_to_sql(q, orm_dialect_sqlite(), &out), ORM_EINVAL, "32766", NULL);
    ck_assert_ok(orm_select_to_sql(q, orm_dialect_postgres(), &out));
    ck_assert_uint_eq(out.nargs, N);
    orm_sql_clear(&out);
    orm_select_free(q);
}
END_TEST

START_TEST(null_arguments)
{
    ck_assert_ptr_null(orm_select_new(NULL, &b_user_model));
    ck_assert_int_eq(orm_error_last()->code, ORM_EINVAL);
    ck_assert_ptr_null(orm_select_new(s, NULL));
    ck_assert_ptr_null(orm_insert_new(NULL, &b_user_model));
    ck_assert_ptr_null(orm_update_new(s, NULL));
    ck_assert_ptr_null(orm_delete_new(NULL, NULL));
    orm_select_free(NULL);
    orm_insert_free(NULL);
    orm_update_free(NULL);
    orm_delete_free(NULL);
    orm_expr_free(NULL);
    orm_list_clear(NULL);
    ck_assert_ptr_null(orm_list_at(NULL, 0));

    /* Stolen even when the builder is NULL (ASan checks nothing leaks). */
    ck_assert_orm(orm_select_where(NULL, orm_eq("id", orm_int(1))), ORM_EINVAL);
    ck_assert_orm(orm_select_having(NULL, orm_eq("id", orm_int(1))), ORM_EINVAL);
    ck_assert_orm(orm_select_expr(NULL, orm_count_all(), "n"), ORM_EINVAL);
    ck_assert_orm(orm_select_join(NULL, ORM_JOIN_INNER, &b_order_model, NULL, orm_eq_col("id", "id")), ORM_EINVAL);
    ck_assert_orm(orm_update_set_expr(NULL, "id", orm_val(orm_text("x"))), ORM_EINVAL);
    ck_assert_orm(orm_update_where(NULL, orm_eq("id", orm_int(1))), ORM_EINVAL);
    ck_assert_orm(orm_delete_where(NULL, orm_eq("id", orm_int(1))), ORM_EINVAL);
    ck_assert_orm(orm_select_to_sql(NULL, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_insert_exec(NULL, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_update_exec(NULL, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_delete_exec(NULL, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_get(NULL, NULL, &b_user_model, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_insert_one(s, NULL, &b_user_model, NULL), ORM_EINVAL);
    ck_assert_orm(orm_update_one(s, NULL, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_delete_one(NULL, NULL, NULL, NULL), ORM_EINVAL);
    b_user u = { 0 };
    ck_assert_orm(orm_get(s, NULL, &b_user_model, &u, NULL), ORM_EINVAL);

    orm_select *q = orm_select_new(s, &b_user_model);
    ck_assert_orm(orm_select_to_sql(q, NULL, NULL), ORM_EINVAL);
    ck_assert_orm(orm_select_order_by(q, NULL, ORM_ASC), ORM_EINVAL);
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    ck_assert_orm(orm_select_where(q, NULL), ORM_EINVAL);
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    ck_assert_orm(orm_select_columns(q, NULL, 2), ORM_EINVAL);
    orm_select_free(q);

    /* NULL names inside expressions: an error node, reported when built. */
    q = orm_select_new(s, &b_user_model);
    ck_assert_ok(orm_select_where(q, orm_and(orm_eq(NULL, orm_int(1)), orm_col(NULL))));
    expect_err(sel_sql(q), ORM_EINVAL, NULL, NULL);
    orm_select_free(q);
    q = orm_select_new(s, &b_user_model);
    ck_assert_ok(orm_select_where(q, orm_and(NULL, orm_is_null("id"))));
    expect_err(sel_sql(q), ORM_ENOMEM, NULL, NULL);
    orm_select_free(q);

    orm_insert *i = orm_insert_new(s, &b_user_model);
    ck_assert_orm(orm_insert_add(i, NULL), ORM_EINVAL);
    orm_insert_free(i);
    orm_update *up = orm_update_new(s, &b_user_model);
    ck_assert_orm(orm_update_set(up, NULL, orm_int(1)), ORM_EINVAL);
    orm_update_free(up);
    up = orm_update_new(s, &b_user_model);
    expect_err(orm_update_exec(up, NULL, NULL), ORM_EINVAL, "nothing to set", NULL);
    orm_update_free(up);
    orm_delete *d = orm_delete_new(s, &b_user_model);
    ck_assert_orm(orm_delete_by_key(d, NULL), ORM_EINVAL);
    orm_delete_free(d);
}
END_TEST

START_TEST(not_found_on_write_by_key)
{
    b_user u = { 123, "ghost", NULL, 0, false, 0 };
    expect_err(orm_update_one(s, NULL, &b_user_model, &u), ORM_ENOTFOUND, "\"users\"", NULL);
    expect_err(orm_delete_one(s, NULL, &b_user_model, &u), ORM_ENOTFOUND, "\"users\"", NULL);
    orm_value key = orm_int(123);
    b_user got = { 0 };
    expect_err(orm_get(s, NULL, &b_user_model, &got, &key), ORM_ENOTFOUND, "\"users\"", NULL);
    orm_select *q = orm_select_new(s, &b_user_model);
    expect_err(orm_select_get(q, NULL, &got), ORM_ENOTFOUND, NULL, NULL);
    int64_t n;
    expect_err(orm_select_scalar_int(q, NULL, &n, NULL), ORM_ENOTFOUND, NULL, NULL);
    orm_select_free(q);
}
END_TEST

/* Issue 19 item 11: a 100,000-term AND chain (built a term at a time, as a loop would) is
 * flat and renders; 100,000 levels of other nesting are refused with ORM_EINVAL at build
 * time, and freeing them does not recurse 100,000 deep. */
START_TEST(deep_expressions)
{
    enum { N = 100000 };
    orm_expr *chain = orm_eq_col("age", "id"); /* no parameters: far more terms than they allow */
    for (int i = 1; i < N; i++)
        chain = orm_and(chain, orm_eq_col("age", "id"));
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_where(q, chain);
    for (int i = 0; i < 1000; i++) /* where after where: one flat AND too */
        orm_select_where(q, orm_gt("id", orm_int(i)));
    orm_sql out = ORM_SQL_INIT;
    ck_assert_ok(orm_select_to_sql(q, orm_dialect_postgres(), &out));
    ck_assert_uint_eq(out.nargs, 1000);
    ck_assert_ptr_null(strstr(out.text, "(("));
    orm_sql_clear(&out);
    orm_list l = ORM_LIST_INIT;
    orm_select_free(q);

    /* NOT NOT NOT ...: refused past ORM_EXPR_MAX_DEPTH */
    orm_expr *deep = orm_eq("age", orm_int(1));
    for (int i = 0; i < N; i++)
        deep = orm_not(deep);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, deep);
    expect_err(sel_sql(q), ORM_EINVAL, "ORM_EXPR_MAX_DEPTH", NULL);
    expect_err(orm_select_all(q, NULL, &l), ORM_EINVAL, "ORM_EXPR_MAX_DEPTH", NULL);
    orm_select_free(q);

    /* alternating AND / OR nests (no flattening across kinds) */
    deep = orm_eq("age", orm_int(1));
    for (int i = 0; i < N; i++)
        deep = i % 2 ? orm_and(orm_eq("id", orm_int(i)), deep) : orm_or(orm_eq("id", orm_int(i)), deep);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, deep);
    expect_err(sel_sql(q), ORM_EINVAL, "ORM_EXPR_MAX_DEPTH", NULL);
    orm_select_free(q);

    /* exactly at the limit is fine */
    deep = orm_eq("age", orm_int(1)); /* depth 2 */
    for (int i = 0; i < ORM_EXPR_MAX_DEPTH - 2; i++)
        deep = orm_not(deep);
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, deep);
    ck_assert_ok(orm_select_to_sql(q, orm_dialect_postgres(), &out));
    orm_sql_clear(&out);
    orm_select_free(q);

    /* nesting through subqueries counts too */
    orm_expr *e = orm_eq("age", orm_int(1));
    for (int i = 0; i < N / 100; i++) {
        orm_select *sub = orm_select_new(s, &b_user_model);
        orm_select_where(sub, e);
        e = orm_exists(sub);
    }
    q = orm_select_new(s, &b_user_model);
    orm_select_where(q, e);
    expect_err(sel_sql(q), ORM_EINVAL, "ORM_EXPR_MAX_DEPTH", NULL);
    orm_select_free(q);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("builder_errors");
    TCase *tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unknown_in_where_order_group_columns);
    tcase_add_test(tc, unknown_in_join_using_set_insert);
    tcase_add_test(tc, unregistered_model);
    tcase_add_test(tc, sticky_first_error_and_limits);
    tcase_add_test(tc, null_arguments);
    tcase_add_test(tc, not_found_on_write_by_key);
    tcase_add_test(tc, deep_expressions);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return orm_test_run(suite()); }
