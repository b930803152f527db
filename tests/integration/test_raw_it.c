/* Integration tests of raw SQL (orm_raw_*), on the backend ORM_TEST_DSN names (see it.h):
 * exec with bound arguments, get / all into model structs by column name (unknown columns,
 * the ignore option), a join mapped into a struct of its own, and a cursor over every column
 * type and NULLs. Built as test_integration_raw (tests/integration/suites.cmake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

Suite *it_raw_suite(void);

/* The SQL with "?" turned into "$1", "$2", ... on PostgreSQL (no '?' inside literals here). */
static const char *sql(const char *q)
{
    static char buf[1024];
    if (!it_is_postgres())
        return q;
    size_t o = 0;
    int n = 0;
    for (const char *p = q; *p && o < sizeof buf - 8; p++) {
        if (*p == '?')
            o += (size_t)snprintf(buf + o, sizeof buf - o, "$%d", ++n);
        else
            buf[o++] = *p;
    }
    buf[o] = '\0';
    return buf;
}

START_TEST(test_raw_exec_affected)
{
    it_seed();
    orm_value args[] = { orm_double(1.5), orm_int(25) };
    int64_t n = -1;
    ck_assert_ok(orm_raw_exec(it_s, NULL, sql("UPDATE users SET score = score + ? WHERE age = ?"),
                              args, 2, &n));
    ck_assert_int_eq(n, 2); /* bob and eve */
    it_user u;
    it_user_load(it_uid[IT_BOB], &u);
    ck_assert_double_eq_tol(u.score, 71.5, 1e-9);
    orm_model_clear(&it_user_model, &u);
    /* a bound value is never SQL */
    orm_value evil = orm_text("x'); DROP TABLE users; --");
    ck_assert_ok(orm_raw_exec(it_s, NULL, sql("UPDATE users SET email = ? WHERE name = 'cy'"),
                              &evil, 1, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(it_count(&it_user_model, NULL), IT_NUSERS);
    /* a database error comes back as such */
    ck_assert_orm(orm_raw_exec(it_s, NULL, "INSERT INTO users (name, score, active) "
                               "SELECT name, score, active FROM users", NULL, 0, NULL),
                  ORM_ECONSTRAINT);
    ck_assert_orm(orm_raw_exec(it_s, NULL, NULL, NULL, 0, NULL), ORM_EINVAL);
}
END_TEST

START_TEST(test_raw_get_and_all)
{
    it_seed();
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value name = orm_text("ada");
    ck_assert_ok(orm_raw_get(it_s, NULL, &it_user_model, &u,
                             sql("SELECT * FROM users WHERE name = ?"), &name, 1, NULL));
    ck_assert_int_eq(u.id, it_uid[IT_ADA]);
    ck_assert_str_eq(u.email, "ada@example.com");
    ck_assert(u.has_age && u.age == 36);
    ck_assert(u.active);
    orm_model_clear(&it_user_model, &u);

    /* fields without a column stay zeroed */
    ck_assert_ok(orm_raw_get(it_s, NULL, &it_user_model, &u,
                             sql("SELECT name, age FROM users WHERE name = ?"), &name, 1, NULL));
    ck_assert_int_eq(u.id, 0);
    ck_assert_ptr_null(u.email);
    ck_assert_int_eq(u.age, 36);
    orm_model_clear(&it_user_model, &u);

    orm_value nobody = orm_text("zed");
    ck_assert_orm(orm_raw_get(it_s, NULL, &it_user_model, &u,
                              sql("SELECT * FROM users WHERE name = ?"), &nobody, 1, NULL),
                  ORM_ENOTFOUND);

    /* an unknown column names itself, unless ignored */
    ck_assert_orm(orm_raw_get(it_s, NULL, &it_user_model, &u,
                              "SELECT name, 1 AS bogus FROM users", NULL, 0, NULL),
                  ORM_EUNKNOWN_FIELD);
    ck_assert(it_msg_has("\"bogus\""));
    orm_raw_options o = ORM_RAW_OPTIONS_INIT;
    o.ignore_unknown = 1;
    ck_assert_ok(orm_raw_get(it_s, NULL, &it_user_model, &u,
                             "SELECT name, 1 AS bogus FROM users ORDER BY name", NULL, 0, &o));
    ck_assert_str_eq(u.name, "ada");
    orm_model_clear(&it_user_model, &u);

    orm_list list = ORM_LIST_INIT;
    orm_value age = orm_int(30);
    ck_assert_ok(orm_raw_all(it_s, NULL, &it_user_model, &list,
                             sql("SELECT * FROM users WHERE age > ? ORDER BY id"), &age, 1, NULL));
    ck_assert_uint_eq(list.count, 2);
    ck_assert_str_eq(((it_user *)orm_list_at(&list, 0))->name, "ada");
    ck_assert_str_eq(((it_user *)orm_list_at(&list, 1))->name, "dee");
    /* a failing call leaves the list as it was */
    ck_assert_orm(orm_raw_all(it_s, NULL, &it_user_model, &list, "SELECT 1 AS bogus", NULL, 0,
                              NULL), ORM_EUNKNOWN_FIELD);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_orm(orm_raw_all(it_s, NULL, &it_post_model, &list, "SELECT * FROM posts", NULL, 0,
                              NULL), ORM_EINVAL);
    orm_list_clear(&list);
}
END_TEST

/* A join's result: a struct of its own, never registered with the db. */
typedef struct user_post {
    char *name;
    char *title;
    int64_t views;
    char *email;
} user_post;
static const orm_field user_post_fields[] = {
    ORM_FIELD(user_post, name, ORM_FIELD_TEXT, ORM_FIELD_PK),
    ORM_FIELD(user_post, title, ORM_FIELD_TEXT, 0),
    ORM_FIELD(user_post, views, ORM_FIELD_INT64, 0),
    ORM_FIELD(user_post, email, ORM_FIELD_TEXT, 0),
};
static const size_t user_post_pk[] = { 0 };
static const orm_model user_post_model =
    ORM_MODEL(user_post, "user_posts", user_post_fields, user_post_pk);

START_TEST(test_raw_join_into_struct)
{
    it_seed();
    orm_list list = ORM_LIST_INIT;
    orm_value min = orm_int(5);
    ck_assert_ok(orm_raw_all(it_s, NULL, &user_post_model, &list,
                             sql("SELECT u.name AS name, p.title AS title, p.views AS views, "
                                 "u.email AS email FROM users u JOIN posts p ON p.user_id = u.id "
                                 "WHERE p.views >= ? ORDER BY p.id"), &min, 1, NULL));
    ck_assert_uint_eq(list.count, 4);
    static const char *const names[] = { "ada", "ada", "bob", "dee" };
    static const char *const titles[] = { "hello", "again", "bob's", "big" };
    static const int64_t views[] = { 10, 20, 5, 100 };
    for (size_t i = 0; i < 4; i++) {
        user_post *r = orm_list_at(&list, i);
        ck_assert_str_eq(r->name, names[i]);
        ck_assert_str_eq(r->title, titles[i]);
        ck_assert_int_eq(r->views, views[i]);
    }
    ck_assert_ptr_null(((user_post *)orm_list_at(&list, 2))->email); /* bob has no email */
    orm_list_clear(&list);
}
END_TEST

START_TEST(test_raw_cursor_every_type_and_nulls)
{
    static const unsigned char blob[] = { 0, 1, 0xfe, 0xff };
    it_alltypes full;
    memset(&full, 0, sizeof full);
    full.i16 = -12; full.has_i16 = true;
    full.i32 = 123456; full.has_i32 = true;
    full.i64 = INT64_C(-9000000000); full.has_i64 = true;
    full.d = 2.5; full.has_d = true;
    full.b = true; full.has_b = true;
    full.t = (char *)"h\xc3\xa9llo";
    full.bl.data = (void *)blob;
    full.bl.len = sizeof blob;
    ck_assert_ok(orm_timestamp_parse(&full.ts, "2026-11-22 03:57:47.123456", 26));
    full.has_ts = true;
    it_alltypes empty;
    memset(&empty, 0, sizeof empty);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &full));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &empty));

    orm_rows *r;
    ck_assert_ok(orm_raw_rows(it_s, NULL, "SELECT i16, i32, i64, d, b, t, bl, ts FROM all_types "
                              "ORDER BY id", NULL, 0, &r));
    ck_assert_uint_eq(orm_rows_ncols(r), 8);
    static const char *const cols[] = { "i16", "i32", "i64", "d", "b", "t", "bl", "ts" };
    for (size_t k = 0; k < 8; k++)
        ck_assert_str_eq(orm_rows_name(r, k), cols[k]);
    ck_assert_ptr_null(orm_rows_name(r, 8));

    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), -12);
    ck_assert_int_eq(orm_rows_type(r, 0), ORM_VALUE_INT);
    ck_assert_int_eq(orm_rows_int(r, 1), 123456);
    ck_assert_int_eq(orm_rows_int(r, 2), INT64_C(-9000000000));
    ck_assert_int_eq(orm_rows_type(r, 3), ORM_VALUE_DOUBLE);
    ck_assert_double_eq(orm_rows_double(r, 3), 2.5);
    ck_assert_int_eq(orm_rows_int(r, 4), 1); /* bool: BOOL on postgres, INT on sqlite */
    ck_assert(orm_rows_type(r, 4) == (it_is_postgres() ? ORM_VALUE_BOOL : ORM_VALUE_INT));
    size_t len = 0;
    ck_assert_int_eq(orm_rows_type(r, 5), ORM_VALUE_TEXT);
    ck_assert_str_eq(orm_rows_text(r, 5, &len), "h\xc3\xa9llo");
    ck_assert_uint_eq(len, 6);
    ck_assert_int_eq(orm_rows_type(r, 6), ORM_VALUE_BLOB);
    const unsigned char *p = orm_rows_blob(r, 6, &len);
    ck_assert_uint_eq(len, sizeof blob);
    ck_assert_int_eq(memcmp(p, blob, sizeof blob), 0);
    ck_assert(orm_rows_type(r, 7) == (it_is_postgres() ? ORM_VALUE_TIMESTAMP : ORM_VALUE_TEXT));
    ck_assert_str_eq(orm_rows_text(r, 7, NULL), "2026-11-22 03:57:47.123456");
    for (size_t k = 0; k < 8; k++)
        ck_assert(!orm_rows_is_null(r, k));

    ck_assert_int_eq(orm_rows_next(r), 1);
    for (size_t k = 0; k < 8; k++) {
        ck_assert_msg(orm_rows_is_null(r, k), "column %zu", k);
        ck_assert_int_eq(orm_rows_type(r, k), ORM_VALUE_NULL);
        ck_assert_int_eq(orm_rows_int(r, k), 0);
    }
    ck_assert_ptr_null(orm_rows_text(r, 5, NULL));
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);

    /* and the same rows mapped back into the model by name */
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_raw_all(it_s, NULL, &it_alltypes_model, &list,
                             "SELECT * FROM all_types ORDER BY id", NULL, 0, NULL));
    ck_assert_uint_eq(list.count, 2);
    it_alltypes *a = orm_list_at(&list, 0), *b = orm_list_at(&list, 1);
    ck_assert(a->has_i16 && a->i16 == -12 && a->has_b && a->b && a->ts == full.ts);
    ck_assert_uint_eq(a->bl.len, sizeof blob);
    ck_assert(!b->has_i16 && !b->has_ts && !b->t && !b->bl.data);
    orm_list_clear(&list);
}
END_TEST

/* Issue 19 item 10: a timestamp no builder could write (outside years 1..9999, PostgreSQL's
 * infinity included) is ORM_ETYPE when raw SQL maps it into a struct, on both backends. */
START_TEST(test_raw_timestamp_out_of_range)
{
    it_alltypes a;
    memset(&a, 0, sizeof a);
    const char *pg[] = { "SELECT 1 AS id, '10000-01-01'::timestamp AS ts",
                         "SELECT 1 AS id, 'infinity'::timestamptz AS ts",
                         "SELECT 1 AS id, '0044-03-15 BC'::date AS ts" };
    /* SQLite: integers are Unix seconds, text the ISO form */
    const char *lite[] = { "SELECT 1 AS id, 253402300800 AS ts", "SELECT 1 AS id, -62135596801 AS ts",
                           "SELECT 1 AS id, '10000-01-01 00:00:00' AS ts" };
    const char *const *sql = it_is_postgres() ? pg : lite;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_orm(orm_raw_get(it_s, NULL, &it_alltypes_model, &a, sql[i], NULL, 0, NULL), ORM_ETYPE);
        ck_assert_msg(it_msg_has("ts"), "%s", orm_error_last()->message);
    }
    const char *ok = it_is_postgres() ? "SELECT 1 AS id, '9999-12-31 23:59:59.999999'::timestamp AS ts"
                                      : "SELECT 1 AS id, '9999-12-31 23:59:59.999999' AS ts";
    ck_assert_ok(orm_raw_get(it_s, NULL, &it_alltypes_model, &a, ok, NULL, 0, NULL));
    ck_assert_int_eq(a.ts, ORM_TIMESTAMP_MAX);
    orm_model_clear(&it_alltypes_model, &a);
}
END_TEST

Suite *it_raw_suite(void)
{
    Suite *s = suite_create("raw");
    TCase *tc = it_tcase("raw");
    tcase_add_test(tc, test_raw_exec_affected);
    tcase_add_test(tc, test_raw_get_and_all);
    tcase_add_test(tc, test_raw_join_into_struct);
    tcase_add_test(tc, test_raw_cursor_every_type_and_nulls);
    tcase_add_test(tc, test_raw_timestamp_out_of_range);
    suite_add_tcase(s, tc);
    return s;
}

#ifndef ORM_IT_COMBINED
int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_raw_suite());
}
#endif
