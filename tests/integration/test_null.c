/* Integration: NULL handling and value fidelity per type — every nullable type round-trips
 * NULL and non-NULL (extremes included), has_ flags, empty text and empty blob are not NULL,
 * NULL into a scalar without has_ is ORM_ENULL and text in an int64 field is ORM_ETYPE (both
 * naming the column), and timestamps round-trip to the microsecond, before 1970 too. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "it.h"

static void load_alltypes(int64_t id, it_alltypes *out)
{
    orm_value key = orm_int(id);
    memset(out, 0, sizeof *out);
    ck_assert_ok(orm_get(it_s, NULL, &it_alltypes_model, out, &key));
}

static void assert_all_null(const it_alltypes *g)
{
    ck_assert(!g->has_i16);
    ck_assert(!g->has_i32);
    ck_assert(!g->has_i64);
    ck_assert(!g->has_d);
    ck_assert(!g->has_b);
    ck_assert_ptr_null(g->t);
    ck_assert_ptr_null(g->bl.data);
    ck_assert(!g->has_ts);
}

static void assert_alltypes_eq(const it_alltypes *g, const it_alltypes *w)
{
    ck_assert(g->has_i16 && g->has_i32 && g->has_i64 && g->has_d && g->has_b && g->has_ts);
    ck_assert_int_eq(g->i16, w->i16);
    ck_assert_int_eq(g->i32, w->i32);
    ck_assert_int_eq(g->i64, w->i64);
    ck_assert_double_eq(g->d, w->d);
    ck_assert_int_eq(g->b, w->b);
    ck_assert_ptr_nonnull(g->t);
    ck_assert_str_eq(g->t, w->t);
    ck_assert_ptr_nonnull(g->bl.data); /* an empty blob is not NULL */
    ck_assert_uint_eq(g->bl.len, w->bl.len);
    if (w->bl.len)
        ck_assert_mem_eq(g->bl.data, w->bl.data, w->bl.len);
    ck_assert_int_eq(g->ts, w->ts);
}

START_TEST(every_nullable_type_round_trips_null)
{
    it_alltypes row;
    memset(&row, 0, sizeof row);
    /* Values behind has_ false must not be written. */
    row.i16 = 5;
    row.i32 = 6;
    row.i64 = 7;
    row.d = 8.5;
    row.b = true;
    row.ts = 9;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &row));
    ck_assert_int_gt(row.id, 0);
    it_alltypes got;
    load_alltypes(row.id, &got);
    assert_all_null(&got);
    orm_model_clear(&it_alltypes_model, &got);

    static const char *const cols[] = { "i16", "i32", "i64", "d", "b", "t", "bl", "ts" };
    for (size_t i = 0; i < 8; i++)
        ck_assert_int_eq(it_count(&it_alltypes_model, orm_is_null(cols[i])), 1);
}
END_TEST

START_TEST(every_nullable_type_round_trips_values_and_extremes)
{
    static const unsigned char bytes[] = { 0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0 };
    it_alltypes lo = { 0, INT16_MIN, true, INT32_MIN, true, INT64_MIN, true, -DBL_MAX, true,
                       false, true, (char *)"", { (void *)"", 0 }, -62135596800000000LL, true };
    it_alltypes hi = { 0, INT16_MAX, true, INT32_MAX, true, INT64_MAX, true, DBL_MIN, true,
                       true, true, (char *)"text \xc3\xa9", { (void *)bytes, sizeof bytes },
                       253402300799999999LL, true };
    it_alltypes mid = { 0, -1, true, 0, true, -1, true, 0.1 + 0.2, true, false, true,
                        (char *)"NULL", { (void *)"\0", 1 }, 0, true };
    it_alltypes *rows[] = { &lo, &hi, &mid };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, rows[i]));
        it_alltypes got;
        load_alltypes(rows[i]->id, &got);
        assert_alltypes_eq(&got, rows[i]);
        orm_model_clear(&it_alltypes_model, &got);
    }
    /* Values are found by equality too (the bound type matches the stored one). */
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("i64", orm_int(INT64_MIN))), 1);
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("b", orm_bool(false))), 2);
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("t", orm_text(""))), 1);
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("bl", orm_blob_n(bytes, sizeof bytes))),
                     1);
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("d", orm_double(0.1 + 0.2))), 1);
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_is_null("t")), 0);
}
END_TEST

/* Issue 19 item 14: NaN read back as NULL on SQLite and round-tripped on PostgreSQL; now it
 * is refused (ORM_EINVAL) when bound, on both, and nothing is written. Infinities store. */
START_TEST(nan_is_refused_on_both_backends)
{
    it_alltypes a = { 0, 1, true, 1, true, 1, true, NAN, true, false, true, (char *)"nan", { NULL, 0 }, 0, true };
    ck_assert_orm(orm_insert_one(it_s, NULL, &it_alltypes_model, &a), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "NaN"));
    ck_assert_int_eq(it_count(&it_alltypes_model, NULL), 0);
    orm_value args[] = { orm_double(NAN) };
    ck_assert_orm(orm_raw_exec(it_s, NULL, it_is_postgres() ? "INSERT INTO all_types (d) VALUES ($1)"
                                                            : "INSERT INTO all_types (d) VALUES (?)",
                               args, 1, NULL),
                  ORM_EINVAL);
    ck_assert_int_eq(it_count(&it_alltypes_model, NULL), 0);
    orm_select *q = orm_select_new(it_s, &it_alltypes_model); /* as a condition: refused too */
    orm_select_where(q, orm_eq("d", orm_double(NAN)));
    int64_t n = -1;
    ck_assert_orm(orm_select_count(q, NULL, &n), ORM_EINVAL);
    orm_select_free(q);
    a.d = INFINITY;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &a));
    it_alltypes got;
    load_alltypes(a.id, &got);
    ck_assert(got.has_d && isinf(got.d) && got.d > 0);
    orm_model_clear(&it_alltypes_model, &got);
}
END_TEST

START_TEST(update_to_null_and_back)
{
    it_alltypes row = { 0, 1, true, 2, true, 3, true, 4.5, true, true, true, (char *)"x",
                        { (void *)"y", 1 }, 1000000, true };
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &row));
    it_alltypes nulls;
    memset(&nulls, 0, sizeof nulls);
    nulls.id = row.id;
    ck_assert_ok(orm_update_one(it_s, NULL, &it_alltypes_model, &nulls));
    it_alltypes got;
    load_alltypes(row.id, &got);
    assert_all_null(&got);
    orm_model_clear(&it_alltypes_model, &got);

    ck_assert_ok(orm_update_one(it_s, NULL, &it_alltypes_model, &row));
    load_alltypes(row.id, &got);
    assert_alltypes_eq(&got, &row);
    orm_model_clear(&it_alltypes_model, &got);

    /* And through the update builder with a NULL value. */
    orm_update *up = orm_update_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_update_set(up, "t", orm_null()));
    ck_assert_ok(orm_update_set(up, "i32", orm_null()));
    ck_assert_ok(orm_update_where(up, orm_eq("id", orm_int(row.id))));
    int64_t n = 0;
    ck_assert_ok(orm_update_exec(up, NULL, &n));
    orm_update_free(up);
    ck_assert_int_eq(n, 1);
    load_alltypes(row.id, &got);
    ck_assert_ptr_null(got.t);
    ck_assert(!got.has_i32);
    ck_assert(got.has_i16);
    ck_assert_int_eq(got.i16, 1);
    orm_model_clear(&it_alltypes_model, &got);
}
END_TEST

START_TEST(null_into_scalar_without_has_is_enull_naming_column)
{
    it_nn_mismatch row = { 0, (char *)"no lifespan", 0 };
    orm_insert *q = orm_insert_new(it_s, &it_nn_mismatch_model);
    ck_assert_ok(orm_insert_columns(q, (const char *const[]){ "label" }, 1));
    ck_assert_ok(orm_insert_add(q, &row));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);
    ck_assert_int_gt(row.id, 0);

    it_nn_mismatch got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(row.id);
    ck_assert_orm(orm_get(it_s, NULL, &it_nn_mismatch_model, &got, &key), ORM_ENULL);
    ck_assert_msg(it_msg_has("lifespan"), "message does not name the column: %s",
                  orm_error_last()->message);
    orm_model_clear(&it_nn_mismatch_model, &got);

    orm_select *sel = orm_select_new(it_s, &it_nn_mismatch_model);
    orm_list list = ORM_LIST_INIT;
    ck_assert_orm(orm_select_all(sel, NULL, &list), ORM_ENULL);
    ck_assert_uint_eq(list.count, 0); /* left as it was */
    orm_list_clear(&list);
    orm_select_free(sel);
}
END_TEST

START_TEST(text_in_int_field_is_etype_naming_column)
{
    it_type_mismatch row = { 0, (char *)"text amount", 0 };
    orm_insert *q = orm_insert_new(it_s, &it_type_mismatch_model);
    ck_assert_ok(orm_insert_columns(q, (const char *const[]){ "label" }, 1));
    ck_assert_ok(orm_insert_add(q, &row));
    ck_assert_ok(orm_insert_exec(q, NULL, NULL));
    orm_insert_free(q);

    it_type_mismatch got;
    memset(&got, 0, sizeof got);
    orm_value key = orm_int(row.id);
    ck_assert_orm(orm_get(it_s, NULL, &it_type_mismatch_model, &got, &key), ORM_ETYPE);
    ck_assert_msg(it_msg_has("amount"), "message does not name the column: %s",
                  orm_error_last()->message);
    orm_model_clear(&it_type_mismatch_model, &got);
}
END_TEST

START_TEST(timestamps_round_trip_microseconds_and_pre_1970)
{
    static const orm_timestamp when[] = {
        0,                       /* the epoch */
        1700000000123456LL,      /* 2023-11-14 22:13:20.123456 */
        -1,                      /* 1969-12-31 23:59:59.999999 */
        -1000000,                /* 1969-12-31 23:59:59 */
        -2208988800000000LL,     /* 1900-01-01 */
        -2208988799999999LL,     /* 1900-01-01 00:00:00.000001 */
        951782400000001LL,       /* 2000-02-29 00:00:00.000001 */
        -62135596800000000LL,    /* 0001-01-01 */
        253402300799999999LL,    /* 9999-12-31 23:59:59.999999 */
    };
    enum { N = sizeof when / sizeof when[0] };
    int64_t ids[N];
    for (size_t i = 0; i < N; i++) {
        it_alltypes row;
        memset(&row, 0, sizeof row);
        row.ts = when[i];
        row.has_ts = true;
        ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &row));
        ids[i] = row.id;
        it_alltypes got;
        load_alltypes(row.id, &got);
        ck_assert(got.has_ts);
        ck_assert_msg(got.ts == when[i], "timestamp %lld came back as %lld", (long long)when[i],
                      (long long)got.ts);
        orm_model_clear(&it_alltypes_model, &got);
        ck_assert_int_eq(it_count(&it_alltypes_model, orm_eq("ts", orm_timestamp_us(when[i]))),
                         1);
    }
    /* Comparisons and order follow time, across 1970. */
    ck_assert_int_eq(it_count(&it_alltypes_model, orm_lt("ts", orm_timestamp_us(0))), 5);
    ck_assert_int_eq(it_count(&it_alltypes_model,
                              orm_between("ts", orm_timestamp_us(-1000000),
                                          orm_timestamp_us(0))),
                     3);
    orm_select *q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_select_order_by(q, "ts", ORM_ASC));
    orm_list list = ORM_LIST_INIT;
    ck_assert_ok(orm_select_all(q, NULL, &list));
    orm_select_free(q);
    ck_assert_uint_eq(list.count, N);
    for (size_t i = 1; i < list.count; i++)
        ck_assert_int_lt(((it_alltypes *)orm_list_at(&list, i - 1))->ts,
                         ((it_alltypes *)orm_list_at(&list, i))->ts);
    ck_assert_int_eq(((it_alltypes *)orm_list_at(&list, 0))->id, ids[7]);
    orm_list_clear(&list);
}
END_TEST

/* value.h: SQLite keeps timestamps as ISO-8601 UTC text (so its date functions work on them),
 * PostgreSQL as timestamp; booleans are 1/0 on SQLite. Read the raw column to check. */
START_TEST(timestamp_and_bool_storage_per_backend)
{
    it_alltypes row;
    memset(&row, 0, sizeof row);
    row.ts = 1700000000123456LL; /* 2023-11-14 22:13:20.123456 UTC */
    row.has_ts = true;
    row.b = true;
    row.has_b = true;
    ck_assert_ok(orm_insert_one(it_s, NULL, &it_alltypes_model, &row));

    orm_select *q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_select_columns(q, (const char *const[]){ "ts", "b" }, 2));
    orm_rows *r = NULL;
    ck_assert_ok(orm_select_rows(q, NULL, &r));
    ck_assert_int_eq(orm_rows_next(r), 1);
    orm_value ts = orm_rows_value(r, 0), b = orm_rows_value(r, 1);
    if (it_is_postgres()) {
        ck_assert_int_eq(ts.type, ORM_VALUE_TIMESTAMP);
        ck_assert_int_eq(ts.u.i, row.ts);
        ck_assert_int_eq(b.type, ORM_VALUE_BOOL);
        ck_assert(b.u.b);
    } else {
        ck_assert_int_eq(ts.type, ORM_VALUE_TEXT);
        ck_assert_uint_eq(ts.len, strlen("2023-11-14 22:13:20.123456"));
        ck_assert(memcmp(ts.u.s, "2023-11-14 22:13:20.123456", ts.len) == 0);
        ck_assert_int_eq(b.type, ORM_VALUE_INT);
        ck_assert_int_eq(b.u.i, 1);
    }
    ck_assert_int_eq(orm_rows_next(r), 0);
    orm_rows_free(r);
    orm_select_free(q);

    /* The database's own date arithmetic agrees on the year. */
    q = orm_select_new(it_s, &it_alltypes_model);
    ck_assert_ok(orm_select_expr(q, orm_raw_expr(it_is_postgres()
                                                     ? "CAST(EXTRACT(YEAR FROM \"ts\") AS bigint)"
                                                     : "CAST(strftime('%Y', \"ts\") AS INTEGER)",
                                                 NULL, 0),
                                 "y"));
    int64_t year = 0;
    ck_assert_ok(orm_select_scalar_int(q, NULL, &year, NULL));
    ck_assert_int_eq(year, 2023);
    orm_select_free(q);
}
END_TEST

Suite *it_null_suite(void)
{
    Suite *s = suite_create("null_and_types");
    TCase *tc = it_tcase("null_and_types");
    tcase_add_test(tc, every_nullable_type_round_trips_null);
    tcase_add_test(tc, every_nullable_type_round_trips_values_and_extremes);
    tcase_add_test(tc, update_to_null_and_back);
    tcase_add_test(tc, nan_is_refused_on_both_backends);
    tcase_add_test(tc, null_into_scalar_without_has_is_enull_naming_column);
    tcase_add_test(tc, text_in_int_field_is_etype_naming_column);
    tcase_add_test(tc, timestamps_round_trip_microseconds_and_pre_1970);
    tcase_add_test(tc, timestamp_and_bool_storage_per_backend);
    suite_add_tcase(s, tc);
    return s;
}
