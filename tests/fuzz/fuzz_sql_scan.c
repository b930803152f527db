/* libFuzzer target: the SQL lexer (orm/sql_scan.h) and the raw-SQL placeholder rewrite built
 * on it, for SQLite and PostgreSQL (and the guard's standard_conforming_strings=off reading).
 * Checks: no crash, no leak; the tokens cover the text exactly, in order, none empty; the
 * rewrite is ORM_OK or ORM_EINVAL (ORM_ENOMEM), and its output holds the same literals,
 * identifiers, comments and dollar quotes, in the same order, as the input. Build: see
 * tests/fuzz/CMakeLists.txt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error.h"
#include "orm/sql_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the cover; returns the number of non-code, non-parameter tokens. */
static size_t scan_all(const char *s, size_t len, int postgres, int backslash)
{
    orm_scanner sc;
    orm_scan_token t;
    orm__sql_scan_init(&sc, s, len, postgres);
    sc.backslash = backslash;
    const char *at = s;
    size_t kept = 0;
    while (orm__sql_scan_next(&sc, &t)) {
        if (t.p != at || t.len == 0 || t.p + t.len > s + len)
            abort();
        at = t.p + t.len;
        kept += t.kind != ORM_SCAN_CODE && t.kind != ORM_SCAN_PARAM;
    }
    if (at != s + len)
        abort();
    return kept;
}

/* The i-th kept token of s (see scan_all) into *t. */
static void kept_at(const char *s, size_t len, int postgres, size_t i, orm_scan_token *t)
{
    orm_scanner sc;
    orm__sql_scan_init(&sc, s, len, postgres);
    size_t k = 0;
    while (orm__sql_scan_next(&sc, t))
        if (t->kind != ORM_SCAN_CODE && t->kind != ORM_SCAN_PARAM && k++ == i)
            return;
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    size_t len = strlen(sql);
    for (int pg = 0; pg <= 1; pg++) {
        size_t kept = scan_all(sql, len, pg, 0);
        if (pg)
            (void)scan_all(sql, len, pg, 1);
        char *out = NULL;
        size_t outlen = 0;
        int rc = orm__sql_params_rewrite(sql, len, pg, &out, &outlen);
        if (rc != ORM_OK && rc != ORM_EINVAL && rc != ORM_ENOMEM)
            abort();
        if (rc != ORM_OK && out)
            abort();
        if (rc == ORM_OK && out) {
            if (out[outlen] != '\0' || strlen(out) != outlen)
                abort();
            if (scan_all(out, outlen, pg, 0) != kept)
                abort();
            for (size_t i = 0; i < kept && kept < 64; i++) {
                orm_scan_token a, b;
                kept_at(sql, len, pg, i, &a);
                kept_at(out, outlen, pg, i, &b);
                if (a.kind != b.kind || a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
                    abort();
            }
        }
        orm__free(out);
    }
    free(sql);
    return 0;
}
