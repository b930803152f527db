/* liborm — which tables a raw SQL text writes, for the row cache's invalidation.
 *
 * A small scanner, not a parser: it splits the text into statements at top-level ';'
 * (outside quotes, dollar quotes and comments, as the db's server reads them: orm/sql_scan.h
 * with the rules of its driver's dialect), reads each statement's words, and reports
 * the table after INSERT [OR x] INTO, UPDATE [OR x] [ONLY], DELETE FROM [ONLY], REPLACE INTO,
 * ALTER TABLE [IF EXISTS] [ONLY], DROP TABLE [IF EXISTS] (each name of a list), TRUNCATE
 * [TABLE] [ONLY] (a list too) — anywhere in the statement, so a data-modifying WITH is seen.
 *
 * Keeps true (erring towards dropping more): a statement whose first word is not known to
 * leave every table's rows alone (SELECT, VALUES, SHOW, EXPLAIN without ANALYZE, BEGIN, COMMIT,
 * ..., CREATE, SET, ANALYZE, VACUUM, ...) and that names no table by the forms above makes
 * the call return -1: "drop every model". A name is reported without quotes and schema;
 * the caller compares it without case.
 */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "cache/row_cache_internal.h"
#include "orm/sql_scan.h"

typedef struct tok {
    const char *p;     /* the word or identifier, without quotes */
    size_t n;
    int quoted;        /* an identifier in "..", `..` or [..] */
    char punct;        /* a single punctuation character ('(' ',' '.' ';'), else 0 */
} tok;

typedef struct scan {
    const char *s, *end;
    unsigned rules;    /* how the server reads literals and comments (orm/sql_scan.h) */
} scan;

/* The next token; 0 at the end of the text. Spaces and comments are skipped; a string
 * literal or dollar-quoted body is one token (punct '\''). Literals, identifiers, comments
 * and dollar quotes are found by orm/sql_scan.h, the library's one SQL lexer. */
static int next_tok(scan *sc, tok *t)
{
    for (;;) {
        while (sc->s < sc->end && isspace((unsigned char)*sc->s))
            sc->s++;
        if (sc->s >= sc->end)
            return 0;
        orm_scan_kind kind;
        int unterm;
        const char *b = sc->s;
        size_t n = orm__sql_scan_skip(b, (size_t)(sc->end - b), 0, sc->rules, &kind, &unterm);
        if (n == 0)
            break;
        sc->s += n;
        if (kind == ORM_SCAN_COMMENT)
            continue;
        memset(t, 0, sizeof *t);
        if (kind == ORM_SCAN_QIDENT) { /* without its quotes */
            t->p = b + 1;
            t->n = n - 1 - (unterm ? 0 : 1);
            t->quoted = 1;
        } else {
            t->punct = '\'';
        }
        return 1;
    }
    memset(t, 0, sizeof *t);
    char c = *sc->s;
    if (c == '$') { /* a $1 placeholder (or a '$' that quotes nothing here) */
        const char *e = sc->s + 1;
        while (e < sc->end && (isalnum((unsigned char)*e) || *e == '_'))
            e++;
        sc->s = e;
        t->punct = '?';
        return 1;
    }
    if (isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80) {
        const char *b = sc->s;
        while (sc->s < sc->end && (isalnum((unsigned char)*sc->s) || *sc->s == '_' || *sc->s == '$' ||
                                   (unsigned char)*sc->s >= 0x80))
            sc->s++;
        t->p = b;
        t->n = (size_t)(sc->s - b);
        return 1;
    }
    t->punct = c;
    sc->s++;
    return 1;
}

static int is_word(const tok *t, const char *w)
{
    return t->p && !t->quoted && t->n == strlen(w) && strncasecmp(t->p, w, t->n) == 0;
}

/* Statements that leave every table's rows as they are, by their first word. */
static int harmless_first(const tok *t)
{
    static const char *const words[] = {
        "SELECT", "VALUES", "SHOW", "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT",
        "RELEASE", "CREATE", "SET", "RESET", "ANALYZE", "VACUUM", "REINDEX", "LISTEN", "NOTIFY",
        "UNLISTEN", "GRANT", "REVOKE", "COMMENT", "DEALLOCATE", "DISCARD", "TABLE", NULL
    };
    for (int i = 0; words[i]; i++)
        if (is_word(t, words[i]))
            return 1;
    return 0;
}

typedef struct stmt_state {
    void (*fn)(const char *, size_t, void *);
    void *ud;
    unsigned rules;
    int named;     /* a table was reported for this statement */
    int unknown;   /* a name it could not report as written (an escaped quote inside) */
} stmt_state;

/* Read a (possibly schema-qualified) name at the scanner and report its last part. Returns 0
 * when what follows is not a name. */
static int report_name(scan *sc, stmt_state *st)
{
    tok t;
    scan save = *sc;
    if (!next_tok(sc, &t) || !t.p) {
        *sc = save;
        return 0;
    }
    tok last = t;
    for (;;) {
        scan s2 = *sc;
        tok dot, part;
        if (next_tok(&s2, &dot) && dot.punct == '.' && next_tok(&s2, &part) && part.p) {
            last = part;
            *sc = s2;
            continue;
        }
        break;
    }
    if (last.quoted && (memchr(last.p, '"', last.n) || memchr(last.p, '`', last.n))) {
        st->unknown = 1; /* "a""b": not worth unescaping, drop everything instead */
        return 1;
    }
    st->fn(last.p, last.n, st->ud);
    st->named = 1;
    return 1;
}

/* Skip optional words (in order) at the scanner. */
static void skip_words(scan *sc, const char *const *words)
{
    for (; *words; words++) {
        scan save = *sc;
        tok t;
        if (next_tok(sc, &t) && is_word(&t, *words))
            continue;
        *sc = save;
    }
}

/* After a name in a list (DROP TABLE a, b; TRUNCATE a, b): more names. */
static void report_list(scan *sc, stmt_state *st)
{
    for (;;) {
        scan save = *sc;
        tok t;
        if (next_tok(sc, &t) && t.punct == ',' && report_name(sc, st))
            continue;
        *sc = save;
        return;
    }
}

/* Whether the next token is '(' (replace(...) is a function, not a statement). */
static int followed_by_paren(const scan *sc)
{
    scan s2 = *sc;
    tok t;
    return next_tok(&s2, &t) && t.punct == '(';
}

/* One statement [b, e): 0 when harmless or every table it writes was named, -1 otherwise. */
static int one_statement(const char *b, const char *e, stmt_state *st)
{
    scan sc = { b, e, st->rules };
    tok first;
    if (!next_tok(&sc, &first))
        return 0; /* empty */
    int harmless = harmless_first(&first);
    if (is_word(&first, "EXPLAIN")) { /* EXPLAIN ANALYZE runs the statement */
        scan s2 = sc;
        tok t;
        harmless = !(next_tok(&s2, &t) && (is_word(&t, "ANALYZE") || t.punct == '('));
    }
    st->named = 0;
    st->unknown = 0;
    int writes = 0;
    sc.s = b;
    tok t, prev;
    memset(&prev, 0, sizeof prev);
    while (next_tok(&sc, &t)) {
        if ((is_word(&t, "INSERT") || is_word(&t, "REPLACE")) && !followed_by_paren(&sc)) {
            writes = 1;
            scan save = sc;
            tok w;
            if (next_tok(&sc, &w) && is_word(&w, "OR"))
                next_tok(&sc, &w); /* the conflict action */
            else
                sc = save;
            save = sc;
            if (next_tok(&sc, &w) && is_word(&w, "INTO"))
                report_name(&sc, st);
            else
                sc = save;
        } else if (is_word(&t, "UPDATE") && !is_word(&prev, "FOR") && !is_word(&prev, "DO") &&
                   !is_word(&prev, "ON") && !is_word(&prev, "KEY")) {
            /* (not FOR UPDATE, ON CONFLICT DO UPDATE, ON UPDATE, FOR NO KEY UPDATE) */
            writes = 1;
            scan save = sc;
            tok w;
            if (next_tok(&sc, &w) && is_word(&w, "OR")) {
                next_tok(&sc, &w); /* the conflict action */
            } else {
                sc = save;
            }
            static const char *const opt[] = { "ONLY", NULL };
            skip_words(&sc, opt);
            report_name(&sc, st);
        } else if (is_word(&t, "DELETE") && !is_word(&prev, "ON")) {
            writes = 1;
            scan save = sc;
            tok w;
            if (next_tok(&sc, &w) && is_word(&w, "FROM")) {
                static const char *const opt[] = { "ONLY", NULL };
                skip_words(&sc, opt);
                report_name(&sc, st);
            } else {
                sc = save;
            }
        } else if ((is_word(&t, "ALTER") || is_word(&t, "DROP")) && prev.p == NULL && prev.punct == 0) {
            scan save = sc;
            tok w;
            if (next_tok(&sc, &w) && is_word(&w, "TABLE")) {
                writes = 1;
                static const char *const opt[] = { "IF", "EXISTS", "ONLY", NULL };
                skip_words(&sc, opt);
                if (report_name(&sc, st))
                    report_list(&sc, st);
            } else {
                sc = save;
                if (!harmless) /* DROP INDEX, ALTER SEQUENCE ...: rows are unchanged */
                    harmless = 1;
            }
        } else if (is_word(&t, "TRUNCATE")) {
            writes = 1;
            static const char *const opt[] = { "TABLE", "ONLY", NULL };
            skip_words(&sc, opt);
            if (report_name(&sc, st))
                report_list(&sc, st);
        }
        prev = t;
    }
    if (writes)
        return st->named && !st->unknown ? 0 : -1;
    return harmless ? 0 : -1;
}

int orm__rc_sql_tables_by(const char *sql, size_t len, unsigned rules,
                          void (*fn)(const char *, size_t, void *), void *ud)
{
    if (!sql)
        return 0;
    stmt_state st = { fn, ud, rules, 0, 0 };
    scan sc = { sql, sql + len, rules };
    const char *b = sql;
    int r = 0;
    tok t;
    while (next_tok(&sc, &t)) {
        if (t.punct == ';') {
            if (one_statement(b, sc.s - 1, &st) != 0)
                r = -1;
            b = sc.s;
        }
    }
    if (one_statement(b, sql + len, &st) != 0)
        r = -1;
    return r;
}

int orm__rc_sql_tables(const char *sql, size_t len, void (*fn)(const char *, size_t, void *), void *ud)
{
    return orm__rc_sql_tables_by(sql, len, ORM_SCAN_RULES_EITHER, fn, ud);
}
