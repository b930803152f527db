/* Integration: joins (inner, left, right; ON and USING; aliases), IN (subquery) and correlated
 * EXISTS / NOT EXISTS, on the seed data (it.h). Results are checked as rows and counts. */
#include <string.h>

#include "it.h"

/* Letters (a=ada ... e=eve) of the users a users query returns, in its order. */
static void user_letters(orm_select *q, char *out, size_t cap)
{
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_lt(list.count, cap);
    for (size_t i = 0; i < list.count; i++) {
        const it_user *u = orm_list_at(&list, i);
        out[i] = '?';
        for (int j = 0; j < IT_NUSERS; j++)
            if (it_uid[j] == u->id)
                out[i] = (char)('a' + j);
    }
    out[list.count] = '\0';
    orm_list_clear(&list);
}

static int64_t count_of(orm_select *q)
{
    int64_t n = -1;
    ck_assert_ok(orm_select_count(q, NULL, &n));
    return n;
}

START_TEST(inner_join_on_with_aliases)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(q, "p"));
    ck_assert_ok(orm_select_join(q, ORM_JOIN_INNER, &it_user_model, "u",
                                 orm_eq_col("p.user_id", "u.id")));
    ck_assert_int_eq(count_of(q), 4);
    ck_assert_ok(orm_select_where(q, orm_eq("u.name", orm_text("ada"))));
    ck_assert_ok(orm_select_order_by(q, "p.views", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    orm_select_free(q);
    ck_assert_uint_eq(list.count, 2);
    const it_post *p0 = orm_list_at(&list, 0), *p1 = orm_list_at(&list, 1);
    ck_assert_str_eq(p0->title, "hello");
    ck_assert_int_eq(p0->views, 10);
    ck_assert_int_eq(p0->user_id, it_uid[IT_ADA]);
    ck_assert_str_eq(p1->title, "again");
    ck_assert_int_eq(p1->views, 20);
    ck_assert_int_ne(p0->id, p1->id);
    orm_list_clear(&list);
}
END_TEST

START_TEST(join_rows_carry_columns_of_both_tables)
{
    it_seed();
    orm_select *q = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(q, "p"));
    ck_assert_ok(orm_select_columns(q, (const char *const[]){ "title" }, 1));
    ck_assert_ok(orm_select_expr(q, orm_col("u.name"), "author"));
    ck_assert_ok(orm_select_join(q, ORM_JOIN_INNER, &it_user_model, "u",
                                 orm_eq_col("p.user_id", "u.id")));
    ck_assert_ok(orm_select_order_by(q, "p.views", ORM_DESC));
    orm_rows *r = NULL;
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    ck_assert_uint_eq(orm_rows_ncols(r), 2);
    static const char *const want[][2] = {
        { "big", "dee" }, { "again", "ada" }, { "hello", "ada" }, { "bob's", "bob" } };
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_str_eq(orm_rows_text(r, 0, NULL), want[i][0]);
        ck_assert_str_eq(orm_rows_text(r, 1, NULL), want[i][1]);
    }
    ck_assert_str_eq(orm_rows_name(r, 1), "author");
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    orm_select_free(q);
}
END_TEST

START_TEST(left_and_right_join_on)
{
    it_seed();
    /* users LEFT JOIN posts: 4 matched rows + cy and eve without posts. */
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_alias(q, "u"));
    ck_assert_ok(orm_select_join(q, ORM_JOIN_LEFT, &it_post_model, "p",
                                 orm_eq_col("p.user_id", "u.id")));
    ck_assert_int_eq(count_of(q), 6);
    ck_assert_ok(orm_select_where(q, orm_is_null("p.id")));
    ck_assert_ok(orm_select_order_by(q, "u.id", ORM_ASC));
    char got[16];
    user_letters(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "ce");

    /* posts RIGHT JOIN users: the same six rows from the other side. */
    q = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(q, "p"));
    ck_assert_ok(orm_select_join(q, ORM_JOIN_RIGHT, &it_user_model, "u",
                                 orm_eq_col("p.user_id", "u.id")));
    ck_assert_int_eq(count_of(q), 6);
    ck_assert_ok(orm_select_where(q, orm_is_null("p.id")));
    ck_assert_int_eq(count_of(q), 2);
    orm_select_free(q);

    /* Without aliases, by table name. */
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_join(q, ORM_JOIN_INNER, &it_post_model, NULL,
                                 orm_eq_col("posts.user_id", "users.id")));
    ck_assert_ok(orm_select_where(q, orm_gt("posts.views", orm_int(15))));
    ck_assert_int_eq(count_of(q), 2);
    orm_select_free(q);
}
END_TEST

START_TEST(join_using)
{
    it_seed();
    static const char *const on_user[] = { "user_id" };
    /* posts JOIN memberships USING (user_id): ada's 2 posts x 2 memberships + bob's 1 x 1. */
    orm_select *q = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(q, "p"));
    ck_assert_ok(orm_select_join_using(q, ORM_JOIN_INNER, &it_membership_model, "m",
                                       on_user, 1));
    ck_assert_int_eq(count_of(q), 5);
    ck_assert_ok(orm_select_where(q, orm_eq("m.role", orm_text("owner"))));
    ck_assert_int_eq(count_of(q), 2);
    orm_select_free(q);

    /* LEFT: dee's post has no membership and stays. */
    q = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_join_using(q, ORM_JOIN_LEFT, &it_membership_model, NULL,
                                       on_user, 1));
    ck_assert_int_eq(count_of(q), 6);
    ck_assert_ok(orm_select_where(q, orm_is_null("memberships.role")));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_eq(list.count, 1);
    ck_assert_str_eq(((it_post *)orm_list_at(&list, 0))->title, "big");
    orm_list_clear(&list);
    orm_select_free(q);

    /* RIGHT: memberships RIGHT JOIN posts, the same six rows. */
    q = orm_select_new(it_s, &it_membership_model);
    ck_assert_ok(orm_select_join_using(q, ORM_JOIN_RIGHT, &it_post_model, "p", on_user, 1));
    ck_assert_int_eq(count_of(q), 6);
    orm_select_free(q);
}
END_TEST

START_TEST(in_and_not_in_subquery)
{
    it_seed();
    orm_select *sub = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_columns(sub, (const char *const[]){ "user_id" }, 1));
    ck_assert_ok(orm_select_where(sub, orm_ge("views", orm_int(20))));
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_in_select("id", sub)));
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    char got[16];
    user_letters(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "ad");

    sub = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_columns(sub, (const char *const[]){ "user_id" }, 1));
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_where(q, orm_not_in_select("id", sub)));
    ck_assert_ok(orm_select_where(q, orm_ne("name", orm_text("eve"))));
    ck_assert_ok(orm_select_order_by(q, "id", ORM_ASC));
    user_letters(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "c");
}
END_TEST

START_TEST(correlated_exists_and_not_exists)
{
    it_seed();
    char got[16];
    orm_select *sub = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(sub, "p"));
    ck_assert_ok(orm_select_where(sub, orm_eq_col("p.user_id", "u.id")));
    ck_assert_ok(orm_select_where(sub, orm_gt("p.views", orm_int(15))));
    orm_select *q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_alias(q, "u"));
    ck_assert_ok(orm_select_where(q, orm_exists(sub)));
    ck_assert_ok(orm_select_order_by(q, "u.id", ORM_ASC));
    user_letters(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "ad");

    sub = orm_select_new(it_s, &it_post_model);
    ck_assert_ok(orm_select_alias(sub, "p"));
    ck_assert_ok(orm_select_where(sub, orm_eq_col("p.user_id", "u.id")));
    q = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_alias(q, "u"));
    ck_assert_ok(orm_select_where(q, orm_not_exists(sub)));
    ck_assert_ok(orm_select_order_by(q, "u.id", ORM_ASC));
    user_letters(q, got, sizeof got);
    orm_select_free(q);
    ck_assert_str_eq(got, "ce");
}
END_TEST

Suite *it_join_suite(void)
{
    Suite *s = suite_create("join");
    TCase *tc = it_tcase("join");
    tcase_add_test(tc, inner_join_on_with_aliases);
    tcase_add_test(tc, join_rows_carry_columns_of_both_tables);
    tcase_add_test(tc, left_and_right_join_on);
    tcase_add_test(tc, join_using);
    tcase_add_test(tc, in_and_not_in_subquery);
    tcase_add_test(tc, correlated_exists_and_not_exists);
    suite_add_tcase(s, tc);
    return s;
}
