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

/* orm_tx_on_commit: a log of (tag, committed) pairs in call order. */
typedef struct oc_log {
    int tag[8];
    int committed[8];
    int n;
} oc_log;

typedef struct oc_arg {
    oc_log *log;
    int tag;
} oc_arg;

static void oc_cb(int committed, void *userdata)
{
    oc_arg *a = userdata;
    a->log->tag[a->log->n] = a->tag;
    a->log->committed[a->log->n] = committed;
    a->log->n++;
}

START_TEST(on_commit_runs_after_commit_in_order)
{
    oc_log log = { { 0 }, { 0 }, 0 };
    oc_arg a1 = { &log, 1 }, a2 = { &log, 2 };
    orm_tx *tx = NULL;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_tx_on_commit(tx, oc_cb, &a1));
    ck_assert_ok(orm_tx_on_commit(tx, oc_cb, &a2));
    it_user z = it_user_make("zed", NULL, 1, true, 1, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &z));
    ck_assert_int_eq(log.n, 0); /* nothing before the commit */
    ck_assert_ok(orm_tx_commit(tx));
    ck_assert_int_eq(log.n, 2);
    ck_assert_int_eq(log.tag[0], 1);
    ck_assert_int_eq(log.tag[1], 2);
    ck_assert_int_eq(log.committed[0], 1);
    ck_assert_int_eq(log.committed[1], 1);
    /* Over: refused, and fn never called. */
    ck_assert_int_eq(orm_tx_on_commit(tx, oc_cb, &a1), ORM_ETXDONE);
    ck_assert_int_eq(log.n, 2);
    orm_tx_free(tx);
    ck_assert_int_eq(orm_tx_on_commit(NULL, oc_cb, &a1), ORM_EINVAL);
}
END_TEST

START_TEST(on_commit_rollback_and_free_report_zero)
{
    oc_log log = { { 0 }, { 0 }, 0 };
    oc_arg a1 = { &log, 1 }, a2 = { &log, 2 };
    orm_tx *tx = NULL;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_tx_on_commit(tx, oc_cb, &a1));
    ck_assert_int_eq(orm_tx_on_commit(tx, NULL, &a1), ORM_EINVAL);
    ck_assert_ok(orm_tx_rollback(tx));
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.committed[0], 0);
    orm_tx_free(tx);
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_tx_on_commit(tx, oc_cb, &a2));
    orm_tx_free(tx); /* rolls back */
    ck_assert_int_eq(log.n, 2);
    ck_assert_int_eq(log.tag[1], 2);
    ck_assert_int_eq(log.committed[1], 0);
}
END_TEST

START_TEST(on_commit_savepoints_wait_for_the_outermost)
{
    oc_log log = { { 0 }, { 0 }, 0 };
    oc_arg a1 = { &log, 1 }, a2 = { &log, 2 }, a3 = { &log, 3 };
    orm_ctx *ctx = NULL;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *outer = NULL, *sp1 = NULL, *sp2 = NULL;
    ck_assert_ok(orm_tx_begin(&outer, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_on_commit(outer, oc_cb, &a1));
    ck_assert_ok(orm_tx_begin(&sp1, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_on_commit(sp1, oc_cb, &a2));
    ck_assert_ok(orm_tx_commit(sp1)); /* released: a2 now waits for the outer commit */
    ck_assert_int_eq(log.n, 0);
    ck_assert_ok(orm_tx_begin(&sp2, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_on_commit(sp2, oc_cb, &a3));
    ck_assert_ok(orm_tx_rollback(sp2)); /* its work is gone: a3 learns it now */
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.tag[0], 3);
    ck_assert_int_eq(log.committed[0], 0);
    ck_assert_ok(orm_tx_commit(outer));
    ck_assert_int_eq(log.n, 3);
    ck_assert_int_eq(log.tag[1], 1);
    ck_assert_int_eq(log.tag[2], 2);
    ck_assert_int_eq(log.committed[1], 1);
    ck_assert_int_eq(log.committed[2], 1);
    orm_tx_free(sp2);
    orm_tx_free(sp1);
    orm_tx_free(outer);
    orm_ctx_free(ctx);
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
    tcase_add_test(tc, on_commit_runs_after_commit_in_order);
    tcase_add_test(tc, on_commit_rollback_and_free_report_zero);
    tcase_add_test(tc, on_commit_savepoints_wait_for_the_outermost);
    suite_add_tcase(s, tc);
    return s;
}
