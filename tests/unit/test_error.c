/* Unit tests: the per-thread last error (orm/error.c). */
#include <pthread.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/orm.h"
#include "testutil.h"

START_TEST(last_never_null)
{
    orm_error_clear();
    const orm_error *e = orm_error_last();
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->code, ORM_OK);
    ck_assert_str_eq(e->message, "no error");
    ck_assert_int_eq(orm__error_set(ORM_ENOTFOUND, "test", "no row in %s", "users"), ORM_ENOTFOUND);
    e = orm_error_last();
    ck_assert_int_eq(e->code, ORM_ENOTFOUND);
    ck_assert_str_eq(e->module, "test");
    ck_assert_str_eq(e->message, "no row in users");
    ck_assert_str_eq(e->sqlstate, "");
    orm__error_set_db(ORM_ECONSTRAINT, "pg", "23505", 7, "dup\nkey");
    e = orm_error_last();
    ck_assert_str_eq(e->sqlstate, "23505");
    ck_assert_int_eq(e->native_code, 7);
    ck_assert_str_eq(e->message, "dup key"); /* one line */
    ck_assert_int_eq(orm__error_nomem("x"), ORM_ENOMEM);
    ck_assert_int_eq(orm_error_last()->code, ORM_ENOMEM);
    orm_error_clear();
    ck_assert_int_eq(orm_error_last()->code, ORM_OK);
}
END_TEST

START_TEST(long_and_self_referencing_messages)
{
    char big[4096];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    orm__error_set(ORM_EDB, "test", "%s", big);
    ck_assert_uint_lt(strlen(orm_error_last()->message), 1024);
    orm__error_set(ORM_EDB, "test", "inner");
    orm__error_set(ORM_EDB, "test", "outer: %s", orm_error_last()->message);
    ck_assert_str_eq(orm_error_last()->message, "outer: inner");
    orm__error_set(ORM_EDB, "test", "%s", big); /* cut at the buffer, not short of it */
    ck_assert_uint_eq(strlen(orm_error_last()->message), 1023);
}
END_TEST

/* A message already made: taken as is (n bytes), cut at 1023, kept on one line, and it may
 * be the current message itself. */
START_TEST(set_text)
{
    ck_assert_int_eq(orm__error_set_text(ORM_ENOTFOUND, "cache", "a\nb\rc'xyz", 7), ORM_ENOTFOUND);
    const orm_error *e = orm_error_last();
    ck_assert_int_eq(e->code, ORM_ENOTFOUND);
    ck_assert_str_eq(e->module, "cache");
    ck_assert_str_eq(e->sqlstate, "");
    ck_assert_str_eq(e->message, "a b c'x");
    orm__error_set_text(ORM_EDB, "test", e->message + 2, 3);
    ck_assert_str_eq(orm_error_last()->message, "b c");
    char big[2000];
    memset(big, 'y', sizeof big);
    orm__error_set_text(ORM_EDB, "test", big, sizeof big);
    ck_assert_uint_eq(strlen(orm_error_last()->message), 1023);
    orm__error_set_text(ORM_EDB, "test", "", 0);
    ck_assert_str_eq(orm_error_last()->message, "");
}
END_TEST

START_TEST(strerror_every_code)
{
    for (int c = ORM_ERANGE; c <= ORM_OK; c++) {
        const char *s = orm_strerror(c);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown error");
    }
    ck_assert_str_eq(orm_strerror(ORM_ENOTFOUND), "not found");
    ck_assert_str_eq(orm_strerror(ORM_EUNKNOWN), "commit outcome unknown");
    ck_assert_str_eq(orm_strerror(ORM_ERANGE), "value too long for its field");
    ck_assert_str_eq(orm_strerror(-1000), "unknown error");
    ck_assert_str_eq(orm_strerror(5), "unknown error");
}
END_TEST

static void *other_thread(void *arg)
{
    (void)arg;
    /* A fresh thread starts with no error, and what it sets stays with it. */
    int ok = orm_error_last()->code == ORM_OK;
    orm__error_set(ORM_EBUSY, "thread", "from the other thread");
    ok = ok && orm_error_last()->code == ORM_EBUSY;
    return ok ? (void *)1 : NULL;
}

START_TEST(thread_local)
{
    orm__error_set(ORM_ETYPE, "main", "from main");
    pthread_t t;
    void *res = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(orm_error_last()->code, ORM_ETYPE);
    ck_assert_str_eq(orm_error_last()->message, "from main");
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("error");
    tcase_add_test(tc, last_never_null);
    tcase_add_test(tc, long_and_self_referencing_messages);
    tcase_add_test(tc, set_text);
    tcase_add_test(tc, strerror_every_code);
    tcase_add_test(tc, thread_local);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(error_suite()); }
