/* Integration: transactions (tx.h) — commit persists, rollback leaves nothing, a tx reads its
 * own writes, every use after commit or rollback is ORM_ETXDONE, and orm_tx_free rolls back a
 * transaction still open. The database is only inspected through the db's own session after
 * the transaction has ended (SQLite may have one connection, which the open tx holds). */
#include <string.h>

#include "it.h"

START_TEST(commit_persists)
{
    orm_tx *tx = NULL;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ptr_nonnull(tx);
    ck_assert_int_eq(orm_tx_is_open(tx), 1);
    orm_session *ts = orm_tx_session(tx);
    ck_assert_ptr_nonnull(ts);
    ck_assert_ptr_eq(orm_session_db(ts), it_db);
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 1.5, true);
    it_user b = it_user_make("bob", NULL, 25, true, 2.5, false);
    ck_assert_ok(orm_insert_one(ts, NULL, &it_user_model, &a));
    ck_assert_ok(orm_insert_one(ts, NULL, &it_user_model, &b));
    ck_assert_int_gt(a.id, 0);

    /* The tx sees its own writes. */
    it_user got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(a.id);
    ck_assert_ok(orm_get(ts, NULL, &it_user_model, &got, &key));
    ck_assert_str_eq(got.name, "ada");
    orm_model_clear(&it_user_model, &got);

    ck_assert_ok(orm_tx_commit(tx));
    ck_assert_int_eq(orm_tx_is_open(tx), 0);
    orm_tx_free(tx);

    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
    it_user_load(b.id, &got);
    ck_assert_str_eq(got.name, "bob");
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(rollback_leaves_nothing)
{
    it_seed();
    orm_tx *tx = NULL;
    orm_tx_options opts;
    ck_assert_ok(orm_tx_options_init(&opts, ORM_TX_OPTIONS_VERSION));
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, &opts));
    orm_session *ts = orm_tx_session(tx);
    it_user z = it_user_make("zed", NULL, 1, true, 1, true);
    ck_assert_ok(orm_insert_one(ts, NULL, &it_user_model, &z));
    orm_update *up = orm_update_new(ts, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(0)));
    ck_assert_ok(orm_update_where(up, orm_gt("score", orm_double(0))));
    int64_t n = 0;
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 6);
    orm_delete *del = orm_delete_new(ts, &it_post_model);
    ck_assert_ok(orm_delete_where(del, orm_gt("views", orm_int(0))));
    ck_assert_ok(orm_delete_exec(del, NULL, &n));
    orm_delete_free(del);
    ck_assert_int_eq(n, 4);

    ck_assert_ok(orm_tx_rollback(tx));
    ck_assert_int_eq(orm_tx_is_open(tx), 0);
    orm_tx_free(tx);

    ck_assert_int_eq(it_count(&it_user_model, NULL), 5);
    ck_assert_int_eq(it_count(&it_user_model, orm_eq("name", orm_text("zed"))), 0);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);
    it_user got;
    it_user_load(it_uid[IT_ADA], &got);
    ck_assert_double_eq(got.score, 90.5);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

START_TEST(use_after_commit_or_rollback_is_etxdone)
{
    orm_tx *tx = NULL;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    ck_assert_ok(orm_tx_commit(tx));
    ck_assert_orm(orm_tx_commit(tx), ORM_ETXDONE);
    ck_assert_orm(orm_tx_rollback(tx), ORM_ETXDONE);
    it_user late = it_user_make("late", NULL, 1, true, 1, true);
    ck_assert_orm(orm_insert_one(ts, NULL, &it_user_model, &late), ORM_ETXDONE);
    orm_select *q = orm_select_new(ts, &it_user_model);
    int64_t n = -1;
    ck_assert_orm(orm_select_count(q, NULL, &n), ORM_ETXDONE);
    orm_select_free(q);
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);

    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ts = orm_tx_session(tx);
    ck_assert_ok(orm_tx_rollback(tx));
    ck_assert_orm(orm_tx_commit(tx), ORM_ETXDONE);
    ck_assert_orm(orm_insert_one(ts, NULL, &it_user_model, &late), ORM_ETXDONE);
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);
}
END_TEST

START_TEST(tx_free_rolls_back_an_open_tx)
{
    orm_tx *tx = NULL;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user a = it_user_make("ada", NULL, 1, true, 1, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &a));
    orm_tx_free(tx); /* never committed */
    orm_tx_free(NULL);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);

    /* The connection is usable again, and a new tx commits normally. */
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &a));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);
}
END_TEST

Suite *it_tx_suite(void)
{
    Suite *s = suite_create("tx");
    TCase *tc = it_tcase("tx");
    tcase_add_test(tc, commit_persists);
    tcase_add_test(tc, rollback_leaves_nothing);
    tcase_add_test(tc, use_after_commit_or_rollback_is_etxdone);
    tcase_add_test(tc, tx_free_rolls_back_an_open_tx);
    suite_add_tcase(s, tc);
    return s;
}
