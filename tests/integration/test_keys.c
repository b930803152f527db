/* Integration: composite primary keys (get/update/delete by (org_id, user_id), duplicates are
 * ORM_ECONSTRAINT), unknown fields (ORM_EUNKNOWN_FIELD naming the field, and nothing reaches
 * the database: the table is unchanged) and unregistered models. */
#include <string.h>

#include "it.h"

static int get_membership(int32_t org, int64_t user, it_membership *out)
{
    orm_value key[2] = { orm_int(org), orm_int(user) };
    memset(out, 0, sizeof *out);
    return orm_get(it_s, NULL, &it_membership_model, out, key);
}

static void assert_role(int32_t org, int64_t user, const char *role)
{
    it_membership m;
    ck_assert_ok(get_membership(org, user, &m));
    ck_assert_int_eq(m.org_id, org);
    ck_assert_int_eq(m.user_id, user);
    ck_assert_str_eq(m.role, role);
    orm_model_clear(&it_membership_model, &m);
}

START_TEST(composite_key_get_update_delete)
{
    it_seed(); /* (1, ada, owner), (1, bob, member), (2, ada, member) */
    int64_t ada = it_uid[IT_ADA], bob = it_uid[IT_BOB];
    assert_role(1, ada, "owner");
    assert_role(1, bob, "member");
    assert_role(2, ada, "member");
    it_membership m;
    ck_assert_orm(get_membership(2, bob, &m), ORM_ENOTFOUND);

    it_membership upd = { 1, bob, (char *)"admin" };
    ck_assert_ok(orm_update_one(it_s, NULL, &it_membership_model, &upd));
    assert_role(1, bob, "admin");
    assert_role(1, ada, "owner");   /* same org, other user: untouched */
    assert_role(2, ada, "member");  /* same user, other org: untouched */

    it_membership ghost = { 2, bob, (char *)"x" };
    ck_assert_orm(orm_update_one(it_s, NULL, &it_membership_model, &ghost), ORM_ENOTFOUND);
    ck_assert_orm(orm_delete_one(it_s, NULL, &it_membership_model, &ghost), ORM_ENOTFOUND);

    it_membership del = { 1, ada, NULL };
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_membership_model, &del));
    ck_assert_orm(get_membership(1, ada, &m), ORM_ENOTFOUND);
    assert_role(2, ada, "member");
    assert_role(1, bob, "admin");
    ck_assert_int_eq(it_count(&it_membership_model, NULL), 2);

    /* The delete builder by composite key. */
    it_membership bykey = { 2, ada, NULL };
    orm_delete *d = orm_delete_new(it_s, &it_membership_model);
    ck_assert_ok(orm_delete_by_key(d, &bykey));
    int64_t n = -1;
    ck_assert_ok(orm_delete_exec(d, NULL, &n));
    orm_delete_free(d);
    ck_assert_int_eq(n, 1);
    ck_assert_orm(get_membership(2, ada, &m), ORM_ENOTFOUND);
    assert_role(1, bob, "admin");
}
END_TEST

START_TEST(composite_key_duplicate_is_econstraint)
{
    it_seed();
    it_membership dup = { 1, it_uid[IT_ADA], (char *)"again" };
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_membership_model, &dup), ORM_ECONSTRAINT);
    ck_assert_int_eq(orm_error_last()->code, ORM_ECONSTRAINT);
    ck_assert_int_eq(it_count(&it_membership_model, NULL), 3);
    assert_role(1, it_uid[IT_ADA], "owner");

    /* Same user, new org: fine. */
    it_membership other = { 3, it_uid[IT_ADA], (char *)"guest" };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_membership_model, &other));
    ck_assert_int_eq(it_count(&it_membership_model, NULL), 4);

    /* Upsert on the composite key updates the role. */
    it_membership up = { 1, it_uid[IT_BOB], (char *)"owner" };
    orm_insert *q = orm_insert_new(it_s, &it_membership_model);
    ck_assert_ok(orm_insert_add(q, &up));
    ck_assert_ok(orm_insert_on_conflict(q, (const char *const[]){ "org_id", "user_id" }, 2,
                                        ORM_CONFLICT_UPDATE, NULL, 0));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);
    assert_role(1, it_uid[IT_BOB], "owner");
    ck_assert_int_eq(it_count(&it_membership_model, NULL), 4);

    /* A unique text column: duplicate name. */
    it_user dupname = it_user_make("ada", NULL, 1, true, 1, true);
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &dupname), ORM_ECONSTRAINT);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
}
END_TEST

/* Snapshot of the users table: count and ada's row. */
static void assert_users_unchanged(void)
{
    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
    it_user u;
    it_user_load(it_uid[IT_ADA], &u);
    ck_assert_str_eq(u.name, "ada");
    ck_assert_str_eq(u.email, "ada@example.com");
    ck_assert_int_eq(u.age, 36);
    ck_assert_double_eq(u.score, 90.5);
    orm_model_clear(&it_user_model, &u);
}

#define ASSERT_UNKNOWN(call, field)                                                       \
    do {                                                                                  \
        ck_assert_orm((call), ORM_EUNKNOWN_FIELD);                                        \
        ck_assert_msg(it_msg_has(field), "message does not name %s: %s", field,           \
                      orm_error_last()->message);                                         \
    } while (0)

START_TEST(unknown_field_in_select_is_reported_before_the_database)
{
    it_seed();
    orm_list list = ORM_LIST_INIT;
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_select_where(q, orm_eq("no_such_field", orm_int(1)));
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "no_such_field");
    ck_assert_uint_eq(list.count, 0);
    int64_t n = -1;
    /* The error sticks: every run reports it. */
    ASSERT_UNKNOWN(orm_select_count(q, NULL, &n), "no_such_field");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_user_model);
    orm_select_order_by(q, "bogus_order", ORM_ASC);
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "bogus_order");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_user_model);
    orm_select_columns(q, (const char *const[]){ "name", "bogus_col" }, 2);
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "bogus_col");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_user_model);
    orm_select_group_by(q, "bogus_group");
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "bogus_group");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_post_model);
    orm_select_alias(q, "p");
    orm_select_join(q, ORM_JOIN_INNER, &it_user_model, "u", orm_eq_col("p.user_id", "u.nope"));
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "nope");
    orm_select_free(q);

    q = orm_select_new(it_s, &it_post_model);
    orm_select_join_using(q, ORM_JOIN_INNER, &it_user_model, NULL,
                          (const char *const[]){ "user_id" }, 1); /* users has no user_id */
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "user_id");
    orm_select_free(q);

    /* Inside an otherwise valid tree, and inside a subquery. */
    q = orm_select_new(it_s, &it_user_model);
    orm_select_where(q, orm_or(orm_eq("name", orm_text("ada")), orm_is_null("ghost_field")));
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "ghost_field");
    orm_select_free(q);
    orm_select *sub = orm_select_new(it_s, &it_post_model);
    orm_select_columns(sub, (const char *const[]){ "author_id" }, 1);
    q = orm_select_new(it_s, &it_user_model);
    orm_select_where(q, orm_in_select("id", sub));
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "author_id");
    orm_select_free(q);

    /* In a computed column and in HAVING. */
    q = orm_select_new(it_s, &it_user_model);
    orm_select_expr(q, orm_sum("bogus_sum"), "s");
    int64_t v = 0;
    ASSERT_UNKNOWN(orm_select_scalar_int(q, NULL, &v, NULL), "bogus_sum");
    orm_select_free(q);
    q = orm_select_new(it_s, &it_user_model);
    orm_select_group_by(q, "age");
    orm_select_having(q, orm_gt("bogus_having", orm_int(1)));
    ASSERT_UNKNOWN(orm_select_all(q, NULL, &list), "bogus_having");
    orm_select_free(q);
    orm_list_clear(&list);
}
END_TEST

START_TEST(unknown_field_in_writes_changes_nothing)
{
    it_seed();
    int64_t n = -1;
    /* UPDATE with a valid SET and an unknown WHERE field: rendering it partially would
     * update every row. */
    orm_update *up = orm_update_new(it_s, &it_user_model);
    orm_update_set(up, "email", orm_text("pwned@example.com"));
    orm_update_where(up, orm_eq("no_such_where", orm_int(1)));
    ASSERT_UNKNOWN(orm_update_exec(up, NULL, &n), "no_such_where");
    orm_update_free(up);
    assert_users_unchanged();

    up = orm_update_new(it_s, &it_user_model);
    orm_update_set_expr(up, "score", orm_binop(ORM_OP_ADD, orm_col("no_such_expr"),
                                               orm_val(orm_int(1))));
    orm_update_where(up, orm_eq("name", orm_text("ada")));
    ASSERT_UNKNOWN(orm_update_exec(up, NULL, &n), "no_such_expr");
    orm_update_free(up);
    assert_users_unchanged();

    up = orm_update_new(it_s, &it_user_model);
    orm_update_set(up, "no_such_set", orm_int(1));
    orm_update_where(up, orm_eq("name", orm_text("ada")));
    ASSERT_UNKNOWN(orm_update_exec(up, NULL, &n), "no_such_set");
    orm_update_free(up);
    assert_users_unchanged();

    /* DELETE whose WHERE names an unknown field: must not become DELETE FROM users. */
    orm_delete *del = orm_delete_new(it_s, &it_user_model);
    orm_delete_where(del, orm_ne("no_such_del", orm_int(0)));
    ASSERT_UNKNOWN(orm_delete_exec(del, NULL, &n), "no_such_del");
    orm_delete_free(del);
    assert_users_unchanged();
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);

    /* INSERT with an unknown column, and an unknown conflict target. */
    it_user u = it_user_make("mallory", NULL, 1, true, 1, true);
    orm_insert *ins = orm_insert_new(it_s, &it_user_model);
    orm_insert_columns(ins, (const char *const[]){ "name", "no_such_col" }, 2);
    orm_insert_add(ins, &u);
    ASSERT_UNKNOWN(orm_insert_exec(ins, NULL, &n), "no_such_col");
    orm_insert_free(ins);
    ins = orm_insert_new(it_s, &it_user_model);
    orm_insert_add(ins, &u);
    orm_insert_on_conflict(ins, (const char *const[]){ "no_such_key" }, 1, ORM_CONFLICT_NOTHING,
                           NULL, 0);
    ASSERT_UNKNOWN(orm_insert_exec(ins, NULL, &n), "no_such_key");
    orm_insert_free(ins);
    ck_assert_int_eq(u.id, 0);
    assert_users_unchanged();
}
END_TEST

static const orm_field stranger_fields[] = {
    ORM_FIELD(it_post, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(it_post, title, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
};
static const size_t stranger_pk[] = { 0 };
/* A valid model that is never registered (its table does not even exist). */
static const orm_model stranger_model = ORM_MODEL(it_post, "strangers", stranger_fields,
                                                  stranger_pk);

START_TEST(unregistered_model_is_refused)
{
    ck_assert(!orm_db_is_registered(it_db, &stranger_model));
    ck_assert(orm_db_is_registered(it_db, &it_user_model));
    ck_assert_ptr_eq(orm_db_model(it_db, "users"), &it_user_model);
    orm_select *q = orm_select_new(it_s, &stranger_model);
    orm_list list = ORM_LIST_INIT;
    ck_assert_orm(orm_select_all(q, NULL, &list), ORM_EINVAL);
    orm_select_free(q);
    it_post p = { 0, 0, (char *)"t", 0 };
    ck_assert_orm(orm_insert_one(it_s, NULL, &stranger_model, &p), ORM_EINVAL);
}
END_TEST

Suite *it_keys_suite(void)
{
    Suite *s = suite_create("keys_and_fields");
    TCase *tc = it_tcase("keys_and_fields");
    tcase_add_test(tc, composite_key_get_update_delete);
    tcase_add_test(tc, composite_key_duplicate_is_econstraint);
    tcase_add_test(tc, unknown_field_in_select_is_reported_before_the_database);
    tcase_add_test(tc, unknown_field_in_writes_changes_nothing);
    tcase_add_test(tc, unregistered_model_is_refused);
    suite_add_tcase(s, tc);
    return s;
}
