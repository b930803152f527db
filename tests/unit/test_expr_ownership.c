/* Expression ownership: a thousand random trees (fixed seed) freed directly, attached to
 * builders and freed, and attached, rendered in both dialects and freed — ASan's leak check
 * is the assertion; then every allocation of building and rendering a nested select fails in
 * turn: ORM_ENOMEM or ORM_OK, never a crash or a leak. Also run paths on sqlite::memory:. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder_models.h"
#include "orm/alloc.h"
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

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng >> 33) % n);
}

static const char *const fields[] = { "id", "name", "email", "age", "score", "users.id", "bogus" };

static const char *field(void) { return fields[rnd(7)]; }

static orm_value value(void)
{
    static const char text[] = "text with 'quotes' and ? marks";
    switch (rnd(5)) {
    case 0: return orm_int((int64_t)rnd(1000));
    case 1: return orm_double(rnd(100) / 4.0);
    case 2: return orm_text_n(text, rnd(sizeof text));
    case 3: return orm_blob_n(text, rnd(8));
    default: return orm_null();
    }
}

static orm_expr *tree(int depth);

static orm_select *subselect(int depth)
{
    orm_select *q = orm_select_new(s, rnd(2) ? &b_order_model : &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    if (depth > 0)
        orm_select_where(q, tree(depth - 1));
    return q;
}

static orm_expr *term(void)
{
    switch (rnd(4)) {
    case 0: return orm_col(field());
    case 1: return orm_val(value());
    case 2: return orm_aggregate((orm_agg)rnd(5), rnd(2) ? orm_col(field()) : NULL, (int)rnd(2));
    default: {
        orm_value a[2] = { value(), value() };
        return orm_raw_expr("coalesce(?, ?)", a, 2);
    }
    }
}

static orm_expr *tree(int depth)
{
    if (depth <= 0)
        return rnd(3) ? orm_eq(field(), value()) : orm_is_null(field());
    orm_value vals[4] = { value(), value(), value(), value() };
    switch (rnd(16)) {
    case 0: return orm_and(tree(depth - 1), tree(depth - 1));
    case 1: return orm_or(tree(depth - 1), tree(depth - 1));
    case 2: return orm_not(tree(depth - 1));
    case 3: {
        orm_expr *l[3] = { tree(depth - 1), tree(depth - 1), tree(depth - 1) };
        return rnd(2) ? orm_and_all(l, 3) : orm_or_all(l, 3);
    }
    case 4: return orm_binop((orm_op)rnd(10), term(), term());
    case 5: return orm_binop(ORM_OP_LT, orm_binop((orm_op)(ORM_OP_ADD + rnd(4)), term(), term()), term());
    case 6: return rnd(2) ? orm_like(field(), vals[0]) : orm_not_like(field(), vals[0]);
    case 7: return orm_between(field(), vals[0], vals[1]);
    case 8: return rnd(2) ? orm_in(field(), vals, rnd(5)) : orm_not_in(field(), vals, rnd(5));
    case 9: return rnd(2) ? orm_exists(subselect(depth - 1)) : orm_not_exists(subselect(depth - 1));
    case 10: return rnd(2) ? orm_in_select(field(), subselect(depth - 1)) : orm_not_in_select(field(), subselect(depth - 1));
    case 11: return orm_eq_col(field(), field());
    case 12: return orm_is_not_null(field());
    case 13: return orm_and(tree(depth - 1), NULL);
    default: return tree(depth - 1);
    }
}

START_TEST(random_trees)
{
    rng = 42;
    int ok = 0, failed = 0;
    for (int i = 0; i < 1000; i++) {
        orm_expr *e = tree((int)rnd(6));
        switch (i % 3) {
        case 0:
            orm_expr_free(e);
            break;
        case 1: {
            orm_select *q = orm_select_new(s, &b_user_model);
            orm_select_where(q, e);
            orm_select_free(q);
            break;
        }
        default: {
            orm_select *q = orm_select_new(s, &b_user_model);
            if (rnd(2))
                orm_select_join(q, ORM_JOIN_LEFT, &b_order_model, "o", orm_eq_col("id", "o.user_id"));
            orm_select_where(q, e);
            orm_select_having(q, rnd(2) ? tree(1) : orm_count_all());
            for (int d = 0; d < 2; d++) {
                orm_sql out = ORM_SQL_INIT;
                int rc = orm_select_to_sql(q, d ? orm_dialect_postgres() : orm_dialect_sqlite(), &out);
                ck_assert_msg(rc == ORM_OK || rc == ORM_EUNKNOWN_FIELD || rc == ORM_EINVAL || rc == ORM_ENOMEM ||
                                  rc == ORM_ETYPE,
                              "rc %d", rc);
                ok += rc == ORM_OK;
                failed += rc != ORM_OK;
                ck_assert(rc == ORM_OK || out.text == NULL);
                orm_sql_clear(&out);
            }
            orm_select_free(q);
            break;
        }
        }
    }
    ck_assert_int_gt(ok, 0);
    ck_assert_int_gt(failed, 0);
}
END_TEST

/* Build and render the nested select; ORM_OK or an error code. */
static int build_nested(void)
{
    orm_value in[] = { orm_int(1), orm_int(2), orm_int(3) };
    orm_value two = orm_text("two");
    orm_select *sub = orm_select_new(s, &b_order_model);
    orm_select_columns(sub, (const char *[]){ "user_id" }, 1);
    orm_select_where(sub, orm_and(orm_eq_col("user_id", "users.id"), orm_gt("total", orm_double(1))));
    orm_select *q = orm_select_new(s, &b_user_model);
    if (!q) {
        orm_select_free(sub);
        return ORM_ENOMEM;
    }
    orm_select_columns(q, (const char *[]){ "id", "name" }, 2);
    orm_select_expr(q, orm_raw_expr("length(?)", &two, 1), "len");
    orm_select_where(q, orm_or(orm_and(orm_like("name", orm_text("a%")), orm_in("id", in, 3)),
                               orm_not(orm_exists(sub))));
    orm_select_where(q, orm_between("age", orm_int(1), orm_int(9)));
    orm_select_order_by(q, "name", ORM_DESC);
    orm_select_group_by(q, "id");
    orm_select_limit(q, 3);
    orm_sql out = ORM_SQL_INIT;
    int rc = orm_select_to_sql(q, orm_dialect_postgres(), &out);
    orm_sql_clear(&out);
    orm_select_free(q);
    return rc;
}

START_TEST(allocation_failures)
{
    long n = 0;
    for (;; n++) {
        orm__alloc_fail_after(n);
        int rc = build_nested();
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        ck_assert_msg(rc == ORM_OK || rc == ORM_ENOMEM, "fail after %ld: rc %d (%s)", n, rc,
                      orm_error_last()->message);
        if (!injected) {
            ck_assert_ok(rc);
            break;
        }
    }
    ck_assert_int_gt(n, 20);
}
END_TEST

/* Insert, write-back and read back on sqlite::memory:, through the builders and fast paths. */
START_TEST(run_paths)
{
    b_user a = { 0, "ada", "a@x", 36, true, 1.5 };
    ck_assert_ok(orm_insert_one(s, NULL, &b_user_model, &a));
    ck_assert_int_eq(a.id, 1);
    b_user many[3] = { { 0, "bob", NULL, 0, false, 2 }, { 0, "cy", "c@x", 40, true, 3 }, { 0, "di", NULL, 0, false, 4 } };
    orm_insert *ins = orm_insert_new(s, &b_user_model);
    orm_insert_mode_set(ins, ORM_INSERT_SET_ONLY);
    orm_insert_add_many(ins, many, 3);
    orm_insert_returning(ins, (const char *[]){ "score" }, 1);
    int64_t n = 0;
    ck_assert_ok(orm_insert_exec(ins, NULL, &n));
    ck_assert_int_eq(n, 3);
    orm_insert_free(ins);
    ck_assert_int_eq(many[0].id, 2);
    ck_assert_int_eq(many[1].id, 3);
    ck_assert_int_eq(many[2].id, 4);

    orm_value key = orm_int(3);
    b_user got = { 0 };
    ck_assert_ok(orm_get(s, NULL, &b_user_model, &got, &key));
    ck_assert_str_eq(got.name, "cy");
    ck_assert(got.has_age && got.age == 40);
    orm_model_clear(&b_user_model, &got);

    a.score = 9;
    ck_assert_ok(orm_update_one(s, NULL, &b_user_model, &a));
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name", "score" }, 2);
    orm_select_where(q, orm_ge("score", orm_double(3)));
    orm_select_order_by(q, "score", ORM_DESC);
    orm_list l = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &l));
    ck_assert_uint_eq(l.count, 3);
    b_user *first = orm_list_at(&l, 0);
    ck_assert_str_eq(first->name, "ada");
    ck_assert_int_eq(first->id, 0); /* not selected */
    ck_assert_ptr_null(orm_list_at(&l, 3));
    int64_t c = 0;
    ck_assert_ok(orm_select_count(q, NULL, &c));
    ck_assert_int_eq(c, 3);
    orm_list_clear(&l);
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_expr(q, orm_sum("score"), NULL);
    double sum = 0;
    bool isnull = true;
    ck_assert_ok(orm_select_scalar_double(q, NULL, &sum, &isnull));
    ck_assert(!isnull);
    ck_assert_double_eq(sum, 9 + 2 + 3 + 4);
    orm_select_free(q);

    ck_assert_ok(orm_delete_one(s, NULL, &b_user_model, &a));
    ck_assert_ok(orm_get(s, NULL, &b_user_model, &got, &key));
    orm_model_clear(&b_user_model, &got);

    /* Composite key, quoted names, no AUTOINCREMENT. */
    b_weird w = { 1, 2, "v" };
    ck_assert_ok(orm_insert_one(s, NULL, &b_weird_model, &w));
    w.val = "w";
    ck_assert_ok(orm_update_one(s, NULL, &b_weird_model, &w));
    orm_value wk[2] = { orm_int(1), orm_int(2) };
    b_weird wg = { 0 };
    ck_assert_ok(orm_get(s, NULL, &b_weird_model, &wg, wk));
    ck_assert_str_eq(wg.val, "w");
    orm_model_clear(&b_weird_model, &wg);
    ck_assert_ok(orm_delete_one(s, NULL, &b_weird_model, &w));
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("expr_ownership");
    TCase *tc = tcase_create("ownership");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, random_trees);
    tcase_add_test(tc, allocation_failures);
    tcase_add_test(tc, run_paths);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return orm_test_run(suite()); }
