/* Unit tests: fixed-capacity text fields (ORM_FIELD_FIXED_TEXT, `char name[N]`) without a
 * server — descriptor validation, orm_model_get/set/copy/size/clear, the builders' type check
 * and the insert builder's row check, the cache's model row codec, that reading a row into a
 * fixed text member allocates nothing, and an allocation-failure loop over the read and write
 * paths (SQLite in memory). The suites on both backends
 * are in tests/integration/test_fixed_text_it.c. */
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/cache.h"
#include "orm/orm.h"
#include "testutil.h"

typedef struct city {
    int64_t id;
    char code[8]; /* at most 7 bytes */
    char name[16];
    bool has_name;
    int32_t pop;
} city;

static const orm_field city_fields[] = {
    ORM_FIELD(city, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD_FIXED(city, code, ORM_FIELD_NOT_NULL),
    ORM_FIELD_FIXED_NULLABLE(city, name, 0),
    ORM_FIELD(city, pop, ORM_FIELD_INT32, 0),
};
static const size_t city_pk[] = { 0 };
static const orm_model city_model = ORM_MODEL(city, "cities", city_fields, city_pk);
enum { C_ID, C_CODE, C_NAME, C_POP, C_NF };

/* The same table read into owned char * members: what fixed text saves. */
typedef struct city_ptr {
    int64_t id;
    char *code;
    char *name;
    int32_t pop;
} city_ptr;

static const orm_field city_ptr_fields[] = {
    ORM_FIELD(city_ptr, id, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(city_ptr, code, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(city_ptr, name, ORM_FIELD_TEXT, 0),
    ORM_FIELD(city_ptr, pop, ORM_FIELD_INT32, 0),
};
static const orm_model city_ptr_model = ORM_MODEL(city_ptr, "cities_p", city_ptr_fields, city_pk);

static bool msg_has(const char *needle)
{
    return strstr(orm_error_last()->message, needle) != NULL;
}

START_TEST(macros_record_the_capacity)
{
    ck_assert_ok(orm_model_validate(&city_model));
    ck_assert_uint_eq(city_fields[C_CODE].capacity, 8);
    ck_assert_uint_eq(city_fields[C_NAME].capacity, 16);
    ck_assert_uint_eq(city_fields[C_NAME].has_offset, offsetof(city, has_name));
    ck_assert_uint_eq(city_fields[C_ID].capacity, 0);
    ck_assert_int_eq(city_fields[C_CODE].type, ORM_FIELD_FIXED_TEXT);
}
END_TEST

START_TEST(validation)
{
    orm_field f[C_NF];
    orm_model m = city_model;
    m.fields = f;
#define RESET() memcpy(f, city_fields, sizeof f)
#define EXPECT_INVALID(needle)                                                   \
    do {                                                                         \
        ck_assert_orm(orm_model_validate(&m), ORM_EINVAL);                       \
        ck_assert_msg(msg_has(needle), "\"%s\" lacks \"%s\"", orm_error_last()->message, needle); \
        RESET();                                                                 \
    } while (0)
    RESET();
    f[C_CODE].capacity = 1; EXPECT_INVALID("field code: a fixed text field needs a capacity of at least 2");
    f[C_CODE].capacity = 0; EXPECT_INVALID("capacity of at least 2 bytes");
    f[C_POP].capacity = 4; EXPECT_INVALID("field pop: capacity 4 is only for ORM_FIELD_FIXED_TEXT");
    /* a capacity past the member runs into the next one, or out of the struct */
    f[C_CODE].capacity = 9; EXPECT_INVALID("field name overlaps field code");
    f[C_NAME].capacity = 17; EXPECT_INVALID("overlaps field name");
    f[C_NAME].offset = sizeof(city) - 8; EXPECT_INVALID("field name lies outside the struct");
    /* any offset is aligned for char */
    f[C_CODE].capacity = 7; ck_assert_ok(orm_model_validate(&m)); RESET();
    /* a descriptor built against the format without capacities is refused, not misread */
    m.version = 1;
    ck_assert_orm(orm_model_validate(&m), ORM_EINVAL);
    ck_assert(msg_has("descriptor version 1 is from an older liborm"));
#undef EXPECT_INVALID
#undef RESET
}
END_TEST

START_TEST(get_and_set)
{
    city c;
    memset(&c, 0, sizeof c);
    /* capacity - 1 bytes fit; the NUL follows */
    ck_assert_ok(orm_model_set(&city_model, &c, C_CODE, orm_text("ABCDEFG")));
    ck_assert_str_eq(c.code, "ABCDEFG");
    orm_value v = orm_model_get(&city_model, &c, C_CODE);
    ck_assert_int_eq(v.type, ORM_VALUE_TEXT);
    ck_assert_uint_eq(v.len, 7);
    ck_assert_ptr_eq(v.u.s, c.code); /* points into the struct */
    /* one byte more: ORM_ERANGE naming table.column and the lengths; the member is unchanged */
    ck_assert_orm(orm_model_set(&city_model, &c, C_CODE, orm_text("ABCDEFGH")), ORM_ERANGE);
    ck_assert(msg_has("cities.code: a text of 8 bytes does not fit the char[8] field city.code (at most 7 bytes)"));
    ck_assert_str_eq(c.code, "ABCDEFG");
    /* a shorter value replaces it whole */
    ck_assert_ok(orm_model_set(&city_model, &c, C_CODE, orm_text("")));
    ck_assert_str_eq(c.code, "");
    /* UTF-8 is counted in bytes: 7 two-byte characters (14 bytes) + 1 fit 15, an 8th is refused
     * whole (never cut inside a character) */
    ck_assert_ok(orm_model_set(&city_model, &c, C_NAME, orm_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x")));
    ck_assert(c.has_name);
    ck_assert_uint_eq(strlen(c.name), 15);
    ck_assert_orm(orm_model_set(&city_model, &c, C_NAME,
                                orm_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9")), ORM_ERANGE);
    ck_assert(msg_has("16 bytes"));
    ck_assert_uint_eq(strlen(c.name), 15);
    /* a NUL inside could not be read back whole: ORM_ETYPE */
    ck_assert_orm(orm_model_set(&city_model, &c, C_CODE, orm_text_n("ab\0cd", 5)), ORM_ETYPE);
    ck_assert(msg_has("NUL byte inside (at byte 2)"));
    /* other types: ORM_ETYPE */
    ck_assert_orm(orm_model_set(&city_model, &c, C_CODE, orm_int(5)), ORM_ETYPE);
    ck_assert(msg_has("field is fixed text"));
    /* NULL: through has_ (the member zeroed), or ORM_ENULL without one */
    ck_assert_ok(orm_model_set(&city_model, &c, C_NAME, orm_null()));
    ck_assert(!c.has_name);
    for (size_t i = 0; i < sizeof c.name; i++)
        ck_assert_int_eq(c.name[i], 0);
    ck_assert_int_eq(orm_model_get(&city_model, &c, C_NAME).type, ORM_VALUE_NULL);
    ck_assert_orm(orm_model_set(&city_model, &c, C_CODE, orm_null()), ORM_ENULL);
    ck_assert(msg_has("no has_code companion"));
    /* a member with no NUL reads as all its bytes, which every write refuses */
    memset(c.code, 'z', sizeof c.code);
    ck_assert_uint_eq(orm_model_get(&city_model, &c, C_CODE).len, 8);
}
END_TEST

START_TEST(copy_size_clear_allocate_nothing)
{
    city a, b;
    memset(&a, 0, sizeof a);
    strcpy(a.code, "X1");
    strcpy(a.name, "somewhere");
    a.has_name = true;
    ck_assert_uint_eq(orm_model_size(&city_model, &a), sizeof(city));
    orm__alloc_fail_after(-1);
    ck_assert_ok(orm_model_copy(&city_model, &b, &a));
    ck_assert_int_eq(orm__alloc_fail_after(-1), 0);
    ck_assert_str_eq(b.code, "X1");
    ck_assert_str_eq(b.name, "somewhere");
    ck_assert(b.has_name);
    orm_model_clear(&city_model, &b);
    ck_assert_int_eq(b.code[0], 0);
    ck_assert(!b.has_name);
}
END_TEST

START_TEST(codec_round_trip)
{
    orm_cache_type t;
    ck_assert_ok(orm_cache_type_from_model(&t, &city_model));
    city a, b;
    memset(&a, 0, sizeof a);
    a.id = 42;
    strcpy(a.code, "ABCDEFG"); /* at capacity - 1 */
    strcpy(a.name, "\xc3\xa9t\xc3\xa9");
    a.has_name = true;
    a.pop = -3;
    unsigned char buf[128];
    size_t len = 0;
    ck_assert_ok(t.encode(&a, buf, sizeof buf, &len, t.userdata));
    ck_assert_uint_lt(len, sizeof buf);
    memset(&b, 0, sizeof b);
    orm__alloc_fail_after(-1);
    ck_assert_ok(t.decode(&b, buf, len, t.userdata));
    ck_assert_int_eq(orm__alloc_fail_after(-1), 0); /* decoding fixed text allocates nothing */
    ck_assert_int_eq(b.id, 42);
    ck_assert_str_eq(b.code, "ABCDEFG");
    ck_assert(b.has_name);
    ck_assert_str_eq(b.name, "\xc3\xa9t\xc3\xa9");
    ck_assert_int_eq(b.pop, -3);
    /* NULL through has_ */
    a.has_name = false;
    ck_assert_ok(t.encode(&a, buf, sizeof buf, &len, t.userdata));
    memset(&b, 0, sizeof b);
    ck_assert_ok(t.decode(&b, buf, len, t.userdata));
    ck_assert(!b.has_name);
    ck_assert_str_eq(b.name, "");
    /* an unterminated member is never encoded cut short */
    memset(a.code, 'q', sizeof a.code);
    ck_assert_orm(t.encode(&a, buf, sizeof buf, &len, t.userdata), ORM_ERANGE);
    ck_assert(msg_has("code"));
}
END_TEST

/* The fingerprint follows the new kind and its capacity; an encoding whose text would not
 * fit is refused (ORM_EPARSE) and leaves dst owning nothing. */
START_TEST(codec_fingerprint_and_bad_input)
{
    orm_field f[C_NF];
    memcpy(f, city_fields, sizeof f);
    orm_model m = city_model;
    m.fields = f;
    const uint64_t fp = orm_cache_model_fingerprint(&city_model);
    ck_assert_uint_eq(orm_cache_model_fingerprint(&m), fp);
    f[C_CODE].capacity = 7;
    ck_assert_uint_ne(orm_cache_model_fingerprint(&m), fp);
    f[C_CODE].capacity = 8;
    f[C_CODE].type = ORM_FIELD_TEXT; /* same offsets, another kind */
    ck_assert_uint_ne(orm_cache_model_fingerprint(&m), fp);
    f[C_CODE].type = ORM_FIELD_FIXED_TEXT;

    orm_cache_type t;
    ck_assert_ok(orm_cache_type_from_model(&t, &city_model));
    city a, b;
    memset(&a, 0, sizeof a);
    strcpy(a.code, "ABCDEFG");
    unsigned char buf[128];
    size_t len = 0;
    ck_assert_ok(t.encode(&a, buf, sizeof buf, &len, t.userdata));
    /* version, nfields, id varint(0), then code's length byte: 7 -> 8 and one more byte */
    ck_assert_int_eq(buf[3], 7);
    unsigned char longer[130];
    memcpy(longer, buf, 4);
    longer[3] = 8;
    memcpy(longer + 4, "ABCDEFGH", 8);
    memcpy(longer + 12, buf + 11, len - 11);
    memset(&b, 0, sizeof b);
    ck_assert_orm(t.decode(&b, longer, len + 1, t.userdata), ORM_EPARSE);
    ck_assert_int_eq(b.code[0], 0);
    /* a NUL inside */
    memcpy(longer, buf, len);
    longer[6] = 0;
    ck_assert_orm(t.decode(&b, longer, len, t.userdata), ORM_EPARSE);
    /* every truncation */
    for (size_t n = 0; n < len; n++)
        ck_assert_orm(t.decode(&b, buf, n, t.userdata), ORM_EPARSE);
}
END_TEST

static orm_db *db;
static orm_session *s;

static void db_setup(void)
{
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    s = orm_db_session(db);
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE cities (id INTEGER PRIMARY KEY, code TEXT NOT NULL, "
                                       "name TEXT, pop INTEGER NOT NULL)"));
    ck_assert_ok(orm_db_register(db, &city_model));
}

static void db_teardown(void)
{
    orm_db_close(db);
    db = NULL;
}

/* Builders check a written value against the capacity when it is set, and compare with any
 * length; the insert builder checks its borrowed rows when the statement is built. */
START_TEST(builder_checks)
{
    orm_update *u = orm_update_new(s, &city_model);
    ck_assert_orm(orm_update_set(u, "code", orm_text("ABCDEFGH")), ORM_ERANGE);
    ck_assert(msg_has("cities.code: a text of 8 bytes does not fit the char[8] field"));
    orm_update_free(u);
    u = orm_update_new(s, &city_model);
    ck_assert_orm(orm_update_set(u, "code", orm_text_n("a\0b", 3)), ORM_ETYPE);
    orm_update_free(u);
    u = orm_update_new(s, &city_model);
    ck_assert_ok(orm_update_set(u, "code", orm_text("ABCDEFG")));
    ck_assert_ok(orm_update_where(u, orm_eq("code", orm_text("a much longer text than eight bytes"))));
    orm_sql sql;
    ck_assert_ok(orm_update_to_sql(u, NULL, &sql));
    orm_sql_clear(&sql);
    orm_update_free(u);
    /* a number for fixed text: ORM_ETYPE, as for text */
    u = orm_update_new(s, &city_model);
    ck_assert_orm(orm_update_set(u, "name", orm_int(1)), ORM_ETYPE);
    orm_update_free(u);

    city rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].id = 1;
    strcpy(rows[0].code, "ok");
    rows[1].id = 2;
    orm_insert *q = orm_insert_new(s, &city_model);
    ck_assert_ok(orm_insert_add_many(q, rows, 2));
    memset(rows[1].code, 'x', sizeof rows[1].code); /* after add: checked when built */
    ck_assert_orm(orm_insert_to_sql(q, NULL, &sql), ORM_ERANGE);
    ck_assert_ptr_null(sql.text);
    int64_t n = -1;
    ck_assert_orm(orm_insert_exec(q, NULL, &n), ORM_ERANGE);
    ck_assert(msg_has("cities.code: the char[8] member city.code holds no NUL"));
    ck_assert_int_eq(n, 0);
    orm_insert_free(q);
    /* with explicit columns only those are written, so only those are checked */
    q = orm_insert_new(s, &city_model);
    ck_assert_ok(orm_insert_add(q, &rows[1]));
    ck_assert_ok(orm_insert_columns(q, (const char *[]){ "id", "name" }, 2));
    ck_assert_ok(orm_insert_to_sql(q, NULL, &sql));
    orm_sql_clear(&sql);
    ck_assert_ok(orm_insert_columns(q, (const char *[]){ "id", "code" }, 2));
    ck_assert_orm(orm_insert_to_sql(q, NULL, &sql), ORM_ERANGE);
    orm_insert_free(q);
    /* nothing was written: the first row is not there either */
    city got;
    ck_assert_orm(orm_get(s, NULL, &city_model, &got, (orm_value[]){ orm_int(1) }), ORM_ENOTFOUND);
}
END_TEST

/* Reading a row into fixed text allocates nothing for it: a get into the char * model costs
 * exactly one allocation more per non-NULL text column. */
START_TEST(reading_allocates_nothing_for_fixed_text)
{
    ck_assert_ok(orm_db_register(db, &city_ptr_model));
    ck_assert_ok(orm_exec_sql(s, NULL, "CREATE TABLE cities_p AS SELECT * FROM cities"));
    ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO cities VALUES (1, 'LYS', 'Lyon', 500000)"));
    ck_assert_ok(orm_exec_sql(s, NULL, "INSERT INTO cities_p SELECT * FROM cities"));
    city c;
    city_ptr p;
    orm_value key = orm_int(1);
    /* warm both: statements prepared and cached */
    ck_assert_ok(orm_get(s, NULL, &city_model, &c, &key));
    ck_assert_ok(orm_get(s, NULL, &city_ptr_model, &p, &key));
    orm_model_clear(&city_ptr_model, &p);
    orm__alloc_fail_after(-1);
    ck_assert_ok(orm_get(s, NULL, &city_model, &c, &key));
    long fixed = orm__alloc_fail_after(-1);
    ck_assert_ok(orm_get(s, NULL, &city_ptr_model, &p, &key));
    long owned = orm__alloc_fail_after(-1);
    ck_assert_str_eq(c.code, "LYS");
    ck_assert_str_eq(c.name, "Lyon");
    ck_assert_str_eq(p.code, "LYS");
    ck_assert_int_eq(owned - fixed, 2);
    orm_model_clear(&city_ptr_model, &p);
}
END_TEST

/* The read and write paths of a model with fixed text, failing each allocation in turn:
 * every call reports ORM_ENOMEM or succeeds, nothing leaks (ASan), and a failed read leaves
 * the struct cleared. */
static int alloc_run(void)
{
    orm_db *adb = NULL;
    int rc = orm_db_open(&adb, "sqlite::memory:", NULL);
    if (rc != ORM_OK)
        return rc;
    orm_session *as = orm_db_session(adb);
    city c, g, many[2];
    memset(&c, 0, sizeof c);
    c.id = 1;
    strcpy(c.code, "ABCDEFG");
    strcpy(c.name, "fifteen bytes!!");
    c.has_name = true;
    memset(&g, 0, sizeof g);
    orm_list l = ORM_LIST_INIT;
    rc = orm_db_register(adb, &city_model);
    if (rc == ORM_OK)
        rc = orm_exec_sql(as, NULL, "CREATE TABLE cities (id INTEGER PRIMARY KEY, code TEXT NOT NULL, "
                                    "name TEXT, pop INTEGER NOT NULL)");
    if (rc == ORM_OK)
        rc = orm_insert_one(as, NULL, &city_model, &c);
    if (rc == ORM_OK) {
        rc = orm_get(as, NULL, &city_model, &g, (orm_value[]){ orm_int(1) });
        if (rc != ORM_OK)
            ck_assert_int_eq(g.code[0], 0);
        else
            ck_assert_str_eq(g.name, "fifteen bytes!!");
    }
    if (rc == ORM_OK) {
        bool found[2];
        rc = orm_get_many(as, NULL, &city_model, many, found, (orm_value[]){ orm_int(1), orm_int(2) }, 2);
    }
    if (rc == ORM_OK) {
        orm_select *q = orm_select_new(as, &city_model);
        rc = q ? orm_select_all(q, NULL, &l) : orm_error_last()->code;
        orm_select_free(q);
    }
    if (rc == ORM_OK)
        rc = orm_update_fields(as, NULL, &city_model, &c, (size_t[]){ C_NAME }, 1);
    orm_list_clear(&l);
    orm_db_close(adb);
    return rc;
}

START_TEST(every_allocation_fails_cleanly)
{
    long n;
    for (n = 0; n < 100000; n++) {
        orm__alloc_fail_after(n);
        int rc = alloc_run();
        int injected = orm__alloc_failed();
        orm__alloc_fail_after(-1);
        if (!injected) {
            ck_assert_ok(rc);
            break;
        }
        ck_assert_msg(rc == ORM_ENOMEM, "run %ld: rc %d (%s): %s", n, rc, orm_strerror(rc),
                      orm_error_last()->message);
    }
    ck_assert_int_gt(n, 5);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("fixed_text");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, macros_record_the_capacity);
    tcase_add_test(tc, validation);
    tcase_add_test(tc, get_and_set);
    tcase_add_test(tc, copy_size_clear_allocate_nothing);
    tcase_add_test(tc, codec_round_trip);
    tcase_add_test(tc, codec_fingerprint_and_bad_input);
    suite_add_tcase(su, tc);
    tc = tcase_create("db");
    tcase_add_checked_fixture(tc, db_setup, db_teardown);
    tcase_add_test(tc, builder_checks);
    tcase_add_test(tc, reading_allocates_nothing_for_fixed_text);
    suite_add_tcase(su, tc);
    tc = tcase_create("alloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_allocation_fails_cleanly);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return orm_test_run(suite());
}
