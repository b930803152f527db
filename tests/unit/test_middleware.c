/* Unit tests of the middleware chain: orm__chain_* driven directly with fake terminals (no
 * database): order, short-circuit, rewrite, errors seen by outer layers, freezing, cursor
 * close callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/orm.h"
#include "testutil.h"

/* ---- fake terminals ---- */

static char seen_sql[256];
static int term_calls;
static int term_rc;

static int fake_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    (void)s; (void)ctx;
    term_calls++;
    snprintf(seen_sql, sizeof seen_sql, "%.*s", (int)q->sql_len, q->sql);
    if (term_rc)
        return orm__error_set(term_rc, "fake", "terminal failed");
    if (res) {
        res->affected = 3;
        res->last_id = 42;
    }
    return ORM_OK;
}

/* A stand-in cursor: only its orm__cursor_mw matters to the chain. */
static orm__cursor_mw fake_cmw;
static int fake_rows_token;

static int fake_query(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out,
                      orm__cursor_mw **mw)
{
    (void)s; (void)ctx;
    term_calls++;
    snprintf(seen_sql, sizeof seen_sql, "%.*s", (int)q->sql_len, q->sql);
    if (term_rc)
        return orm__error_set(term_rc, "fake", "terminal failed");
    memset(&fake_cmw, 0, sizeof fake_cmw);
    *out = (orm_rows *)&fake_rows_token;
    if (mw)
        *mw = &fake_cmw;
    return ORM_OK;
}

static int fake_script(orm_session *s, orm_ctx *ctx, const char *sql)
{
    (void)s; (void)ctx;
    term_calls++;
    snprintf(seen_sql, sizeof seen_sql, "%s", sql);
    return ORM_OK;
}

static int fake_call(void *arg, orm_ctx *ctx)
{
    (void)ctx;
    term_calls++;
    *(int *)arg += 1;
    return ORM_OK;
}

/* ---- test middlewares ---- */

static char trail[256];

typedef struct probe {
    char name;
    int short_circuit;  /* return this without calling next (when nonzero, or 1 = ORM_OK) */
    int fail_after;     /* turn a success into this error */
    const char *rewrite;
    int seen_rc;
    int64_t seen_affected;
    char sql_before[128], sql_after[128];
    int defer;
    int closes;
    orm_stmt_done done;
} probe;

static int probe_fn(orm_stmt *st, void *ud)
{
    probe *p = ud;
    size_t n = strlen(trail);
    trail[n] = p->name;
    trail[n + 1] = '\0';
    snprintf(p->sql_before, sizeof p->sql_before, "%s", st->sql);
    if (p->short_circuit) {
        st->affected = 7;
        return p->short_circuit == 1 ? ORM_OK : p->short_circuit;
    }
    if (p->rewrite)
        ck_assert_ok(orm_stmt_set_sql(st, p->rewrite, strlen(p->rewrite)));
    int rc = orm_stmt_next(st);
    p->seen_rc = rc;
    p->seen_affected = st->affected;
    snprintf(p->sql_after, sizeof p->sql_after, "%s", st->sql);
    n = strlen(trail);
    trail[n] = (char)(p->name - 'a' + 'A');
    trail[n + 1] = '\0';
    if (rc == ORM_OK && p->defer)
        ck_assert_ok(orm_stmt_defer(st, p));
    if (rc == ORM_OK && p->fail_after)
        return orm__error_set(p->fail_after, "probe", "refused after");
    return rc;
}

static void probe_close(const orm_stmt_done *d, void *cookie, void *ud)
{
    probe *p = ud;
    ck_assert_ptr_eq(cookie, p);
    p->closes++;
    p->done = *d;
    size_t n = strlen(trail);
    trail[n] = '~';
    trail[n + 1] = p->name;
    trail[n + 2] = '\0';
}

static orm_middleware probe_mw(probe *p)
{
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "probe";
    mw.fn = probe_fn;
    mw.close = probe_close;
    mw.userdata = p;
    return mw;
}

static const orm_value args1[1] = { { ORM_VALUE_INT, 0, { .i = 1 } } };
static orm_query q_update = { ORM_QUERY_UPDATE, NULL, "UPDATE t SET a = ?", 18, 0, args1, 1, NULL };
static orm_query q_select = { ORM_QUERY_SELECT, NULL, "SELECT a FROM t", 15, 0, NULL, 0, NULL };

static orm__chain chain;

static void setup(void)
{
    orm__chain_init(&chain);
    trail[0] = seen_sql[0] = '\0';
    term_calls = 0;
    term_rc = 0;
}

static void teardown(void)
{
    orm__chain_free(&chain);
}

START_TEST(test_no_middleware_bypasses_after_first)
{
    ck_assert_int_eq(orm__chain_bypass(&chain), 0);
    orm_exec_result res = { 0, 0 };
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_update, &res, fake_exec));
    ck_assert_int_eq(res.affected, 3);
    ck_assert_int_eq(orm__chain_bypass(&chain), 1);
    probe a = { .name = 'a' };
    orm_middleware mw = probe_mw(&a);
    ck_assert_orm(orm__chain_use(&chain, &mw), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "already ran"));
}
END_TEST

START_TEST(test_order_and_result)
{
    probe a = { .name = 'a' }, b = { .name = 'b' }, c = { .name = 'c' };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&c); ck_assert_ok(orm__chain_use(&chain, &m));
    orm_exec_result res = { 0, 0 };
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_update, &res, fake_exec));
    ck_assert_str_eq(trail, "abcCBA");
    ck_assert_int_eq(term_calls, 1);
    ck_assert_int_eq(a.seen_affected, 3);
    ck_assert_int_eq(res.affected, 3);
    ck_assert_int_eq(res.last_id, 42);
    ck_assert_int_eq(orm__chain_bypass(&chain), 0);
}
END_TEST

START_TEST(test_short_circuit)
{
    probe a = { .name = 'a' }, b = { .name = 'b', .short_circuit = 1 }, c = { .name = 'c' };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&c); ck_assert_ok(orm__chain_use(&chain, &m));
    orm_exec_result res = { 0, 0 };
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_update, &res, fake_exec));
    ck_assert_str_eq(trail, "abA");
    ck_assert_int_eq(term_calls, 0);
    ck_assert_int_eq(res.affected, 7);
    ck_assert_int_eq(a.seen_affected, 7);
}
END_TEST

START_TEST(test_error_seen_by_outer)
{
    probe a = { .name = 'a' }, b = { .name = 'b', .short_circuit = ORM_EUNSAFE };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_update, NULL, fake_exec), ORM_EUNSAFE);
    ck_assert_int_eq(a.seen_rc, ORM_EUNSAFE);
    ck_assert_int_eq(term_calls, 0);

    /* A database error travels out through every layer. */
    probe x = { .name = 'x' };
    orm__chain_free(&chain);
    orm__chain_init(&chain);
    m = probe_mw(&x); ck_assert_ok(orm__chain_use(&chain, &m));
    term_rc = ORM_ECONSTRAINT;
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_update, NULL, fake_exec), ORM_ECONSTRAINT);
    ck_assert_int_eq(x.seen_rc, ORM_ECONSTRAINT);
    ck_assert_str_eq(orm_error_last()->message, "terminal failed");
}
END_TEST

START_TEST(test_rewrite_reaches_terminal_and_is_restored)
{
    probe a = { .name = 'a' }, b = { .name = 'b', .rewrite = "UPDATE t SET a = ? /* x */" },
          c = { .name = 'c' };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&c); ck_assert_ok(orm__chain_use(&chain, &m));
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_update, NULL, fake_exec));
    ck_assert_str_eq(seen_sql, "UPDATE t SET a = ? /* x */");
    ck_assert_str_eq(c.sql_before, "UPDATE t SET a = ? /* x */");
    ck_assert_str_eq(b.sql_after, "UPDATE t SET a = ? /* x */");
    ck_assert_str_eq(a.sql_before, "UPDATE t SET a = ?");
    ck_assert_str_eq(a.sql_after, "UPDATE t SET a = ?");
}
END_TEST

static int twice_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    int rc = orm_stmt_next(st);
    ck_assert_ok(rc);
    ck_assert_orm(orm_stmt_next(st), ORM_EINVAL);
    ck_assert_orm(orm_stmt_set_sql(st, "X", 1), ORM_EINVAL);
    ck_assert_orm(orm_stmt_defer(st, NULL), ORM_EINVAL); /* not a cursor */
    return rc;
}

START_TEST(test_next_at_most_once)
{
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.fn = twice_fn;
    ck_assert_ok(orm__chain_use(&chain, &m));
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_update, NULL, fake_exec));
    ck_assert_int_eq(term_calls, 1);
}
END_TEST

START_TEST(test_cursor_close_callbacks)
{
    probe a = { .name = 'a', .defer = 1 }, b = { .name = 'b' }, c = { .name = 'c', .defer = 1 };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&c); ck_assert_ok(orm__chain_use(&chain, &m));
    orm_rows *r = NULL;
    ck_assert_ok(orm__chain_query(&chain, NULL, NULL, &q_select, &r, fake_query));
    ck_assert_ptr_eq(r, (orm_rows *)&fake_rows_token);
    ck_assert_int_eq(a.seen_affected, -1);
    ck_assert_ptr_eq(fake_cmw.chain, &chain);
    /* what rows.c does: a step per row, an error, then the free */
    orm__cursor_mw_step(&fake_cmw, 1);
    orm__cursor_mw_step(&fake_cmw, 1);
    orm__cursor_mw_step(&fake_cmw, 0);
    orm__cursor_mw_close(&fake_cmw);
    ck_assert_str_eq(trail, "abcCBA~c~a");
    ck_assert_int_eq(a.closes, 1);
    ck_assert_int_eq(b.closes, 0);
    ck_assert_int_eq(c.done.rows, 2);
    ck_assert_int_eq(c.done.error, ORM_OK);
    ck_assert_int_eq(c.done.kind, ORM_STMT_SELECT);
    orm__cursor_mw_close(&fake_cmw); /* twice: nothing more */
    ck_assert_int_eq(a.closes, 1);
}
END_TEST

START_TEST(test_cursor_without_defer_costs_nothing)
{
    probe a = { .name = 'a' };
    orm_middleware m = probe_mw(&a);
    ck_assert_ok(orm__chain_use(&chain, &m));
    orm_rows *r = NULL;
    ck_assert_ok(orm__chain_query(&chain, NULL, NULL, &q_select, &r, fake_query));
    ck_assert_ptr_null(fake_cmw.chain);
    orm__cursor_mw_step(&fake_cmw, 1);
    ck_assert_int_eq(fake_cmw.rows, 0);
}
END_TEST

START_TEST(test_cursor_short_circuit_ok_is_an_error)
{
    probe a = { .name = 'a' }, b = { .name = 'b', .short_circuit = 1 };
    orm_middleware m;
    m = probe_mw(&a); ck_assert_ok(orm__chain_use(&chain, &m));
    m = probe_mw(&b); ck_assert_ok(orm__chain_use(&chain, &m));
    orm_rows *r = (orm_rows *)&fake_rows_token;
    ck_assert_orm(orm__chain_query(&chain, NULL, NULL, &q_select, &r, fake_query), ORM_ERROR);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(a.seen_rc, ORM_ERROR);
    ck_assert_int_eq(term_calls, 0);
}
END_TEST

START_TEST(test_script_and_call)
{
    probe a = { .name = 'a', .rewrite = "CREATE TABLE t(a) /* tagged */" };
    orm_middleware m = probe_mw(&a);
    ck_assert_ok(orm__chain_use(&chain, &m));
    ck_assert_ok(orm__chain_script(&chain, NULL, NULL, "CREATE TABLE t(a)", fake_script));
    ck_assert_str_eq(seen_sql, "CREATE TABLE t(a) /* tagged */");
    ck_assert_str_eq(a.sql_before, "CREATE TABLE t(a)");
    int calls = 0;
    a.rewrite = NULL;
    ck_assert_ok(orm__chain_call(&chain, NULL, NULL, ORM_QUERY_BEGIN, NULL, fake_call, &calls));
    ck_assert_int_eq(calls, 1);
    ck_assert_str_eq(a.sql_before, "BEGIN");
}
END_TEST

static int freed;
static void count_free(void *ud) { (void)ud; freed++; }

START_TEST(test_registration_rules)
{
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.free = count_free;
    freed = 0;
    ck_assert_orm(orm__chain_use(&chain, &m), ORM_EINVAL); /* fn NULL */
    ck_assert_int_eq(freed, 1);
    m.fn = twice_fn;
    m.version = 99;
    ck_assert_orm(orm__chain_use(&chain, &m), ORM_EINVAL);
    ck_assert_int_eq(freed, 2);
    m.version = ORM_MIDDLEWARE_VERSION;
    for (int i = 0; i < ORM_MIDDLEWARE_MAX; i++)
        ck_assert_ok(orm__chain_use(&chain, &m));
    ck_assert_orm(orm__chain_use(&chain, &m), ORM_EINVAL);
    ck_assert_int_eq(freed, 3);
    orm__chain_free(&chain);
    ck_assert_int_eq(freed, 3 + ORM_MIDDLEWARE_MAX);
    ck_assert_str_eq(orm_stmt_kind_name(ORM_STMT_SAVEPOINT), "SAVEPOINT");
    ck_assert_str_eq(orm_stmt_kind_name((orm_stmt_kind)99), "?");
}
END_TEST

static Suite *middleware_suite(void)
{
    Suite *s = suite_create("middleware");
    TCase *tc = tcase_create("chain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_middleware_bypasses_after_first);
    tcase_add_test(tc, test_order_and_result);
    tcase_add_test(tc, test_short_circuit);
    tcase_add_test(tc, test_error_seen_by_outer);
    tcase_add_test(tc, test_rewrite_reaches_terminal_and_is_restored);
    tcase_add_test(tc, test_next_at_most_once);
    tcase_add_test(tc, test_cursor_close_callbacks);
    tcase_add_test(tc, test_cursor_without_defer_costs_nothing);
    tcase_add_test(tc, test_cursor_short_circuit_ok_is_an_error);
    tcase_add_test(tc, test_script_and_call);
    tcase_add_test(tc, test_registration_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return orm_test_run(middleware_suite());
}
