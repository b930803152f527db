/* Unit tests of the built-in middlewares, run through orm__chain_* with fake terminals (no
 * database): log lines and argument modes, the slow threshold, metrics after a known
 * workload, the guard's WHERE test and opt-outs, the sqlcommenter rendering, trace spans. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "orm/alloc.h"
#include "orm/driver/sqlite/sqlite.h"
#include "orm/session_internal.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/orm.h"
#include "testutil.h"

typedef struct thing { int64_t id; char *name; } thing;
static const orm_field thing_fields[] = {
    ORM_FIELD(thing, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(thing, name, ORM_FIELD_TEXT, 0),
};
static const size_t thing_pk[] = { 0 };
static const orm_model thing_model = ORM_MODEL(thing, "things", thing_fields, thing_pk);

/* ---- fake terminals ---- */

static char seen_sql[512];
static int term_calls, term_rc;
static long term_sleep_ms;

static void nap(void)
{
    if (term_sleep_ms) {
        struct timespec ts = { 0, term_sleep_ms * 1000000L };
        nanosleep(&ts, NULL);
    }
}

static int fake_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    (void)s; (void)ctx;
    term_calls++;
    snprintf(seen_sql, sizeof seen_sql, "%.*s", (int)q->sql_len, q->sql);
    nap();
    if (term_rc)
        return orm__error_set(term_rc, "fake", "fake failure");
    res->affected = 2;
    return ORM_OK;
}

static orm__cursor_mw fake_cmw;
static int fake_rows_token;

static int fake_query(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_rows **out,
                      orm__cursor_mw **mw)
{
    (void)s; (void)ctx;
    term_calls++;
    snprintf(seen_sql, sizeof seen_sql, "%.*s", (int)q->sql_len, q->sql);
    if (term_rc)
        return orm__error_set(term_rc, "fake", "fake failure");
    memset(&fake_cmw, 0, sizeof fake_cmw);
    *out = (orm_rows *)&fake_rows_token;
    *mw = &fake_cmw;
    return ORM_OK;
}

/* A cursor statement read to the end: n rows, then the free. */
static void run_select_ctx(orm__chain *c, orm_ctx *ctx, const orm_query *q, int nrows)
{
    orm_rows *r;
    ck_assert_ok(orm__chain_query(c, NULL, ctx, q, &r, fake_query));
    for (int i = 0; i < nrows; i++)
        orm__cursor_mw_step(&fake_cmw, 1);
    orm__cursor_mw_step(&fake_cmw, 0);
    nap();
    orm__cursor_mw_close(&fake_cmw);
}

static void run_select(orm__chain *c, const orm_query *q, int nrows)
{
    run_select_ctx(c, NULL, q, nrows);
}

static orm_value args2[2];
static orm_query q_sel, q_ins, q_upd_all, q_upd_where, q_del_all, q_raw_del, q_raw_sel;

static orm__chain chain;

static void setup(void)
{
    orm__chain_init(&chain);
    seen_sql[0] = '\0';
    term_calls = term_rc = 0;
    term_sleep_ms = 0;
    args2[0] = orm_int(7);
    args2[1] = orm_text("it's");
    orm_query sel = { ORM_QUERY_SELECT, &thing_model, "SELECT id, name FROM things WHERE id = ?", 0, 0, args2, 1, NULL };
    orm_query ins = { ORM_QUERY_INSERT, &thing_model, "INSERT INTO things (id, name) VALUES (?, ?)", 0, 0, args2, 2, NULL };
    orm_query ua = { ORM_QUERY_UPDATE, &thing_model, "UPDATE things SET name = 'where'", 0, 0, NULL, 0, NULL };
    orm_query uw = { ORM_QUERY_UPDATE, &thing_model, "UPDATE things SET name = ? WHERE id = ?", 0, 0, args2, 2, NULL };
    orm_query da = { ORM_QUERY_DELETE, &thing_model,
                     "DELETE FROM things /* where */ -- where\n", 0, 0, NULL, 0, NULL };
    orm_query rd = { ORM_QUERY_RAW, NULL,
                     "  /* c */ delete from things where id in (select id from t where x)", 0, 0, NULL, 0, NULL };
    orm_query rs = { ORM_QUERY_RAW, NULL, "SELECT 1", 0, 0, NULL, 0, NULL };
    q_sel = sel; q_ins = ins; q_upd_all = ua; q_upd_where = uw; q_del_all = da; q_raw_del = rd;
    q_raw_sel = rs;
    orm_query *all[] = { &q_sel, &q_ins, &q_upd_all, &q_upd_where, &q_del_all, &q_raw_del, &q_raw_sel };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        all[i]->sql_len = strlen(all[i]->sql);
}

static void teardown(void)
{
    orm__chain_free(&chain);
}

static void use(orm_middleware *mw)
{
    ck_assert_ok(orm__chain_use(&chain, mw));
}

/* ---- log ---- */

typedef struct captured {
    int n;
    char lines[8][512];
    orm_log_entry last;
    char args[128];
} captured;

static void capture_sink(const orm_log_entry *e, void *ud)
{
    captured *c = ud;
    if (c->n < 8)
        snprintf(c->lines[c->n], sizeof c->lines[0], "%s", e->line);
    c->n++;
    c->last = *e;
    snprintf(c->args, sizeof c->args, "%s", e->args);
}

START_TEST(test_log_lines_and_arg_modes)
{
    captured cs = { 0 }, cr = { 0 }, ch = { 0 };
    orm_middleware mw;
    orm_log_options o = ORM_LOG_OPTIONS_INIT;
    o.sink = capture_sink;
    o.sink_userdata = &cs;
    ck_assert_ok(orm_log_middleware(&mw, &o));
    use(&mw);
    o.sink_userdata = &cr;
    o.args = ORM_LOG_ARGS_REDACT;
    ck_assert_ok(orm_log_middleware(&mw, &o));
    use(&mw);
    o.sink_userdata = &ch;
    o.args = ORM_LOG_ARGS_HIDE;
    ck_assert_ok(orm_log_middleware(&mw, &o));
    use(&mw);

    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec));
    ck_assert_int_eq(cs.n, 1);
    ck_assert_msg(strncmp(cs.lines[0], "INSERT things ", 14) == 0, "%s", cs.lines[0]);
    ck_assert_ptr_nonnull(strstr(cs.lines[0], "rows=2"));
    ck_assert_ptr_nonnull(strstr(cs.lines[0], "sql=INSERT INTO things (id, name) VALUES (?, ?)"));
    ck_assert_str_eq(cs.args, "[7, 'it''s']");
    ck_assert_str_eq(cr.args, "[?, ?]");
    ck_assert_str_eq(ch.args, "");
    ck_assert_ptr_null(strstr(ch.lines[0], "args="));
    ck_assert_int_eq(cs.last.rows, 2);
    ck_assert_int_eq(cs.last.kind, ORM_STMT_INSERT);

    /* A cursor statement is logged once, at the free, with the rows read. */
    run_select(&chain, &q_sel, 3);
    ck_assert_int_eq(cs.n, 2);
    ck_assert_ptr_nonnull(strstr(cs.lines[1], "SELECT things"));
    ck_assert_ptr_nonnull(strstr(cs.lines[1], "rows=3"));
    ck_assert_str_eq(cs.args, "[7]");

    /* An error is logged with its message, and the caller still gets that message. */
    term_rc = ORM_ECONSTRAINT;
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec), ORM_ECONSTRAINT);
    ck_assert_str_eq(orm_error_last()->message, "fake failure");
    ck_assert_int_eq(cs.last.error, ORM_ECONSTRAINT);
    ck_assert_ptr_nonnull(strstr(cs.lines[2], "fake failure"));
    ck_assert_ptr_nonnull(strstr(cs.lines[2], "rows=?"));
}
END_TEST

/* Issue 19 item 13: CR, LF, ESC and other control characters in the SQL or the arguments
 * never reach the line raw: one statement, one line. */
START_TEST(test_log_line_injection)
{
    captured c = { 0 };
    orm_middleware mw;
    orm_log_options o = ORM_LOG_OPTIONS_INIT;
    o.sink = capture_sink;
    o.sink_userdata = &c;
    ck_assert_ok(orm_log_middleware(&mw, &o));
    use(&mw);
    orm_value args[2] = { orm_text("x\r\norm: DELETE 0.1ms rows=0 sql=forged\x1b[2J\x7f\t\\"), orm_int(1) };
    orm_query q = { ORM_QUERY_RAW, NULL, "SELECT ?, ? -- c\r\nFROM t\x1b]0;t\x07", 0, 0, args, 2, NULL };
    q.sql_len = strlen(q.sql);
    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q, &res, fake_exec));
    ck_assert_int_eq(c.n, 1);
    for (const char *p = c.lines[0]; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "raw control byte 0x%02x in %s", *p, c.lines[0]);
    ck_assert_msg(strstr(c.lines[0], "sql=SELECT ?, ? -- c\\r\\nFROM t\\x1b]0;t\\x07") != NULL, "%s", c.lines[0]);
    ck_assert_msg(strstr(c.lines[0], "args=['x\\r\\norm: DELETE 0.1ms rows=0 sql=forged\\x1b[2J\\x7f\\t\\\\', 1]") != NULL,
                  "%s", c.lines[0]);
    /* an error message from the server spanning lines is escaped too */
    term_rc = ORM_ECONSTRAINT;
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q, &res, fake_exec), ORM_ECONSTRAINT);
    ck_assert_int_eq(c.n, 2);
    ck_assert_ptr_null(strchr(c.lines[1], '\n'));
}
END_TEST

START_TEST(test_slow_threshold)
{
    captured c = { 0 };
    orm_middleware mw;
    orm_slow_options o = ORM_SLOW_OPTIONS_INIT;
    o.threshold_ns = 20u * 1000u * 1000u;
    o.sink = capture_sink;
    o.sink_userdata = &c;
    ck_assert_ok(orm_slow_middleware(&mw, &o));
    ck_assert_str_eq(mw.name, "slow");
    use(&mw);
    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_where, &res, fake_exec));
    run_select(&chain, &q_sel, 1);
    ck_assert_int_eq(c.n, 0);
    term_sleep_ms = 30;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_where, &res, fake_exec));
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.args, "[7, 'it''s']"); /* slow queries come with their arguments */
    ck_assert_uint_ge(c.last.duration_ns, 30u * 1000u * 1000u);
    run_select(&chain, &q_sel, 1);               /* slow in the reading: open to free */
    ck_assert_int_eq(c.n, 2);
    ck_assert_int_eq(c.last.kind, ORM_STMT_SELECT);
}
END_TEST

/* ---- metrics ---- */

START_TEST(test_metrics_known_workload)
{
    orm_metrics *m;
    ck_assert_ok(orm_metrics_new(&m));
    orm_middleware mw;
    ck_assert_ok(orm_metrics_middleware(&mw, m));
    use(&mw);
    orm_exec_result res;
    for (int i = 0; i < 5; i++)
        ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec));
    for (int i = 0; i < 4; i++)
        run_select(&chain, &q_sel, i); /* 0+1+2+3 rows */
    term_rc = ORM_ECONSTRAINT;
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec), ORM_ECONSTRAINT);
    orm_rows *r;
    ck_assert_orm(orm__chain_query(&chain, NULL, NULL, &q_raw_sel, &r, fake_query), ORM_ECONSTRAINT);

    orm_metrics_snapshot snap;
    ck_assert_ok(orm_metrics_snapshot_take(m, &snap));
    ck_assert_uint_eq(snap.nseries, 3);
    /* sorted by table then kind: "" RAW, things SELECT, things INSERT? no: kind order */
    const orm_metrics_series *raw = &snap.series[0], *sel = NULL, *ins = NULL;
    for (size_t i = 1; i < 3; i++) {
        if (snap.series[i].kind == ORM_STMT_SELECT) sel = &snap.series[i];
        if (snap.series[i].kind == ORM_STMT_INSERT) ins = &snap.series[i];
    }
    ck_assert_str_eq(raw->table, "");
    ck_assert_int_eq(raw->kind, ORM_STMT_RAW);
    ck_assert_uint_eq(raw->statements, 1);
    ck_assert_uint_eq(raw->errors, 1);
    ck_assert_ptr_nonnull(sel);
    ck_assert_ptr_nonnull(ins);
    ck_assert_str_eq(sel->table, "things");
    ck_assert_uint_eq(sel->statements, 4);
    ck_assert_uint_eq(sel->rows, 6);
    ck_assert_uint_eq(sel->errors, 0);
    ck_assert_uint_eq(ins->statements, 6);
    ck_assert_uint_eq(ins->errors, 1);
    ck_assert_uint_eq(ins->rows, 10);
    for (size_t i = 0; i < snap.nseries; i++) {
        const orm_metrics_series *s = &snap.series[i];
        uint64_t total = 0;
        for (size_t k = 0; k < ORM_METRICS_BUCKETS; k++)
            total += s->buckets[k];
        ck_assert_uint_eq(total, s->count);
        ck_assert_uint_eq(s->count, s->statements);
        ck_assert_uint_le(s->p50_ns, s->p90_ns);
        ck_assert_uint_le(s->p90_ns, s->p99_ns);
        ck_assert_uint_le(s->p99_ns, s->max_ns);
    }
    orm_metrics_snapshot_free(&snap);

    char *text;
    size_t len;
    ck_assert_ok(orm_metrics_prometheus(m, &text, &len));
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE orm_statements_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_statements_total{kind=\"insert\",table=\"things\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_errors_total{kind=\"insert\",table=\"things\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_rows_total{kind=\"select\",table=\"things\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE orm_statement_duration_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_statement_duration_seconds_bucket{kind=\"select\",table=\"things\",le=\"+Inf\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_statement_duration_seconds_count{kind=\"raw\",table=\"\"} 1\n"));
    orm_free_string(text);

    orm_metrics_reset(m);
    ck_assert_ok(orm_metrics_snapshot_take(m, &snap));
    ck_assert_uint_eq(snap.nseries, 0);
    orm_metrics_snapshot_free(&snap);
    orm__chain_free(&chain);
    orm_metrics_free(m);
}
END_TEST

START_TEST(test_metrics_out_of_memory)
{
    orm_metrics *m;
    ck_assert_ok(orm_metrics_new(&m));
    orm_middleware mw;
    ck_assert_ok(orm_metrics_middleware(&mw, m));
    use(&mw);
    orm_exec_result res;
    /* A new series (its node, then uthash's table and buckets) that cannot be allocated loses
     * that one observation and nothing else: the next statement makes the series. */
    uint64_t counted = 0;
    for (long n = 0; n < 5; n++) {
        orm__alloc_fail_after(n);
        ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec));
        if (!orm__alloc_failed())
            counted++;
        orm__alloc_fail_after(-1);
    }
    ck_assert_uint_eq(counted, 2); /* three failures: node, table, buckets */
    orm_metrics_snapshot first;
    ck_assert_ok(orm_metrics_snapshot_take(m, &first));
    ck_assert_uint_eq(first.nseries, 1);
    ck_assert_uint_eq(first.series[0].statements, counted);
    orm_metrics_snapshot_free(&first);
    for (long n = 0; n < 10; n++) {
        orm_metrics_snapshot snap;
        orm__alloc_fail_after(n);
        int rc = orm_metrics_snapshot_take(m, &snap);
        orm__alloc_fail_after(-1);
        ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
        if (rc == ORM_OK)
            orm_metrics_snapshot_free(&snap);
        char *text = NULL;
        orm__alloc_fail_after(n);
        rc = orm_metrics_prometheus(m, &text, NULL);
        orm__alloc_fail_after(-1);
        ck_assert(rc == ORM_OK || rc == ORM_ENOMEM);
        ck_assert(rc == ORM_OK || text == NULL);
        orm_free_string(text);
    }
    orm__chain_free(&chain);
    orm_metrics_free(m);
}
END_TEST

/* ---- guard ---- */

START_TEST(test_guard)
{
    orm_middleware mw;
    ck_assert_ok(orm_guard_middleware(&mw));
    use(&mw);
    orm_exec_result res;
    /* 'where' inside a literal or a comment does not count */
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_upd_all, &res, fake_exec), ORM_EUNSAFE);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "UPDATE on things without WHERE"));
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_del_all, &res, fake_exec), ORM_EUNSAFE);
    ck_assert_int_eq(term_calls, 0);
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_where, &res, fake_exec));
    /* raw: by first keyword; a subquery's WHERE does not count, the outer one does */
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_raw_del, &res, fake_exec));
    orm_query raw_sub = { ORM_QUERY_RAW, NULL,
                          "UPDATE t SET a = (SELECT b FROM u WHERE u.id = 1)", 0, 0, NULL, 0, NULL };
    raw_sub.sql_len = strlen(raw_sub.sql);
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &raw_sub, &res, fake_exec), ORM_EUNSAFE);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "UPDATE without WHERE"));
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_raw_sel, &res, fake_exec));
    /* the opt-out: one statement, on this thread */
    int before = term_calls;
    orm_guard_allow_next();
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_all, &res, fake_exec));
    ck_assert_int_eq(term_calls, before + 1);
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_upd_all, &res, fake_exec), ORM_EUNSAFE);
}
END_TEST

static int allow_flag_fn(orm_stmt *st, void *ud)
{
    (void)ud;
    st->flags |= ORM_STMT_ALLOW_UNSAFE;
    return orm_stmt_next(st);
}

START_TEST(test_guard_flag_from_outer_layer)
{
    orm_middleware outer = ORM_MIDDLEWARE_INIT, mw;
    outer.fn = allow_flag_fn;
    use(&outer);
    ck_assert_ok(orm_guard_middleware(&mw));
    use(&mw);
    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_del_all, &res, fake_exec));
}
END_TEST

/* ---- tag ---- */

START_TEST(test_tag_rendering)
{
    char buf[256];
    /* the sqlcommenter spec's example, keys sorted */
    orm_tag t[] = { { "route", "/polls 1000" }, { "action", "run+this & that" },
                    { "framework", "spring" }, { "who", "o'brien" } };
    size_t n = orm_tags_render(t, 4, buf, sizeof buf);
    ck_assert_str_eq(buf, " /*action='run%2Bthis%20%26%20that',framework='spring',"
                          "route='%2Fpolls%201000',who='o\\'brien'*/");
    ck_assert_uint_eq(n, strlen(buf));
    /* too small a buffer: truncated, NUL-terminated, the full length returned */
    char small[8];
    ck_assert_uint_eq(orm_tags_render(t, 4, small, sizeof small), n);
    ck_assert_uint_eq(strlen(small), 7);
    /* "*" "/" can never close the comment early */
    orm_tag evil[] = { { "k", "*/ DROP TABLE x; /*" } };
    orm_tags_render(evil, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, " /*k='*%2F%20DROP%20TABLE%20x%3B%20%2F*'*/");
}
END_TEST

/* The statement SQLite itself ran carries the tag: its trace callback sees the text. */
static char traced[512];

static int trace_stmt(unsigned type, void *ud, void *p, void *x)
{
    (void)ud;
    (void)p;
    if (type == SQLITE_TRACE_STMT && strstr((const char *)x, "orm_tag_probe"))
        snprintf(traced, sizeof traced, "%s", (const char *)x);
    return 0;
}

START_TEST(test_tag_reaches_sqlite)
{
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    orm_tag dbtags[] = { { "app", "billing" } };
    orm_tag_options o = ORM_TAG_OPTIONS_INIT;
    o.tags = dbtags;
    o.ntags = 1;
    orm_middleware mw;
    ck_assert_ok(orm_tag_middleware(&mw, &o));
    ck_assert_ok(orm_db_use(db, &mw));
    /* An in-memory db has exactly one connection: trace it. */
    orm_conn *conn;
    ck_assert_ok(orm__db_acquire(db, NULL, &conn));
    sqlite3_trace_v2(orm__sqlite_handle(conn), SQLITE_TRACE_STMT, trace_stmt, NULL);
    orm__db_release(db, conn);
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    ck_assert_ok(orm_ctx_set_tag(ctx, "route", "checkout"));
    traced[0] = '\0';
    ck_assert_ok(orm_exec_sql(orm_db_session(db), ctx, "CREATE TABLE orm_tag_probe (id INTEGER)"));
    ck_assert_str_eq(traced, "CREATE TABLE orm_tag_probe (id INTEGER) /*app='billing',route='checkout'*/");
    orm_ctx_free(ctx);
    orm_db_close(db);
}
END_TEST

START_TEST(test_tag_middleware)
{
    orm_tag dbtags[] = { { "app", "billing" }, { "route", "default" } };
    orm_tag_options o = ORM_TAG_OPTIONS_INIT;
    o.tags = dbtags;
    o.ntags = 2;
    orm_middleware mw;
    ck_assert_ok(orm_tag_middleware(&mw, &o));
    use(&mw);
    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_where, &res, fake_exec));
    ck_assert_str_eq(seen_sql, "UPDATE things SET name = ? WHERE id = ? /*app='billing',route='default'*/");
    /* Tags on the ctx win over the db's; a child ctx's shadow its parent's. */
    orm_ctx *parent, *child;
    ck_assert_ok(orm_ctx_new(&parent, NULL));
    ck_assert_ok(orm_ctx_set_tag(parent, "route", "checkout"));
    ck_assert_ok(orm_ctx_set_tag(parent, "user", "o'neil/1"));
    ck_assert_ok(orm_ctx_new(&child, parent));
    ck_assert_ok(orm_ctx_set_tag(child, "user", "ada"));
    run_select_ctx(&chain, parent, &q_sel, 0);
    ck_assert_str_eq(seen_sql, "SELECT id, name FROM things WHERE id = ? "
                               "/*app='billing',route='checkout',user='o\\'neil%2F1'*/");
    run_select_ctx(&chain, child, &q_sel, 0);
    ck_assert_str_eq(seen_sql, "SELECT id, name FROM things WHERE id = ? /*app='billing',route='checkout',user='ada'*/");
    orm_ctx_free(child);
    orm_ctx_free(parent);
    /* long SQL goes through the heap path */
    char *big = malloc(3000);
    memset(big, ' ', 2999);
    memcpy(big, "SELECT 1", 8);
    big[2999] = '\0';
    orm_query q = { ORM_QUERY_RAW, NULL, big, 2999, 0, NULL, 0, NULL };
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q, &res, fake_exec));
    ck_assert_uint_eq(strlen(seen_sql), sizeof seen_sql - 1); /* truncated copy: just ran */
    free(big);
    /* a statement that ends with a comment already is left alone */
    orm_query c = { ORM_QUERY_RAW, NULL, "SELECT 1 /* mine */", 19, 0, NULL, 0, NULL };
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &c, &res, fake_exec));
    ck_assert_str_eq(seen_sql, "SELECT 1 /* mine */");
}
END_TEST

/* ---- trace ---- */

typedef struct spans {
    int started, ended;
    char start_name[64], end_name[64], statement[128];
    int64_t rows;
    int error;
    char error_message[128];
} spans;

static void *span_start(const orm_span *s, void *ud)
{
    spans *sp = ud;
    sp->started++;
    snprintf(sp->start_name, sizeof sp->start_name, "%s", s->name);
    return (void *)(intptr_t)sp->started;
}

static void span_end(const orm_span *s, void *handle, void *ud)
{
    spans *sp = ud;
    ck_assert_int_eq((int)(intptr_t)handle, sp->started);
    sp->ended++;
    snprintf(sp->end_name, sizeof sp->end_name, "%s", s->name);
    snprintf(sp->statement, sizeof sp->statement, "%s", s->statement);
    snprintf(sp->error_message, sizeof sp->error_message, "%s", s->error_message);
    sp->rows = s->rows;
    sp->error = s->error;
}

START_TEST(test_trace)
{
    spans sp = { 0 };
    orm_trace_options o = ORM_TRACE_OPTIONS_INIT;
    o.on_start = span_start;
    o.on_end = span_end;
    o.userdata = &sp;
    orm_middleware mw;
    ck_assert_ok(orm_trace_middleware(&mw, &o));
    use(&mw);
    orm_exec_result res;
    ck_assert_ok(orm__chain_exec(&chain, NULL, NULL, &q_upd_where, &res, fake_exec));
    ck_assert_str_eq(sp.start_name, "UPDATE things");
    ck_assert_str_eq(sp.end_name, "UPDATE things");
    ck_assert_int_eq(sp.rows, 2);
    orm_rows *r;
    ck_assert_ok(orm__chain_query(&chain, NULL, NULL, &q_sel, &r, fake_query));
    ck_assert_int_eq(sp.started, 2);
    ck_assert_int_eq(sp.ended, 1); /* the span stays open while the cursor is */
    orm__cursor_mw_step(&fake_cmw, 1);
    orm__cursor_mw_close(&fake_cmw);
    ck_assert_int_eq(sp.ended, 2);
    ck_assert_str_eq(sp.end_name, "SELECT things");
    ck_assert_str_eq(sp.statement, "SELECT id, name FROM things WHERE id = ?");
    ck_assert_int_eq(sp.rows, 1);
    term_rc = ORM_EBUSY;
    ck_assert_orm(orm__chain_exec(&chain, NULL, NULL, &q_raw_sel, &res, fake_exec), ORM_EBUSY);
    ck_assert_str_eq(sp.end_name, "RAW");
    ck_assert_int_eq(sp.error, ORM_EBUSY);
    ck_assert_str_eq(sp.error_message, "fake failure");
    ck_assert_int_eq(sp.started, sp.ended);
}
END_TEST

START_TEST(test_bad_options)
{
    orm_middleware mw;
    orm_log_options lo = ORM_LOG_OPTIONS_INIT;
    lo.version = 42;
    ck_assert_orm(orm_log_middleware(&mw, &lo), ORM_EINVAL);
    orm_tag_options to = ORM_TAG_OPTIONS_INIT;
    orm_tag bad[] = { { "k", NULL } };
    to.tags = bad;
    to.ntags = 1;
    ck_assert_orm(orm_tag_middleware(&mw, &to), ORM_EINVAL);
    ck_assert_orm(orm_trace_middleware(&mw, NULL), ORM_EINVAL);
    ck_assert_orm(orm_metrics_middleware(&mw, NULL), ORM_EINVAL);
    /* defaults are fine */
    ck_assert_ok(orm_log_middleware(&mw, NULL));
    mw.free(mw.userdata);
    ck_assert_ok(orm_slow_middleware(&mw, NULL));
    mw.free(mw.userdata);
}
END_TEST

START_TEST(test_constructors_out_of_memory)
{
    orm_tag tags[] = { { "app", "x" }, { "b", "y" } };
    orm_tag_options to = ORM_TAG_OPTIONS_INIT;
    to.tags = tags;
    to.ntags = 2;
    orm_trace_options tr = ORM_TRACE_OPTIONS_INIT;
    for (long n = 0; n < 8; n++) {
        orm_middleware mw;
        int rcs[4];
        orm__alloc_fail_after(n);
        rcs[0] = orm_tag_middleware(&mw, &to);
        orm__alloc_fail_after(-1);
        if (rcs[0] == ORM_OK) mw.free(mw.userdata);
        orm__alloc_fail_after(n);
        rcs[1] = orm_log_middleware(&mw, NULL);
        orm__alloc_fail_after(-1);
        if (rcs[1] == ORM_OK) mw.free(mw.userdata);
        orm__alloc_fail_after(n);
        rcs[2] = orm_trace_middleware(&mw, &tr);
        orm__alloc_fail_after(-1);
        if (rcs[2] == ORM_OK) mw.free(mw.userdata);
        orm_metrics *m = NULL;
        orm__alloc_fail_after(n);
        rcs[3] = orm_metrics_new(&m);
        orm__alloc_fail_after(-1);
        orm_metrics_free(m);
        for (int i = 0; i < 4; i++)
            ck_assert(rcs[i] == ORM_OK || rcs[i] == ORM_ENOMEM);
    }
}
END_TEST

/* Several threads counting through one chain: the counts are exact (run under TSan too). */
static int quiet_exec(orm_session *s, orm_ctx *ctx, const orm_query *q, orm_exec_result *res)
{
    (void)s; (void)ctx; (void)q;
    res->affected = 1;
    return ORM_OK;
}

enum { THREADS = 4, PER_THREAD = 5000 };

static void *hammer(void *arg)
{
    (void)arg;
    orm_exec_result res;
    for (int i = 0; i < PER_THREAD; i++)
        if (orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, quiet_exec) != ORM_OK)
            return (void *)1;
    return NULL;
}

START_TEST(test_metrics_threads)
{
    orm_metrics *m;
    ck_assert_ok(orm_metrics_new(&m));
    orm_middleware mw;
    ck_assert_ok(orm_metrics_middleware(&mw, m));
    use(&mw);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        ck_assert_ptr_null(rv);
    }
    orm_metrics_snapshot snap;
    ck_assert_ok(orm_metrics_snapshot_take(m, &snap));
    ck_assert_uint_eq(snap.nseries, 1);
    ck_assert_uint_eq(snap.series[0].statements, THREADS * PER_THREAD);
    ck_assert_uint_eq(snap.series[0].rows, THREADS * PER_THREAD);
    orm_metrics_snapshot_free(&snap);
    orm__chain_free(&chain);
    orm_metrics_free(m);
}
END_TEST

/* Out of memory inside log, slow, trace, tag and metrics never changes a statement's result
 * (the log line or span is what gets lost) and leaks nothing. */
START_TEST(test_statements_survive_out_of_memory)
{
    captured c = { 0 };
    orm_middleware mw;
    orm_log_options lo = ORM_LOG_OPTIONS_INIT;
    lo.sink = capture_sink;
    lo.sink_userdata = &c;
    ck_assert_ok(orm_log_middleware(&mw, &lo));
    use(&mw);
    orm_trace_options tr = ORM_TRACE_OPTIONS_INIT;
    ck_assert_ok(orm_trace_middleware(&mw, &tr));
    use(&mw);
    orm_metrics *m;
    ck_assert_ok(orm_metrics_new(&m));
    ck_assert_ok(orm_metrics_middleware(&mw, m));
    use(&mw);
    orm_tag tags[] = { { "app", "x" } };
    orm_tag_options to = ORM_TAG_OPTIONS_INIT;
    to.tags = tags;
    to.ntags = 1;
    ck_assert_ok(orm_tag_middleware(&mw, &to));
    use(&mw);
    for (long n = 0; n < 16; n++) {
        orm_exec_result res;
        orm__alloc_fail_after(n);
        int rc = orm__chain_exec(&chain, NULL, NULL, &q_ins, &res, fake_exec);
        orm__alloc_fail_after(-1);
        ck_assert_ok(rc);
        orm__alloc_fail_after(n);
        orm_rows *r;
        rc = orm__chain_query(&chain, NULL, NULL, &q_sel, &r, fake_query);
        orm__alloc_fail_after(-1);
        ck_assert_ok(rc);
        orm__cursor_mw_step(&fake_cmw, 1);
        orm__cursor_mw_close(&fake_cmw);
    }
    orm__chain_free(&chain);
    orm_metrics_free(m);
}
END_TEST

static Suite *builtins_suite(void)
{
    Suite *s = suite_create("middleware_builtins");
    TCase *tc = tcase_create("builtins");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_log_lines_and_arg_modes);
    tcase_add_test(tc, test_log_line_injection);
    tcase_add_test(tc, test_slow_threshold);
    tcase_add_test(tc, test_metrics_known_workload);
    tcase_add_test(tc, test_metrics_out_of_memory);
    tcase_add_test(tc, test_guard);
    tcase_add_test(tc, test_guard_flag_from_outer_layer);
    tcase_add_test(tc, test_tag_rendering);
    tcase_add_test(tc, test_tag_middleware);
    tcase_add_test(tc, test_tag_reaches_sqlite);
    tcase_add_test(tc, test_trace);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_constructors_out_of_memory);
    tcase_add_test(tc, test_metrics_threads);
    tcase_add_test(tc, test_statements_survive_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return orm_test_run(builtins_suite());
}
