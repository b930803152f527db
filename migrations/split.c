/* Migrations: split a script into statements, checksum normalized text, read the
 * no-transaction marker.
 *
 * Literals, identifiers, comments and dollar quotes are found by orm/sql_scan.h, the library's
 * one SQL lexer, read by the rules of the db's driver; this file reads the words between them.
 *
 * What it keeps true: a ';' ends a statement only at the top level: never inside a string
 * ('...', E'...' with backslash escapes on PostgreSQL), a quoted identifier ("...", and `...`
 * / [...] on SQLite), a comment (-- to end of line, block comments, nested on PostgreSQL), a
 * dollar-quoted body ($$...$$, $tag$...$tag$, PostgreSQL), or a BEGIN ... END body of a CREATE
 * TRIGGER / FUNCTION / PROCEDURE (CASE ... END inside it counted too). Every statement
 * returned starts at its first token and ends after its last one, so the line reported
 * for it is where its text starts. Nothing unterminated is silently accepted.
 */
#define _POSIX_C_SOURCE 200809L /* strncasecmp */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "migrations/migrate_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/sql_scan.h"

typedef struct splitter {
    const char *t;
    size_t n;
    size_t i;
    int line;
    unsigned rules;    /* orm/sql_scan.h's, by the dialect */
    const char *file;
    orm__mig_stmt *out;
    size_t count, cap;
    /* the statement being read */
    size_t start;      /* SIZE_MAX: no token yet */
    int start_line;
    size_t last_end;   /* just after its last token */
    int words;         /* words seen in it */
    int is_create;     /* its first word is CREATE */
    int has_body;      /* CREATE TRIGGER / FUNCTION / PROCEDURE */
    int depth;         /* open BEGIN / CASE in such a body */
} splitter;

static int is_ident(int c)
{
    return isalnum(c) || c == '_' || c == '$' || (c & 0x80);
}

static int unterminated(const splitter *sp, int line, const char *what)
{
    return orm__error_set(ORM_EPARSE, "migrate", "%s:%d: unterminated %s",
                          sp->file ? sp->file : "<sql>", line, what);
}

static int push(splitter *sp)
{
    if (sp->start == SIZE_MAX)
        return ORM_OK;
    if (sp->count == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 8;
        orm__mig_stmt *p = orm__realloc(sp->out, cap * sizeof *p);
        if (!p)
            return orm__error_nomem("migrate");
        sp->out = p;
        sp->cap = cap;
    }
    orm__mig_stmt *s = &sp->out[sp->count++];
    s->off = sp->start;
    s->len = sp->last_end - sp->start;
    s->line = sp->start_line;
    sp->start = SIZE_MAX;
    sp->words = sp->is_create = sp->has_body = sp->depth = 0;
    return ORM_OK;
}

/* A significant token starts at i. */
static void token(splitter *sp)
{
    if (sp->start == SIZE_MAX) {
        sp->start = sp->i;
        sp->start_line = sp->line;
    }
}

/* A string, quoted identifier, comment or dollar quote at sp->i: skipped whole, read by
 * orm/sql_scan's rules (the library's one lexer), with the lines it spans counted; all but a
 * comment are tokens of the statement. Returns 0 when none starts there (sp->i unchanged),
 * else 1 with *rc the error of an unterminated one (a -- comment never is). */
static int skip_special(splitter *sp, int *rc)
{
    orm_scan_kind kind;
    int unterm;
    size_t end = orm__sql_scan_skip(sp->t, sp->n, sp->i, sp->rules, &kind, &unterm);
    if (end == sp->i)
        return 0;
    if (kind != ORM_SCAN_COMMENT)
        token(sp);
    int line = sp->line;
    for (const char *nl = sp->t + sp->i; (nl = memchr(nl, '\n', (size_t)(sp->t + end - nl)));
         nl++)
        sp->line++;
    if (unterm) {
        const char *what = kind == ORM_SCAN_COMMENT  ? "block comment"
                           : kind == ORM_SCAN_DOLLAR ? "dollar-quoted string"
                           : kind == ORM_SCAN_STRING ? "string literal"
                           : sp->t[sp->i] == '['     ? "bracketed identifier"
                                                     : "quoted identifier";
        *rc = unterminated(sp, line, what);
    }
    sp->i = end;
    if (kind != ORM_SCAN_COMMENT)
        sp->last_end = end;
    return 1;
}

static int word_is(const char *w, size_t len, const char *kw)
{
    return strlen(kw) == len && strncasecmp(w, kw, len) == 0;
}

static void word(splitter *sp)
{
    const char *w = sp->t + sp->i;
    size_t len = 0;
    while (sp->i + len < sp->n && is_ident((unsigned char)w[len]))
        len++;
    sp->i += len;
    sp->words++;
    if (sp->words == 1) {
        sp->is_create = word_is(w, len, "CREATE");
        return;
    }
    if (!sp->is_create)
        return;
    if (sp->words <= 6 && (word_is(w, len, "TRIGGER") || word_is(w, len, "FUNCTION") ||
                           word_is(w, len, "PROCEDURE")))
        sp->has_body = 1;
    if (!sp->has_body)
        return;
    if (word_is(w, len, "BEGIN") || (sp->depth > 0 && word_is(w, len, "CASE")))
        sp->depth++;
    else if (sp->depth > 0 && word_is(w, len, "END"))
        sp->depth--;
}

int orm__mig_split(const char *text, orm_sql_lexer lexer, const char *file, orm__mig_stmt **out,
                   size_t *count)
{
    if (!out || !count)
        return orm__error_set(ORM_EINVAL, "migrate", "orm__mig_split: NULL out");
    *out = NULL;
    *count = 0;
    if (!text)
        return orm__error_set(ORM_EINVAL, "migrate", "orm__mig_split: NULL text");
    splitter sp;
    memset(&sp, 0, sizeof sp);
    sp.t = text;
    sp.n = strlen(text);
    sp.line = 1;
    sp.rules = orm__sql_scan_rules(lexer);
    sp.file = file;
    sp.start = SIZE_MAX;
    int rc = ORM_OK;
    while (rc == ORM_OK && sp.i < sp.n) {
        unsigned char c = (unsigned char)text[sp.i];
        if (c == '\n') {
            sp.line++;
            sp.i++;
        } else if (isspace(c)) {
            sp.i++;
        } else if (skip_special(&sp, &rc)) {
            continue;
        } else if (c == ';' && sp.depth == 0) {
            rc = push(&sp);
            sp.i++;
        } else {
            token(&sp);
            if (isalpha(c) || c == '_' || (c & 0x80))
                word(&sp);
            else
                sp.i++;
            sp.last_end = sp.i;
        }
    }
    if (rc == ORM_OK)
        rc = push(&sp);
    if (rc != ORM_OK) {
        orm__free(sp.out);
        return rc;
    }
    *out = sp.out;
    *count = sp.count;
    return ORM_OK;
}

/* ---- checksum ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

void orm__mig_checksum(const char *text, char out[17])
{
    /* Normalize on the fly: CRLF and lone CR are LF; spaces and tabs before a line end are
     * dropped; line ends (and the spaces before them) after the last non-blank character
     * are dropped. Pending whitespace is hashed only once something non-blank follows. */
    uint64_t h = FNV_OFFSET;
    size_t pend_sp_from = 0, pend_sp_len = 0; /* spaces/tabs since the last non-blank */
    size_t pend_nl = 0;                       /* line ends since the last non-blank */
    size_t n = text ? strlen(text) : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\r') {
            if (i + 1 < n && text[i + 1] == '\n')
                i++;
            c = '\n';
        }
        if (c == '\n') {
            pend_sp_len = 0; /* trailing spaces of this line: dropped */
            pend_nl++;
            continue;
        }
        if (c == ' ' || c == '\t') {
            if (pend_sp_len == 0)
                pend_sp_from = i;
            pend_sp_len++;
            continue;
        }
        for (; pend_nl; pend_nl--)
            h = (h ^ '\n') * FNV_PRIME;
        for (size_t k = 0; k < pend_sp_len; k++)
            h = (h ^ (unsigned char)text[pend_sp_from + k]) * FNV_PRIME;
        pend_sp_len = 0;
        h = (h ^ c) * FNV_PRIME;
    }
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < 16; k++)
        out[k] = hex[(h >> (60 - 4 * k)) & 0xf];
    out[16] = '\0';
}

int orm__mig_no_tx(const char *text)
{
    static const char marker[] = "orm:no-transaction";
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] != '-' || p[1] != '-')
        return 0;
    p += 2;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, marker, sizeof marker - 1) != 0)
        return 0;
    p += sizeof marker - 1;
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return *p == '\n' || *p == '\0';
}
