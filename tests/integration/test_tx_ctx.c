/* Integration: the transaction closure, savepoints, the ctx (deadline, cancel, the open
 * transaction a callee joins) and retries of conflicting transactions, on every backend.
 *
 * Slow statements: SQLite runs an unbounded recursive CTE (stopped by the progress handler),
 * PostgreSQL pg_sleep (stopped by a cancel request). Timing bounds are real but generous:
 * a 200 ms deadline must return before 450 ms. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "it.h"

static const char *slow_sql(void)
{
    return it_is_postgres() ? "SELECT pg_sleep(10)"
                            : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                              "SELECT count(*) FROM c";
}

/* Run the slow statement to its end (a cursor: SQLite does the work while stepping). */
static int run_slow(orm_session *s, orm_ctx *ctx)
{
    orm_rows *r = NULL;
    int rc = orm_raw_rows(s, ctx, slow_sql(), NULL, 0, &r);
    if (rc == ORM_OK) {
        int n;
        while ((n = orm_rows_next(r)) == 1)
            ;
        rc = n < 0 ? n : ORM_OK;
        orm_rows_free(r);
    }
    return rc;
}

static int64_t ms_since(int64_t t0_us) { return (orm_ctx_now_us() - t0_us) / 1000; }

static void insert_user(orm_session *s, orm_ctx *ctx, const char *name)
{
    it_user u = it_user_make(name, NULL, 30, true, 1.0, true);
    ck_assert_ok(orm_insert_one(s, ctx, &it_user_model, &u));
}

static int64_t count_named(const char *name)
{
    return it_count(&it_user_model, orm_eq("name", orm_text(name)));
}

/* ---- the closure ---- */

static int insert_two(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    ck_assert_ptr_eq(orm_ctx_tx(ctx), tx);
    insert_user(orm_tx_session(tx), ctx, "ada");
    insert_user(orm_db_session(it_db), ctx, "bob"); /* joins through the ctx */
    return ORM_OK;
}

START_TEST(do_tx_commits_on_zero)
{
    ck_assert_ok(orm_do_tx(it_db, NULL, NULL, insert_two, NULL));
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
}
END_TEST

static int insert_then_fail(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    insert_user(orm_tx_session(tx), ctx, "ada");
    insert_user(orm_tx_session(tx), ctx, "bob");
    return -1000; /* a code of the caller's own */
}

START_TEST(do_tx_rolls_back_and_returns_the_code)
{
    ck_assert_int_eq(orm_do_tx(it_db, NULL, NULL, insert_then_fail, NULL), -1000);
    ck_assert(it_msg_has("closure returned -1000"));
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);
}
END_TEST

static int insert_then_violate(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    orm_session *s = orm_tx_session(tx);
    insert_user(s, ctx, "ada");
    insert_user(s, ctx, "bob");
    it_user dup = it_user_make("ada", NULL, 1, true, 1.0, true);
    return orm_insert_one(s, ctx, &it_user_model, &dup); /* name is UNIQUE */
}

START_TEST(do_tx_failing_after_inserts_leaves_no_rows)
{
    ck_assert_orm(orm_do_tx(it_db, NULL, NULL, insert_then_violate, NULL), ORM_ECONSTRAINT);
    ck_assert_int_eq(orm_error_last()->code, ORM_ECONSTRAINT); /* the closure's own error */
    ck_assert_int_eq(it_count(&it_user_model, NULL), 0);
}
END_TEST

static int lose_the_connection(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    insert_user(orm_tx_session(tx), ctx, "lost");
    orm_raw_exec(orm_tx_session(tx), ctx, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, 0,
                 NULL);
    return ORM_EINVAL; /* and fail: the rollback cannot reach the server either */
}

START_TEST(do_tx_reports_both_errors_when_rollback_fails)
{
    if (!it_is_postgres())
        return; /* SQLite's rollback does not fail this way */
    ck_assert_orm(orm_do_tx(it_db, NULL, NULL, lose_the_connection, NULL), ORM_EINVAL);
    ck_assert(it_msg_has("closure returned"));
    ck_assert(it_msg_has("rollback failed too"));
    /* The lost connection was discarded: the db goes on, and nothing was committed. */
    ck_assert_int_eq(count_named("lost"), 0);
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(it_db, &st));
    ck_assert_uint_ge(st.closed_broken, 1);
}
END_TEST

START_TEST(tx_commit_persists_and_rollback_leaves_nothing)
{
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    insert_user(orm_tx_session(tx), NULL, "kept");
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    insert_user(orm_tx_session(tx), NULL, "dropped");
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    /* orm_tx_free on an open tx rolls it back. */
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    insert_user(orm_tx_session(tx), NULL, "freed");
    orm_tx_free(tx);
    ck_assert_int_eq(count_named("kept"), 1);
    ck_assert_int_eq(count_named("dropped"), 0);
    ck_assert_int_eq(count_named("freed"), 0);
}
END_TEST

START_TEST(use_after_commit_is_etxdone)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    insert_user(orm_tx_session(tx), NULL, "ada");
    ck_assert_ok(orm_tx_commit(tx));
    ck_assert_ptr_null(orm_ctx_tx(ctx)); /* the ctx no longer carries it */
    it_user u = it_user_make("bob", NULL, 1, true, 1.0, true);
    ck_assert_orm(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &u), ORM_ETXDONE);
    ck_assert_orm(orm_tx_commit(tx), ORM_ETXDONE);
    ck_assert_orm(orm_tx_rollback(tx), ORM_ETXDONE);
    orm_tx_free(tx);
    /* The db session with the same ctx is plain autocommit again. */
    insert_user(orm_db_session(it_db), ctx, "cy");
    ck_assert_int_eq(it_count(&it_user_model, NULL), 2);
    orm_ctx_free(ctx);
}
END_TEST

/* ---- nesting ---- */

static int inner_fails(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    insert_user(orm_tx_session(tx), ctx, "inner");
    return ORM_EINVAL;
}

static int inner_ok(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    insert_user(orm_tx_session(tx), ctx, "inner_ok");
    return ORM_OK;
}

static int outer(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)ud;
    insert_user(orm_db_session(it_db), ctx, "outer1");
    ck_assert_int_eq(orm_do_tx(it_db, ctx, NULL, inner_fails, NULL), ORM_EINVAL);
    ck_assert_ptr_eq(orm_ctx_tx(ctx), tx); /* back to the outer transaction */
    ck_assert_ok(orm_do_tx(it_db, ctx, NULL, inner_ok, NULL));
    /* An explicit savepoint rolled back by hand. */
    orm_tx *sp;
    ck_assert_ok(orm_tx_begin(&sp, it_db, ctx, NULL));
    insert_user(orm_tx_session(sp), ctx, "sp");
    ck_assert_ok(orm_tx_rollback(sp));
    orm_tx_free(sp);
    insert_user(orm_tx_session(tx), ctx, "outer2");
    return ORM_OK;
}

START_TEST(nested_savepoint_inner_rollback_keeps_outer_work)
{
    ck_assert_ok(orm_do_tx(it_db, NULL, NULL, outer, NULL));
    ck_assert_int_eq(count_named("outer1"), 1);
    ck_assert_int_eq(count_named("outer2"), 1);
    ck_assert_int_eq(count_named("inner_ok"), 1);
    ck_assert_int_eq(count_named("inner"), 0);
    ck_assert_int_eq(count_named("sp"), 0);
}
END_TEST

/* ---- a callee joins its caller's transaction through the ctx ---- */

static void callee(orm_ctx *ctx)
{
    /* Knows nothing of the tx: only the db and the ctx. */
    insert_user(orm_db_session(it_db), ctx, "callee");
}

START_TEST(callee_joins_callers_tx)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    ck_assert_ptr_eq(orm_ctx_tx(ctx), tx);
    orm_ctx *child; /* a child with a deadline still carries the tx */
    ck_assert_ok(orm_ctx_with_timeout(&child, ctx, 10000));
    ck_assert_ptr_eq(orm_ctx_tx(child), tx);
    callee(child);
    /* Outside the transaction (no ctx: another connection) the row is not visible yet. */
    ck_assert_int_eq(count_named("callee"), 0);
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(count_named("callee"), 0);
    /* And committed, it is there. */
    ck_assert_ok(orm_tx_begin(&tx, it_db, ctx, NULL));
    callee(child);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(count_named("callee"), 1);
    orm_ctx_free(child);
    orm_ctx_free(ctx);
}
END_TEST

START_TEST(ctx_carries_transactions_on_two_dbs)
{
    orm_db *mem; /* one connection: a statement not joining its tx would be ORM_EBUSY */
    ck_assert_ok(orm_db_open(&mem, "sqlite::memory:", NULL));
    ck_assert_ok(orm_exec_sql(orm_db_session(mem), NULL, "CREATE TABLE t(v INT)"));
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    orm_tx *t1, *t2;
    ck_assert_ok(orm_tx_begin(&t1, it_db, ctx, NULL));
    ck_assert_ok(orm_tx_begin(&t2, mem, ctx, NULL)); /* another db: not a savepoint */
    insert_user(orm_db_session(it_db), ctx, "two_dbs");
    ck_assert_ok(orm_exec_sql(orm_db_session(mem), ctx, "INSERT INTO t VALUES(1)"));
    ck_assert_int_eq(count_named("two_dbs"), 0);
    ck_assert_ok(orm_tx_rollback(t1)); /* out of order */
    ck_assert_ptr_eq(orm_ctx_tx(ctx), t2);
    ck_assert_ok(orm_exec_sql(orm_db_session(mem), ctx, "INSERT INTO t VALUES(2)"));
    ck_assert_ok(orm_tx_commit(t2));
    ck_assert_ptr_null(orm_ctx_tx(ctx));
    orm_tx_free(t1);
    orm_tx_free(t2);
    ck_assert_int_eq(count_named("two_dbs"), 0);
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(orm_db_session(mem), ctx, "SELECT count(*) FROM t", NULL, 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), 2);
    orm_rows_free(r);
    orm_ctx_free(ctx);
    orm_db_close(mem);
}
END_TEST

/* ---- deadlines and cancellation ---- */

START_TEST(deadline_on_a_slow_query)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 200));
    int64_t t0 = orm_ctx_now_us();
    ck_assert_orm(run_slow(it_s, ctx), ORM_ETIMEOUT);
    int64_t ms = ms_since(t0);
    ck_assert_int_ge(ms, 190);
    ck_assert_int_lt(ms, 450);
    ck_assert_int_eq(orm_ctx_err(ctx), ORM_ETIMEOUT);
    /* A call with the expired ctx does not run at all. */
    ck_assert_orm(orm_exec_sql(it_s, ctx, "SELECT 1"), ORM_ETIMEOUT);
    orm_ctx_free(ctx);
    /* The connection stays usable: it went back to the pool, not away. */
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(it_db, &st));
    ck_assert_uint_eq(st.closed_broken, 0);
    insert_user(it_s, NULL, "after");
    ck_assert_int_eq(count_named("after"), 1);
}
END_TEST

START_TEST(deadline_inside_a_transaction)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 200));
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    int64_t t0 = orm_ctx_now_us();
    ck_assert_orm(run_slow(orm_tx_session(tx), ctx), ORM_ETIMEOUT);
    ck_assert_int_lt(ms_since(t0), 450);
    orm_tx_free(tx); /* rolls back */
    orm_ctx_free(ctx);
    insert_user(it_s, NULL, "after");
    ck_assert_int_eq(count_named("after"), 1);
}
END_TEST

START_TEST(deadline_while_waiting_on_a_lock)
{
    /* A transaction holds the write lock (SQLite) / the row lock (PostgreSQL); a writer with
     * a 200 ms deadline gives up at it, not at the busy timeout (5 s). */
    insert_user(it_s, NULL, "locked");
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_raw_exec(orm_tx_session(tx), NULL, "UPDATE users SET score = 5 WHERE name = 'locked'",
                              NULL, 0, NULL));
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_with_timeout(&ctx, NULL, 200));
    int64_t t0 = orm_ctx_now_us();
    ck_assert_orm(orm_raw_exec(it_s, ctx, "UPDATE users SET score = 6 WHERE name = 'locked'", NULL, 0,
                               NULL),
                  ORM_ETIMEOUT);
    int64_t ms = ms_since(t0);
    ck_assert_int_ge(ms, 190);
    ck_assert_int_lt(ms, 450);
    orm_ctx_free(ctx);
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    it_user got;
    memset(&got, 0, sizeof got);
    ck_assert_ok(orm_raw_get(it_s, NULL, &it_user_model, &got,
                             "SELECT * FROM users WHERE name = 'locked'", NULL, 0, NULL));
    ck_assert_double_eq(got.score, 5.0);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

static void *cancel_later(void *arg)
{
    struct timespec ts = { 0, 150 * 1000000L };
    nanosleep(&ts, NULL);
    orm_ctx_cancel(arg);
    return NULL;
}

START_TEST(cancel_from_another_thread)
{
    orm_ctx *parent, *ctx;
    ck_assert_ok(orm_ctx_new(&parent, NULL));
    ck_assert_ok(orm_ctx_new(&ctx, parent)); /* cancelling the parent reaches the child */
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, parent), 0);
    int64_t t0 = orm_ctx_now_us();
    ck_assert_orm(run_slow(it_s, ctx), ORM_ECANCELED);
    int64_t ms = ms_since(t0);
    pthread_join(t, NULL);
    ck_assert_int_ge(ms, 140);
    ck_assert_int_lt(ms, 600);
    ck_assert_int_eq(orm_ctx_err(ctx), ORM_ECANCELED);
    ck_assert_orm(orm_exec_sql(it_s, ctx, "SELECT 1"), ORM_ECANCELED);
    orm_ctx_free(ctx);
    orm_ctx_free(parent);
    insert_user(it_s, NULL, "after");
    ck_assert_int_eq(count_named("after"), 1);
}
END_TEST

/* ---- conflicting transactions retried by orm_do_tx ---- */

typedef struct bump {
    pthread_barrier_t *both_read;
    int attempts;
    int64_t id;
} bump;

/* Read the score, wait until the other thread has read it too (first attempt only), write
 * score + 1: one of two such transactions must fail (serialization failure on PostgreSQL,
 * SQLITE_BUSY on SQLite) and is retried. */
static int bump_score(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    bump *b = ud;
    orm_session *s = orm_tx_session(tx);
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value key = orm_int(b->id);
    int rc = orm_get(s, ctx, &it_user_model, &u, &key);
    if (rc != ORM_OK)
        return rc;
    double score = u.score;
    orm_model_clear(&it_user_model, &u);
    if (b->attempts++ == 0)
        pthread_barrier_wait(b->both_read);
    orm_update *up = orm_update_new(s, &it_user_model);
    orm_update_set(up, "score", orm_double(score + 1));
    orm_update_where(up, orm_eq("id", orm_int(b->id)));
    rc = orm_update_exec(up, ctx, NULL);
    orm_update_free(up);
    return rc;
}

static void *bump_thread(void *arg)
{
    bump *b = arg;
    orm_tx_options o = ORM_TX_OPTIONS_INIT;
    o.isolation = ORM_ISOLATION_SERIALIZABLE;
    o.max_retries = 10;
    o.retry_backoff_ms = 5;
    return (void *)(intptr_t)orm_do_tx(it_db, NULL, &o, bump_score, b);
}

/* One ctx (without a transaction) shared by two threads running slow statements at once:
 * a cancel stops both promptly (each driver wait sees the flag and stops its own statement;
 * the ThreadSanitizer build checks they share nothing else). */
typedef struct shared_run {
    orm_ctx *ctx;
    int rc;
    int64_t ms;
} shared_run;

static void *run_slow_shared(void *arg)
{
    shared_run *r = arg;
    int64_t t0 = orm_ctx_now_us();
    r->rc = run_slow(orm_db_session(it_db), r->ctx);
    r->ms = ms_since(t0);
    return NULL;
}

START_TEST(cancel_reaches_statements_of_a_ctx_shared_by_threads)
{
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    shared_run r[2] = { { ctx, 0, 0 }, { ctx, 0, 0 } };
    pthread_t t[2], c;
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, run_slow_shared, &r[i]), 0);
    ck_assert_int_eq(pthread_create(&c, NULL, cancel_later, ctx), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        ck_assert_orm(r[i].rc, ORM_ECANCELED);
        ck_assert_int_lt(r[i].ms, 1500);
    }
    pthread_join(c, NULL);
    orm_ctx_free(ctx);
}
END_TEST

START_TEST(conflicting_serializable_transactions_are_retried)
{
    it_user u = it_user_make("counter", NULL, 1, true, 0.0, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    bump b[2] = { { &bar, 0, u.id }, { &bar, 0, u.id } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, bump_thread, &b[i]), 0);
    void *rc[2];
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], &rc[i]);
    pthread_barrier_destroy(&bar);
    ck_assert_int_eq((int)(intptr_t)rc[0], ORM_OK);
    ck_assert_int_eq((int)(intptr_t)rc[1], ORM_OK);
    ck_assert_int_ge(b[0].attempts + b[1].attempts, 3); /* someone was retried */
    it_user got;
    it_user_load(u.id, &got);
    ck_assert_double_eq(got.score, 2.0); /* both increments, neither lost */
    orm_model_clear(&it_user_model, &got);
}
END_TEST

/* Without retries the conflict surfaces as the retryable code. */
static void *bump_once(void *arg)
{
    orm_tx_options o = ORM_TX_OPTIONS_INIT;
    o.isolation = ORM_ISOLATION_SERIALIZABLE;
    return (void *)(intptr_t)orm_do_tx(it_db, NULL, &o, bump_score, arg);
}

START_TEST(conflict_without_retry_is_reported)
{
    it_user u = it_user_make("counter", NULL, 1, true, 0.0, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    bump b[2] = { { &bar, 0, u.id }, { &bar, 0, u.id } };
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, bump_once, &b[i]), 0);
    void *rc[2];
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], &rc[i]);
    pthread_barrier_destroy(&bar);
    int r0 = (int)(intptr_t)rc[0], r1 = (int)(intptr_t)rc[1];
    int want = it_is_postgres() ? ORM_ERETRY : ORM_EBUSY;
    ck_assert_msg((r0 == ORM_OK && r1 == want) || (r1 == ORM_OK && r0 == want),
                  "results %d and %d", r0, r1);
    it_user got;
    it_user_load(u.id, &got);
    ck_assert_double_eq(got.score, 1.0);
    orm_model_clear(&it_user_model, &got);
}
END_TEST

Suite *it_tx_ctx_suite(void)
{
    Suite *s = suite_create("tx_ctx");
    TCase *tc = it_tcase("closure");
    tcase_add_test(tc, do_tx_commits_on_zero);
    tcase_add_test(tc, do_tx_rolls_back_and_returns_the_code);
    tcase_add_test(tc, do_tx_failing_after_inserts_leaves_no_rows);
    tcase_add_test(tc, do_tx_reports_both_errors_when_rollback_fails);
    tcase_add_test(tc, tx_commit_persists_and_rollback_leaves_nothing);
    tcase_add_test(tc, use_after_commit_is_etxdone);
    tcase_add_test(tc, nested_savepoint_inner_rollback_keeps_outer_work);
    tcase_add_test(tc, callee_joins_callers_tx);
    tcase_add_test(tc, ctx_carries_transactions_on_two_dbs);
    suite_add_tcase(s, tc);
    tc = it_tcase("ctx");
    tcase_add_test(tc, deadline_on_a_slow_query);
    tcase_add_test(tc, deadline_inside_a_transaction);
    tcase_add_test(tc, deadline_while_waiting_on_a_lock);
    tcase_add_test(tc, cancel_from_another_thread);
    tcase_add_test(tc, cancel_reaches_statements_of_a_ctx_shared_by_threads);
    suite_add_tcase(s, tc);
    tc = it_tcase("conflicts");
    tcase_add_test(tc, conflicting_serializable_transactions_are_retried);
    tcase_add_test(tc, conflict_without_retry_is_reported);
    suite_add_tcase(s, tc);
    return s;
}
