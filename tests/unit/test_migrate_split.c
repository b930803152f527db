/* Unit tests: the migration statement splitter, checksum normalization and the
 * no-transaction marker (no database). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "migrations/migrate_internal.h"
#include "orm/alloc.h"
#include "orm/orm.h"
#include "testutil.h"

static orm__mig_stmt *st;
static size_t n;
static const char *src;

static void split(const char *text, int dialect)
{
    orm__free(st);
    st = NULL;
    src = text;
    ck_assert_ok(orm__mig_split(text, dialect, "t.sql", &st, &n));
}

static void expect(size_t i, const char *text, int line)
{
    ck_assert_uint_lt(i, n);
    ck_assert_msg(st[i].len == strlen(text) && memcmp(src + st[i].off, text, st[i].len) == 0,
                  "statement %zu is '%.*s', expected '%s'", i, (int)st[i].len, src + st[i].off, text);
    ck_assert_int_eq(st[i].line, line);
}

static void teardown(void)
{
    orm__free(st);
    st = NULL;
}

START_TEST(test_plain)
{
    split("CREATE TABLE a (x INT);\n\nINSERT INTO a VALUES (1);\nSELECT 1", ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 3);
    expect(0, "CREATE TABLE a (x INT)", 1);
    expect(1, "INSERT INTO a VALUES (1)", 3);
    expect(2, "SELECT 1", 4);
}
END_TEST

START_TEST(test_empty_and_comments_only)
{
    split("", ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 0);
    split(" ;; -- nothing; here\n/* nor; here */ ;\n", ORM__SPLIT_POSTGRES);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_strings_and_identifiers)
{
    split("INSERT INTO \"we;ird\" VALUES ('a;b', 'it''s; fine');INSERT INTO `b;` VALUES ([c;d]);",
          ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 2);
    expect(0, "INSERT INTO \"we;ird\" VALUES ('a;b', 'it''s; fine')", 1);
    expect(1, "INSERT INTO `b;` VALUES ([c;d])", 1);
}
END_TEST

START_TEST(test_comments)
{
    split("-- orm:no-transaction\n-- lead; comment\nSELECT 1; -- tail; comment\n"
          "/* block; */ SELECT /* inner; */ 2\n;",
          ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 2);
    expect(0, "SELECT 1", 3);
    expect(1, "SELECT /* inner; */ 2", 4);
}
END_TEST

START_TEST(test_pg_nested_comment_and_estring)
{
    split("SELECT /* a /* b; */ c; */ 1; SELECT E'x\\';y'; SELECT 'a\\';", ORM__SPLIT_POSTGRES);
    ck_assert_uint_eq(n, 3);
    expect(0, "SELECT /* a /* b; */ c; */ 1", 1);
    expect(1, "SELECT E'x\\';y'", 1);
    expect(2, "SELECT 'a\\'", 1); /* a standard string: backslash is not an escape */
}
END_TEST

START_TEST(test_pg_dollar_quotes)
{
    split("CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;\n"
          "CREATE FUNCTION g() RETURNS text AS $body$ SELECT '$$;'; $body$ LANGUAGE sql;\n"
          "SELECT $1, a$b FROM t;",
          ORM__SPLIT_POSTGRES);
    ck_assert_uint_eq(n, 3);
    expect(0, "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql", 1);
    expect(1, "CREATE FUNCTION g() RETURNS text AS $body$ SELECT '$$;'; $body$ LANGUAGE sql", 2);
    expect(2, "SELECT $1, a$b FROM t", 3);
}
END_TEST

START_TEST(test_sqlite_trigger_body)
{
    split("CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n"
          "  UPDATE b SET n = CASE WHEN n > 1 THEN 0 ELSE n + 1 END;\n"
          "  INSERT INTO log VALUES ('x;');\n"
          "END;\n"
          "CREATE TABLE c (\"begin\" INT, x INT);\nBEGIN;\nCOMMIT;",
          ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 4);
    expect(0, "CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n"
              "  UPDATE b SET n = CASE WHEN n > 1 THEN 0 ELSE n + 1 END;\n"
              "  INSERT INTO log VALUES ('x;');\n"
              "END", 1);
    expect(1, "CREATE TABLE c (\"begin\" INT, x INT)", 5);
    expect(2, "BEGIN", 6);
    expect(3, "COMMIT", 7);
}
END_TEST

START_TEST(test_crlf_lines)
{
    split("SELECT 1;\r\n\r\nSELECT 2;\r\n", ORM__SPLIT_SQLITE);
    ck_assert_uint_eq(n, 2);
    expect(1, "SELECT 2", 3);
}
END_TEST

static void expect_unterminated(const char *text, int dialect, const char *what)
{
    orm__mig_stmt *s = (orm__mig_stmt *)1;
    size_t c = 99;
    ck_assert_orm(orm__mig_split(text, dialect, "0002_bad.up.sql", &s, &c), ORM_EPARSE);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(c, 0);
    ck_assert_msg(strstr(orm_error_last()->message, what) != NULL, "message: %s",
                  orm_error_last()->message);
}

START_TEST(test_unterminated)
{
    expect_unterminated("SELECT 1;\nSELECT 'abc;\n", ORM__SPLIT_SQLITE, "0002_bad.up.sql:2: unterminated string");
    expect_unterminated("SELECT \"x", ORM__SPLIT_SQLITE, ":1: unterminated quoted identifier");
    expect_unterminated("\n\n/* x", ORM__SPLIT_SQLITE, ":3: unterminated block comment");
    expect_unterminated("SELECT $a$ x; $b$", ORM__SPLIT_POSTGRES, ":1: unterminated dollar-quoted");
    expect_unterminated("/* /* */", ORM__SPLIT_POSTGRES, "unterminated block comment");
}
END_TEST

START_TEST(test_checksum_normalized)
{
    char a[17], b[17], c[17], d[17];
    orm__mig_checksum("CREATE TABLE a (x INT);\nINSERT INTO a VALUES (1);\n", a);
    orm__mig_checksum("CREATE TABLE a (x INT);  \r\nINSERT INTO a VALUES (1);\t\r\n\r\n", b);
    orm__mig_checksum("CREATE TABLE a (x INT);\rINSERT INTO a VALUES (1);", c);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, c);
    ck_assert_uint_eq(strlen(a), 16);
    /* a real change, inner spaces and indentation are not normalized away */
    orm__mig_checksum("CREATE TABLE a (x  INT);\nINSERT INTO a VALUES (1);\n", d);
    ck_assert_str_ne(a, d);
    orm__mig_checksum("CREATE TABLE a (x INT);\n INSERT INTO a VALUES (1);\n", d);
    ck_assert_str_ne(a, d);
    orm__mig_checksum("", d);
    ck_assert_str_eq(d, "cbf29ce484222325"); /* the FNV-1a 64 offset basis */
}
END_TEST

START_TEST(test_no_tx_marker)
{
    ck_assert_int_eq(orm__mig_no_tx("-- orm:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);"), 1);
    ck_assert_int_eq(orm__mig_no_tx("  --orm:no-transaction  \r\nX"), 1);
    ck_assert_int_eq(orm__mig_no_tx("-- orm:no-transaction"), 1);
    ck_assert_int_eq(orm__mig_no_tx("\n-- orm:no-transaction\n"), 0);
    ck_assert_int_eq(orm__mig_no_tx("-- orm:no-transactions\n"), 0);
    ck_assert_int_eq(orm__mig_no_tx("SELECT 1; -- orm:no-transaction\n"), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("migrate_split");
    TCase *tc = tcase_create("split");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_plain);
    tcase_add_test(tc, test_empty_and_comments_only);
    tcase_add_test(tc, test_strings_and_identifiers);
    tcase_add_test(tc, test_comments);
    tcase_add_test(tc, test_pg_nested_comment_and_estring);
    tcase_add_test(tc, test_pg_dollar_quotes);
    tcase_add_test(tc, test_sqlite_trigger_body);
    tcase_add_test(tc, test_crlf_lines);
    tcase_add_test(tc, test_unterminated);
    tcase_add_test(tc, test_checksum_normalized);
    tcase_add_test(tc, test_no_tx_marker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return orm_test_run(suite());
}
