/* Integration tests of the middleware chain and the built-ins on a real database, on the
 * backend ORM_TEST_DSN names (see it.h): order, short-circuit, a rewrite reaching the
 * database, errors seen by outer layers, the log sink, the slow threshold, metrics after a
 * known workload, the guard and its opt-outs, the tag as the database saw it
 * (pg_stat_activity on PostgreSQL; the innermost layer on SQLite), trace spans, and the raw,
 * DDL and transaction statements passing through the chain.
 *
 * Middlewares must be registered before a db's first statement, so these tests open their
 * own db (same backend rules as the fixture: a fresh SQLite file per test, or the server),
 * register, then create the schema; it_db / it_s point at it so the fixture's helpers work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "it.h"
#include "schema.h"

Suite *it_middleware_suite(void);

static char *mw_path;

static void mw_setup(void)
{
    it_db = NULL;
    it_s = NULL;
}

/* Open a db on the test backend; nothing runs on it yet. */
static orm_db *mw_open(void)
{
    const char *dsn = orm_test_backend_dsn(&mw_path, "mw", NULL); /* it_config_init checked it */
    orm_db *db = NULL;
    ck_assert_ok(orm_db_open(&db, dsn, NULL));
    it_db = db;
    it_s = orm_db_session(db);
    return db;
}

/* After the middlewares: register the models and create the tables (the first statements). */
static void mw_ready(void)
{
    ck_assert_ok(it_models_register(it_db));
    ck_assert_ok(it_schema_create(it_s));
}

static void mw_teardown(void)
{
    orm_db_close(it_db);
    it_db = NULL;
    it_s = NULL;
    if (mw_path) {
        static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
        for (size_t i = 0; i < 4; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s%s", mw_path, sfx[i]);
            unlink(p);
        }
        free(mw_path);
        mw_path = NULL;
    }
}

static void use(orm_middleware *mw)
{
    ck_assert_ok(orm_db_use(it_db, mw));
}

/* ---- a recording middleware ---- */

typedef struct recorder {
    char name;
    char *trail;            /* shared by the recorders of a test */
    int kinds[ORM_STMT_KIND_COUNT];
    int last_rc;
    orm_stmt_kind last_kind;
    const orm_model *last_model;
    char last_sql[1024];
    int short_circuit_raw_delete;
    const char *rewrite_from, *rewrite_to;
} recorder;

static int record_fn(orm_stmt *st, void *ud)
{
    recorder *r = ud;
    size_t n = strlen(r->trail);
    r->trail[n] = r->name;
    r->trail[n + 1] = '\0';
    r->kinds[st->kind]++;
    r->last_kind = st->kind;
    r->last_model = st->model;
    snprintf(r->last_sql, sizeof r->last_sql, "%.*s", (int)st->sql_len, st->sql);
    if (r->short_circuit_raw_delete && st->kind == ORM_STMT_RAW &&
        strncmp(st->sql, "DELETE", 6) == 0) {
        st->affected = 42;
        return ORM_OK;
    }
    if (r->rewrite_from && strcmp(st->sql, r->rewrite_from) == 0)
        ck_assert_ok(orm_stmt_set_sql(st, r->rewrite_to, strlen(r->rewrite_to)));
    int rc = orm_stmt_next(st);
    r->last_rc = rc;
    n = strlen(r->trail);
    r->trail[n] = (char)(r->name - 'a' + 'A');
    r->trail[n + 1] = '\0';
    return rc;
}

static orm_middleware recorder_mw(recorder *r)
{
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "recorder";
    mw.fn = record_fn;
    mw.userdata = r;
    return mw;
}

static char trail[4096];

START_TEST(test_order_short_circuit_rewrite_errors)
{
    mw_open();
    recorder a = { .name = 'a', .trail = trail }, b = { .name = 'b', .trail = trail },
             c = { .name = 'c', .trail = trail };
    b.short_circuit_raw_delete = 1;
    c.rewrite_from = "SELECT 1 AS v";
    c.rewrite_to = "SELECT 2 AS v";
    orm_middleware m;
    m = recorder_mw(&a); use(&m);
    m = recorder_mw(&b); use(&m);
    m = recorder_mw(&c); use(&m);
    mw_ready();

    trail[0] = '\0';
    it_user u = it_user_make("ada", "ada@example.com", 36, true, 90.5, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    ck_assert_str_eq(trail, "abcCBA");
    ck_assert_int_eq(a.kinds[ORM_STMT_INSERT], 1);
    ck_assert_ptr_eq(a.last_model, &it_user_model);

    /* short-circuit: b answers the DELETE itself; c and the database never see it */
    trail[0] = '\0';
    int64_t n = 0;
    ck_assert_ok(orm_raw_exec(it_s, NULL, "DELETE FROM users", NULL, 0, &n));
    ck_assert_int_eq(n, 42);
    ck_assert_str_eq(trail, "abA");
    ck_assert_int_eq(c.kinds[ORM_STMT_RAW], 0);
    ck_assert_int_eq(it_count(&it_user_model, NULL), 1);

    /* rewrite: the database runs what c gave it; a still sees the original text */
    orm_rows *r;
    ck_assert_ok(orm_raw_rows(it_s, NULL, "SELECT 1 AS v", NULL, 0, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    ck_assert_int_eq(orm_rows_int(r, 0), 2);
    orm_rows_free(r);
    ck_assert_str_eq(a.last_sql, "SELECT 1 AS v");

    /* errors travel out through every layer */
    it_user dup = it_user_make("ada", NULL, 1, true, 1.0, false);
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &dup), ORM_ECONSTRAINT);
    ck_assert_int_eq(a.last_rc, ORM_ECONSTRAINT);
    ck_assert_int_eq(c.last_rc, ORM_ECONSTRAINT);
}
END_TEST

static int freed;
static void count_free(void *ud) { (void)ud; freed++; }

START_TEST(test_use_after_first_statement_is_einval)
{
    mw_open();
    mw_ready();
    recorder a = { .name = 'a', .trail = trail };
    orm_middleware m = recorder_mw(&a);
    m.free = count_free;
    freed = 0;
    ck_assert_orm(orm_db_use(it_db, &m), ORM_EINVAL);
    ck_assert_int_eq(freed, 1);
    it_seed(); /* and the db works as before */
    ck_assert_int_eq(a.kinds[ORM_STMT_INSERT], 0);
}
END_TEST

START_TEST(test_raw_ddl_tx_kinds)
{
    mw_open();
    recorder a = { .name = 'a', .trail = trail };
    orm_middleware m = recorder_mw(&a);
    use(&m);
    trail[0] = '\0';
    mw_ready();
    ck_assert_int_ge(a.kinds[ORM_STMT_DDL], 1);
    ck_assert_ok(orm_raw_exec(it_s, NULL, "UPDATE users SET score = 0", NULL, 0, NULL));
    ck_assert_int_eq(a.last_kind, ORM_STMT_RAW);
    ck_assert_ptr_null(a.last_model);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    it_user u = it_user_make("tx", NULL, 1, true, 1.0, true);
    ck_assert_ok(orm_insert_one(orm_tx_session(tx), NULL, &it_user_model, &u));
    ck_assert_ok(orm_tx_commit(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(a.kinds[ORM_STMT_BEGIN], 1);
    ck_assert_int_eq(a.kinds[ORM_STMT_COMMIT], 1);
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(a.kinds[ORM_STMT_ROLLBACK], 1);
}
END_TEST

/* ---- log and slow ---- */

typedef struct lines {
    int n;
    char line[16][1024];
} lines;

static void line_sink(const orm_log_entry *e, void *ud)
{
    lines *l = ud;
    if (l->n < 16)
        snprintf(l->line[l->n], sizeof l->line[0], "%s", e->line);
    l->n++;
}

START_TEST(test_log_sink_output)
{
    mw_open();
    lines l = { 0 };
    orm_log_options o = ORM_LOG_OPTIONS_INIT;
    o.sink = line_sink;
    o.sink_userdata = &l;
    orm_middleware m;
    ck_assert_ok(orm_log_middleware(&m, &o));
    use(&m);
    mw_ready();
    int base = l.n;
    ck_assert_int_ge(base, 1);
    ck_assert_msg(strncmp(l.line[0], "DDL ", 4) == 0, "%s", l.line[0]);

    it_user u = it_user_make("ada", "ada@example.com", 36, true, 90.5, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    it_user got;
    it_user_load(u.id, &got);
    orm_model_clear(&it_user_model, &got);
    it_user dup = it_user_make("ada", NULL, 1, true, 1.0, false);
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &dup), ORM_ECONSTRAINT);
    ck_assert_int_eq(l.n, base + 3);
    const char *ins = l.line[base], *sel = l.line[base + 1], *err = l.line[base + 2];
    ck_assert_msg(strncmp(ins, "INSERT users ", 13) == 0, "%s", ins);
    ck_assert_msg(strstr(ins, "rows=1") && strstr(ins, "'ada@example.com'"), "%s", ins);
    ck_assert_msg(strncmp(sel, "SELECT users ", 13) == 0 && strstr(sel, "rows=1"), "%s", sel);
    ck_assert_msg(strstr(err, "error=") && strstr(err, "'ada'"), "%s", err);
}
END_TEST

START_TEST(test_slow_threshold)
{
    mw_open();
    lines fast = { 0 }, never = { 0 };
    orm_slow_options o = ORM_SLOW_OPTIONS_INIT;
    o.threshold_ns = 1;
    o.sink = line_sink;
    o.sink_userdata = &fast;
    orm_middleware m;
    ck_assert_ok(orm_slow_middleware(&m, &o));
    use(&m);
    o.threshold_ns = 3600ull * 1000000000ull;
    o.sink_userdata = &never;
    ck_assert_ok(orm_slow_middleware(&m, &o));
    use(&m);
    mw_ready();
    it_seed();
    ck_assert_int_eq(never.n, 0);
    ck_assert_int_ge(fast.n, 12); /* DDL + 5 users + 4 posts + 3 memberships */
    ck_assert_msg(strstr(fast.line[fast.n > 16 ? 15 : fast.n - 1], "args=["), "%s",
                  fast.line[fast.n > 16 ? 15 : fast.n - 1]);
}
END_TEST

/* ---- metrics ---- */

static const orm_metrics_series *series(const orm_metrics_snapshot *s, orm_stmt_kind k,
                                        const char *table)
{
    for (size_t i = 0; i < s->nseries; i++)
        if (s->series[i].kind == k && strcmp(s->series[i].table, table) == 0)
            return &s->series[i];
    return NULL;
}

START_TEST(test_metrics_known_workload)
{
    mw_open();
    orm_metrics *mx;
    ck_assert_ok(orm_metrics_new(&mx));
    orm_middleware m;
    ck_assert_ok(orm_metrics_middleware(&m, mx));
    use(&m);
    mw_ready();
    orm_metrics_reset(mx);

    it_user users[5];
    static const char *const names[] = { "a", "b", "c", "d", "e" };
    for (int i = 0; i < 5; i++) {
        users[i] = it_user_make(names[i], NULL, 20 + i, true, 1.0, true);
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &users[i]));
    }
    it_user dup = it_user_make("a", NULL, 1, true, 1.0, true);
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_user_model, &dup), ORM_ECONSTRAINT);
    it_user got;
    for (int i = 0; i < 2; i++) {
        it_user_load(users[i].id, &got);
        orm_model_clear(&it_user_model, &got);
    }
    orm_value missing = orm_int(999999);
    memset(&got, 0, sizeof got);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &got, &missing), ORM_ENOTFOUND);
    users[0].score = 2.0;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &users[0]));
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &users[4]));
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    ck_assert_uint_eq(list.count, 4);
    orm_list_clear(&list);
    orm_select_free(q);

    orm_metrics_snapshot s;
    ck_assert_ok(orm_metrics_snapshot_take(mx, &s));
    const orm_metrics_series *ins = series(&s, ORM_STMT_INSERT, "users"),
                             *sel = series(&s, ORM_STMT_SELECT, "users"),
                             *upd = series(&s, ORM_STMT_UPDATE, "users"),
                             *del = series(&s, ORM_STMT_DELETE, "users");
    ck_assert_ptr_nonnull(ins);
    ck_assert_ptr_nonnull(sel);
    ck_assert_ptr_nonnull(upd);
    ck_assert_ptr_nonnull(del);
    ck_assert_uint_eq(ins->statements, 6);
    ck_assert_uint_eq(ins->errors, 1);
    ck_assert_uint_eq(ins->rows, 5);
    ck_assert_uint_eq(sel->statements, 4); /* 3 gets + 1 select_all */
    ck_assert_uint_eq(sel->errors, 0);     /* not found is no statement error */
    ck_assert_uint_eq(sel->rows, 6);       /* 1 + 1 + 0 + 4 */
    ck_assert_uint_eq(upd->statements, 1);
    ck_assert_uint_eq(upd->rows, 1);
    ck_assert_uint_eq(del->statements, 1);
    ck_assert_uint_eq(del->rows, 1);
    uint64_t total_statements = 0;
    for (size_t i = 0; i < s.nseries; i++) {
        uint64_t b = 0;
        for (size_t k = 0; k < ORM_METRICS_BUCKETS; k++)
            b += s.series[i].buckets[k];
        ck_assert_uint_eq(b, s.series[i].count);
        ck_assert_uint_eq(s.series[i].count, s.series[i].statements);
        ck_assert_uint_gt(s.series[i].max_ns, 0);
        ck_assert_uint_le(s.series[i].p50_ns, s.series[i].max_ns);
        total_statements += s.series[i].statements;
    }
    ck_assert_uint_eq(total_statements, 12);
    orm_metrics_snapshot_free(&s);
    char *text;
    ck_assert_ok(orm_metrics_prometheus(mx, &text, NULL));
    ck_assert_ptr_nonnull(strstr(text, "orm_statements_total{kind=\"insert\",table=\"users\"} 6\n"));
    ck_assert_ptr_nonnull(strstr(text, "orm_rows_total{kind=\"select\",table=\"users\"} 6\n"));
    orm_free_string(text);
    orm_db_close(it_db); /* the metrics outlive the db */
    it_db = NULL;
    orm_metrics_free(mx);
}
END_TEST

/* An outer layer that fails every SELECT after it ran: the cursor is closed for the caller and
 * the inner metrics see the statement end with that error. */
static int fail_selects(orm_stmt *st, void *ud)
{
    (void)ud;
    int rc = orm_stmt_next(st);
    if (rc == ORM_OK && st->kind == ORM_STMT_SELECT)
        return ORM_ECANCELED; /* as a deadline middleware would */
    return rc;
}

START_TEST(test_outer_failure_closes_cursor)
{
    mw_open();
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.fn = fail_selects;
    use(&m);
    orm_metrics *mx;
    ck_assert_ok(orm_metrics_new(&mx));
    ck_assert_ok(orm_metrics_middleware(&m, mx));
    use(&m);
    mw_ready();
    it_seed();
    orm_metrics_reset(mx);
    it_user u;
    memset(&u, 0, sizeof u);
    orm_value key = orm_int(it_uid[IT_ADA]);
    /* A get opens no cursor in the chain (ORM_STMT_GET): the row it mapped is cleared. */
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &u, &key), ORM_ECANCELED);
    ck_assert_ptr_null(u.name);
    orm_select *q = orm_select_new(it_s, &it_user_model);
    orm_list list = ORM_LIST_INIT;
    ck_assert_orm(orm_select_all(q, NULL, &list), ORM_ECANCELED);
    ck_assert_uint_eq(list.count, 0);
    orm_select_free(q);
    /* the connection is free again: a write goes through */
    ck_assert_ok(orm_raw_exec(it_s, NULL, "UPDATE users SET score = 1 WHERE id > 0", NULL, 0, NULL));
    orm_metrics_snapshot s;
    ck_assert_ok(orm_metrics_snapshot_take(mx, &s));
    const orm_metrics_series *sel = series(&s, ORM_STMT_SELECT, "users");
    ck_assert_ptr_nonnull(sel);
    ck_assert_uint_eq(sel->statements, 2);
    ck_assert_uint_eq(sel->errors, 1); /* the cursor's close saw the outer layer's error */
    orm_metrics_snapshot_free(&s);
    orm_db_close(it_db);
    it_db = NULL;
    orm_metrics_free(mx);
}
END_TEST

/* ---- guard ---- */

START_TEST(test_guard_refuses_and_opt_out_passes)
{
    mw_open();
    orm_middleware m;
    ck_assert_ok(orm_guard_middleware(&m));
    use(&m);
    mw_ready();
    it_seed();
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "score", orm_double(0)));
    int64_t n = -1;
    ck_assert_orm(orm_update_exec(up, NULL, &n), ORM_EUNSAFE);
    ck_assert(it_msg_has("UPDATE on users without WHERE"));
    ck_assert_int_eq(it_count(&it_user_model, orm_eq("score", orm_double(0))), 0);
    orm_guard_allow_next();
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    ck_assert_int_eq(n, IT_NUSERS);
    orm_update_free(up);

    orm_delete *del = orm_delete_new(it_s, &it_post_model);
    ck_assert_orm(orm_delete_exec(del, NULL, &n), ORM_EUNSAFE);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);
    orm_delete_where(del, orm_eq("views", orm_int(5)));
    ck_assert_ok(orm_delete_exec(del, NULL, &n)); /* with a WHERE: fine */
    ck_assert_int_eq(n, 1);
    orm_delete_free(del);

    ck_assert_orm(orm_raw_exec(it_s, NULL, "DELETE FROM posts", NULL, 0, &n), ORM_EUNSAFE);
    orm_raw_options o = ORM_RAW_OPTIONS_INIT;
    o.allow_unsafe = 1;
    ck_assert_ok(orm_raw_exec_opts(it_s, NULL, "DELETE FROM posts", NULL, 0, &n, &o));
    ck_assert_int_eq(n, 3);
    ck_assert_orm(orm_raw_exec(it_s, NULL, "DELETE FROM memberships", NULL, 0, &n), ORM_EUNSAFE);
}
END_TEST

/* Issue 19 item 9: PostgreSQL nests block comments (the DELETE below is one of every row,
 * its WHERE inside the comment) and, with standard_conforming_strings off, reads '\' as an
 * unfinished string: the guard reads each statement as its backend does, and nothing
 * changes that should not. */
START_TEST(test_guard_reads_as_the_backend_does)
{
    mw_open();
    orm_middleware m;
    ck_assert_ok(orm_guard_middleware(&m));
    use(&m);
    mw_ready();
    it_seed();
    int64_t n = -1;
    /* PostgreSQL: all comment after "posts", refused; SQLite: the comment ends at the first
     * closer, and the WHERE with a stray closer after it is a syntax error it reports */
    ck_assert_orm(orm_raw_exec(it_s, NULL, "DELETE FROM posts /* /* */ WHERE */", NULL, 0, &n),
                  it_is_postgres() ? ORM_EUNSAFE : ORM_EDB);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);
    orm_tx *tx;
    ck_assert_ok(orm_tx_begin(&tx, it_db, NULL, NULL));
    orm_session *ts = orm_tx_session(tx);
    if (it_is_postgres())
        ck_assert_ok(orm_raw_exec(ts, NULL, "SET LOCAL standard_conforming_strings = off", NULL, 0, NULL));
    /* PostgreSQL with scs off: the string runs to the last quote, an UPDATE of every row.
     * SQLite reads a backslash as any character: there the WHERE is real, and it runs. */
    int rc = orm_raw_exec(ts, NULL, "UPDATE posts SET title = '\\' WHERE views = 5 --'", NULL, 0, &n);
    if (it_is_postgres()) {
        ck_assert_orm(rc, ORM_EUNSAFE);
    } else {
        ck_assert_ok(rc);
        ck_assert_int_eq(n, 1);
    }
    ck_assert_ok(orm_tx_rollback(tx));
    orm_tx_free(tx);
    ck_assert_int_eq(it_count(&it_post_model, NULL), 4);
    ck_assert_int_eq(it_count(&it_post_model, orm_eq("title", orm_text("\\"))), 0);
    /* what only one backend's reading hides is not refused on the other: a dollar quote
     * holding a quote on PostgreSQL, a backslash before a quote on SQLite */
    const char *fine = it_is_postgres() ? "UPDATE posts SET title = $$it's$$ WHERE views = 5"
                                        : "UPDATE posts SET title = 'a\\' WHERE views = 5";
    ck_assert_ok(orm_raw_exec(it_s, NULL, fine, NULL, 0, &n));
    ck_assert_int_eq(n, 1);
    /* a comment both read alike, then a real WHERE: runs on both */
    ck_assert_ok(orm_raw_exec(it_s, NULL, "DELETE FROM posts /* a * / b */ WHERE views = 5", NULL, 0, &n));
    ck_assert_int_eq(n, 1);
}
END_TEST

/* ---- tag ---- */

START_TEST(test_tag_seen_by_database)
{
    mw_open();
    orm_tag dbtags[] = { { "app", "billing" } };
    orm_tag_options o = ORM_TAG_OPTIONS_INIT;
    o.tags = dbtags;
    o.ntags = 1;
    orm_middleware m;
    ck_assert_ok(orm_tag_middleware(&m, &o));
    use(&m);
    recorder inner = { .name = 'i', .trail = trail }; /* what the driver is handed */
    m = recorder_mw(&inner);
    use(&m);
    trail[0] = '\0';
    mw_ready();
    it_seed();
    orm_ctx *ctx;
    ck_assert_ok(orm_ctx_new(&ctx, NULL));
    ck_assert_ok(orm_ctx_set_tag(ctx, "route", "checkout"));
    const char *tag = "/*app='billing',route='checkout'*/";
    orm_rows *r;
    if (it_is_postgres()) {
        ck_assert_ok(orm_raw_rows(it_s, ctx,
                                  "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()",
                                  NULL, 0, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        const char *seen = orm_rows_text(r, 0, NULL);
        ck_assert_msg(seen && strstr(seen, tag), "pg_stat_activity: %s", seen ? seen : "NULL");
        orm_rows_free(r);
    } else {
        ck_assert_ok(orm_raw_rows(it_s, ctx, "SELECT count(*) FROM users", NULL, 0, &r));
        ck_assert_int_eq(orm_rows_next(r), 1);
        ck_assert_int_eq(orm_rows_int(r, 0), IT_NUSERS); /* the tagged text ran */
        orm_rows_free(r);
    }
    ck_assert_msg(strstr(inner.last_sql, tag), "%s", inner.last_sql);
    it_user u = { 0 };
    orm_value key = orm_int(it_uid[IT_ADA]);
    ck_assert_ok(orm_get(it_s, ctx, &it_user_model, &u, &key));
    orm_model_clear(&it_user_model, &u);
    ck_assert_msg(strstr(inner.last_sql, tag), "%s", inner.last_sql);
    orm_ctx_free(ctx);
    it_user_load(it_uid[IT_ADA], &u);
    orm_model_clear(&it_user_model, &u);
    ck_assert_msg(strstr(inner.last_sql, "/*app='billing'*/"), "%s", inner.last_sql);
}
END_TEST

/* ---- trace ---- */

typedef struct spans {
    int started, ended;
    char names[32][64];
    char system[16];
    int64_t last_rows;
} spans;

static void *on_start(const orm_span *s, void *ud)
{
    spans *sp = ud;
    snprintf(sp->system, sizeof sp->system, "%s", s->db_system);
    return (void *)(intptr_t)++sp->started;
}

static void on_end(const orm_span *s, void *h, void *ud)
{
    spans *sp = ud;
    (void)h;
    if (sp->ended < 32)
        snprintf(sp->names[sp->ended], sizeof sp->names[0], "%s", s->name);
    sp->ended++;
    sp->last_rows = s->rows;
}

START_TEST(test_trace_spans)
{
    mw_open();
    spans sp = { 0 };
    orm_trace_options o = ORM_TRACE_OPTIONS_INIT;
    o.on_start = on_start;
    o.on_end = on_end;
    o.userdata = &sp;
    orm_middleware m;
    ck_assert_ok(orm_trace_middleware(&m, &o));
    use(&m);
    mw_ready();
    int base = sp.ended;
    it_user u = it_user_make("ada", NULL, 1, true, 1.0, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &u));
    it_user got;
    it_user_load(u.id, &got);
    orm_model_clear(&it_user_model, &got);
    ck_assert_int_eq(sp.ended, base + 2);
    ck_assert_str_eq(sp.names[base], "INSERT users");
    ck_assert_str_eq(sp.names[base + 1], "SELECT users");
    ck_assert_int_eq(sp.last_rows, 1);
    ck_assert_str_eq(sp.system, it_is_postgres() ? "postgresql" : "sqlite");
    ck_assert_int_eq(sp.started, sp.ended);
}
END_TEST

/* What statements carry besides SQL: their intent, the GET flag, and the transaction they
 * run in (also when they joined it through a ctx). */
typedef struct seen {
    orm_stmt_kind kind[64];
    orm_stmt_op op[64];
    unsigned flags[64];
    int in_tx[64];
    int64_t rows[64];
    int n;
} seen;

static int record_intent(orm_stmt *st, void *ud)
{
    seen *v = ud;
    int rc = orm_stmt_next(st);
    if (v->n < 64) {
        v->kind[v->n] = st->kind;
        v->op[v->n] = st->intent ? st->intent->op : ORM_STMT_OP_NONE;
        v->flags[v->n] = st->flags;
        v->in_tx[v->n] = orm_stmt_tx(st) != NULL;
        v->rows[v->n] = st->rows;
        v->n++;
    }
    return rc;
}

static int find_op(const seen *v, int from, orm_stmt_op op)
{
    for (int i = from; i < v->n; i++)
        if (v->op[i] == op)
            return i;
    return -1;
}

static int intent_tx_fn(orm_tx *tx, orm_ctx *ctx, void *ud)
{
    (void)tx;
    orm_value key = orm_int(*(int64_t *)ud);
    it_user u;
    memset(&u, 0, sizeof u);
    int rc = orm_get(orm_db_session(it_db), ctx, &it_user_model, &u, &key); /* joins via ctx */
    orm_model_clear(&it_user_model, &u);
    if (rc)
        return rc;
    orm_tx *sp = NULL;
    if ((rc = orm_tx_begin(&sp, it_db, ctx, NULL)) != ORM_OK)
        return rc;
    rc = orm_tx_commit(sp); /* RELEASE */
    orm_tx_free(sp);
    if (rc || (rc = orm_tx_begin(&sp, it_db, ctx, NULL)) != ORM_OK)
        return rc;
    rc = orm_tx_rollback(sp); /* ROLLBACK TO */
    orm_tx_free(sp);
    return rc;
}

START_TEST(test_stmt_intent_and_tx)
{
    mw_open();
    seen v;
    memset(&v, 0, sizeof v);
    orm_middleware m = ORM_MIDDLEWARE_INIT;
    m.name = "record";
    m.fn = record_intent;
    m.userdata = &v;
    use(&m);
    mw_ready();
    v.n = 0;
    it_user a = it_user_make("ada", "ada@example.com", 36, true, 1.5, true);
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    it_user got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(a.id), missing = orm_int(a.id + 1000);
    ck_assert_ok(orm_get(it_s, NULL, &it_user_model, &got, &key));
    ck_assert_str_eq(got.name, "ada");
    orm_model_clear(&it_user_model, &got);
    ck_assert_orm(orm_get(it_s, NULL, &it_user_model, &got, &missing), ORM_ENOTFOUND);
    a.score = 3;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_user_model, &a));
    orm_update *up = orm_update_new(it_s, &it_user_model);
    ck_assert_ok(orm_update_set(up, "age", orm_int(1)));
    ck_assert_ok(orm_update_where(up, orm_gt("age", orm_int(100))));
    ck_assert_ok(orm_update_exec(up, NULL, NULL));
    orm_update_free(up);
    ck_assert_ok(orm_delete_one(it_s, NULL, &it_user_model, &a));
    int i = find_op(&v, 0, ORM_STMT_OP_INSERT_ONE);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(v.kind[i], ORM_STMT_INSERT);
    i = find_op(&v, i, ORM_STMT_OP_GET);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(v.kind[i], ORM_STMT_SELECT);
    ck_assert(v.flags[i] & ORM_STMT_GET);
    ck_assert(!(v.flags[i] & ORM_STMT_CURSOR));
    ck_assert_int_eq(v.rows[i], 1);
    ck_assert_int_eq(v.in_tx[i], 0);
    ck_assert_int_eq(v.op[i + 1], ORM_STMT_OP_GET);
    ck_assert_int_eq(v.rows[i + 1], 0); /* not found: no error, no row */
    ck_assert_int_ge(find_op(&v, i, ORM_STMT_OP_UPDATE_ONE), 0);
    ck_assert_int_ge(find_op(&v, i, ORM_STMT_OP_UPDATE_WHERE), 0);
    ck_assert_int_ge(find_op(&v, i, ORM_STMT_OP_DELETE_ONE), 0);

    /* In a transaction joined through the ctx; savepoints say which end they had. */
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_user_model, &a));
    v.n = 0;
    ck_assert_ok(orm_do_tx(it_db, NULL, NULL, intent_tx_fn, &a.id));
    i = find_op(&v, 0, ORM_STMT_OP_GET);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(v.in_tx[i], 1);
    int sp = find_op(&v, 0, ORM_STMT_OP_SAVEPOINT);
    int rel = find_op(&v, 0, ORM_STMT_OP_RELEASE);
    int rb = find_op(&v, 0, ORM_STMT_OP_ROLLBACK_TO);
    ck_assert_int_ge(sp, 0);
    ck_assert_int_gt(rel, sp);
    ck_assert_int_gt(rb, rel);
    ck_assert_int_eq(v.kind[rb], ORM_STMT_SAVEPOINT);
    ck_assert_int_eq(v.in_tx[rb], 1);
}
END_TEST

static int collect_text(char **out, void *ud)
{
    (void)ud;
    const char *t = "my_series 42\n";
    *out = malloc(strlen(t) + 1);
    if (!*out)
        return ORM_ENOMEM;
    strcpy(*out, t);
    return ORM_OK;
}

START_TEST(test_metrics_collector)
{
    orm_metrics *mx;
    ck_assert_ok(orm_metrics_new(&mx));
    ck_assert_orm(orm_metrics_add_collector(mx, NULL, NULL), ORM_EINVAL);
    int tag;
    ck_assert_ok(orm_metrics_add_collector(mx, collect_text, &tag));
    char *text;
    ck_assert_ok(orm_metrics_prometheus(mx, &text, NULL));
    ck_assert_ptr_nonnull(strstr(text, "my_series 42\n"));
    orm_free_string(text);
    ck_assert_ok(orm_metrics_remove_collector(mx, collect_text, &tag));
    ck_assert_orm(orm_metrics_remove_collector(mx, collect_text, &tag), ORM_ENOTFOUND);
    ck_assert_ok(orm_metrics_prometheus(mx, &text, NULL));
    ck_assert_ptr_null(strstr(text, "my_series"));
    orm_free_string(text);
    orm_metrics_free(mx);
}
END_TEST

Suite *it_middleware_suite(void)
{
    Suite *s = suite_create("middleware");
    TCase *tc = tcase_create("middleware");
    tcase_add_checked_fixture(tc, mw_setup, mw_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_order_short_circuit_rewrite_errors);
    tcase_add_test(tc, test_use_after_first_statement_is_einval);
    tcase_add_test(tc, test_raw_ddl_tx_kinds);
    tcase_add_test(tc, test_log_sink_output);
    tcase_add_test(tc, test_slow_threshold);
    tcase_add_test(tc, test_metrics_known_workload);
    tcase_add_test(tc, test_outer_failure_closes_cursor);
    tcase_add_test(tc, test_guard_refuses_and_opt_out_passes);
    tcase_add_test(tc, test_guard_reads_as_the_backend_does);
    tcase_add_test(tc, test_tag_seen_by_database);
    tcase_add_test(tc, test_trace_spans);
    tcase_add_test(tc, test_stmt_intent_and_tx);
    tcase_add_test(tc, test_metrics_collector);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (it_config_init() != 0)
        return EXIT_FAILURE;
    return orm_test_run(it_middleware_suite());
}
