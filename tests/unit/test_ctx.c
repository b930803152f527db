/* Unit tests: orm_ctx (orm/ctx.c) — deadlines and their inheritance, cancel reaching the
 * children, the tags a middleware reads, and the option structs' version handling. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "orm/orm.h"
#include "testutil.h"

START_TEST(deadlines_inherit_the_earlier)
{
    orm_ctx *root, *a, *b, *c;
    ck_assert_ok(orm_ctx_new(&root, NULL));
    ck_assert_int_eq(orm_ctx_deadline(root), 0);
    ck_assert_int_eq(orm_ctx_err(root), ORM_OK);
    ck_assert_ok(orm_ctx_with_timeout(&a, root, 1000));
    int64_t da = orm_ctx_deadline(a);
    ck_assert_int_gt(da, orm_ctx_now_us());
    ck_assert_ok(orm_ctx_with_timeout(&b, a, 60000)); /* later than the parent's: parent wins */
    ck_assert_int_eq(orm_ctx_deadline(b), da);
    ck_assert_ok(orm_ctx_with_deadline(&c, a, da - 500000)); /* earlier: its own */
    ck_assert_int_eq(orm_ctx_deadline(c), da - 500000);
    orm_ctx_free(c);
    ck_assert_ok(orm_ctx_with_timeout(&c, NULL, 0)); /* already expired */
    ck_assert_int_eq(orm_ctx_err(c), ORM_ETIMEOUT);
    orm_ctx_free(c);
    orm_ctx_free(b);
    orm_ctx_free(a);
    orm_ctx_free(root);
    ck_assert_int_eq(orm_ctx_err(NULL), ORM_OK);
    orm_ctx_free(NULL);
}
END_TEST

START_TEST(cancel_reaches_children_only)
{
    orm_ctx *root, *a, *b, *a1;
    ck_assert_ok(orm_ctx_new(&root, NULL));
    ck_assert_ok(orm_ctx_new(&a, root));
    ck_assert_ok(orm_ctx_new(&b, root));
    ck_assert_ok(orm_ctx_new(&a1, a));
    orm_ctx_cancel(a);
    ck_assert_int_eq(orm_ctx_err(a), ORM_ECANCELED);
    ck_assert_int_eq(orm_ctx_err(a1), ORM_ECANCELED);
    ck_assert_int_eq(orm_ctx_err(b), ORM_OK);
    ck_assert_int_eq(orm_ctx_err(root), ORM_OK);
    orm_ctx_free(a1);
    ck_assert_ok(orm_ctx_new(&a1, a)); /* made after the cancel: cancelled too */
    ck_assert_int_eq(orm_ctx_err(a1), ORM_ECANCELED);
    orm_ctx_cancel(root);
    orm_ctx_cancel(root); /* idempotent */
    ck_assert_int_eq(orm_ctx_err(b), ORM_ECANCELED);
    orm_ctx_free(a1);
    orm_ctx_free(b);
    orm_ctx_free(a);
    orm_ctx_free(root);
}
END_TEST

typedef struct seen {
    char buf[256];
} seen;

static int collect(const char *k, const char *v, void *ud)
{
    seen *s = ud;
    size_t n = strlen(s->buf);
    snprintf(s->buf + n, sizeof s->buf - n, "%s=%s;", k, v);
    return 0;
}

static int stop_at_first(const char *k, const char *v, void *ud)
{
    (void)k, (void)v, (void)ud;
    return 7;
}

START_TEST(tags_shadow_and_iterate)
{
    orm_ctx *root, *child;
    ck_assert_ok(orm_ctx_new(&root, NULL));
    ck_assert_ok(orm_ctx_set_tag(root, "app", "shop"));
    ck_assert_ok(orm_ctx_set_tag(root, "route", "/cart"));
    ck_assert_ok(orm_ctx_new(&child, root));
    ck_assert_ok(orm_ctx_set_tag(child, "route", "/pay"));
    ck_assert_ok(orm_ctx_set_tag(child, "user", "42"));
    ck_assert_str_eq(orm_ctx_tag(child, "route"), "/pay");
    ck_assert_str_eq(orm_ctx_tag(child, "app"), "shop");
    ck_assert_str_eq(orm_ctx_tag(root, "route"), "/cart");
    ck_assert_ptr_null(orm_ctx_tag(root, "user"));
    seen s = { "" };
    ck_assert_ok(orm_ctx_tags_foreach(child, collect, &s));
    ck_assert_str_eq(s.buf, "route=/pay;user=42;app=shop;");
    ck_assert_int_eq(orm_ctx_tags_foreach(child, stop_at_first, NULL), 7);
    ck_assert_ok(orm_ctx_set_tag(child, "user", "43")); /* replaced */
    ck_assert_str_eq(orm_ctx_tag(child, "user"), "43");
    ck_assert_ok(orm_ctx_set_tag(child, "route", NULL)); /* removed: the parent's shows */
    ck_assert_str_eq(orm_ctx_tag(child, "route"), "/cart");
    ck_assert_orm(orm_ctx_set_tag(child, "", "x"), ORM_EINVAL);
    ck_assert_orm(orm_ctx_set_tag(NULL, "k", "x"), ORM_EINVAL);
    orm_ctx_free(child);
    orm_ctx_free(root);
}
END_TEST

START_TEST(option_versions)
{
    orm_tx_options t;
    ck_assert_ok(orm_tx_options_init(&t, ORM_TX_OPTIONS_VERSION));
    ck_assert_int_eq(t.max_retries, 0);
    ck_assert_orm(orm_tx_options_init(&t, ORM_TX_OPTIONS_VERSION + 1), ORM_EINVAL);
    /* A version 1 caller's struct gets only its own fields. */
    memset(&t, 0x5a, sizeof t);
    ck_assert_ok(orm_tx_options_init(&t, 1));
    ck_assert_uint_eq(t.version, 1);
    ck_assert_int_eq(t.max_retries, 0x5a5a5a5a);
    orm_db_options d;
    memset(&d, 0x5a, sizeof d);
    ck_assert_ok(orm_db_options_init(&d, 1));
    ck_assert_uint_eq(d.stmt_cache_size, 128);
    ck_assert_uint_eq(d.max_open, (size_t)0x5a5a5a5a5a5a5a5aull);
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", &d)); /* version 1 accepted */
    orm_db_pool_stats st;
    ck_assert_ok(orm_db_stats(db, &st));
    ck_assert_uint_eq(st.max_open, 1); /* in-memory: one shared connection */
    ck_assert_uint_eq(st.open, 1);
    ck_assert_orm(orm_db_stats(db, NULL), ORM_EINVAL);
    orm_db_close(db);
}
END_TEST

/* A timeout too large for the microsecond clock (INT64_MAX ms: "forever") is a far
 * deadline, not a signed overflow that wraps to an already-expired one. */
START_TEST(huge_timeout_does_not_overflow)
{
    orm_ctx *c;
    ck_assert_ok(orm_ctx_with_timeout(&c, NULL, INT64_MAX));
    ck_assert_int_eq(orm_ctx_err(c), ORM_OK);
    ck_assert_int_gt(orm_ctx_deadline(c), orm_ctx_now_us());
    orm_ctx_free(c);
    ck_assert_ok(orm_ctx_with_timeout(&c, NULL, INT64_MAX / 1000 + 1));
    ck_assert_int_eq(orm_ctx_err(c), ORM_OK);
    orm_ctx_free(c);
}
END_TEST

/* Cancel from one thread while others make and free children of the same parent (the
 * ThreadSanitizer build checks the links and flags): every child made after the cancel
 * starts cancelled, and nothing is touched after its free. */
typedef struct churn_arg {
    orm_ctx *root;
    int after_cancel_ok; /* a child made after the cancel was not cancelled: bug */
} churn_arg;

static _Atomic int cancelled_flag;

static void *churn(void *p)
{
    churn_arg *a = p;
    for (int i = 0; i < 2000; i++) {
        int was = atomic_load(&cancelled_flag);
        orm_ctx *c, *g;
        if (orm_ctx_new(&c, a->root) != ORM_OK)
            continue;
        if (orm_ctx_with_timeout(&g, c, 1000) == ORM_OK) {
            if (was && orm_ctx_err(g) != ORM_ECANCELED)
                a->after_cancel_ok = 1;
            orm_ctx_free(g);
        }
        orm_ctx_free(c);
    }
    return NULL;
}

START_TEST(cancel_races_child_churn)
{
    orm_ctx *root;
    ck_assert_ok(orm_ctx_new(&root, NULL));
    atomic_store(&cancelled_flag, 0);
    churn_arg args[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        args[i].root = root;
        args[i].after_cancel_ok = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, churn, &args[i]), 0);
    }
    struct timespec ts = { 0, 2000000 };
    nanosleep(&ts, NULL);
    orm_ctx_cancel(root);
    atomic_store(&cancelled_flag, 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(args[i].after_cancel_ok, 0);
    }
    ck_assert_int_eq(orm_ctx_err(root), ORM_ECANCELED);
    orm_ctx_free(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ctx");
    TCase *tc = tcase_create("ctx");
    tcase_add_test(tc, deadlines_inherit_the_earlier);
    tcase_add_test(tc, cancel_reaches_children_only);
    tcase_add_test(tc, tags_shadow_and_iterate);
    tcase_add_test(tc, option_versions);
    tcase_add_test(tc, huge_timeout_does_not_overflow);
    tcase_add_test(tc, cancel_races_child_churn);
    suite_add_tcase(s, tc);
    return orm_test_run(s);
}
