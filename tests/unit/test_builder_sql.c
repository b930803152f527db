/* The SQL text and bound args of every builder feature, in both dialects. */
#include <stdlib.h>
#include <string.h>

#include "builder/expr_internal.h"
#include "builder_models.h"
#include "orm/orm.h"
#include "testutil.h"

static orm_db *db;
static orm_session *s;

static void setup(void)
{
    ck_assert_ok(orm_db_open(&db, "sqlite::memory:", NULL));
    ck_assert_ok(orm_db_register(db, &b_user_model));
    ck_assert_ok(orm_db_register(db, &b_order_model));
    ck_assert_ok(orm_db_register(db, &b_weird_model));
    ck_assert_ok(orm_exec_sql(orm_db_session(db), NULL, b_schema));
    s = orm_db_session(db);
}

static void teardown(void)
{
    orm_db_close(db);
    db = NULL;
}

#define SQ orm_dialect_sqlite()
#define PG orm_dialect_postgres()
#define ARGS(...) (const orm_value[]){ __VA_ARGS__ }, sizeof((const orm_value[]){ __VA_ARGS__ }) / sizeof(orm_value)
#define NOARGS NULL, 0

static void value_eq(orm_value got, orm_value want, size_t i)
{
    ck_assert_msg(got.type == want.type, "arg %zu: type %d, want %d", i, (int)got.type, (int)want.type);
    switch (want.type) {
    case ORM_VALUE_INT: case ORM_VALUE_TIMESTAMP: ck_assert_int_eq(got.u.i, want.u.i); break;
    case ORM_VALUE_DOUBLE: ck_assert_double_eq(got.u.d, want.u.d); break;
    case ORM_VALUE_BOOL: ck_assert_int_eq(got.u.b, want.u.b); break;
    case ORM_VALUE_TEXT: case ORM_VALUE_BLOB:
        ck_assert_uint_eq(got.len, want.len);
        ck_assert_msg(memcmp(got.u.p, want.u.p, want.len) == 0, "arg %zu bytes differ", i);
        break;
    case ORM_VALUE_NULL: break;
    }
}

/* Check a rendered statement, then release it. */
static void check(int rc, orm_sql *got, const char *want, const orm_value *args, size_t nargs)
{
    ck_assert_ok(rc);
    ck_assert_str_eq(got->text, want);
    ck_assert_uint_eq(got->len, strlen(want));
    ck_assert_uint_eq(got->nargs, nargs);
    for (size_t i = 0; i < nargs; i++)
        value_eq(got->args[i], args[i], i);
    orm_sql_clear(got);
    ck_assert_ptr_null(got->text);
}

static void sel(orm_select *q, const orm_dialect *d, const char *want, const orm_value *args, size_t n)
{
    orm_sql out = ORM_SQL_INIT;
    check(orm_select_to_sql(q, d, &out), &out, want, args, n);
}

static void cnt(orm_select *q, const orm_dialect *d, const char *want, const orm_value *args, size_t n)
{
    orm_sql out = ORM_SQL_INIT;
    check(orm__select_count_to_sql(q, d, &out), &out, want, args, n);
}

static void ins(orm_insert *q, const orm_dialect *d, const char *want, const orm_value *args, size_t n)
{
    orm_sql out = ORM_SQL_INIT;
    check(orm_insert_to_sql(q, d, &out), &out, want, args, n);
}

static void upd(orm_update *q, const orm_dialect *d, const char *want, const orm_value *args, size_t n)
{
    orm_sql out = ORM_SQL_INIT;
    check(orm_update_to_sql(q, d, &out), &out, want, args, n);
}

static void del(orm_delete *q, const orm_dialect *d, const char *want, const orm_value *args, size_t n)
{
    orm_sql out = ORM_SQL_INIT;
    check(orm_delete_to_sql(q, d, &out), &out, want, args, n);
}

#define ALLCOLS "\"id\", \"name\", \"email\", \"age\", \"score\""

START_TEST(dialect_names)
{
    ck_assert_str_eq(orm_dialect_name(SQ), "sqlite");
    ck_assert_str_eq(orm_dialect_name(PG), "postgres");
    orm_sql_clear(NULL);
}
END_TEST

START_TEST(select_all_and_session_dialect)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    sel(q, SQ, "SELECT " ALLCOLS " FROM \"users\"", NOARGS);
    sel(q, PG, "SELECT " ALLCOLS " FROM \"users\"", NOARGS);
    sel(q, NULL, "SELECT " ALLCOLS " FROM \"users\"", NOARGS); /* the session's: sqlite */
    orm_select_free(q);
}
END_TEST

START_TEST(select_where_comparisons)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    ck_assert_ok(orm_select_where(q, orm_and(orm_eq("age", orm_int(30)), orm_like("name", orm_text("a%")))));
    sel(q, SQ, "SELECT " ALLCOLS " FROM \"users\" WHERE \"age\" = ? AND \"name\" LIKE ?",
        ARGS(orm_int(30), orm_text("a%")));
    sel(q, PG, "SELECT " ALLCOLS " FROM \"users\" WHERE \"age\" = $1 AND \"name\" LIKE $2",
        ARGS(orm_int(30), orm_text("a%")));
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_where(q, orm_ne("age", orm_int(1)));
    orm_select_where(q, orm_lt("age", orm_int(2)));
    orm_select_where(q, orm_le("score", orm_double(2.5)));
    orm_select_where(q, orm_gt("age", orm_int(4)));
    orm_select_where(q, orm_ge("age", orm_int(5)));
    orm_select_where(q, orm_not_like("email", orm_text("%@x")));
    sel(q, PG,
        "SELECT \"id\" FROM \"users\" WHERE \"age\" <> $1 AND \"age\" < $2 AND \"score\" <= $3 AND \"age\" > $4"
        " AND \"age\" >= $5 AND \"email\" NOT LIKE $6",
        ARGS(orm_int(1), orm_int(2), orm_double(2.5), orm_int(4), orm_int(5), orm_text("%@x")));
    orm_select_free(q);
}
END_TEST

START_TEST(select_predicates)
{
    orm_value three[] = { orm_int(1), orm_int(2), orm_int(3) };
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name" }, 1);
    orm_select_where(q, orm_between("age", orm_int(30), orm_int(31)));
    orm_select_where(q, orm_in("id", three, 3));
    orm_select_where(q, orm_not_in("id", three, 2));
    orm_select_where(q, orm_is_null("email"));
    orm_select_where(q, orm_is_not_null("age"));
    orm_select_where(q, orm_not(orm_eq("name", orm_text("x"))));
    sel(q, SQ,
        "SELECT \"name\" FROM \"users\" WHERE \"age\" BETWEEN ? AND ? AND \"id\" IN (?, ?, ?)"
        " AND \"id\" NOT IN (?, ?) AND \"email\" IS NULL AND \"age\" IS NOT NULL AND NOT (\"name\" = ?)",
        ARGS(orm_int(30), orm_int(31), orm_int(1), orm_int(2), orm_int(3), orm_int(1), orm_int(2),
             orm_text("x")));
    sel(q, PG,
        "SELECT \"name\" FROM \"users\" WHERE \"age\" BETWEEN $1 AND $2 AND \"id\" IN ($3, $4, $5)"
        " AND \"id\" NOT IN ($6, $7) AND \"email\" IS NULL AND \"age\" IS NOT NULL AND NOT (\"name\" = $8)",
        ARGS(orm_int(30), orm_int(31), orm_int(1), orm_int(2), orm_int(3), orm_int(1), orm_int(2),
             orm_text("x")));
    orm_select_free(q);
}
END_TEST

START_TEST(select_empty_in_and_constants)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_where(q, orm_or(orm_in("id", NULL, 0), orm_not_in("age", NULL, 0)));
    orm_select_where(q, orm_and_all(NULL, 0));
    orm_select_where(q, orm_or_all(NULL, 0));
    sel(q, SQ, "SELECT \"id\" FROM \"users\" WHERE (0 OR 1) AND 1 AND 0", NOARGS);
    sel(q, PG, "SELECT \"id\" FROM \"users\" WHERE (FALSE OR TRUE) AND TRUE AND FALSE", NOARGS);
    orm_select_free(q);
}
END_TEST

START_TEST(select_logic_precedence)
{
    orm_expr *ors[] = { orm_eq("age", orm_int(1)), orm_eq("age", orm_int(2)), orm_eq("age", orm_int(3)) };
    orm_expr *ands[] = { orm_or_all(ors, 3), orm_is_not_null("email"),
                         orm_gt(NULL, orm_int(0)) == NULL ? NULL : orm_eq("score", orm_double(1)) };
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_where(q, orm_and_all(ands, 3));
    orm_select_where(q, orm_binop(ORM_OP_GT, orm_binop(ORM_OP_MUL, orm_binop(ORM_OP_ADD, orm_col("age"), orm_val(orm_int(1))),
                                                       orm_val(orm_int(2))),
                                  orm_binop(ORM_OP_SUB, orm_col("score"), orm_binop(ORM_OP_SUB, orm_col("age"), orm_val(orm_int(3))))));
    sel(q, SQ,
        "SELECT \"id\" FROM \"users\" WHERE (\"age\" = ? OR \"age\" = ? OR \"age\" = ?) AND \"email\" IS NOT NULL"
        " AND \"score\" = ? AND (\"age\" + ?) * ? > \"score\" - (\"age\" - ?)",
        ARGS(orm_int(1), orm_int(2), orm_int(3), orm_double(1), orm_int(1), orm_int(2), orm_int(3)));
    orm_select_free(q);
}
END_TEST

START_TEST(select_columns_distinct_order_limit)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_distinct(q);
    orm_select_columns(q, (const char *[]){ "id", "name" }, 2);
    orm_select_order_by(q, "age", ORM_DESC);
    orm_select_order_by(q, "id", ORM_ASC);
    orm_select_limit(q, 50);
    orm_select_offset(q, 100);
    sel(q, SQ, "SELECT DISTINCT \"id\", \"name\" FROM \"users\" ORDER BY \"age\" DESC, \"id\" ASC LIMIT ? OFFSET ?",
        ARGS(orm_int(50), orm_int(100)));
    sel(q, PG, "SELECT DISTINCT \"id\", \"name\" FROM \"users\" ORDER BY \"age\" DESC, \"id\" ASC LIMIT $1 OFFSET $2",
        ARGS(orm_int(50), orm_int(100)));
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_offset(q, 7);
    sel(q, SQ, "SELECT \"id\" FROM \"users\" LIMIT -1 OFFSET ?", ARGS(orm_int(7)));
    sel(q, PG, "SELECT \"id\" FROM \"users\" OFFSET $1", ARGS(orm_int(7)));
    orm_select_free(q);
}
END_TEST

START_TEST(select_group_having_aggregates)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "age" }, 1);
    orm_select_expr(q, orm_count_all(), "n");
    orm_select_expr(q, orm_aggregate(ORM_AGG_COUNT, orm_col("email"), 1), NULL);
    orm_select_expr(q, orm_sum("score"), "s");
    orm_select_expr(q, orm_avg("score"), NULL);
    orm_select_expr(q, orm_min("id"), NULL);
    orm_select_expr(q, orm_max("id"), NULL);
    orm_select_expr(q, orm_count("name"), NULL);
    orm_select_group_by(q, "age");
    orm_select_having(q, orm_binop(ORM_OP_GT, orm_count_all(), orm_val(orm_int(1))));
    orm_select_order_by(q, "n", ORM_DESC);
    sel(q, PG,
        "SELECT \"age\", COUNT(*) AS \"n\", COUNT(DISTINCT \"email\"), SUM(\"score\") AS \"s\", AVG(\"score\"),"
        " MIN(\"id\"), MAX(\"id\"), COUNT(\"name\") FROM \"users\" GROUP BY \"age\" HAVING COUNT(*) > $1"
        " ORDER BY \"n\" DESC",
        ARGS(orm_int(1)));
    /* COUNT over grouped rows counts the groups. */
    cnt(q, PG, "SELECT COUNT(*) FROM (SELECT \"age\", COUNT(*) AS \"n\", COUNT(DISTINCT \"email\"), SUM(\"score\") AS \"s\","
               " AVG(\"score\"), MIN(\"id\"), MAX(\"id\"), COUNT(\"name\") FROM \"users\" GROUP BY \"age\""
               " HAVING COUNT(*) > $1) AS \"orm_count\"",
        ARGS(orm_int(1)));
    orm_select_free(q);
}
END_TEST

START_TEST(select_count)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name" }, 1);
    orm_select_where(q, orm_gt("age", orm_int(20)));
    orm_select_order_by(q, "name", ORM_ASC);
    orm_select_limit(q, 5);
    cnt(q, SQ, "SELECT COUNT(*) FROM \"users\" WHERE \"age\" > ?", ARGS(orm_int(20)));
    cnt(q, PG, "SELECT COUNT(*) FROM \"users\" WHERE \"age\" > $1", ARGS(orm_int(20)));
    orm_select_distinct(q);
    cnt(q, SQ, "SELECT COUNT(*) FROM (SELECT DISTINCT \"name\" FROM \"users\" WHERE \"age\" > ?) AS \"orm_count\"",
        ARGS(orm_int(20)));
    orm_select_free(q);
}
END_TEST

START_TEST(select_joins)
{
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_alias(q, "u");
    orm_select_join(q, ORM_JOIN_INNER, &b_order_model, "o", orm_eq_col("u.id", "o.user_id"));
    orm_select_where(q, orm_gt("total", orm_double(9.5)));
    orm_select_where(q, orm_eq("name", orm_text("ada")));
    orm_select_order_by(q, "o.id", ORM_ASC);
    sel(q, PG,
        "SELECT \"u\".\"id\", \"u\".\"name\", \"u\".\"email\", \"u\".\"age\", \"u\".\"score\" FROM \"users\" AS \"u\""
        " INNER JOIN \"orders\" AS \"o\" ON \"u\".\"id\" = \"o\".\"user_id\" WHERE \"o\".\"total\" > $1"
        " AND \"u\".\"name\" = $2 ORDER BY \"o\".\"id\" ASC",
        ARGS(orm_double(9.5), orm_text("ada")));
    cnt(q, SQ,
        "SELECT COUNT(*) FROM \"users\" AS \"u\" INNER JOIN \"orders\" AS \"o\" ON \"u\".\"id\" = \"o\".\"user_id\""
        " WHERE \"o\".\"total\" > ? AND \"u\".\"name\" = ?",
        ARGS(orm_double(9.5), orm_text("ada")));
    orm_select_free(q);

    /* Left join by table names, right join with USING. */
    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name" }, 1);
    orm_select_expr(q, orm_sum("orders.total"), "spent");
    orm_select_join(q, ORM_JOIN_LEFT, &b_order_model, NULL, orm_eq_col("orders.user_id", "users.id"));
    orm_select_group_by(q, "users.name");
    sel(q, SQ,
        "SELECT \"users\".\"name\", SUM(\"orders\".\"total\") AS \"spent\" FROM \"users\" LEFT JOIN \"orders\""
        " ON \"orders\".\"user_id\" = \"users\".\"id\" GROUP BY \"users\".\"name\"",
        NOARGS);
    orm_select_free(q);

    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name" }, 1);
    orm_select_join_using(q, ORM_JOIN_RIGHT, &b_order_model, "o", (const char *[]){ "id" }, 1);
    sel(q, PG, "SELECT \"users\".\"name\" FROM \"users\" RIGHT JOIN \"orders\" AS \"o\" USING (\"id\")", NOARGS);
    orm_select_free(q);
}
END_TEST

START_TEST(select_subqueries_numbering)
{
    orm_select *sub = orm_select_new(s, &b_order_model);
    orm_select_columns(sub, (const char *[]){ "user_id" }, 1);
    orm_select_where(sub, orm_gt("total", orm_double(100)));
    orm_value raw_args[] = { orm_int(3), orm_text("x") };
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_where(q, orm_gt("age", orm_int(18)));
    orm_select_where(q, orm_in_select("id", sub));
    orm_select_where(q, orm_raw_expr("length(\"name\") > ? AND '?' <> ?", raw_args, 2));
    orm_select_where(q, orm_eq("name", orm_text("bob")));
    orm_select_limit(q, 10);
    sel(q, PG,
        "SELECT \"id\" FROM \"users\" WHERE \"age\" > $1 AND \"id\" IN (SELECT \"user_id\" FROM \"orders\""
        " WHERE \"total\" > $2) AND (length(\"name\") > $3 AND '?' <> $4) AND \"name\" = $5 LIMIT $6",
        ARGS(orm_int(18), orm_double(100), orm_int(3), orm_text("x"), orm_text("bob"), orm_int(10)));
    sel(q, SQ,
        "SELECT \"id\" FROM \"users\" WHERE \"age\" > ? AND \"id\" IN (SELECT \"user_id\" FROM \"orders\""
        " WHERE \"total\" > ?) AND (length(\"name\") > ? AND '?' <> ?) AND \"name\" = ? LIMIT ?",
        ARGS(orm_int(18), orm_double(100), orm_int(3), orm_text("x"), orm_text("bob"), orm_int(10)));
    orm_select_free(q);

    /* Correlated EXISTS: inner names first, then the outer query's. */
    sub = orm_select_new(s, &b_order_model);
    orm_select_columns(sub, (const char *[]){ "id" }, 1);
    orm_select_where(sub, orm_eq_col("user_id", "users.id"));
    orm_select_where(sub, orm_binop(ORM_OP_GT, orm_col("total"), orm_col("score")));
    orm_select *nsub = orm_select_new(s, &b_order_model);
    orm_select_columns(nsub, (const char *[]){ "user_id" }, 1);
    q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "name" }, 1);
    orm_select_where(q, orm_exists(sub));
    orm_select_where(q, orm_not_in_select("id", nsub));
    orm_select_where(q, orm_not_exists(NULL) != NULL ? orm_eq("age", orm_int(1)) : NULL);
    /* (orm_not_exists(NULL) gives an error node that is freed here, untouched) */
    sel(q, PG,
        "SELECT \"name\" FROM \"users\" WHERE EXISTS (SELECT \"id\" FROM \"orders\" WHERE \"user_id\" = \"users\".\"id\""
        " AND \"total\" > \"users\".\"score\") AND \"id\" NOT IN (SELECT \"user_id\" FROM \"orders\") AND \"age\" = $1",
        ARGS(orm_int(1)));
    orm_select_free(q);
}
END_TEST

START_TEST(select_raw_and_values)
{
    static const unsigned char bytes[] = { 0, 1, 2, 255 };
    orm_value args[] = { orm_int(1) };
    orm_select *q = orm_select_new(s, &b_user_model);
    orm_select_columns(q, (const char *[]){ "id" }, 1);
    orm_select_expr(q, orm_raw_expr("coalesce(\"age\", ?)", args, 1), "a");
    orm_select_where(q, orm_raw_expr("\"name\" = 'it''s ?'", NULL, 0));
    orm_select_where(q, orm_binop(ORM_OP_NE, orm_val(orm_blob_n(bytes, 4)), orm_val(orm_bool(true))));
    orm_select_where(q, orm_binop(ORM_OP_NE, orm_val(orm_null()), orm_val(orm_timestamp_us(5))));
    orm_select_where(q, orm_eq("name", orm_text_n("a\0b", 3)));
    sel(q, PG,
        "SELECT \"id\", coalesce(\"age\", $1) AS \"a\" FROM \"users\" WHERE (\"name\" = 'it''s ?') AND $2 <> $3"
        " AND $4 <> $5 AND \"name\" = $6",
        ARGS(orm_int(1), orm_blob_n(bytes, 4), orm_bool(true), orm_null(), orm_timestamp_us(5),
             orm_text_n("a\0b", 3)));
    orm_select_free(q);
}
END_TEST

START_TEST(quoting)
{
    orm_select *q = orm_select_new(s, &b_weird_model);
    orm_select_alias(q, "w\"x");
    orm_select_where(q, orm_eq("val", orm_text("\"; DROP TABLE users; --")));
    orm_select_where(q, orm_eq("va\"l", orm_text("v")));
    sel(q, SQ,
        "SELECT \"a\", \"b\", \"va\"\"l\" FROM \"we\"\"ird\" AS \"w\"\"x\" WHERE \"va\"\"l\" = ? AND \"va\"\"l\" = ?",
        ARGS(orm_text("\"; DROP TABLE users; --"), orm_text("v")));
    orm_select_free(q);

    orm_delete *d = orm_delete_new(s, &b_weird_model);
    b_weird w = { 1, 2, NULL };
    orm_delete_by_key(d, &w);
    del(d, PG, "DELETE FROM \"we\"\"ird\" WHERE \"a\" = $1 AND \"b\" = $2", ARGS(orm_int(1), orm_int(2)));
    orm_delete_free(d);
}
END_TEST

START_TEST(insert_single_and_many)
{
    b_user rows[3] = {
        { 0, "ada", "a@x", 36, true, 1.5 },
        { 0, "bob", NULL, 0, false, 2 },
        { 0, "cy", "c@x", 40, true, 3 },
    };
    orm_insert *q = orm_insert_new(s, &b_user_model);
    ck_assert_ok(orm_insert_add(q, &rows[0]));
    /* SQLite reports the last insert id; PostgreSQL returns the key. */
    ins(q, SQ, "INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"score\") VALUES (?, ?, ?, ?)",
        ARGS(orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1.5)));
    ins(q, PG, "INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"score\") VALUES ($1, $2, $3, $4) RETURNING \"id\"",
        ARGS(orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1.5)));
    ck_assert_ok(orm_insert_add_many(q, &rows[1], 2));
    /* ALL mode: bob's NULLs are written as NULL; multi-row returns the keys in order. */
    ins(q, PG,
        "INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"score\") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8),"
        " ($9, $10, $11, $12) RETURNING \"id\"",
        ARGS(orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1.5), orm_text("bob"), orm_null(), orm_null(),
             orm_double(2), orm_text("cy"), orm_text("c@x"), orm_int(40), orm_double(3)));
    /* SQLite: consecutive keys ending at the last insert id, no RETURNING. */
    ins(q, SQ,
        "INSERT INTO \"users\" (\"name\", \"email\", \"age\", \"score\") VALUES (?, ?, ?, ?), (?, ?, ?, ?),"
        " (?, ?, ?, ?)",
        ARGS(orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1.5), orm_text("bob"), orm_null(), orm_null(),
             orm_double(2), orm_text("cy"), orm_text("c@x"), orm_int(40), orm_double(3)));
    orm_insert_free(q);

    /* An explicit key is inserted, and nothing comes back. */
    b_user k = { 7, "k", NULL, 0, false, 0 };
    q = orm_insert_new(s, &b_user_model);
    orm_insert_add(q, &k);
    ins(q, PG, "INSERT INTO \"users\" (\"id\", \"name\", \"email\", \"age\", \"score\") VALUES ($1, $2, $3, $4, $5)",
        ARGS(orm_int(7), orm_text("k"), orm_null(), orm_null(), orm_double(0)));
    orm_insert_free(q);
}
END_TEST

START_TEST(insert_set_only_and_columns)
{
    b_user rows[2] = { { 0, "bob", NULL, 0, false, 2 }, { 0, "cy", "c@x", 40, true, 3 } };
    orm_insert *q = orm_insert_new(s, &b_user_model);
    orm_insert_mode_set(q, ORM_INSERT_SET_ONLY);
    orm_insert_add_many(q, rows, 2);
    /* The first statement holds only bob: cy's column set differs. */
    ins(q, SQ, "INSERT INTO \"users\" (\"name\", \"score\") VALUES (?, ?)", ARGS(orm_text("bob"), orm_double(2)));
    orm_insert_free(q);

    q = orm_insert_new(s, &b_user_model);
    orm_insert_columns(q, (const char *[]){ "name", "score" }, 2);
    orm_insert_add_many(q, rows, 2);
    /* The key is not among the columns: the database assigns it and it comes back. */
    ins(q, PG, "INSERT INTO \"users\" (\"name\", \"score\") VALUES ($1, $2), ($3, $4) RETURNING \"id\"",
        ARGS(orm_text("bob"), orm_double(2), orm_text("cy"), orm_double(3)));
    orm_insert_free(q);
}
END_TEST

START_TEST(insert_upsert_returning)
{
    b_user u = { 5, "ada", "a@x", 36, true, 1 };
    orm_insert *q = orm_insert_new(s, &b_user_model);
    orm_insert_add(q, &u);
    orm_insert_on_conflict(q, (const char *[]){ "id" }, 1, ORM_CONFLICT_UPDATE, NULL, 0);
    orm_insert_returning(q, (const char *[]){ "score", "name" }, 2);
    ins(q, PG,
        "INSERT INTO \"users\" (\"id\", \"name\", \"email\", \"age\", \"score\") VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (\"id\") DO UPDATE SET \"name\" = excluded.\"name\", \"email\" = excluded.\"email\","
        " \"age\" = excluded.\"age\", \"score\" = excluded.\"score\" RETURNING \"score\", \"name\"",
        ARGS(orm_int(5), orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1)));
    orm_insert_on_conflict(q, (const char *[]){ "id" }, 1, ORM_CONFLICT_UPDATE, (const char *[]){ "score" }, 1);
    orm_insert_returning(q, NULL, 0);
    ins(q, SQ,
        "INSERT INTO \"users\" (\"id\", \"name\", \"email\", \"age\", \"score\") VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (\"id\") DO UPDATE SET \"score\" = excluded.\"score\"",
        ARGS(orm_int(5), orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1)));
    orm_insert_on_conflict(q, (const char *[]){ "name" }, 1, ORM_CONFLICT_NOTHING, NULL, 0);
    ins(q, SQ,
        "INSERT INTO \"users\" (\"id\", \"name\", \"email\", \"age\", \"score\") VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (\"name\") DO NOTHING",
        ARGS(orm_int(5), orm_text("ada"), orm_text("a@x"), orm_int(36), orm_double(1)));
    orm_insert_free(q);
}
END_TEST

START_TEST(insert_chunks_by_param_limit)
{
    /* 3 columns a row: a full chunk is 500 rows (fewer than 32766 / 4). */
    enum { N = 1201 };
    b_order *rows = calloc(N, sizeof *rows);
    for (size_t i = 0; i < N; i++)
        rows[i].user_id = (int64_t)i;
    orm_insert *q = orm_insert_new(s, &b_order_model);
    orm_insert_add_many(q, rows, N);
    orm_sql out = ORM_SQL_INIT;
    ck_assert_ok(orm_insert_to_sql(q, PG, &out));
    ck_assert_uint_eq(out.nargs, 500 * 2);
    ck_assert_ptr_nonnull(strstr(out.text, "($999, $1000) RETURNING \"id\""));
    orm_sql_clear(&out);
    int64_t n = 0;
    ck_assert_ok(orm_insert_exec(q, NULL, &n));
    ck_assert_int_eq(n, N);
    for (size_t i = 0; i < N; i++)
        ck_assert_int_eq(rows[i].id, (int64_t)i + 1);
    orm_insert_free(q);
    free(rows);
}
END_TEST

START_TEST(update_and_delete)
{
    orm_update *u = orm_update_new(s, &b_user_model);
    orm_update_set(u, "name", orm_text("z"));
    orm_update_set_expr(u, "score", orm_binop(ORM_OP_ADD, orm_col("score"), orm_val(orm_double(1))));
    orm_update_where(u, orm_lt("age", orm_int(18)));
    upd(u, SQ, "UPDATE \"users\" SET \"name\" = ?, \"score\" = \"score\" + ? WHERE \"age\" < ?",
        ARGS(orm_text("z"), orm_double(1), orm_int(18)));
    upd(u, PG, "UPDATE \"users\" SET \"name\" = $1, \"score\" = \"score\" + $2 WHERE \"age\" < $3",
        ARGS(orm_text("z"), orm_double(1), orm_int(18)));
    orm_update_free(u);

    b_user obj = { 9, "ada", NULL, 0, false, 4 };
    u = orm_update_new(s, &b_user_model);
    orm_update_from(u, &obj, NULL, 0);
    upd(u, PG, "UPDATE \"users\" SET \"name\" = $1, \"email\" = $2, \"age\" = $3, \"score\" = $4 WHERE \"id\" = $5",
        ARGS(orm_text("ada"), orm_null(), orm_null(), orm_double(4), orm_int(9)));
    orm_update_free(u);

    u = orm_update_new(s, &b_user_model);
    orm_update_from(u, &obj, (const char *[]){ "score" }, 1);
    upd(u, SQ, "UPDATE \"users\" SET \"score\" = ? WHERE \"id\" = ?", ARGS(orm_double(4), orm_int(9)));
    orm_update_free(u);

    orm_delete *d = orm_delete_new(s, &b_user_model);
    del(d, SQ, "DELETE FROM \"users\"", NOARGS);
    orm_delete_where(d, orm_is_null("email"));
    orm_delete_where(d, orm_gt("age", orm_int(3)));
    del(d, PG, "DELETE FROM \"users\" WHERE \"email\" IS NULL AND \"age\" > $1", ARGS(orm_int(3)));
    orm_delete_free(d);
    d = orm_delete_new(s, &b_user_model);
    orm_delete_by_key(d, &obj);
    del(d, SQ, "DELETE FROM \"users\" WHERE \"id\" = ?", ARGS(orm_int(9)));
    orm_delete_free(d);
}
END_TEST

static Suite *suite(void)
{
    Suite *su = suite_create("builder_sql");
    TCase *tc = tcase_create("sql");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dialect_names);
    tcase_add_test(tc, select_all_and_session_dialect);
    tcase_add_test(tc, select_where_comparisons);
    tcase_add_test(tc, select_predicates);
    tcase_add_test(tc, select_empty_in_and_constants);
    tcase_add_test(tc, select_logic_precedence);
    tcase_add_test(tc, select_columns_distinct_order_limit);
    tcase_add_test(tc, select_group_having_aggregates);
    tcase_add_test(tc, select_count);
    tcase_add_test(tc, select_joins);
    tcase_add_test(tc, select_subqueries_numbering);
    tcase_add_test(tc, select_raw_and_values);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, insert_single_and_many);
    tcase_add_test(tc, insert_set_only_and_columns);
    tcase_add_test(tc, insert_upsert_returning);
    tcase_add_test(tc, insert_chunks_by_param_limit);
    tcase_add_test(tc, update_and_delete);
    suite_add_tcase(su, tc);
    return su;
}

int main(void) { return orm_test_run(suite()); }
