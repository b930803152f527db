/* Integration: insert, get, update, delete of whole structs, many-row inserts, SET_ONLY and
 * explicit columns (database defaults), upserts and RETURNING. Every test reads back what it
 * wrote and checks values, counts and codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "it.h"

/* Compare a loaded user with the struct that was written. */
static void assert_user_eq(const it_user *got, const it_user *want)
{
    ck_assert_int_eq(got->id, want->id);
    ck_assert_str_eq(got->name, want->name);
    if (want->email)
        ck_assert_str_eq(got->email, want->email);
    else
        ck_assert_ptr_null(got->email);
    ck_assert_int_eq(got->has_age, want->has_age);
    if (want->has_age)
        ck_assert_int_eq(got->age, want->age);
    ck_assert_double_eq(got->score, want->score);
    ck_assert_int_eq(got->active, want->active);
    ck_assert_int_eq(got->has_created_at, want->has_created_at);
    if (want->has_created_at)
        ck_assert_int_eq(got->created_at, want->created_at);
    if (want->avatar.data) {
        ck_assert_ptr_nonnull(got->avatar.data);
        ck_assert_uint_eq(got->avatar.len, want->avatar.len);
        ck_assert_mem_eq(got->avatar.data, want->avatar.data, want->avatar.len);
    } else {
        ck_assert_ptr_null(got->avatar.data);
    }
}

START_TEST(insert_one_writes_back_id_and_get_reads_it)
{
    static const unsigned char pic[] = { 0x89, 'P', 'N', 'G', 0, 1, 2, 0xff };
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 90.25, true);
    a.created_at = 1700000000123456;
    a.has_created_at = true;
    a.avatar.data = (void *)pic;
    a.avatar.len = sizeof pic;
    it_user b = it_user_make("bob", NULL, 0, false, -1.5, false);

    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    ck_assert_int_gt(a.id, 0);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &b));
    ck_assert_int_gt(b.id, a.id);

    it_user got;
    it_user_load(a.id, &got);
    assert_user_eq(&got, &a);
    orm_model_clear(&it_user_model, &got);
    it_user_load(b.id, &got);
    assert_user_eq(&got, &b);
    orm_model_clear(&it_user_model, &got);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
}
END_TEST

START_TEST(get_missing_key_is_enotfound)
{
    it_user a = it_user_make("ada", NULL, 1, true, 1, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    it_user got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(a.id + 4242);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &got, &key), ORM_ENOTFOUND);
    ck_assert_int_eq(orm_error_last()->code, ORM_ENOTFOUND);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(update_one_changes_only_its_row)
{
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 90.5, true);
    it_user b = it_user_make("bob", "bob@example.com", 25, true, 70, false);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &b));

    a.name = (char *)"ada lovelace";
    a.email = NULL;
    a.has_age = false;
    a.score = 12.75;
    a.active = false;
    a.created_at = -86400000000LL; /* 1969-12-31 */
    a.has_created_at = true;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &a));

    it_user got;
    it_user_load(a.id, &got);
    assert_user_eq(&got, &a);
    orm_model_clear(&it_user_model, &got);
    it_user_load(b.id, &got);
    assert_user_eq(&got, &b);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(update_one_missing_key_is_enotfound)
{
    it_user a = it_user_make("ada", NULL, 36, true, 1, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    it_user ghost = a;
    ghost.id = a.id + 1000;
    ghost.name = (char *)"ghost";
    ck_assert_orm(orm_update_one(it_s, NULL, &it_user_model, &ghost), ORM_ENOTFOUND);
    it_user got;
    it_user_load(a.id, &got);
    ck_assert_str_eq(got.name, "ada");
    orm_model_clear(&it_user_model, &got);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
}
END_TEST

START_TEST(delete_one_removes_its_row_then_enotfound)
{
    it_user a = it_user_make("ada", NULL, 36, true, 1, true);
    it_user b = it_user_make("bob", NULL, 25, true, 2, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &b));
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &a));

    it_user got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(a.id);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &got, &key), ORM_ENOTFOUND);
    ck_assert_orm(orm_delete_one(it_s, NULL, &it_user_model, &a), ORM_ENOTFOUND);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
    it_user_load(b.id, &got);
    ck_assert_str_eq(got.name, "bob");
    orm_model_clear(&it_user_model, &got);
}
END_TEST

enum { MANY = 1000 };

START_TEST(insert_many_writes_back_every_id_in_order)
{
    static it_user rows[MANY];
    static char names[MANY][16];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "user%04d", i);
        rows[i] = it_user_make(names[i], (i % 3) ? NULL : names[i], i, i % 2 == 0, i * 0.5,
                               i % 5 == 0);
    }
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(q, rows, MANY));
    int64_t affected = -1;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, MANY);
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_gt(rows[i].id, 0);
        if (i > 0)
            ck_assert_int_gt(rows[i].id, rows[i - 1].id);
    }

    orm_select *sel = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(sel, "id", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(sel, NULL, &list));
    orm_select_free(sel);
    ck_assert_uint_eq(list.count, MANY);
    for (int i = 0; i < MANY; i++) {
        const it_user *u = orm_list_at(&list, (size_t)i);
        ck_assert_int_eq(u->id, rows[i].id);
        ck_assert_str_eq(u->name, names[i]);
        ck_assert_int_eq(u->has_age, rows[i].has_age);
        if (u->has_age)
            ck_assert_int_eq(u->age, i);
        ck_assert_double_eq(u->score, i * 0.5);
        ck_assert_int_eq(u->active, i % 5 == 0);
        if (i % 3)
            ck_assert_ptr_null(u->email);
        else
            ck_assert_str_eq(u->email, names[i]);
    }
    orm_list_clear(&list);
}
END_TEST

START_TEST(set_only_lets_database_defaults_apply)
{
    int64_t now_us = (int64_t)time(NULL) * 1000000;
    it_user u = it_user_make("defaulted", NULL, 99, false, 1, true); /* has_age false */
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_mode_set(q, ORM_INSERT_SET_ONLY));
    ck_assert_ok(orm_insert_add(q, &u));
    int64_t affected = 0;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, 1);
    ck_assert_int_gt(u.id, 0);

    it_user got;
    it_user_load(u.id, &got);
    ck_assert(got.has_age);
    ck_assert_int_eq(got.age, 18);
    ck_assert(got.has_created_at);
    /* now, give or take a day (the clocks are the same machine; a day absorbs time zones
     * if a backend got UTC wrong, which the timestamp tests catch precisely). */
    ck_assert_int_lt(llabs(got.created_at - now_us), 86400LL * 1000000);
    ck_assert_ptr_null(got.email);
    orm_model_clear(&it_user_model, &got);

    /* The same struct through ORM_INSERT_ALL writes NULL explicitly: no default. */
    it_user all = it_user_make("explicit-null", NULL, 99, false, 1, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &all));
    it_user_load(all.id, &got);
    ck_assert(!got.has_age);
    ck_assert(!got.has_created_at);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(explicit_columns_insert_only_those)
{
    it_user u = it_user_make("cols", "not-written@example.com", 50, true, 3.5, true);
    static const char *const cols[] = { "name", "score", "active" };
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_columns(q, cols, 3));
    ck_assert_ok(orm_insert_add(q, &u));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);
    ck_assert_int_gt(u.id, 0);

    it_user got;
    it_user_load(u.id, &got);
    ck_assert_str_eq(got.name, "cols");
    ck_assert_double_eq(got.score, 3.5);
    ck_assert(got.active);
    ck_assert_ptr_null(got.email);   /* not inserted: NULL */
    ck_assert(got.has_age);
    ck_assert_int_eq(got.age, 18);   /* not inserted: the default, not 50 */
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(upsert_do_nothing_skips_conflicts)
{
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 90.5, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));

    /* A conflicting row and a new one in the same statement. */
    it_user rows[2] = {
        it_user_make("ada", "other@example.com", 1, true, 0, false),
        it_user_make("zed", NULL, 2, true, 0, false),
    };
    static const char *const conflict[] = { "name" };
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(q, rows, 2));
    ck_assert_ok(orm_insert_on_conflict(q, conflict, 1, ORM_CONFLICT_NOTHING, NULL, 0));
    int64_t affected = -1;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, 1);
    ck_assert_int_eq(rows[0].id, 0); /* skipped: its key left as it was */
    ck_assert_int_gt(rows[1].id, a.id);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);

    it_user got;
    it_user_load(a.id, &got);
    ck_assert_str_eq(got.email, "ada@example.com"); /* unchanged */
    ck_assert_int_eq(got.age, 36);
    orm_model_clear(&it_user_model, &got);
    it_user_load(rows[1].id, &got);
    ck_assert_str_eq(got.name, "zed");
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(upsert_do_update_changes_value_not_count)
{
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 90.5, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));

    /* Conflict on the unique name, update only score and email. */
    it_user again = it_user_make("ada", "new@example.com", 1, true, 1.25, false);
    static const char *const conflict[] = { "name" };
    static const char *const upd[] = { "score", "email" };
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add(q, &again));
    ck_assert_ok(orm_insert_on_conflict(q, conflict, 1, ORM_CONFLICT_UPDATE, upd, 2));
    int64_t affected = -1;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, 1);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
    /* The key written back is the updated row's (write.h: into every added struct). */
    ck_assert_int_eq(again.id, a.id);

    it_user got;
    it_user_load(a.id, &got);
    ck_assert_double_eq(got.score, 1.25);
    ck_assert_str_eq(got.email, "new@example.com");
    ck_assert_int_eq(got.age, 36);  /* not in the update list */
    ck_assert(got.active);
    orm_model_clear(&it_user_model, &got);

    /* Conflict on the key, update_fields NULL: every inserted non-conflict column. */
    it_user byid = it_user_make("ada renamed", NULL, 7, true, 2.5, false);
    byid.id = a.id;
    static const char *const pk[] = { "id" };
    q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add(q, &byid));
    ck_assert_ok(orm_insert_on_conflict(q, pk, 1, ORM_CONFLICT_UPDATE, NULL, 0));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
    it_user_load(a.id, &got);
    ck_assert_str_eq(got.name, "ada renamed");
    ck_assert_ptr_null(got.email);
    ck_assert_int_eq(got.age, 7);
    ck_assert_double_eq(got.score, 2.5);
    ck_assert(!got.active);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(returning_writes_back_database_values)
{
    it_user rows[3] = {
        it_user_make("r0", NULL, 0, false, 1, true),
        it_user_make("r1", NULL, 40, true, 2, true),
        it_user_make("r2", NULL, 0, false, 3, true),
    };
    static const char *const ret[] = { "id", "age", "created_at" };
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_mode_set(q, ORM_INSERT_SET_ONLY));
    ck_assert_ok(orm_insert_add_many(q, rows, 3));
    ck_assert_ok(orm_insert_returning(q, ret, 3));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);

    for (int i = 0; i < 3; i++) {
        ck_assert_int_gt(rows[i].id, 0);
        ck_assert(rows[i].has_age);
        ck_assert_int_eq(rows[i].age, i == 1 ? 40 : 18);
        ck_assert(rows[i].has_created_at);
        it_user got;
        it_user_load(rows[i].id, &got);
        ck_assert_str_eq(got.name, rows[i].name);
        ck_assert_int_eq(got.age, rows[i].age);
        ck_assert_int_eq(got.created_at, rows[i].created_at);
        orm_model_clear(&it_user_model, &got);
    }
    ck_assert_int_ne(rows[0].id, rows[1].id);
    ck_assert_int_ne(rows[1].id, rows[2].id);

    /* RETURNING through an upsert that updates: the existing row's values come back. */
    it_user again = it_user_make("r1", NULL, 0, false, 5, false);
    static const char *const conflict[] = { "name" };
    static const char *const upd[] = { "score" };
    q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add(q, &again));
    ck_assert_ok(orm_insert_on_conflict(q, conflict, 1, ORM_CONFLICT_UPDATE, upd, 1));
    ck_assert_ok(orm_insert_returning(q, ret, 2));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);
    ck_assert_int_eq(again.id, rows[1].id);
    ck_assert(again.has_age);
    ck_assert_int_eq(again.age, 40);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 3);
}
END_TEST

START_TEST(insert_many_mixing_explicit_and_assigned_keys)
{
    it_user rows[4] = {
        it_user_make("m0", NULL, 0, true, 0, true),
        it_user_make("m1", NULL, 1, true, 1, true),
        it_user_make("m2", NULL, 2, true, 2, true),
        it_user_make("m3", NULL, 3, true, 3, true),
    };
    rows[1].id = 500; /* explicit: written as given */
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(q, rows, 4));
    int64_t affected = -1;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, 4);
    ck_assert_int_eq(rows[1].id, 500);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_gt(rows[i].id, 0);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(rows[i].id, rows[j].id);
        it_user got;
        it_user_load(rows[i].id, &got);
        ck_assert_str_eq(got.name, rows[i].name);
        ck_assert_int_eq(got.age, i);
        orm_model_clear(&it_user_model, &got);
    }
    /* A later assigned key does not collide with the explicit one. */
    it_user next = it_user_make("next", NULL, 9, true, 9, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &next));
    ck_assert_int_ne(next.id, 500);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
}
END_TEST

enum { HUGE_BATCH = 5000 };

/* 5000 rows x 7 columns is past SQLite's 32766 bound parameters: the batch must be split,
 * and the keys still come back in order. */
START_TEST(insert_many_past_the_parameter_limit)
{
    it_user *rows = calloc(HUGE_BATCH, sizeof *rows);
    char (*names)[16] = calloc(HUGE_BATCH, sizeof *names);
    ck_assert(rows && names);
    for (int i = 0; i < HUGE_BATCH; i++) {
        snprintf(names[i], sizeof names[i], "h%05d", i);
        rows[i] = it_user_make(names[i], names[i], i, true, i, true);
    }
    orm_insert *q = orm_insert_new(it_s, &it_user_model);
    ck_assert_ok(orm_insert_add_many(q, rows, HUGE_BATCH));
    int64_t affected = -1;
    ck_assert_ok(orm_insert_exec(q, NULL, &affected));
    orm_insert_free(q);
    ck_assert_int_eq(affected, HUGE_BATCH);
    ck_assert_int_eq(it_count(&it_user_model, NULL), HUGE_BATCH);

    orm_select *sel = orm_select_new(it_s, &it_user_model);
    ck_assert_ok(orm_select_order_by(sel, "id", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(sel, NULL, &list));
    orm_select_free(sel);
    ck_assert_uint_eq(list.count, HUGE_BATCH);
    for (int i = 0; i < HUGE_BATCH; i++) {
        const it_user *u = orm_list_at(&list, (size_t)i);
        ck_assert_int_eq(u->id, rows[i].id);
        ck_assert_str_eq(u->name, names[i]);
        ck_assert_int_eq(u->age, i);
    }
    orm_list_clear(&list);
    free(rows);
    free(names);
}
END_TEST

Suite *it_crud_suite(void)
{
    Suite *s = suite_create("crud");
    TCase *tc = it_tcase("crud");
    tcase_add_test(tc, insert_one_writes_back_id_and_get_reads_it);
    tcase_add_test(tc, get_missing_key_is_enotfound);
    tcase_add_test(tc, update_one_changes_only_its_row);
    tcase_add_test(tc, update_one_missing_key_is_enotfound);
    tcase_add_test(tc, delete_one_removes_its_row_then_enotfound);
    tcase_add_test(tc, insert_many_writes_back_every_id_in_order);
    tcase_add_test(tc, set_only_lets_database_defaults_apply);
    tcase_add_test(tc, explicit_columns_insert_only_those);
    tcase_add_test(tc, upsert_do_nothing_skips_conflicts);
    tcase_add_test(tc, upsert_do_update_changes_value_not_count);
    tcase_add_test(tc, returning_writes_back_database_values);
    tcase_add_test(tc, insert_many_mixing_explicit_and_assigned_keys);
    tcase_add_test(tc, insert_many_past_the_parameter_limit);
    suite_add_tcase(s, tc);
    return s;
}
