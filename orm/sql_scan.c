/* liborm — the SQL lexer of sql_scan.h and the placeholder rewrite built on it.
 *
 * Keeps true: the scanner and orm__sql_scan_skip find the start and the end of a literal,
 * identifier, comment or dollar quote by the same code (special_at, skip_special), so every
 * user reads them alike; the tokens cover the text exactly and in order; a token never
 * extends past len; the rewrite changes only ORM_SCAN_PARAM tokens (and "??" on PostgreSQL), so a quote,
 * comment or dollar quote that holds "?" or "$1" reaches the database unchanged.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/sql_scan.h"

void orm__sql_scan_init(orm_scanner *s, const char *sql, size_t len, int postgres)
{
    s->p = sql;
    s->end = sql + len;
    s->backslash = 0;
    s->rules = postgres ? ORM_SCAN_RULES_POSTGRES : ORM_SCAN_RULES_SQLITE;
    s->prev = 0;
}

unsigned orm__sql_scan_rules(orm_sql_lexer lexer)
{
    return lexer == ORM_SQL_LEXER_POSTGRES ? ORM_SCAN_RULES_POSTGRES : ORM_SCAN_RULES_SQLITE;
}

static int is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Past a quoted run starting at p (on the opening quote), closed by q; a doubled q is one
 * character of it when doubled (not in SQLite's [..], which ends at the first ']');
 * backslash escapes when bs. Sets *unterminated when it runs to end. */
static const char *skip_quoted(const char *p, const char *end, char q, int doubled, int bs,
                               int *unterminated)
{
    for (p++; p < end; p++) {
        if (bs && *p == '\\') {
            if (++p >= end)
                break;
            continue;
        }
        if (*p == q) {
            if (doubled && p + 1 < end && p[1] == q) {
                p++;
                continue;
            }
            return p + 1;
        }
    }
    *unterminated = 1;
    return end;
}

/* Past a block comment starting at p ("/" "*"); nested when nest. */
static const char *skip_block(const char *p, const char *end, int nest, int *unterminated)
{
    int depth = 1;
    for (p += 2; p < end; p++) {
        if (nest && *p == '/' && p + 1 < end && p[1] == '*') {
            depth++;
            p++;
        } else if (*p == '*' && p + 1 < end && p[1] == '/') {
            p++;
            if (--depth == 0)
                return p + 1;
        }
    }
    *unterminated = 1;
    return end;
}

/* The length of a dollar-quote tag ("$", "$tag$") at p, or 0 when p does not start one. */
static size_t dollar_tag(const char *p, const char *end)
{
    const char *q = p + 1;
    if (q < end && *q == '$')
        return 2;
    if (q >= end || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' ||
                      (unsigned char)*q >= 0x80))
        return 0;
    while (q < end && is_ident(*q) && *q != '$')
        q++;
    return q < end && *q == '$' ? (size_t)(q - p + 1) : 0;
}

/* Does a token other than code start at p, read by rules (after_ident: the byte before p
 * continues a name, so '$' and a literal's prefix letter belong to it)? Its kind into *k. */
static int special_at(unsigned rules, const char *p, const char *end, int after_ident,
                      orm_scan_kind *k)
{
    switch (*p) {
    case '\'': *k = ORM_SCAN_STRING; return 1;
    case '"': *k = ORM_SCAN_QIDENT; return 1;
    case '`': case '[':
        if (!(rules & ORM_SCAN_BRACKETS))
            return 0; /* [ is an array subscript on PostgreSQL */
        *k = ORM_SCAN_QIDENT;
        return 1;
    case '-':
        if (p + 1 < end && p[1] == '-') { *k = ORM_SCAN_COMMENT; return 1; }
        return 0;
    case '/':
        if (p + 1 < end && p[1] == '*') { *k = ORM_SCAN_COMMENT; return 1; }
        return 0;
    case '?':
        *k = ORM_SCAN_PARAM;
        return 1;
    case '$':
        if (after_ident)
            return 0; /* part of a name: foo$1 */
        if (p + 1 < end && is_digit(p[1])) { *k = ORM_SCAN_PARAM; return 1; }
        if ((rules & ORM_SCAN_DOLLARQ) && dollar_tag(p, end)) { *k = ORM_SCAN_DOLLAR; return 1; }
        return 0;
    case 'E': case 'e': case 'X': case 'x': case 'B': case 'b': case 'N': case 'n':
        /* a prefixed string literal: E'..' (escapes), X'..', B'..', N'..' */
        if (!after_ident && p + 1 < end && p[1] == '\'') { *k = ORM_SCAN_STRING; return 1; }
        return 0;
    default:
        return 0;
    }
}

/* Past the literal, identifier, comment or dollar quote of kind k starting at p. */
static const char *skip_special(unsigned rules, orm_scan_kind k, const char *p, const char *end,
                                int *unterminated)
{
    switch (k) {
    case ORM_SCAN_STRING: {
        int bs = (rules & ORM_SCAN_BACKSLASH) != 0;
        if (*p != '\'') {
            bs = bs || ((rules & ORM_SCAN_ESTRING) && (*p == 'E' || *p == 'e'));
            p++;
        }
        return skip_quoted(p, end, '\'', 1, bs, unterminated);
    }
    case ORM_SCAN_QIDENT:
        return *p == '[' ? skip_quoted(p, end, ']', 0, 0, unterminated)
                         : skip_quoted(p, end, *p, 1, 0, unterminated);
    case ORM_SCAN_COMMENT:
        if (*p == '-') {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            return nl ? nl : end;
        }
        return skip_block(p, end, (rules & ORM_SCAN_NESTED) != 0, unterminated);
    case ORM_SCAN_DOLLAR: {
        size_t tl = dollar_tag(p, end);
        const char *tag = p;
        for (p += tl;;) {
            const char *hit = p < end ? memchr(p, '$', (size_t)(end - p)) : NULL;
            if (!hit) {
                *unterminated = 1;
                return end;
            }
            if ((size_t)(end - hit) >= tl && memcmp(hit, tag, tl) == 0)
                return hit + tl;
            p = hit + 1;
        }
    }
    case ORM_SCAN_CODE:
    case ORM_SCAN_PARAM:
        break;
    }
    return p;
}

size_t orm__sql_scan_skip(const char *sql, size_t len, size_t i, unsigned rules,
                          orm_scan_kind *kind, int *unterminated)
{
    orm_scan_kind k = ORM_SCAN_CODE;
    *kind = ORM_SCAN_CODE;
    *unterminated = 0;
    if (i >= len || !special_at(rules, sql + i, sql + len, 0, &k) || k == ORM_SCAN_PARAM)
        return i;
    *kind = k;
    return (size_t)(skip_special(rules, k, sql + i, sql + len, unterminated) - sql);
}

int orm__sql_scan_next(orm_scanner *s, orm_scan_token *t)
{
    const char *p = s->p, *end = s->end;
    if (p >= end)
        return 0;
    memset(t, 0, sizeof *t);
    t->p = p;
    unsigned rules = s->rules | (s->backslash ? ORM_SCAN_BACKSLASH : 0);
    orm_scan_kind k;
    if (!special_at(rules, p, end, is_ident(s->prev), &k)) {
        char last = s->prev;
        while (p < end && !special_at(rules, p, end, is_ident(last), &k))
            last = *p++;
        t->kind = ORM_SCAN_CODE;
        s->prev = last;
        s->p = p;
        t->len = (size_t)(p - t->p);
        return 1;
    }
    t->kind = k;
    if (k == ORM_SCAN_PARAM) {
        p++;
        long n = 0;
        int nd = 0;
        while (p < end && is_digit(*p)) {
            if (n <= (LONG_MAX - 9) / 10)
                n = n * 10 + (*p - '0');
            else
                n = LONG_MAX;
            nd++;
            p++;
        }
        t->num = nd ? n : 0;
        if (nd && n == 0)
            t->num = -1; /* "$0": no such parameter */
    } else {
        p = skip_special(rules, k, p, end, &t->unterminated);
    }
    s->prev = p[-1];
    s->p = p;
    t->len = (size_t)(p - t->p);
    return 1;
}

int orm__sql_params_rewrite(const char *sql, size_t len, int postgres, char **out,
                            size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    /* Fast path: nothing to rewrite without the other backend's marker. */
    if (!memchr(sql, postgres ? '?' : '$', len))
        return ORM_OK;
    /* Worst case: every "?" becomes " $", up to 10 digits and " ". */
    if (len > (SIZE_MAX - 1) / 13)
        return orm__error_set(ORM_EINVAL, "raw", "SQL text of %zu bytes is too long", len);
    char *buf = orm__malloc(len * 13 + 1);
    if (!buf)
        return orm__error_nomem("raw");
    size_t n = 0;
    long bare = 0, numbered = 0;
    int changed = 0;
    orm_scanner sc;
    orm_scan_token t;
    orm__sql_scan_init(&sc, sql, len, postgres);
    while (orm__sql_scan_next(&sc, &t)) {
        if (t.kind != ORM_SCAN_PARAM) {
            memcpy(buf + n, t.p, t.len);
            n += t.len;
            continue;
        }
        if (t.num < 0 || t.num > 65535) {
            orm__free(buf);
            return orm__error_set(ORM_EINVAL, "raw", "placeholder \"%.*s\" at byte %zu: numbers run "
                                  "from 1 to 65535", (int)t.len, t.p, (size_t)(t.p - sql));
        }
        if (t.num == 0) {
            if (postgres && t.p + 1 < sql + len && t.p[1] == '?') {
                buf[n++] = '?'; /* "??": PostgreSQL's own ? operator */
                orm__sql_scan_next(&sc, &t);
                /* the second '?' may have scanned as "?NNN": its digits stay (sql_scan_fuzz) */
                memcpy(buf + n, t.p + 1, t.len - 1);
                n += t.len - 1;
                changed = 1;
                continue;
            }
            bare++;
        } else {
            numbered++;
        }
        if (bare && numbered) {
            orm__free(buf);
            return orm__error_set(ORM_EINVAL, "raw", "placeholder \"%.*s\" at byte %zu: the "
                                  "statement mixes \"?\" with numbered placeholders",
                                  (int)t.len, t.p, (size_t)(t.p - sql));
        }
        if (postgres && t.p[0] == '?') {
            /* after a name or a '$' ("x$?", "$a?"), "$1" would join it or open a dollar
             * quote ("$a$1..."): a blank keeps the tokens what they were (sql_scan_fuzz) */
            if (n && (is_ident(buf[n - 1]) || buf[n - 1] == '$'))
                buf[n++] = ' ';
            n += (size_t)snprintf(buf + n, 12, "$%ld", t.num ? t.num : bare);
            /* and a bare "?" before a name or '$' ("?$a$..."): after "$1" the '$' would be
             * part of a name, not open the quote ("?4$$" stays as it was: '4' ended it) */
            const char *next = t.p + t.len;
            if (t.p[t.len - 1] == '?' && next < sql + len && (is_ident(*next) || *next == '$'))
                buf[n++] = ' ';
            changed = 1;
        } else if (!postgres && t.p[0] == '$') {
            n += (size_t)snprintf(buf + n, 12, "?%ld", t.num);
            changed = 1;
        } else {
            memcpy(buf + n, t.p, t.len);
            n += t.len;
        }
    }
    if (!changed) {
        orm__free(buf);
        return ORM_OK;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return ORM_OK;
}
