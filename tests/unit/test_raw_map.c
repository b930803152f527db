/* Unit tests: orm_raw_get / orm_raw_all (orm/raw.c) mapping edge cases on SQLite in memory —
 * two result columns naming the same field, more columns than fields (ignore_unknown and
 * past the stack map), and a failing row leaving out zeroed and owning nothing. */
#include <stdio.h>
#include <string.h>

#include "builder_models.h"
#include "testutil.h"

static orm_db *db;
static orm_session *s;

static void setup(void)
{
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT "
                                       "NOT NULL, email TEXT, age INTEGER, score REAL NOT NULL)"));
    ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO users VALUES (1, 'ann', 'a@x', 30, 1.5), "
                                       "(2, 'bob', NULL, NULL, 2.5)"));
}

static void teardown(void)
{
    orm_db_close(db);
    db = NULL;
}

/* Two columns for one field: which value would win depends on the column order and the
 * first text would be overwritten (leaked): refused, naming both columns. */
START_TEST(duplicate_column_names_are_refused)
{
    b_user u;
    memset(&u, 0x5a, sizeof u);
    ck_assert_orm(orm_raw_get(s, NULL, &b_user_model, &u,
                              "SELECT id, name, email AS name, score FROM users WHERE id = 1",
                              NULL, 0, NULL), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "\"name\""));
    orm_list l = { 0 };
    ck_assert_orm(orm_raw_all(s, NULL, &b_user_model, &l,
                              "SELECT name, id, name, score FROM users", NULL, 0, NULL), ORM_EINVAL);
    ck_assert_uint_eq(l.count, 0);
    orm_list_clear(&l);
    /* a field reached once by name and once by column name is the same field too */
    ck_assert_orm(orm_raw_get(s, NULL, &b_weird_model, &u,
                              "SELECT 1 AS a, 2 AS b, 'x' AS val, 'y' AS \"va\"\"l\"", NULL, 0, NULL),
                  ORM_EINVAL);
}
END_TEST

/* More columns than fields: skipped with ignore_unknown, also past the 64-column stack map. */
START_TEST(more_columns_than_fields)
{
    char sql[4096];
    int n = snprintf(sql, sizeof sql, "SELECT id, name, score");
    for (int i = 0; i < 70; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %d AS extra%d", i, i);
    snprintf(sql + n, sizeof sql - (size_t)n, " FROM users ORDER BY id");
    orm_list l = { 0 };
    ck_assert_orm(orm_raw_all(s, NULL, &b_user_model, &l, sql, NULL, 0, NULL), ORM_EUNKNOWN_FIELD);
    ck_assert_uint_eq(l.count, 0);
    orm_raw_options o = ORM_RAW_OPTIONS_INIT;
    o.ignore_unknown = 1;
    ck_assert_ok(orm_raw_all(s, NULL, &b_user_model, &l, sql, NULL, 0, &o));
    ck_assert_uint_eq(l.count, 2);
    ck_assert_str_eq(((b_user *)l.items)[1].name, "bob");
    orm_list_clear(&l);
}
END_TEST

/* A row that fails to map (NULL into a NOT NULL text after a text was mapped) leaves out
 * zeroed and owning nothing. */
START_TEST(failed_row_leaves_out_zeroed)
{
    b_user u;
    memset(&u, 0x5a, sizeof u);
    int rc;
    memset(&u, 0x5a, sizeof u);
    rc = orm_raw_get(s, NULL, &b_user_model, &u,
                     "SELECT id, email, 'x' AS name, 'abc' AS age FROM users WHERE id = 1",
                     NULL, 0, NULL);
    if (rc != ORM_OK) {
        b_user zero;
        memset(&zero, 0, sizeof zero);
        ck_assert(memcmp(&u, &zero, sizeof u) == 0);
    } else {
        orm_model_clear(&b_user_model, &u);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("raw_map");
    TCase *tc = tcase_create("raw_map");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, duplicate_column_names_are_refused);
    tcase_add_test(tc, more_columns_than_fields);
    tcase_add_test(tc, failed_row_leaves_out_zeroed);
    suite_add_tcase(su, tc);
    return orm_test_run(su);
}
