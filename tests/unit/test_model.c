/* Unit tests: model validation, clear/copy/size/get/set and the mapper's conversions
 * (orm/model.c, orm/mapper.c). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/orm.h"
#include "testutil.h"

typedef struct thing {
    int64_t id;
    int16_t small;
    int32_t age;
    bool has_age;
    double score;
    bool active;
    char *name;
    orm_blob data;
    orm_timestamp at;
    bool has_at;
} thing;

static const orm_field thing_fields[] = {
    ORM_FIELD(thing, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(thing, small, ORM_FIELD_INT16, 0),
    ORM_FIELD_NULLABLE(thing, age, ORM_FIELD_INT32, 0),
    ORM_FIELD(thing, score, ORM_FIELD_DOUBLE, 0),
    ORM_FIELD(thing, active, ORM_FIELD_BOOL, 0),
    ORM_FIELD_COL(thing, name, "full_name", ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(thing, data, ORM_FIELD_BLOB, 0),
    ORM_FIELD_NULLABLE(thing, at, ORM_FIELD_TIMESTAMP, 0),
};
static const size_t thing_pk[] = { 0 };
static const orm_model thing_model = ORM_MODEL(thing, "things", thing_fields, thing_pk);

enum { F_ID, F_SMALL, F_AGE, F_SCORE, F_ACTIVE, F_NAME, F_DATA, F_AT, NF };

/* A writable copy of the descriptor to break one rule at a time. */
static orm_field fields[NF];
static size_t pk[2];
static orm_model m;

static void reset_model(void)
{
    memcpy(fields, thing_fields, sizeof fields);
    pk[0] = 0;
    pk[1] = 1;
    m = thing_model;
    m.fields = fields;
    m.pk = pk;
    m.npk = 1;
}

static void expect_invalid(const char *needle)
{
    int rc = orm_model_validate(&m);
    ck_assert_msg(rc == ORM_EINVAL, "validate returned %d, expected EINVAL (%s)", rc, needle);
    const char *msg = orm_error_last()->message;
    ck_assert_msg(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
    ck_assert_ptr_nonnull(strstr(msg, "thing"));
    reset_model();
}

START_TEST(validate_rules)
{
    ck_assert_ok(orm_model_validate(&thing_model));
    ck_assert_orm(orm_model_validate(NULL), ORM_EINVAL);
    reset_model();
    m.version = 99; expect_invalid("version");
    m.table = NULL; expect_invalid("table");
    fields[F_SCORE].name = NULL; expect_invalid("no name");
    fields[F_SCORE].column = NULL; expect_invalid("score");
    fields[F_SCORE].offset = sizeof(thing) - 4; expect_invalid("score");
    fields[F_AGE].has_offset = sizeof(thing); expect_invalid("age");
    fields[F_SCORE].type = (orm_field_type)77; expect_invalid("score");
    m.npk = 0; expect_invalid("primary key");
    m.pk = NULL; expect_invalid("primary key");
    pk[0] = NF; expect_invalid("primary key");
    fields[F_ID].flags = ORM_FIELD_PK; m.npk = 2; pk[1] = 0; expect_invalid("twice");
    /* no key at all is a valid model (insert and query only) */
    fields[F_ID].flags = 0; m.npk = 0; m.pk = NULL;
    ck_assert_ok(orm_model_validate(&m));
    reset_model();
    fields[F_SCORE].name = "age"; expect_invalid("duplicate field name age");
    fields[F_SCORE].column = "full_name"; expect_invalid("duplicate column full_name");
    /* AUTOINCREMENT: only on a single-field integer key. */
    fields[F_ID].type = ORM_FIELD_TEXT; expect_invalid("AUTOINCREMENT");
    m.npk = 2; expect_invalid("AUTOINCREMENT");
    fields[F_SMALL].flags = ORM_FIELD_AUTOINCREMENT; expect_invalid("small");
    /* Composite keys without AUTOINCREMENT are fine. */
    fields[F_ID].flags = ORM_FIELD_PK; fields[F_SMALL].flags = ORM_FIELD_PK; m.npk = 2;
    ck_assert_ok(orm_model_validate(&m));
}
END_TEST

/* Issue 19 item 7: descriptors that would make the mapper write over other members. */
START_TEST(validate_layout)
{
    reset_model();
    /* a text pointer over the int64 key */
    fields[F_NAME].offset = offsetof(thing, id); expect_invalid("field name overlaps field id");
    /* two members sharing bytes without starting together */
    fields[F_SMALL].offset = offsetof(thing, id) + 2; expect_invalid("small");
    fields[F_SCORE].offset = offsetof(thing, score) + 1; expect_invalid("field score is misaligned");
    fields[F_AGE].offset = offsetof(thing, age) + 2; expect_invalid("field age is misaligned");
    /* a has_ flag inside another member */
    fields[F_AGE].has_offset = offsetof(thing, score) + 3; expect_invalid("the has_ flag of field age overlaps field score");
    /* two fields sharing one has_ flag */
    fields[F_AT].has_offset = offsetof(thing, has_age); expect_invalid("has_ flag of field a");
    /* key flags that disagree with pk[] */
    fields[F_ID].flags = 0; expect_invalid("field id is in the primary key (pk[]) but lacks ORM_FIELD_PK");
    fields[F_SCORE].flags = ORM_FIELD_PK; expect_invalid("field score is flagged ORM_FIELD_PK but is not in the primary key");
    ck_assert_ok(orm_model_validate(&m));
    /* orm_db_register refuses them before anything runs */
    orm_db *db;
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    fields[F_NAME].offset = offsetof(thing, id);
    ck_assert_orm(orm_db_register(db, &m), ORM_EINVAL);
    ck_assert_ptr_nonnull(strstr(orm_error_last()->message, "field name overlaps field id"));
    reset_model();
    ck_assert_ok(orm_db_register(db, &m));
    orm_db_close(db);
}
END_TEST

START_TEST(field_index)
{
    ck_assert_int_eq(orm_model_field_index(&thing_model, "id"), F_ID);
    ck_assert_int_eq(orm_model_field_index(&thing_model, "name"), F_NAME);
    ck_assert_int_eq(orm_model_field_index(&thing_model, "full_name"), F_NAME);
    ck_assert_int_eq(orm_model_field_index(&thing_model, "nope"), -1);
    ck_assert_int_eq(orm_model_field_index(&thing_model, NULL), -1);
}
END_TEST

static void fill(thing *t)
{
    memset(t, 0, sizeof *t);
    ck_assert_ok(orm_model_set(&thing_model, t, F_ID, orm_int(7)));
    ck_assert_ok(orm_model_set(&thing_model, t, F_NAME, orm_text("ada")));
    ck_assert_ok(orm_model_set(&thing_model, t, F_DATA, orm_blob_n("\0\1\2", 3)));
    ck_assert_ok(orm_model_set(&thing_model, t, F_AGE, orm_int(36)));
}

START_TEST(clear_copy_size)
{
    thing a, b;
    fill(&a);
    ck_assert_uint_eq(orm_model_size(&thing_model, &a), sizeof(thing) + 3 + 3);
    ck_assert_ok(orm_model_copy(&thing_model, &b, &a));
    ck_assert_ptr_ne(a.name, b.name);
    ck_assert_ptr_ne(a.data.data, b.data.data);
    ck_assert_str_eq(b.name, "ada");
    ck_assert_int_eq(memcmp(b.data.data, "\0\1\2", 3), 0);
    ck_assert(b.has_age && b.age == 36 && b.id == 7);
    orm_model_clear(&thing_model, &a);
    ck_assert_ptr_null(a.name);
    ck_assert_int_eq(a.id, 0);
    ck_assert_str_eq(b.name, "ada"); /* deep: unaffected */
    orm_model_clear(&thing_model, &b);
    orm_model_clear(&thing_model, NULL);

    /* An empty (non-NULL) blob is copied as empty, not NULL. */
    memset(&a, 0, sizeof a);
    ck_assert_ok(orm_model_set(&thing_model, &a, F_DATA, orm_blob_n("", 0)));
    ck_assert_ptr_nonnull(a.data.data);
    ck_assert_ok(orm_model_copy(&thing_model, &b, &a));
    ck_assert_ptr_nonnull(b.data.data);
    ck_assert_uint_eq(b.data.len, 0);
    orm_model_clear(&thing_model, &a);
    orm_model_clear(&thing_model, &b);
}
END_TEST

START_TEST(copy_enomem_leaves_dst_zeroed)
{
    thing a, b, zero;
    memset(&zero, 0, sizeof zero);
    fill(&a);
    for (long n = 0;; n++) {
        memset(&b, 0x55, sizeof b);
        orm__alloc_fail_after(n);
        int rc = orm_model_copy(&thing_model, &b, &a);
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        if (rc == ORM_OK) {
            ck_assert(!injected);
            orm_model_clear(&thing_model, &b);
            break;
        }
        ck_assert_orm(rc, ORM_ENOMEM);
        ck_assert_int_eq(memcmp(&b, &zero, sizeof b), 0);
    }
    orm_model_clear(&thing_model, &a);
}
END_TEST

START_TEST(get_values)
{
    thing a;
    fill(&a);
    orm_value v = orm_model_get(&thing_model, &a, F_NAME);
    ck_assert_int_eq(v.type, ORM_VALUE_TEXT);
    ck_assert_uint_eq(v.len, 3);
    ck_assert_int_eq(orm_model_get(&thing_model, &a, F_AT).type, ORM_VALUE_NULL); /* has_at false */
    ck_assert_int_eq(orm_model_get(&thing_model, &a, F_AGE).u.i, 36);
    ck_assert_int_eq(orm_model_get(&thing_model, &a, F_ACTIVE).type, ORM_VALUE_BOOL);
    ck_assert_int_eq(orm_model_get(&thing_model, &a, F_DATA).type, ORM_VALUE_BLOB);
    ck_assert_int_eq(orm_model_get(&thing_model, &a, NF).type, ORM_VALUE_NULL);
    orm_model_clear(&thing_model, &a);
    ck_assert_int_eq(orm_model_get(&thing_model, &a, F_NAME).type, ORM_VALUE_NULL);
}
END_TEST

static void expect_set_error(thing *t, size_t f, orm_value v, int code, const char *needle)
{
    int rc = orm_model_set(&thing_model, t, f, v);
    ck_assert_msg(rc == code, "set field %zu: %d, expected %d", f, rc, code);
    ck_assert_msg(strstr(orm_error_last()->message, needle) != NULL, "message \"%s\" lacks \"%s\"",
                  orm_error_last()->message, needle);
}

START_TEST(set_conversions)
{
    thing t;
    memset(&t, 0, sizeof t);
    /* Lossless conversions. */
    ck_assert_ok(orm_model_set(&thing_model, &t, F_SMALL, orm_int(-32768)));
    ck_assert_int_eq(t.small, -32768);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_AGE, orm_int(INT32_MAX)));
    ck_assert_int_eq(t.age, INT32_MAX);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_SCORE, orm_int(3)));
    ck_assert(t.score == 3.0);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_SCORE, orm_double(2.5)));
    ck_assert(t.score == 2.5);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_ACTIVE, orm_int(1)));
    ck_assert(t.active);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_ACTIVE, orm_bool(false)));
    ck_assert(!t.active);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_AT, orm_text("1970-01-01 00:00:01")));
    ck_assert(t.has_at && t.at == 1000000);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_AT, orm_int(5)));
    ck_assert_int_eq(t.at, 5000000); /* an integer time is unix seconds (value.h) */
    ck_assert_ok(orm_model_set(&thing_model, &t, F_AT, orm_timestamp_us(6)));
    ck_assert_int_eq(t.at, 6);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_DATA, orm_text("as bytes")));
    ck_assert_uint_eq(t.data.len, 8);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_NAME, orm_text_n("a\0b", 3)));
    ck_assert_int_eq(memcmp(t.name, "a\0b", 4), 0);

    /* Mismatches: ETYPE naming table.column and both types. */
    expect_set_error(&t, F_AGE, orm_text("x"), ORM_ETYPE, "things.age: column holds text, field is int32");
    expect_set_error(&t, F_SMALL, orm_int(40000), ORM_ETYPE, "things.small");
    expect_set_error(&t, F_AGE, orm_int(INT64_C(1) << 40), ORM_ETYPE, "out of range");
    expect_set_error(&t, F_ID, orm_double(1.5), ORM_ETYPE, "things.id: column holds double, field is int64");
    expect_set_error(&t, F_ACTIVE, orm_int(2), ORM_ETYPE, "things.active");
    expect_set_error(&t, F_NAME, orm_int(2), ORM_ETYPE, "things.full_name: column holds int, field is text");
    expect_set_error(&t, F_DATA, orm_double(2), ORM_ETYPE, "things.data");
    expect_set_error(&t, F_AT, orm_text("yesterday"), ORM_ETYPE, "things.at");
    expect_set_error(&t, F_SCORE, orm_text("1.5"), ORM_ETYPE, "things.score");
    ck_assert_int_eq(t.age, INT32_MAX); /* a failed set changes nothing */
    ck_assert_int_eq(memcmp(t.name, "a\0b", 4), 0);

    /* NULL: ENULL when the member cannot hold it, else clears has_ / the pointer. */
    expect_set_error(&t, F_SCORE, orm_null(), ORM_ENULL, "things.score");
    ck_assert_ok(orm_model_set(&thing_model, &t, F_AGE, orm_null()));
    ck_assert(!t.has_age);
    ck_assert_int_eq(t.age, 0);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_NAME, orm_null()));
    ck_assert_ptr_null(t.name);
    ck_assert_ok(orm_model_set(&thing_model, &t, F_DATA, orm_null()));
    ck_assert_ptr_null(t.data.data);
    ck_assert_orm(orm_model_set(&thing_model, &t, NF, orm_int(1)), ORM_EINVAL);
    orm_model_clear(&thing_model, &t);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, validate_rules);
    tcase_add_test(tc, validate_layout);
    tcase_add_test(tc, field_index);
    tcase_add_test(tc, clear_copy_size);
    tcase_add_test(tc, copy_enomem_leaves_dst_zeroed);
    tcase_add_test(tc, get_values);
    tcase_add_test(tc, set_conversions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(model_suite()); }
