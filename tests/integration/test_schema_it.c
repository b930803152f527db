/* Integration: orm_db_verify and the verify_models option against live tables on the backend
 * ORM_TEST_DSN names: matching tables pass, and a missing table, a missing column and a
 * retyped column are each ORM_ESCHEMA naming table.column. */
#include <string.h>

#include "it.h"

/* A model of "posts" that drifted from it: views became text, rating was never added. */
typedef struct drift_post {
    int64_t id;
    char *title;
    char *views;
    double rating;
} drift_post;

static const orm_field drift_post_fields[] = {
    ORM_FIELD(drift_post, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(drift_post, title, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(drift_post, views, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(drift_post, rating, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
};
static const size_t drift_post_pk[] = { 0 };
static const orm_model drift_post_model = ORM_MODEL(drift_post, "posts", drift_post_fields, drift_post_pk);

/* The same struct over a table nobody created. */
static const orm_model ghost_model = ORM_MODEL(drift_post, "no_such_table", drift_post_fields, drift_post_pk);

/* posts.views held in 32 bits: PostgreSQL's bigint does not fit, SQLite's INTEGER is any
 * integer. */
typedef struct narrow_post {
    int64_t id;
    int32_t views;
} narrow_post;

static const orm_field narrow_post_fields[] = {
    ORM_FIELD(narrow_post, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(narrow_post, views, ORM_FIELD_INT32, ORM_FIELD_NOT_NULL),
};
static const size_t narrow_post_pk[] = { 0 };
static const orm_model narrow_post_model =
    ORM_MODEL(narrow_post, "posts", narrow_post_fields, narrow_post_pk);

START_TEST(matching_tables_pass)
{
    /* the hand-written models over both backends' DDL: SQLite's integer booleans and text
     * timestamps, PostgreSQL's bigserial, boolean and timestamp all hold */
    ck_assert_ok(orm_db_verify(it_db, NULL, &it_user_model));
    ck_assert_ok(orm_db_verify(it_db, NULL, &it_post_model));
    ck_assert_ok(orm_db_verify(it_db, NULL, &it_membership_model));
    ck_assert_ok(orm_db_verify(it_db, NULL, &it_alltypes_model));
    ck_assert_ok(orm_db_verify(it_db, NULL, &it_nn_mismatch_model)); /* nullability is not drift */
}
END_TEST

START_TEST(retyped_column)
{
    ck_assert_orm(orm_db_verify(it_db, NULL, &it_type_mismatch_model), ORM_ESCHEMA);
    ck_assert_int_eq(orm_error_last()->code, ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("type_mismatch.amount"), "%s", orm_error_last()->message);
    ck_assert_msg(it_msg_has("INT64"), "%s", orm_error_last()->message);
    ck_assert_msg(!it_msg_has("type_mismatch.label"), "%s", orm_error_last()->message);
    ck_assert_str_eq(orm_strerror(ORM_ESCHEMA), "schema drift");

    if (it_is_postgres()) {
        ck_assert_orm(orm_db_verify(it_db, NULL, &narrow_post_model), ORM_ESCHEMA);
        ck_assert_msg(it_msg_has("posts.views"), "%s", orm_error_last()->message);
    } else {
        ck_assert_ok(orm_db_verify(it_db, NULL, &narrow_post_model));
    }

    /* retyped after the model was written */
    ck_assert_ok(orm_exec_sql(it_s, NULL, "DROP TABLE memberships"));
    ck_assert_ok(orm_exec_sql(it_s, NULL, "CREATE TABLE memberships (org_id integer NOT NULL, "
                                          "user_id bigint NOT NULL, role bytea NOT NULL, "
                                          "PRIMARY KEY (org_id, user_id))"));
    ck_assert_orm(orm_db_verify(it_db, NULL, &it_membership_model), ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("memberships.role"), "%s", orm_error_last()->message);
}
END_TEST

START_TEST(missing_column)
{
    ck_assert_ok(orm_exec_sql(it_s, NULL, "ALTER TABLE memberships DROP COLUMN role"));
    ck_assert_orm(orm_db_verify(it_db, NULL, &it_membership_model), ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("memberships.role is missing"), "%s", orm_error_last()->message);

    /* every drifted column is named, the matching ones are not */
    ck_assert_orm(orm_db_verify(it_db, NULL, &drift_post_model), ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("posts.rating is missing"), "%s", orm_error_last()->message);
    ck_assert_msg(it_msg_has("posts.views is"), "%s", orm_error_last()->message);
    ck_assert_msg(!it_msg_has("posts.title"), "%s", orm_error_last()->message);
    ck_assert_msg(!it_msg_has("posts.id"), "%s", orm_error_last()->message);
}
END_TEST

START_TEST(missing_table)
{
    ck_assert_orm(orm_db_verify(it_db, NULL, &ghost_model), ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("table no_such_table"), "%s", orm_error_last()->message);
    ck_assert_msg(it_msg_has("missing"), "%s", orm_error_last()->message);
}
END_TEST

START_TEST(register_option_refuses_drift)
{
    orm_db_options opts;
    ck_assert_ok(orm_db_options_init(&opts, ORM_DB_OPTIONS_VERSION));
    ck_assert_int_eq(opts.verify_models, 0);
    opts.verify_models = 1;
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, it_dsn(), &opts));
    ck_assert_ok(orm_db_register(db, &it_user_model));
    ck_assert_orm(orm_db_register(db, &it_type_mismatch_model), ORM_ESCHEMA);
    ck_assert_msg(it_msg_has("type_mismatch.amount"), "%s", orm_error_last()->message);
    ck_assert_int_eq(orm_db_is_registered(db, &it_type_mismatch_model), 0);
    ck_assert_orm(orm_db_register(db, &ghost_model), ORM_ESCHEMA);
    ck_assert_int_eq(orm_db_is_registered(db, &ghost_model), 0);
    orm_db_close(db);

    /* without the option (and with a version 2 struct, which has no such field) the same
     * models register: drift is then found at the first statement */
    ck_assert_ok(orm_db_options_init(&opts, 2));
    ck_assert_ok(orm_db_open(&db, it_dsn(), &opts));
    ck_assert_ok(orm_db_register(db, &ghost_model));
    orm_db_close(db);
}
END_TEST

START_TEST(verify_arguments)
{
    ck_assert_orm(orm_db_verify(NULL, NULL, &it_user_model), ORM_EINVAL);
    ck_assert_orm(orm_db_verify(it_db, NULL, NULL), ORM_EINVAL);
}
END_TEST

Suite *it_schema_suite(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = it_tcase("schema");
    tcase_add_test(tc, matching_tables_pass);
    tcase_add_test(tc, retyped_column);
    tcase_add_test(tc, missing_column);
    tcase_add_test(tc, missing_table);
    tcase_add_test(tc, register_option_refuses_drift);
    tcase_add_test(tc, verify_arguments);
    suite_add_tcase(s, tc);
    return s;
}
