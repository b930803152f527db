/* Unit tests: the SQL lexer and the placeholder rewrite (orm/sql_scan.c). */
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/orm.h"
#include "orm/sql_scan.h"
#include "testutil.h"

/* The rewrite of sql for the backend; "=" when unchanged. The caller frees (orm__free). */
static char *rewrite(const char *sql, int pg)
{
    char *out = NULL;
    size_t len = 0;
    int rc = orm__sql_params_rewrite(sql, strlen(sql), pg, &out, &len);
    ck_assert_msg(rc == ORM_OK, "%s: %s", sql, orm_error_last()->message);
    if (!out) {
        char *same = orm__malloc(2);
        strcpy(same, "=");
        return same;
    }
    ck_assert_uint_eq(strlen(out), len);
    return out;
}

static void check(const char *sql, int pg, const char *want)
{
    char *got = rewrite(sql, pg);
    ck_assert_msg(strcmp(got, want) == 0, "%s (%s): got %s, want %s", sql, pg ? "pg" : "sqlite",
                  got, want);
    orm__free(got);
}

START_TEST(question_marks_become_dollars_on_postgres)
{
    check("SELECT * FROM t WHERE a = ? AND b > ?", 1, "SELECT * FROM t WHERE a = $1 AND b > $2");
    check("UPDATE t SET a = ?2 WHERE id = ?1", 1, "UPDATE t SET a = $2 WHERE id = $1");
    check("SELECT $1, $2", 1, "=");
    check("SELECT 1", 1, "=");
    /* not in literals, identifiers, comments or dollar quotes */
    check("SELECT '?', E'\\'?', \"a?\", ? -- ?\n, ? /* ? /* nested ? */ ? */, $$ ? $$, $x$ ?$$? $x$",
          1, "SELECT '?', E'\\'?', \"a?\", $1 -- ?\n, $2 /* ? /* nested ? */ ? */, $$ ? $$, $x$ ?$$? $x$");
    check("SELECT 'it''s ?', ?", 1, "SELECT 'it''s ?', $1");
    /* ?? is PostgreSQL's own ? operator */
    check("SELECT data ?? 'k', data ??| array['a'] FROM t WHERE id = ?", 1,
          "SELECT data ? 'k', data ?| array['a'] FROM t WHERE id = $1");
    /* Found by sql_scan_fuzz (issue 19 item 17): the rewrite never changes what the tokens
     * around a placeholder are — a name or '$' before or after "?" is kept apart by a blank,
     * and "??" followed by digits keeps the digits. */
    check("SELECT x$?", 1, "SELECT x$ $1");
    check("SELECT ?$a$ text $a$", 1, "SELECT $1 $a$ text $a$");
    check("SELECT ?4$$", 1, "SELECT $4$$");
    check("SELECT a ??4", 1, "SELECT a ?4");
}
END_TEST

START_TEST(dollars_become_numbered_on_sqlite)
{
    check("UPDATE t SET a = $2 WHERE id = $1", 0, "UPDATE t SET a = ?2 WHERE id = ?1");
    check("SELECT ?, ?", 0, "=");
    check("SELECT '$1', \"$1\", [$1], `$1`, $1 -- $1\n /* $1 */", 0,
          "SELECT '$1', \"$1\", [$1], `$1`, ?1 -- $1\n /* $1 */");
    /* names with $ in them are names */
    check("SELECT foo$1 FROM t WHERE x = $1", 0, "SELECT foo$1 FROM t WHERE x = ?1");
    /* SQLite's block comments do not nest: the first close ends it */
    check("/* /* */ $1 */", 0, "/* /* */ ?1 */");
    /* PostgreSQL's do */
    check("/* /* */ ? */ ?", 1, "/* /* */ ? */ $1");
}
END_TEST

START_TEST(bad_placeholders_are_refused)
{
    static const char *bad[] = { "SELECT ?, $1", "SELECT $1, ?", "SELECT $0", "SELECT ?99999" };
    for (int pg = 0; pg < 2; pg++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char *out = (char *)1;
            size_t len = 7;
            int rc = orm__sql_params_rewrite(bad[i], strlen(bad[i]), pg, &out, &len);
            /* each backend's own form passes through untouched, and it checks it */
            if ((!pg && i == 3) || (pg && i == 2))
                continue;
            ck_assert_msg(rc == ORM_EINVAL, "%s (%d): rc %d", bad[i], pg, rc);
            ck_assert_ptr_null(out);
            ck_assert(strstr(orm_error_last()->message, "placeholder") != NULL);
        }
}
END_TEST

START_TEST(tokens_cover_the_text)
{
    const char *sql = "SELECT x'00', \"q\"\"q\", 'unterminated";
    orm_scanner s;
    orm_scan_token t;
    orm__sql_scan_init(&s, sql, strlen(sql), 1);
    size_t total = 0;
    int kinds[8] = { 0 };
    orm_scan_token last = { 0 };
    while (orm__sql_scan_next(&s, &t)) {
        ck_assert_ptr_eq(t.p, sql + total);
        total += t.len;
        kinds[t.kind]++;
        last = t;
    }
    ck_assert_uint_eq(total, strlen(sql));
    ck_assert_int_eq(kinds[ORM_SCAN_STRING], 2);
    ck_assert_int_eq(kinds[ORM_SCAN_QIDENT], 1);
    ck_assert(last.kind == ORM_SCAN_STRING && last.unterminated);
    /* the length bounds the scan */
    orm__sql_scan_init(&s, "'abc'", 3, 0);
    ck_assert_int_eq(orm__sql_scan_next(&s, &t), 1);
    ck_assert_uint_eq(t.len, 3);
    ck_assert(t.unterminated);
    ck_assert_int_eq(orm__sql_scan_next(&s, &t), 0);
}
END_TEST

static Suite *sql_scan_suite(void)
{
    Suite *s = suite_create("sql_scan");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, question_marks_become_dollars_on_postgres);
    tcase_add_test(tc, dollars_become_numbered_on_sqlite);
    tcase_add_test(tc, bad_placeholders_are_refused);
    tcase_add_test(tc, tokens_cover_the_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(sql_scan_suite()); }
