/* Unit tests: the library's one string buffer (orm/sbuf.c). */
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error.h"
#include "orm/sbuf.h"
#include "testutil.h"

START_TEST(appends_and_take)
{
    orm__sbuf b = ORM__SBUF_INIT;
    ck_assert_str_eq(orm__sbuf_str(&b), "");
    orm__sbuf_add(&b, "ab", 2);
    orm__sbuf_puts(&b, "cd");
    orm__sbuf_printf(&b, "-%d-", 42);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    orm__sbuf_printf(&b, "%s", big); /* past the on-stack try: formatted in place */
    ck_assert_uint_eq(b.len, 8 + 999);
    ck_assert_int_eq(strncmp(orm__sbuf_str(&b), "abcd-42-xxx", 11), 0);
    ck_assert_int_eq(b.p[b.len], '\0');
    char *t = orm__sbuf_take(&b);
    ck_assert_uint_eq(strlen(t), 8 + 999);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.len, 0);
    orm__free(t);
    t = orm__sbuf_take(&b); /* empty: "" allocated, never NULL */
    ck_assert_str_eq(t, "");
    orm__free(t);
    orm__sbuf_free(&b);
    orm__sbuf_free(NULL);
}
END_TEST

START_TEST(quoted_doubles_the_quote)
{
    orm__sbuf b = ORM__SBUF_INIT;
    orm__sbuf_quoted(&b, "co:\"tags\"", '"');
    orm__sbuf_puts(&b, " ");
    orm__sbuf_quoted(&b, "it's a\\b", '\'');
    orm__sbuf_quoted(&b, "", '\'');
    ck_assert_str_eq(orm__sbuf_str(&b), "\"co:\"\"tags\"\"\" 'it''s a\\b'''");
    orm__sbuf_free(&b);
}
END_TEST

START_TEST(the_cap_sticks)
{
    orm__sbuf b = { NULL, 0, 0, 5, 0 };
    orm__sbuf_puts(&b, "abc");
    orm__sbuf_puts(&b, "de");
    ck_assert_str_eq(orm__sbuf_str(&b), "abcde");
    orm__sbuf_puts(&b, "f"); /* past the cap */
    ck_assert_int_eq(b.failed, ORM_EINVAL);
    orm__sbuf_puts(&b, ""); /* nothing more is added after a failure */
    ck_assert_ptr_null(orm__sbuf_str(&b));
    ck_assert_uint_eq(b.len, 5);
    ck_assert_ptr_null(orm__sbuf_take(&b));
    ck_assert_int_eq(b.failed, ORM_EINVAL); /* take says why */
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.max, 5);
    orm__sbuf_free(&b); /* clears the failure, keeps the cap */
    ck_assert_int_eq(b.failed, 0);
    orm__sbuf_puts(&b, "12345");
    ck_assert_str_eq(orm__sbuf_str(&b), "12345");
    orm__sbuf_free(&b);
}
END_TEST

START_TEST(out_of_memory_sticks)
{
    for (long n = 0; n < 3; n++) {
        orm__sbuf b = ORM__SBUF_INIT;
        orm__alloc_fail_after(n);
        for (int i = 0; i < 100; i++)
            orm__sbuf_printf(&b, "line %d of a text long enough to grow the buffer\n", i);
        orm__alloc_fail_after(-1);
        ck_assert_int_eq(b.failed, ORM_ENOMEM);
        ck_assert_ptr_null(orm__sbuf_take(&b)); /* and nothing leaks (ASan) */
        ck_assert_int_eq(b.failed, ORM_ENOMEM);
    }
    orm__sbuf b = ORM__SBUF_INIT;
    orm__alloc_fail_after(0);
    ck_assert_ptr_null(orm__sbuf_take(&b)); /* the empty text cannot be allocated */
    orm__alloc_fail_after(-1);
    ck_assert_int_eq(b.failed, ORM_ENOMEM);
}
END_TEST

static Suite *sbuf_suite(void)
{
    Suite *s = suite_create("sbuf");
    TCase *tc = tcase_create("sbuf");
    tcase_add_test(tc, appends_and_take);
    tcase_add_test(tc, quoted_doubles_the_quote);
    tcase_add_test(tc, the_cap_sticks);
    tcase_add_test(tc, out_of_memory_sticks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(sbuf_suite()); }
