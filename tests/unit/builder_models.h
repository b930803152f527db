/* Models shared by the builder suites (test_builder_sql, test_builder_errors,
 * test_expr_ownership): users, orders and a table whose names need quoting. */
#ifndef ORM_TEST_BUILDER_MODELS_H
#define ORM_TEST_BUILDER_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orm/orm.h"

typedef struct b_user {
    int64_t id;
    char *name;
    char *email;   /* nullable text */
    int32_t age;
    bool has_age;  /* nullable scalar */
    double score;
} b_user;

static const orm_field b_user_fields[] = {
    ORM_FIELD(b_user, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(b_user, name, ORM_FIELD_TEXT, ORM_FIELD_NOT_NULL),
    ORM_FIELD(b_user, email, ORM_FIELD_TEXT, 0),
    ORM_FIELD_NULLABLE(b_user, age, ORM_FIELD_INT32, 0),
    ORM_FIELD(b_user, score, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
};
static const size_t b_user_pk[] = { 0 };
static const orm_model b_user_model = ORM_MODEL(b_user, "users", b_user_fields, b_user_pk);

typedef struct b_order {
    int64_t id;
    int64_t user_id;
    double total;
} b_order;

static const orm_field b_order_fields[] = {
    ORM_FIELD(b_order, id, ORM_FIELD_INT64, ORM_FIELD_PK | ORM_FIELD_AUTOINCREMENT),
    ORM_FIELD(b_order, user_id, ORM_FIELD_INT64, ORM_FIELD_NOT_NULL),
    ORM_FIELD(b_order, total, ORM_FIELD_DOUBLE, ORM_FIELD_NOT_NULL),
};
static const size_t b_order_pk[] = { 0 };
static const orm_model b_order_model = ORM_MODEL(b_order, "orders", b_order_fields, b_order_pk);

/* A composite key, no AUTOINCREMENT, and names that need quoting. */
typedef struct b_weird {
    int64_t a;
    int64_t b;
    char *val;
} b_weird;

static const orm_field b_weird_fields[] = {
    ORM_FIELD(b_weird, a, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD(b_weird, b, ORM_FIELD_INT64, ORM_FIELD_PK),
    ORM_FIELD_COL(b_weird, val, "va\"l", ORM_FIELD_TEXT, 0),
};
static const size_t b_weird_pk[] = { 0, 1 };
static const orm_model b_weird_model = ORM_MODEL(b_weird, "we\"ird", b_weird_fields, b_weird_pk);

/* Not registered anywhere. */
static const orm_model b_stray_model = ORM_MODEL(b_order, "stray", b_order_fields, b_order_pk);

static const char *const b_schema =
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, age INTEGER,"
    " score DOUBLE PRECISION NOT NULL DEFAULT 0);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, total DOUBLE PRECISION NOT NULL);"
    "CREATE TABLE \"we\"\"ird\" (a INTEGER NOT NULL, b INTEGER NOT NULL, \"va\"\"l\" TEXT, PRIMARY KEY (a, b));";

/* Keeps every descriptor above "used" in suites that do not name them all. */
static inline const void *b_models_all(size_t i)
{
    const void *all[] = { &b_user_model, &b_order_model, &b_weird_model, &b_stray_model, b_schema };
    return i < 5 ? all[i] : NULL;
}

#endif
