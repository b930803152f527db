/* liborm codegen — SQL tokenizer (see lex.h).
 *
 * Literals, quoted identifiers, comments and dollar quotes are found by orm/sql_scan.h, the
 * library's one SQL lexer, with the rules of both databases at once (a schema file is read
 * outside any db); words, numbers, parameters, operators, annotations and psql lines are
 * this file's.
 *
 * Keeps true: pos only moves forward, line/line_start always describe pos, and every token
 * or annotation records the position where it began, so each error names file:line:column.
 * Nothing here knows statements: that is parse.c's job.
 */
#include <stdio.h>
#include <string.h>

#include "codegen/lex.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/sql_scan.h"

void orm__sql_lexer_init(orm__sql_lexer *lx, const char *file, const char *src, size_t len)
{
    memset(lx, 0, sizeof *lx);
    lx->file = file;
    lx->src = src;
    lx->len = len;
    lx->line = 1;
}

void orm__sql_lexer_dispose(orm__sql_lexer *lx)
{
    for (size_t i = 0; i < lx->nanns; i++) {
        orm__free(lx->anns[i].key);
        orm__free(lx->anns[i].value);
    }
    orm__free(lx->anns);
    lx->anns = NULL;
    lx->nanns = lx->capanns = 0;
}

static int peekc(const orm__sql_lexer *lx, size_t ahead)
{
    size_t p = lx->pos + ahead;
    return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

/* Advance one byte, keeping the line count. */
static void step(orm__sql_lexer *lx)
{
    if (lx->pos >= lx->len)
        return;
    if (lx->src[lx->pos] == '\n') {
        lx->line++;
        lx->line_start = lx->pos + 1;
    }
    lx->pos++;
}

static int col_of(const orm__sql_lexer *lx) { return (int)(lx->pos - lx->line_start) + 1; }

static int fail_at(const orm__sql_lexer *lx, int line, int col, const char *what)
{
    return orm__error_set(ORM_EPARSE, "codegen", "%s:%d:%d: %s", lx->file, line, col, what);
}

static bool is_word_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
static bool is_word_char(int c) { return is_word_start(c) || (c >= '0' && c <= '9') || c == '$'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int strncasecmp_ascii(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int d = lower((unsigned char)a[i]) - lower((unsigned char)b[i]);
        if (d || !a[i])
            return d;
    }
    return 0;
}

static char *dup_range(const char *s, size_t n) { return orm__strndup(s, n); }

/* Records every `@orm:key[=value]` word of a `--` comment body [s, s+n). */
static int scan_annotations(orm__sql_lexer *lx, const char *s, size_t n, size_t offset, int line,
                            int col, bool own_line)
{
    static const char tag[] = "@orm:";
    size_t i = 0;
    while (i < n) {
        if (n - i >= sizeof tag - 1 && memcmp(s + i, tag, sizeof tag - 1) == 0 &&
            (i == 0 || is_blank((unsigned char)s[i - 1]))) {
            size_t k = i + sizeof tag - 1, kend = k;
            while (kend < n && !is_blank((unsigned char)s[kend]) && s[kend] != '=')
                kend++;
            size_t vstart = kend, vend = kend;
            bool has_value = kend < n && s[kend] == '=';
            if (has_value) {
                vstart = kend + 1;
                vend = vstart;
                while (vend < n && !is_blank((unsigned char)s[vend]))
                    vend++;
            }
            if (kend == k)
                return fail_at(lx, line, col + (int)i, "empty @orm: annotation");
            if (lx->nanns == lx->capanns) {
                size_t cap = lx->capanns ? lx->capanns * 2 : 8;
                orm__sql_annotation *a = orm__realloc(lx->anns, cap * sizeof *a);
                if (!a)
                    return orm__error_nomem("codegen");
                lx->anns = a;
                lx->capanns = cap;
            }
            orm__sql_annotation *a = &lx->anns[lx->nanns];
            memset(a, 0, sizeof *a);
            a->key = dup_range(s + k, kend - k);
            a->value = has_value ? dup_range(s + vstart, vend - vstart) : NULL;
            if (!a->key || (has_value && !a->value)) {
                orm__free(a->key);
                orm__free(a->value);
                return orm__error_nomem("codegen");
            }
            a->offset = offset + i;
            a->line = line;
            a->col = col + (int)i;
            a->own_line = own_line;
            lx->nanns++;
            i = has_value ? vend : kend;
        } else {
            i++;
        }
    }
    return ORM_OK;
}

/* Past the literal, quoted identifier, comment or dollar quote at pos, as orm/sql_scan (the
 * library's one SQL lexer) reads either database's text: nested comments, E'' escapes and
 * dollar quotes as PostgreSQL, `..` and [..] as SQLite. Its kind into *kind; returns 1, 0
 * when none starts at pos, -1 when it runs to the end (pos is there then). */
static int skip_special(orm__sql_lexer *lx, orm_scan_kind *kind)
{
    int unterm;
    size_t end = orm__sql_scan_skip(lx->src, lx->len, lx->pos, ORM_SCAN_RULES_EITHER, kind,
                                    &unterm);
    if (end == lx->pos)
        return 0;
    while (lx->pos < end)
        step(lx);
    return unterm ? -1 : 1;
}

/* Skips blanks, newlines, comments and meta-command lines; collects annotations. */
static int skip_space(orm__sql_lexer *lx)
{
    for (;;) {
        int c = peekc(lx, 0);
        if (c == -1)
            return ORM_OK;
        if (is_blank(c) || c == '\n') {
            step(lx);
        } else if (c == '-' && peekc(lx, 1) == '-') {
            size_t start = lx->pos;
            int line = lx->line, col = col_of(lx);
            bool own_line = lx->last_token_line != line;
            orm_scan_kind kind;
            skip_special(lx, &kind); /* to the end of the line */
            int rc = scan_annotations(lx, lx->src + start + 2, lx->pos - start - 2, start + 2,
                                      line, col + 2, own_line);
            if (rc != ORM_OK)
                return rc;
        } else if (c == '/' && peekc(lx, 1) == '*') {
            /* PostgreSQL nests block comments; SQLite does not. Nesting is the safer reading
             * (ORM_SCAN_RULES_EITHER): a stray inner opener then reports an unterminated
             * comment instead of silently treating commented-out DDL as live. */
            int line = lx->line, col = col_of(lx);
            orm_scan_kind kind;
            if (skip_special(lx, &kind) < 0)
                return fail_at(lx, line, col, "unterminated /* comment");
        } else if (c == '\\') {
            /* A psql meta-command (\connect, \set, \restrict ...) runs to the end of line. */
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
                lx->pos++;
        } else {
            return ORM_OK;
        }
    }
}

/* $1 / $name parameters (a dollar quote is skip_special's). pos is at the '$'. */
static void scan_dollar(orm__sql_lexer *lx, orm__sql_token *t)
{
    step(lx);
    if (is_digit(peekc(lx, 0))) {
        while (is_digit(peekc(lx, 0)))
            step(lx);
    } else { /* SQLite $name parameter */
        while (peekc(lx, 0) != -1 && peekc(lx, 0) != '$' && is_word_char(peekc(lx, 0)))
            step(lx);
    }
    t->kind = ORM_SQL_PARAM;
}

/* After U&"..." or U&'...': an optional UESCAPE 'c' belongs to the same token. */
static void scan_uescape(orm__sql_lexer *lx)
{
    size_t save = lx->pos;
    int save_line = lx->line;
    size_t save_ls = lx->line_start;
    while (peekc(lx, 0) != -1 && (is_blank(peekc(lx, 0)) || peekc(lx, 0) == '\n'))
        step(lx);
    if (lx->len - lx->pos >= 7 && strncasecmp_ascii(lx->src + lx->pos, "uescape", 7) == 0 &&
        !is_word_char(peekc(lx, 7))) {
        for (int i = 0; i < 7; i++)
            step(lx);
        while (peekc(lx, 0) != -1 && (is_blank(peekc(lx, 0)) || peekc(lx, 0) == '\n'))
            step(lx);
        if (peekc(lx, 0) == '\'' && peekc(lx, 2) == '\'') {
            step(lx);
            step(lx);
            step(lx);
            return;
        }
    }
    lx->pos = save;
    lx->line = save_line;
    lx->line_start = save_ls;
}

static const char *const ops2[] = { "::", "||", "<=", ">=", "<>", "!=", "==", "->", "=>", ":=",
                                    "<<", ">>" };

int orm__sql_next(orm__sql_lexer *lx, orm__sql_token *t)
{
    int rc = skip_space(lx);
    if (rc != ORM_OK)
        return rc;
    memset(t, 0, sizeof *t);
    t->start = lx->src + lx->pos;
    t->offset = lx->pos;
    t->line = lx->line;
    t->col = col_of(lx);
    int c = peekc(lx, 0), c1 = peekc(lx, 1);
    if (c == -1) {
        t->kind = ORM_SQL_EOF;
        t->end_line = lx->line;
        return ORM_OK;
    }
    /* U&"..." and U&'...' (PostgreSQL's Unicode escapes): the quote is read as any other */
    bool u_amp = (c == 'u' || c == 'U') && c1 == '&' && (peekc(lx, 2) == '"' || peekc(lx, 2) == '\'');
    if (u_amp) {
        step(lx);
        step(lx);
    }
    orm_scan_kind special_kind;
    int special = skip_special(lx, &special_kind);
    if (special != 0) {
        const char *what = "string";
        t->kind = ORM_SQL_STRING;
        if (special_kind == ORM_SCAN_QIDENT && lx->src[t->offset] == '[') {
            what = "[ identifier";
            t->kind = ORM_SQL_BRACKET;
        } else if (special_kind == ORM_SCAN_QIDENT) {
            what = "quoted identifier";
            t->kind = ORM_SQL_QIDENT;
        } else if (special_kind == ORM_SCAN_DOLLAR) {
            what = "dollar-quoted string";
        }
        if (special < 0) {
            char msg[64];
            snprintf(msg, sizeof msg, "unterminated %s", what);
            return fail_at(lx, t->line, t->col, msg);
        }
        if (u_amp)
            scan_uescape(lx);
    } else if (is_word_start(c)) {
        while (is_word_char(peekc(lx, 0)))
            step(lx);
        t->kind = ORM_SQL_WORD;
    } else if (is_digit(c) || (c == '.' && is_digit(c1))) {
        while (peekc(lx, 0) != -1) {
            int d = peekc(lx, 0);
            if ((d == 'e' || d == 'E') && (peekc(lx, 1) == '+' || peekc(lx, 1) == '-') &&
                !(c == '0' && (c1 == 'x' || c1 == 'X'))) {
                step(lx);
                step(lx);
            } else if (is_word_char(d) || d == '.') {
                step(lx);
            } else {
                break;
            }
        }
        t->kind = ORM_SQL_NUMBER;
    } else if (c == '$') {
        scan_dollar(lx, t);
    } else if ((c == '?' || c == ':' || c == '@') &&
               (c == '?' ? true : (c1 != -1 && is_word_start(c1)))) {
        step(lx);
        while (is_word_char(peekc(lx, 0)))
            step(lx);
        t->kind = ORM_SQL_PARAM;
    } else {
        t->kind = ORM_SQL_OP;
        size_t n = 1;
        for (size_t i = 0; i < sizeof ops2 / sizeof ops2[0]; i++)
            if (c == ops2[i][0] && c1 == ops2[i][1])
                n = 2;
        for (size_t i = 0; i < n; i++)
            step(lx);
    }
    t->len = lx->pos - t->offset;
    t->end_line = lx->line;
    lx->last_token_line = lx->line;
    return ORM_OK;
}

void orm__sql_skip_copy_data(orm__sql_lexer *lx)
{
    while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
        lx->pos++;
    while (lx->pos < lx->len) {
        step(lx); /* the newline */
        const char *l = lx->src + lx->pos;
        size_t rest = lx->len - lx->pos, n = 0;
        while (n < rest && l[n] != '\n')
            n++;
        bool end = (n >= 2 && l[0] == '\\' && l[1] == '.' && (n == 2 || (n == 3 && l[2] == '\r')));
        lx->pos += n;
        if (end)
            return;
    }
}

bool orm__sql_is(const orm__sql_token *tok, const char *kw)
{
    size_t n = strlen(kw);
    return tok->kind == ORM_SQL_WORD && tok->len == n && strncasecmp_ascii(tok->start, kw, n) == 0;
}

bool orm__sql_is_op(const orm__sql_token *tok, const char *op)
{
    size_t n = strlen(op);
    return tok->kind == ORM_SQL_OP && tok->len == n && memcmp(tok->start, op, n) == 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the body of U&"...": \XXXX and \+XXXXXX escapes (esc is the escape character). */
static int decode_unicode(const orm__sql_lexer *lx, const orm__sql_token *tok, const char *s,
                          size_t n, int esc, char *o, size_t *olen)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' && i + 1 < n && s[i + 1] == '"') {
            o[w++] = '"';
            i++;
        } else if ((unsigned char)s[i] == esc) {
            if (i + 1 < n && (unsigned char)s[i + 1] == esc) {
                o[w++] = (char)esc;
                i++;
                continue;
            }
            size_t digits = (i + 1 < n && s[i + 1] == '+') ? 6 : 4;
            size_t at = i + 1 + (digits == 6);
            unsigned long cp = 0;
            if (at + digits > n)
                return fail_at(lx, tok->line, tok->col, "bad escape in U&\"\" identifier");
            for (size_t k = 0; k < digits; k++) {
                int h = hexval((unsigned char)s[at + k]);
                if (h < 0)
                    return fail_at(lx, tok->line, tok->col, "bad escape in U&\"\" identifier");
                cp = cp * 16 + (unsigned long)h;
            }
            if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return fail_at(lx, tok->line, tok->col, "bad code point in U&\"\" identifier");
            w += put_utf8(o + w, cp);
            i = at + digits - 1;
        } else {
            o[w++] = s[i];
        }
    }
    *olen = w;
    return ORM_OK;
}

int orm__sql_ident(const orm__sql_lexer *lx, const orm__sql_token *tok, char **out)
{
    *out = NULL;
    const char *s = tok->start;
    size_t n = tok->len;
    /* Decoding only ever shrinks, except \XXXX (5+ bytes) -> at most 4 UTF-8 bytes. */
    char *o = orm__malloc(n + 1);
    if (!o)
        return orm__error_nomem("codegen");
    size_t w = 0;
    int rc = ORM_OK;
    if (tok->kind == ORM_SQL_WORD) {
        for (size_t i = 0; i < n; i++)
            o[w++] = (char)lower((unsigned char)s[i]);
    } else if (tok->kind == ORM_SQL_BRACKET) {
        memcpy(o, s + 1, n - 2);
        w = n - 2;
    } else if (tok->kind == ORM_SQL_QIDENT && (s[0] == 'u' || s[0] == 'U')) {
        int esc = '\\';
        const char *close = s + 2;
        /* find the closing quote of the body */
        size_t i = 3;
        while (i < n) {
            if (s[i] == '"') {
                if (i + 1 < n && s[i + 1] == '"') {
                    i += 2;
                    continue;
                }
                break;
            }
            i++;
        }
        close = s + i;
        const char *q = memchr(close, '\'', (size_t)(s + n - close));
        if (q)
            esc = (unsigned char)q[1];
        if (esc == '"' || esc == '\'' || esc == '+' || esc == ' ' || hexval(esc) >= 0)
            rc = fail_at(lx, tok->line, tok->col, "bad UESCAPE character");
        else
            rc = decode_unicode(lx, tok, s + 3, (size_t)(close - (s + 3)), esc, o, &w);
    } else if (tok->kind == ORM_SQL_QIDENT) {
        char q = s[0];
        for (size_t i = 1; i + 1 < n; i++) {
            o[w++] = s[i];
            if (s[i] == q)
                i++;
        }
    } else {
        rc = fail_at(lx, tok->line, tok->col, "expected a name");
    }
    if (rc == ORM_OK && (w == 0 || memchr(o, '\0', w)))
        rc = fail_at(lx, tok->line, tok->col, "empty or NUL-holding identifier");
    if (rc != ORM_OK) {
        orm__free(o);
        return rc;
    }
    o[w] = '\0';
    *out = o;
    return ORM_OK;
}
