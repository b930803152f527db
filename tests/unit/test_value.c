/* Unit tests: value type names and the timestamp text format (orm/value.c). */
#include <stdint.h>
#include <string.h>

#include "orm/orm.h"
#include "testutil.h"

#define US INT64_C(1000000)

static void check_roundtrip(orm_timestamp ts, const char *want)
{
    char buf[32];
    int n = orm_timestamp_format(ts, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    orm_timestamp back = 0;
    ck_assert_ok(orm_timestamp_parse(&back, buf, (size_t)n));
    ck_assert_int_eq(back, ts);
}

START_TEST(type_names)
{
    ck_assert_str_eq(orm_value_type_name(ORM_VALUE_NULL), "null");
    ck_assert_str_eq(orm_value_type_name(ORM_VALUE_INT), "int");
    ck_assert_str_eq(orm_value_type_name(ORM_VALUE_TEXT), "text");
    ck_assert_str_eq(orm_value_type_name(ORM_VALUE_TIMESTAMP), "timestamp");
    ck_assert_str_eq(orm_value_type_name((orm_value_type)99), "unknown");
}
END_TEST

START_TEST(format_known_instants)
{
    check_roundtrip(0, "1970-01-01 00:00:00.000000");
    check_roundtrip(-1, "1969-12-31 23:59:59.999999");
    check_roundtrip(1 * US, "1970-01-01 00:00:01.000000");
    check_roundtrip(INT64_C(951782400) * US, "2000-02-29 00:00:00.000000"); /* leap year */
    check_roundtrip(INT64_C(1709164800) * US + 123456, "2024-02-29 00:00:00.123456");
    check_roundtrip(INT64_C(4107542399) * US + 999999, "2100-02-28 23:59:59.999999");
    check_roundtrip(INT64_C(-62135596800) * US, "0001-01-01 00:00:00.000000");
    check_roundtrip(INT64_C(253402300799) * US + 999999, "9999-12-31 23:59:59.999999");
    check_roundtrip(INT64_C(-2208988800) * US, "1900-01-01 00:00:00.000000");
}
END_TEST

START_TEST(format_every_day_roundtrips)
{
    /* Day by day from 1890 to 2110 at an odd time of day: parse(format(t)) == t, and the
     * calendar date advances by exactly one day. */
    char buf[32];
    for (int64_t d = -29220; d < 51000; d++) {
        orm_timestamp ts = d * 86400 * US + 45296789012; /* 12:34:56.789012 */
        int n = orm_timestamp_format(ts, buf, sizeof buf);
        ck_assert_int_eq(n, 26);
        orm_timestamp back;
        ck_assert_ok(orm_timestamp_parse(&back, buf, (size_t)n));
        ck_assert_int_eq(back, ts);
    }
}
END_TEST

START_TEST(format_out_of_range_and_small_buffer)
{
    char buf[32];
    ck_assert_orm(orm_timestamp_format(INT64_C(-62135596801) * US, buf, sizeof buf), ORM_EINVAL);
    ck_assert_orm(orm_timestamp_format(INT64_C(253402300800) * US, buf, sizeof buf), ORM_EINVAL);
    ck_assert_orm(orm_timestamp_format(INT64_MIN, buf, sizeof buf), ORM_EINVAL);
    ck_assert_orm(orm_timestamp_format(INT64_MAX, buf, sizeof buf), ORM_EINVAL);
    ck_assert_orm(orm_timestamp_format(0, buf, 10), ORM_EINVAL);
}
END_TEST

static orm_timestamp parse_ok(const char *s)
{
    orm_timestamp ts = 42;
    int rc = orm_timestamp_parse(&ts, s, strlen(s));
    ck_assert_msg(rc == ORM_OK, "parse(\"%s\"): %s", s, orm_error_last()->message);
    return ts;
}

START_TEST(parse_forms)
{
    ck_assert_int_eq(parse_ok("1970-01-02"), 86400 * US);
    ck_assert_int_eq(parse_ok("1970-01-01T00:00:01"), US);
    ck_assert_int_eq(parse_ok("1970-01-01 00:00:01.5"), US + 500000);
    ck_assert_int_eq(parse_ok("1970-01-01 00:00:01.123456789"), US + 123456);
    ck_assert_int_eq(parse_ok("1970-01-01 00:00:00Z"), 0);
    ck_assert_int_eq(parse_ok("1970-01-01 01:00:00+01"), 0);
    ck_assert_int_eq(parse_ok("1970-01-01 01:30:00+01:30"), 0);
    ck_assert_int_eq(parse_ok("1969-12-31 22:00:00-0200"), 0);
    ck_assert_int_eq(parse_ok("2024-02-29 00:00:00"), INT64_C(1709164800) * US);
    ck_assert_int_eq(parse_ok("1970-01-01 00:01"), 60 * US); /* as SQLite reads "HH:MM" */
    ck_assert_int_eq(parse_ok("1970-01-01T00:01Z"), 60 * US);
}
END_TEST

START_TEST(parse_rejects_bad_input)
{
    static const char *bad[] = {
        "", "1970", "1970-01", "70-01-01", "1970-13-01", "1970-00-10", "1970-01-32",
        "2023-02-29", "1900-02-29", "0000-01-01", "1970-01-01 24:00:00", "1970-01-01 00:60:00",
        "1970-01-01 00:00:60", "1970-01-01 00:0", "1970-01-01 00:00.5", "1970-01-01 00:00:00.", "1970-01-01 00:00:00x",
        "1970-01-01 00:00:00+1", "1970-01-01 00:00:00+25", "1970-01-01X00:00:00",
        "1970-01-01 00:00:00.1234567890", "abcd-ef-gh", "1970-01-01 00:00:00 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orm_timestamp ts = 7;
        int rc = orm_timestamp_parse(&ts, bad[i], strlen(bad[i]));
        ck_assert_msg(rc == ORM_EINVAL, "\"%s\" parsed (rc %d)", bad[i], rc);
        ck_assert_int_eq(ts, 7);
        ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "timestamp"));
    }
    /* The length bounds the parse: no reading past it. */
    orm_timestamp ts;
    ck_assert_orm(orm_timestamp_parse(&ts, "1970-01-01 00:00:00", 12), ORM_EINVAL);
    ck_assert_ok(orm_timestamp_parse(&ts, "1970-01-02 garbage", 10));
    ck_assert_int_eq(ts, 86400 * US);
    ck_assert_orm(orm_timestamp_parse(&ts, NULL, 0), ORM_EINVAL);
}
END_TEST

/* Issue 19 item 15: what parses always formats: an offset cannot push an instant out of
 * years 1..9999. */
START_TEST(parse_refuses_what_format_refuses)
{
    static const char *const bad[] = { "0001-01-01 00:00:00+01", "0001-01-01T00:30:00+00:31",
                                       "9999-12-31 23:30:00-01", "9999-12-31 23:59:59.999999-00:01" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        orm_timestamp ts = 7;
        ck_assert_orm(orm_timestamp_parse(&ts, bad[i], strlen(bad[i])), ORM_EINVAL);
        ck_assert_int_eq(ts, 7);
        ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "outside years 1..9999"));
    }
    static const char *const good[] = { "0001-01-01 00:00:00-01", "9999-12-31 23:59:59.999999Z",
                                        "0001-01-01", "9999-12-31 22:00:00-01" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        orm_timestamp ts;
        char buf[40];
        ck_assert_ok(orm_timestamp_parse(&ts, good[i], strlen(good[i])));
        ck_assert_int_gt(orm_timestamp_format(ts, buf, sizeof buf), 0);
    }
    orm_timestamp ts;
    ck_assert_ok(orm_timestamp_parse(&ts, "0001-01-01", 10));
    ck_assert_int_eq(ts, ORM_TIMESTAMP_MIN);
    ck_assert_ok(orm_timestamp_parse(&ts, "9999-12-31 23:59:59.999999", 26));
    ck_assert_int_eq(ts, ORM_TIMESTAMP_MAX);
}
END_TEST

static void check_short(orm_timestamp ts, const char *want)
{
    char buf[32];
    int n = orm_timestamp_format_short(ts, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_str_eq(buf, want);
    orm_timestamp back = 0;
    ck_assert_ok(orm_timestamp_parse(&back, buf, (size_t)n));
    ck_assert_int_eq(back, ts);
}

START_TEST(format_short_forms)
{
    check_short(0, "1970-01-01");
    check_short(1 * US, "1970-01-01 00:00:01");
    check_short(US + 500000, "1970-01-01 00:00:01.500");
    check_short(US + 1000, "1970-01-01 00:00:01.001");
    check_short(US + 1, "1970-01-01 00:00:01.000001");
    check_short(-1, "1969-12-31 23:59:59.999999");
    check_short(INT64_C(253402300799) * US + 999000, "9999-12-31 23:59:59.999");
    char buf[32];
    ck_assert_orm(orm_timestamp_format_short(INT64_C(253402300800) * US, buf, sizeof buf), ORM_EINVAL);
    ck_assert_orm(orm_timestamp_format_short(0, buf, 10), ORM_EINVAL);
}
END_TEST

/* The storage rule's claim (value.h): text order is time order across every short form, and
 * the same instant in the full form (as datetime()/strftime('%f') may write it longer) never
 * sorts below the short one. Pairs of instants near form boundaries, both orders. */
START_TEST(format_short_sorts_as_time)
{
    static const int64_t parts[] = { 0, 1, 999, 1000, 1001, 500000, 999000, 999999, US,
                                     US + 1000, 59 * US, 3600 * US, 86399 * US + 999999 };
    const size_t np = sizeof parts / sizeof parts[0];
    for (int64_t day = 0; day < 3; day++)
        for (size_t i = 0; i < np; i++)
            for (int64_t day2 = 0; day2 < 3; day2++)
                for (size_t j = 0; j < np; j++) {
                    orm_timestamp a = INT64_C(1772582400) * US + day * 86400 * US + parts[i];
                    orm_timestamp b = INT64_C(1772582400) * US + day2 * 86400 * US + parts[j];
                    char sa[32], sb[32], fb[32];
                    ck_assert_int_gt(orm_timestamp_format_short(a, sa, sizeof sa), 0);
                    ck_assert_int_gt(orm_timestamp_format_short(b, sb, sizeof sb), 0);
                    ck_assert_int_gt(orm_timestamp_format(b, fb, sizeof fb), 0);
                    int c = strcmp(sa, sb);
                    if (a < b)
                        ck_assert_msg(c < 0 && strcmp(sa, fb) < 0, "%s vs %s", sa, sb);
                    else if (a > b)
                        ck_assert_msg(c > 0 && strcmp(sa, fb) > 0, "%s vs %s", sa, sb);
                    else
                        ck_assert_msg(c == 0 && strcmp(sa, fb) <= 0, "%s vs %s", sa, fb);
                }
}
END_TEST

static Suite *value_suite(void)
{
    Suite *s = suite_create("value");
    TCase *tc = tcase_create("timestamps");
    tcase_add_test(tc, type_names);
    tcase_add_test(tc, format_known_instants);
    tcase_add_test(tc, format_every_day_roundtrips);
    tcase_add_test(tc, format_out_of_range_and_small_buffer);
    tcase_add_test(tc, parse_forms);
    tcase_add_test(tc, parse_rejects_bad_input);
    tcase_add_test(tc, parse_refuses_what_format_refuses);
    tcase_add_test(tc, format_short_forms);
    tcase_add_test(tc, format_short_sorts_as_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(value_suite()); }
