/* Unit tests: the SQL lexer and the placeholder rewrite (orm/sql_scan.c). */
#include <stdio.h>
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

/* orm__sql_scan_skip of sql at i by rules: "KIND:end" ("KIND:end!" when unterminated), or
 * "-" when nothing but code starts there (and the offset came back as i). */
static const char *skip_at(const char *sql, size_t i, unsigned rules)
{
    static char out[32];
    static const char *const names[] = { "CODE", "STRING", "QIDENT", "COMMENT", "DOLLAR",
                                         "PARAM" };
    orm_scan_kind kind = ORM_SCAN_PARAM;
    int unterm = -1;
    size_t end = orm__sql_scan_skip(sql, strlen(sql), i, rules, &kind, &unterm);
    if (end == i) {
        ck_assert_int_eq(kind, ORM_SCAN_CODE);
        ck_assert_int_eq(unterm, 0);
        return "-";
    }
    snprintf(out, sizeof out, "%s:%zu%s", names[kind], end, unterm ? "!" : "");
    return out;
}

#define PG ORM_SCAN_RULES_POSTGRES
#define LITE ORM_SCAN_RULES_SQLITE
#define EITHER ORM_SCAN_RULES_EITHER

START_TEST(skip_finds_the_end_of_strings)
{
    ck_assert_str_eq(skip_at("'it''s' x", 0, LITE), "STRING:7");
    ck_assert_str_eq(skip_at("'it''s' x", 0, PG), "STRING:7");
    ck_assert_str_eq(skip_at("SELECT 'a', 'b'", 12, LITE), "STRING:15");
    ck_assert_str_eq(skip_at("'abc", 0, LITE), "STRING:4!");
    ck_assert_str_eq(skip_at("''", 0, LITE), "STRING:2");
    /* E'..' takes backslash escapes on PostgreSQL only */
    ck_assert_str_eq(skip_at("E'\\'' x", 0, PG), "STRING:5");
    ck_assert_str_eq(skip_at("e'a\\\\' x", 0, PG), "STRING:6");
    ck_assert_str_eq(skip_at("E'\\'' x", 0, LITE), "STRING:7!");
    ck_assert_str_eq(skip_at("'\\' x", 0, PG), "STRING:3");
    ck_assert_str_eq(skip_at("E'\\", 0, PG), "STRING:3!");
    /* ... and every '..' does with standard_conforming_strings off */
    ck_assert_str_eq(skip_at("'\\'' x", 0, PG | ORM_SCAN_BACKSLASH), "STRING:4");
    /* the other prefixes */
    ck_assert_str_eq(skip_at("X'00' y", 0, LITE), "STRING:5");
    ck_assert_str_eq(skip_at("n'a\\' y", 0, PG), "STRING:5");
    ck_assert_str_eq(skip_at("b'01'", 0, PG), "STRING:5");
    /* a token starts at i by the caller's word: the byte before does not matter */
    ck_assert_str_eq(skip_at("xE'a'", 1, PG), "STRING:5");
    ck_assert_str_eq(skip_at("E x", 0, PG), "-");
}
END_TEST

START_TEST(skip_finds_the_end_of_identifiers)
{
    ck_assert_str_eq(skip_at("\"quoted \"\"ident\"\"\" x", 0, LITE), "QIDENT:18");
    ck_assert_str_eq(skip_at("\"quoted \"\"ident\"\"\" x", 0, PG), "QIDENT:18");
    ck_assert_str_eq(skip_at("\"open", 0, PG), "QIDENT:5!");
    /* backquotes and brackets on SQLite (and in either database's text); [..] ends at the
     * first ']', as SQLite reads it */
    ck_assert_str_eq(skip_at("`a``b` x", 0, LITE), "QIDENT:6");
    ck_assert_str_eq(skip_at("[a b] x", 0, LITE), "QIDENT:5");
    ck_assert_str_eq(skip_at("[a]]", 0, LITE), "QIDENT:3");
    ck_assert_str_eq(skip_at("[a", 0, LITE), "QIDENT:2!");
    ck_assert_str_eq(skip_at("`a` [b]", 4, EITHER), "QIDENT:7");
    /* PostgreSQL: code (an array subscript; a backquote is an operator character) */
    ck_assert_str_eq(skip_at("[1]", 0, PG), "-");
    ck_assert_str_eq(skip_at("`a`", 0, PG), "-");
}
END_TEST

START_TEST(skip_finds_the_end_of_comments)
{
    /* -- to the end of the line, the newline not included; never unterminated */
    ck_assert_str_eq(skip_at("-- a 'b\nc", 0, LITE), "COMMENT:7");
    ck_assert_str_eq(skip_at("x -- a", 2, PG), "COMMENT:6");
    ck_assert_str_eq(skip_at("- -", 0, PG), "-");
    /* block comments nest on PostgreSQL, not on SQLite */
    ck_assert_str_eq(skip_at("/* /* */ */ x", 0, PG), "COMMENT:11");
    ck_assert_str_eq(skip_at("/* /* */ */ x", 0, LITE), "COMMENT:8");
    ck_assert_str_eq(skip_at("/* /* */ */ x", 0, EITHER), "COMMENT:11");
    ck_assert_str_eq(skip_at("/* /* */", 0, PG), "COMMENT:8!");
    ck_assert_str_eq(skip_at("/*/ x", 0, LITE), "COMMENT:5!");
    ck_assert_str_eq(skip_at("/**/", 0, LITE), "COMMENT:4");
    ck_assert_str_eq(skip_at("/ *", 0, LITE), "-");
}
END_TEST

START_TEST(skip_finds_the_end_of_dollar_quotes)
{
    ck_assert_str_eq(skip_at("$tag$ a $b$ ' $tag$x", 0, PG), "DOLLAR:19");
    ck_assert_str_eq(skip_at("$$ ; $$", 0, PG), "DOLLAR:7");
    ck_assert_str_eq(skip_at("$a$ x $b$", 0, PG), "DOLLAR:9!");
    ck_assert_str_eq(skip_at("$_x1$$_x1$", 0, EITHER), "DOLLAR:10");
    /* not a quote: SQLite's text, a parameter, a tag that starts with a digit or never ends */
    ck_assert_str_eq(skip_at("$tag$ a $tag$", 0, LITE), "-");
    ck_assert_str_eq(skip_at("$1", 0, PG), "-");
    ck_assert_str_eq(skip_at("$1$", 0, PG), "-");
    ck_assert_str_eq(skip_at("$a b", 0, PG), "-");
    ck_assert_str_eq(skip_at("?", 0, PG), "-");
    ck_assert_str_eq(skip_at("x", 5, PG), "-");
}
END_TEST

/* The scanner and orm__sql_scan_skip end every literal, identifier, comment and dollar quote
 * at the same byte. */
START_TEST(skip_agrees_with_the_scanner)
{
    static const char *const texts[] = {
        "SELECT 'a''b', E'\\'', \"x\"\"y\", /* /* */ */ $q$ ; $q$ -- c\n[z]] `w` ? $2",
        "'\\'' /* */ */ $$ '$$ [ \"",
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        for (int pg = 0; pg <= 1; pg++) {
            const char *sql = texts[k];
            orm_scanner s;
            orm_scan_token t;
            orm__sql_scan_init(&s, sql, strlen(sql), pg);
            size_t seen = 0;
            while (orm__sql_scan_next(&s, &t)) {
                size_t at = (size_t)(t.p - sql);
                orm_scan_kind kind;
                int unterm;
                size_t end = orm__sql_scan_skip(sql, strlen(sql), at, s.rules, &kind, &unterm);
                if (t.kind == ORM_SCAN_CODE || t.kind == ORM_SCAN_PARAM) {
                    ck_assert_uint_eq(end, at);
                    continue;
                }
                seen++;
                ck_assert_int_eq(kind, t.kind);
                ck_assert_uint_eq(end, at + t.len);
                ck_assert_int_eq(unterm, t.unterminated);
            }
            ck_assert_uint_gt(seen, 1);
        }
    }
    ck_assert_uint_eq(orm__sql_scan_rules(ORM_SQL_LEXER_SQLITE), LITE);
    ck_assert_uint_eq(orm__sql_scan_rules(ORM_SQL_LEXER_POSTGRES), PG);
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
    tcase_add_test(tc, skip_finds_the_end_of_strings);
    tcase_add_test(tc, skip_finds_the_end_of_identifiers);
    tcase_add_test(tc, skip_finds_the_end_of_comments);
    tcase_add_test(tc, skip_finds_the_end_of_dollar_quotes);
    tcase_add_test(tc, skip_agrees_with_the_scanner);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return orm_test_run(sql_scan_suite()); }
