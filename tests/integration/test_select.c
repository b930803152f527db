/* Integration: SELECT on the seed data (it.h) — every WHERE operator, ordering, paging,
 * distinct, aggregates with group by/having read through orm_select_rows, scalars, counts,
 * column subsets, raw expressions, UPDATE ... SET expression and DELETE ... WHERE.
 *
 * Users are named by letter in the expectations: a=ada b=bob c=cy d=dee e=eve. */
#include <math.h>
#include <string.h>

#include "it.h"

/* The letters of the users a query returns, in its order (or id order when it has none). */
static void letters_of(orm_select *q, char *out, size_t cap)
{
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_lt(list.count, cap);
    size_t k = 0;
    for (size_t i = 0; i < list.count; i++) {
        const it_user *u = orm_list_at(&list, i);
        char c = '?';
        for (int j = 0; j < IT_NUSERS; j++)
            if (it_uid[j] == u->id)
                c = (char)('a' + j);
        out[k++] = c;
    }
    out[k] = '\0';
    orm_list_clear(&list);
}

/* where NULL: every user. */
static void check_where(orm_expr *where, const char *want)
{
    orm_select *q = orm_select_new(it_s, &it_user_model);
    if (where)
        ck_assert_ok(orm_select_where(q, where));
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    char got[64];
    letters_of(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, want);
}

START_TEST(comparison_operators)
{
    it_seed();
    check_where(orm_eq("age", orm_int(25)), "be");
    check_where(orm_ne("age", orm_int(25)), "ad"); /* NULL age (cy) is neither */
    check_where(orm_lt("age", orm_int(36)), "be");
    check_where(orm_le("age", orm_int(36)), "abe");
    check_where(orm_gt("age", orm_int(36)), "d");
    check_where(orm_ge("age", orm_int(36)), "ad");
    check_where(orm_eq("name", orm_text("cy")), "c");
    check_where(orm_eq("active", orm_bool(true)), "acd");
    check_where(orm_gt("score", orm_double(80.0)), "ae");
    check_where(orm_between("age", orm_int(30), orm_int(41)), "ad");
    check_where(orm_between("score", orm_double(70.0), orm_double(80.0)), "bc");
}
END_TEST

START_TEST(in_and_not_in_including_empty_lists)
{
    it_seed();
    orm_value names[] = { orm_text("ada"), orm_text("eve"), orm_text("nobody") };
    check_where(orm_in("name", names, 3), "ae");
    check_where(orm_not_in("name", names, 3), "bcd");
    orm_value ages[] = { orm_int(25), orm_int(41) };
    check_where(orm_in("age", ages, 2), "bde");
    check_where(orm_in("name", NULL, 0), "");       /* empty IN: false */
    check_where(orm_not_in("name", NULL, 0), "abcde"); /* empty NOT IN: true */
}
END_TEST

START_TEST(like_not_like_null_checks)
{
    it_seed();
    check_where(orm_like("name", orm_text("%e%")), "de");
    check_where(orm_not_like("name", orm_text("%e%")), "abc");
    check_where(orm_like("email", orm_text("%@example.com")), "acd");
    check_where(orm_like("name", orm_text("_y")), "c");
    check_where(orm_is_null("email"), "be");
    check_where(orm_is_not_null("email"), "acd");
    check_where(orm_is_null("age"), "c");
}
END_TEST

START_TEST(logic_and_or_not_and_all_or_all)
{
    it_seed();
    check_where(orm_and(orm_eq("active", orm_bool(true)), orm_gt("age", orm_int(30))), "ad");
    check_where(orm_or(orm_eq("age", orm_int(25)), orm_eq("name", orm_text("cy"))), "bce");
    check_where(orm_not(orm_eq("active", orm_bool(true))), "be");
    /* SQL's three-valued logic: for cy (age NULL) the OR is NULL, and so is its NOT. */
    check_where(orm_not(orm_or(orm_is_null("email"), orm_gt("age", orm_int(40)))), "a");
    check_where(orm_not(orm_or(orm_is_null("email"), orm_eq("name", orm_text("dee")))), "ac");

    orm_expr *all[] = { orm_eq("active", orm_bool(true)), orm_is_not_null("email"),
                        orm_lt("score", orm_double(85.0)) };
    check_where(orm_and_all(all, 3), "cd");
    orm_expr *any[] = { orm_eq("name", orm_text("ada")), orm_eq("name", orm_text("eve")),
                        orm_gt("score", orm_double(1000.0)) };
    check_where(orm_or_all(any, 3), "ae");
    check_where(orm_and_all(NULL, 0), "abcde"); /* empty AND: true */
    check_where(orm_or_all(NULL, 0), "");       /* empty OR: false */

    /* Several where calls are joined with AND. */
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_eq("active", orm_bool(false))));
    ck_assert_ok(orm_select_where(q, orm_gt("score", orm_double(80.0))));
    char got[16];
    letters_of(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "e");
}
END_TEST

START_TEST(order_by_two_keys_limit_offset)
{
    it_seed();
    char got[16];
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_is_not_null("age")));
    ck_assert_ok(orm_select_order_by(q, "age", ORM_DESC));
    ck_assert_ok(orm_select_order_by(q, "name", ORM_ASC));
    letters_of(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "dabe");

    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_is_not_null("age")));
    ck_assert_ok(orm_select_order_by(q, "age", ORM_ASC));
    ck_assert_ok(orm_select_order_by(q, "name", ORM_DESC));
    letters_of(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "ebad");

    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(q, "score", ORM_DESC));
    ck_assert_ok(orm_select_limit(q, 2));
    ck_assert_ok(orm_select_offset(q, 1));
    letters_of(q, got, sizeof got);
    ck_assert_str_eq(got, "ac"); /* e 99, a 90.5, c 80, b 70, d 55.5 */
    /* The builder runs again with the same result. */
    letters_of(q, got, sizeof got);
    ck_assert_str_eq(got, "ac");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    ck_assert_ok(orm_select_offset(q, 3)); /* offset without limit */
    letters_of(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "de");
}
END_TEST

START_TEST(distinct_and_selected_columns)
{
    it_seed();
    static const char *const age_only[] = { "age" };
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_columns(q, age_only, 1));
    ck_assert_ok(orm_select_distinct(q));
    ck_assert_ok(orm_select_where(q, orm_is_not_null("age")));
    ck_assert_ok(orm_select_order_by(q, "age", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    orm_select_free(q);
    ck_assert_uint_eq(list.count, 3);
    static const int want[] = { 25, 36, 41 };
    for (size_t i = 0; i < 3; i++) {
        const it_user *u = orm_list_at(&list, i);
        ck_assert(u->has_age);
        ck_assert_int_eq(u->age, want[i]);
        ck_assert_int_eq(u->id, 0);      /* not selected: zero */
        ck_assert_ptr_null(u->name);
    }
    orm_list_clear(&list);

    static const char *const some[] = { "id", "name" };
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_columns(q, some, 2));
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("ada"))));
    it_user u;
    memset(&u, 0, sizeof u);
    ck_assert_ok(orm_select_get(q, NULL, &u));
    orm_select_free(q);
    ck_assert_int_eq(u.id, it_uid[IT_ADA]);
    ck_assert_str_eq(u.name, "ada");
    ck_assert_ptr_null(u.email);
    ck_assert(!u.has_age);
    ck_assert_int_eq(u.age, 0);
    ck_assert_double_eq(u.score, 0);
    ck_assert(!u.active);
    orm_model_clear(&it_user_model, &u);
}
END_TEST

START_TEST(select_get_first_row_and_enotfound)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(q, "score", ORM_ASC));
    it_user u;
    memset(&u, 0, sizeof u);
    ck_assert_ok(orm_select_get(q, NULL, &u));
    orm_select_free(q);
    ck_assert_str_eq(u.name, "dee");
    ck_assert_str_eq(u.email, "dee@example.com");
    ck_assert_int_eq(u.age, 41);
    ck_assert_double_eq(u.score, 55.5);
    orm_model_clear(&it_user_model, &u);

    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("nobody"))));
    ck_assert_orm(orm_select_get(q, NULL, &u), ORM_ENOTFOUND);
    orm_select_free(q);
}
END_TEST

/* Index of the column named name in r, asserting it is there. */
static size_t col_named(orm_rows *r, const char *name)
{
    for (size_t i = 0; i < orm_rows_ncols(r); i++) {
        const char *n = orm_rows_name(r, i);
        if (n && strcmp(n, name) == 0)
            return i;
    }
    ck_abort_msg("no column named %s in the result", name);
    return 0;
}

START_TEST(group_by_having_aggregates_through_rows)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_columns(q, (const char *const[]){ "age" }, 1));
    ck_assert_ok(orm_select_expr(q, orm_count_all(), "n"));
    ck_assert_ok(orm_select_expr(q, orm_sum("score"), "total"));
    ck_assert_ok(orm_select_expr(q, orm_avg("score"), "mean"));
    ck_assert_ok(orm_select_expr(q, orm_min("score"), "lo"));
    ck_assert_ok(orm_select_expr(q, orm_max("score"), "hi"));
    ck_assert_ok(orm_select_expr(q, orm_sum("age"), "age_sum"));
    ck_assert_ok(orm_select_where(q, orm_is_not_null("age")));
    ck_assert_ok(orm_select_group_by(q, "age"));
    ck_assert_ok(orm_select_order_by(q, "age", ORM_ASC));

    orm_rows *r = NULL;
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    size_t c_age = col_named(r, "age"), c_n = col_named(r, "n"), c_total = col_named(r, "total"),
           c_mean = col_named(r, "mean"), c_lo = col_named(r, "lo"), c_hi = col_named(r, "hi"),
           c_asum = col_named(r, "age_sum");
    static const struct { int age, n; double total, mean, lo, hi; int asum; } want[] = {
        { 25, 2, 169.0, 84.5, 70.0, 99.0, 50 },
        { 36, 1, 90.5, 90.5, 90.5, 90.5, 36 },
        { 41, 1, 55.5, 55.5, 55.5, 55.5, 41 },
    };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_int_eq(orm_rows_int(r, c_age), want[i].age);
        ck_assert_int_eq(orm_rows_int(r, c_n), want[i].n);
        ck_assert_double_eq_tol(orm_rows_double(r, c_total), want[i].total, 1e-9);
        ck_assert_double_eq_tol(orm_rows_double(r, c_mean), want[i].mean, 1e-9);
        ck_assert_double_eq_tol(orm_rows_double(r, c_lo), want[i].lo, 1e-9);
        ck_assert_double_eq_tol(orm_rows_double(r, c_hi), want[i].hi, 1e-9);
        ck_assert_int_eq(orm_rows_int(r, c_asum), want[i].asum);
    }
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);

    /* HAVING COUNT(*) > 1 keeps only age 25. */
    ck_assert_ok(orm_select_having(q, orm_binop(ORM_OP_GT, orm_count_all(),
                                                orm_val(orm_int(1)))));
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, col_named(r, "age")), 25);
    ck_assert_int_eq(orm_rows_int(r, col_named(r, "n")), 2);
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    orm_select_free(q);
}
END_TEST

START_TEST(scalars_and_count)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_expr(q, orm_max("age"), NULL));
    int64_t i = -1;
    bool is_null = true;
    ck_assert_ok(orm_select_scalar_int(q, NULL, &i, &is_null));
    ck_assert_int_eq(i, 41);
    ck_assert(!is_null);
    orm_select_free(q);

    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_expr(q, orm_avg("score"), "a"));
    double d = 0;
    ck_assert_ok(orm_select_scalar_double(q, NULL, &d, NULL));
    ck_assert_double_eq_tol(d, 79.0, 1e-9);
    orm_select_free(q);

    /* MAX over no non-NULL value is NULL. */
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_expr(q, orm_max("age"), NULL));
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("cy"))));
    i = 7;
    ck_assert_ok(orm_select_scalar_int(q, NULL, &i, &is_null));
    ck_assert(is_null);
    ck_assert_int_eq(i, 0);
    orm_select_free(q);

    /* Aggregates with DISTINCT and COUNT(field) skip NULLs. */
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_expr(q, orm_aggregate(ORM_AGG_COUNT, orm_col("age"), 1), NULL));
    ck_assert_ok(orm_select_scalar_int(q, NULL, &i, NULL));
    ck_assert_int_eq(i, 3);
    orm_select_free(q);
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_expr(q, orm_count("email"), NULL));
    ck_assert_ok(orm_select_scalar_int(q, NULL, &i, NULL));
    ck_assert_int_eq(i, 3);
    orm_select_free(q);

    /* count ignores order and limit. */
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_eq("active", orm_bool(true))));
    ck_assert_ok(orm_select_order_by(q, "name", ORM_DESC));
    ck_assert_ok(orm_select_limit(q, 1));
    int64_t n = -1;
    ck_assert_ok(orm_select_count(q, NULL, &n));
    ck_assert_int_eq(n, 3);
    orm_select_free(q);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);

    /* No row at all: ENOTFOUND. */
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_columns(q, (const char *const[]){ "age" }, 1));
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("nobody"))));
    ck_assert_orm(orm_select_scalar_int(q, NULL, &i, NULL), ORM_ENOTFOUND);
    orm_select_free(q);
}
END_TEST

START_TEST(raw_expression_with_bound_args)
{
    it_seed();
    orm_value args[] = { orm_int(30), orm_text("dee") };
    check_where(orm_raw_expr("\"age\" > ? AND \"name\" <> ?", args, 2), "a");
    /* A '?' inside a quoted string is not a placeholder. */
    orm_value one[] = { orm_int(25) };
    check_where(orm_raw_expr("\"name\" <> '?' AND \"age\" = ?", one, 1), "be");
    /* A raw computed column. */
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_value k[] = { orm_int(2) };
    ck_assert_ok(orm_select_expr(q, orm_raw_expr("MAX(\"age\") * ?", k, 1), "x"));
    int64_t v = 0;
    ck_assert_ok(orm_select_scalar_int(q, NULL, &v, NULL));
    ck_assert_int_eq(v, 82);
    orm_select_free(q);
}
END_TEST

START_TEST(update_set_expression_with_where)
{
    it_seed();
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set_expr(up, "score", orm_binop(ORM_OP_ADD, orm_col("score"),
                                                            orm_val(orm_double(1)))));
    ck_assert_ok(orm_update_set(up, "email", orm_text("young@example.com")));
    ck_assert_ok(orm_update_where(up, orm_eq("age", orm_int(25))));
    int64_t n = -1;
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 2);

    static const double want[] = { 90.5, 71.0, 80.0, 55.5, 100.0 };
    for (int i = 0; i < IT_NUSERS; i++) {
        it_user u;
        it_user_load(it_uid[i], &u);
        ck_assert_double_eq(u.score, want[i]);
        if (i == IT_BOB || i == IT_EVE)
            ck_assert_str_eq(u.email, "young@example.com");
        else
            ck_assert(u.email == NULL || strcmp(u.email, "young@example.com") != 0);
        orm_model_clear(&it_user_model, &u);
    }

    /* update_from: selected columns from a struct, by key. */
    it_user patch = it_user_make("ignored", NULL, 77, true, -1, true);
    patch.id = it_uid[IT_CY];
    up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_from(up, &patch, (const char *const[]){ "age" }, 1));
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 1);
    it_user u;
    it_user_load(it_uid[IT_CY], &u);
    ck_assert_str_eq(u.name, "cy");
    ck_assert_int_eq(u.age, 77);
    ck_assert_double_eq(u.score, 80.0);
    orm_model_clear(&it_user_model, &u);
}
END_TEST

START_TEST(delete_by_where_and_by_key)
{
    it_seed();
    /* posts reference users: remove bob's post first. */
    orm_delete *del = orm_delete_new(it_s, &it_post_model);
    ck_assert_ok(orm_delete_where(del, orm_eq("user_id", orm_int(it_uid[IT_BOB]))));
    int64_t n = -1;
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 1);

    del = orm_delete_new(it_s, &it_user_model);
    ck_assert_ok(orm_delete_where(del, orm_eq("active", orm_bool(false))));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 2);
    check_where(NULL, "acd");

    it_user key;
    memset(&key, 0, sizeof key);
    key.id = it_uid[IT_CY];
    del = orm_delete_new(it_s, &it_user_model);
    ck_assert_ok(orm_delete_by_key(del, &key));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 1);
    check_where(NULL, "ad");

    /* A where that matches nothing deletes nothing. */
    del = orm_delete_new(it_s, &it_user_model);
    ck_assert_ok(orm_delete_where(del, orm_eq("name", orm_text("nobody"))));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
}
END_TEST

START_TEST(list_clear_empties_and_list_is_reusable)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_eq(list.count, 5);
    ck_assert_ptr_eq(list.model, &it_user_model);
    /* A second run appends. */
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_eq(list.count, 10);
    ck_assert_str_eq(((it_user *)orm_list_at(&list, 5))->name, "ada");
    ck_assert_ptr_null(orm_list_at(&list, 10));
    orm_list_clear(&list);
    ck_assert_uint_eq(list.count, 0);
    ck_assert_ptr_null(orm_list_at(&list, 0));
    /* Reusable after clear, and an empty result is OK with an empty list. */
    ck_assert_ok(orm_select_where(q, orm_eq("name", orm_text("nobody"))));
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_eq(list.count, 0);
    orm_list_clear(&list);
    orm_list_clear(NULL);
    orm_select_free(q);
}
END_TEST

/* More distinct statements than the prepared-statement cache holds (128 by default): results
 * stay right while statements are evicted and re-prepared. */
START_TEST(distinct_statements_beyond_the_statement_cache)
{
    it_seed();
    orm_value ids[300];
    for (size_t i = 0; i < 300; i++)
        ids[i] = orm_int(it_uid[i % IT_NUSERS] + (int64_t)(i / IT_NUSERS) * 1000);
    for (int round = 0; round < 2; round++) {
        for (size_t n = 1; n <= 300; n += 1) {
            int64_t want = n < IT_NUSERS ? (int64_t)n : IT_NUSERS;
            ck_assert_int_eq(it_count(&it_user_model, orm_in("id", ids, n)), want);
        }
    }
}
END_TEST

Suite *it_select_suite(void)
{
    Suite *s = suite_create("select");
    TCase *tc = it_tcase("select");
    tcase_add_test(tc, comparison_operators);
    tcase_add_test(tc, in_and_not_in_including_empty_lists);
    tcase_add_test(tc, like_not_like_null_checks);
    tcase_add_test(tc, logic_and_or_not_and_all_or_all);
    tcase_add_test(tc, order_by_two_keys_limit_offset);
    tcase_add_test(tc, distinct_and_selected_columns);
    tcase_add_test(tc, select_get_first_row_and_enotfound);
    tcase_add_test(tc, group_by_having_aggregates_through_rows);
    tcase_add_test(tc, scalars_and_count);
    tcase_add_test(tc, raw_expression_with_bound_args);
    tcase_add_test(tc, update_set_expression_with_where);
    tcase_add_test(tc, delete_by_where_and_by_key);
    tcase_add_test(tc, list_clear_empties_and_list_is_reusable);
    tcase_add_test(tc, distinct_statements_beyond_the_statement_cache);
    suite_add_tcase(s, tc);
    return s;
}
