/* Integration: what holds whatever happens mid-way, on every backend.
 *  - a multi-row insert of several statements is all or nothing: 1,200 rows (three chunks
 *    of at most 500) with a duplicate name at row 800 leave no row, affected 0, and the keys
 *    of the rows unset again; alone, and inside a caller's transaction (a savepoint: the
 *    caller's own work and transaction survive);
 *  - begin and commit honour the ctx on both backends: a commit after the deadline commits
 *    nothing (ORM_ETIMEOUT, the row is gone), a begin after it does not begin, and a begin
 *    (SQLite BEGIN IMMEDIATE) or a statement waiting for another writer's lock stops at a
 *    100 ms deadline instead of the 5 s busy timeout.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "it.h"

enum { NROWS = 1200, DUP_AT = 800 };

static char names[NROWS][16];

/* 1,200 users named u0..u1199, except row DUP_AT, named like row 10 (unique violation). */
static it_user *make_rows(void)
{
    it_user *rows = calloc(NROWS, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (int i = 0; i < NROWS; i++) {
        snprintf(names[i], sizeof names[i], "u%d", i == DUP_AT ? 10 : i);
        rows[i] = it_user_make(names[i], NULL, 20, true, 1.0, true);
    }
    return rows;
}

static int insert_rows(orm_session *s, orm_ctx *ctx, it_user *rows, int64_t *affected)
{
    orm_insert *q = orm_insert_new(s, &it_user_model);
    ck_assert_ptr_nonnull(q);
    ck_assert_ok(orm_insert_add_many(q, rows, NROWS));
    int rc = orm_insert_exec(q, ctx, affected);
    orm_insert_free(q);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(multi_chunk_insert_is_all_or_nothing)
{
    it_user *rows = make_rows();
    int64_t affected = -1;
    ck_assert_orm(insert_rows(it_s, NULL, rows, &affected), ORM_ECONSTRAINT);
    ck_assert_int_eq(affected, 0);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);
    for (int i = 0; i < NROWS; i++)
        ck_assert_int_eq(rows[i].id, 0); /* no key of a row that is not there */
    /* The same rows without the duplicate go in whole, keys and all. */
    snprintf(names[DUP_AT], sizeof names[DUP_AT], "u%d", DUP_AT);
    ck_assert_ok(insert_rows(it_s, NULL, rows, &affected));
    ck_assert_int_eq(affected, NROWS);
    ck_assert_int_eq(it_count(&it_user_model, NULL), NROWS);
    ck_assert_int_gt(rows[NROWS - 1].id, rows[0].id);
    free(rows);
}
END_TEST

START_TEST(multi_chunk_insert_in_a_transaction_is_a_savepoint)
{
    it_user *rows = make_rows();
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user first = it_user_make("first", NULL, 20, true, 1.0, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &first));
    int64_t affected = -1;
    ck_assert_orm(insert_rows(orm_tx_session(tx), NULL, rows, &affected), ORM_ECONSTRAINT);
    ck_assert_int_eq(affected, 0);
    ck_assert(orm_tx_is_open(tx)); /* the caller's transaction goes on */
    it_user after = it_user_make("after", NULL, 20, true, 1.0, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &after));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
    free(rows);

    /* Joined through a ctx that carries the transaction: the same. */
    rows = make_rows();
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_orm(insert_rows(orm_db_session(it_db), ctx, rows, &affected), ORM_ECONSTRAINT);
    ck_assert_ptr_eq(orm_ctx_tx(ctx), tx);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    orm_ctx_free(ctx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
    free(rows);
}
END_TEST

START_TEST(commit_after_the_deadline_commits_nothing)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 100));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    it_user u = it_user_make("late", NULL, 20, true, 1.0, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), ctx, &it_user_model, &u));
    sleep_ms(150);
    ck_assert_orm(orm_tx_commit(tx), ORM_ETIMEOUT);
    ck_assert(!orm_tx_is_open(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);
    /* And a begin after the deadline does not begin. */
    ck_assert_orm(orm_tx_begin(&tx, it_db, ctx, NULL), ORM_ETIMEOUT);
    ck_assert_ptr_null(tx);
    orm_ctx_free(ctx);
}
END_TEST

/* Another connection holds the write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: the row
 * lock of the only user): a begin (SQLite) or an update (PostgreSQL) waiting for it with a
 * 100 ms deadline returns ORM_ETIMEOUT well before the 5 s busy timeout. */
/* (The bound is generous: under a parallel ctest on two cores a fresh connection alone can
 * take a few hundred ms.) */
START_TEST(lock_wait_stops_at_the_deadline)
{
    it_user u = it_user_make("locked", NULL, 20, true, 1.0, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    orm_db *other;
    ck_assert_ok(orm_db_open(&other, it_dsn(), NULL));
    ck_assert_ok(orm_db_register(other, &it_user_model));
    orm_tx_options imm = ORM_TX_OPTIONS_INIT;
    imm.sqlite_begin = ORM_SQLITE_IMMEDIATE;
    orm_tx *holder;
    ck_assert_ok(orm_tx_begin(&holder, other, NULL, &imm));
    orm_update *up = orm_update_new(orm_tx_session(holder), &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(2.0)));
    ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("locked"))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);

    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 100));
    int64_t t0 = orm_ctx_now_us();
    orm_tx *tx = NULL;
    int rc = orm_tx_begin(&tx, it_db, ctx, &imm);
    if (rc == ORM_OK) { /* PostgreSQL: BEGIN takes no lock; the update waits */
        up = orm_update_new(orm_tx_session(tx), &it_user_model);
        ck_assert_ok(orm_update_set(up, "score", orm_double(3.0)));
        ck_assert_ok(orm_update_where(up, orm_eq("name", orm_text("locked"))));
        rc = orm_update_exec(up, ctx, NULL);
        orm_update_free(up);
    }
    int64_t took_ms = (orm_ctx_now_us() - t0) / 1000;
    if (tx) {
        orm_tx_free(tx);
        ck_assert(it_is_postgres());
    }
    ck_assert_orm(rc, ORM_ETIMEOUT);
    ck_assert_int_lt(took_ms, 1500); /* the busy timeout is 5 s; loaded test machines are slow */
    orm_ctx_free(ctx);
    ck_assert_ok(orm_tx_rollback(holder));
    orm_tx_free(holder);
    orm_db_close(other);
}
END_TEST

Suite *it_atomic_suite(void)
{
    Suite *s = suite_create("atomic");
    TCase *tc = it_tcase("atomic");
    tcase_add_test(tc, multi_chunk_insert_is_all_or_nothing);
    tcase_add_test(tc, multi_chunk_insert_in_a_transaction_is_a_savepoint);
    tcase_add_test(tc, commit_after_the_deadline_commits_nothing);
    tcase_add_test(tc, lock_wait_stops_at_the_deadline);
    suite_add_tcase(s, tc);
    return s;
}
