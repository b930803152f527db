/* The guard middleware: refuses UPDATE and DELETE statements without a top-level WHERE
 * (ORM_EUNSAFE), before they reach the database.
 *
 * What it keeps true:
 *   - the WHERE test reads the SQL the way the database would at the top level: string
 *     literals, quoted identifiers, comments and parenthesized subqueries are skipped, so a
 *     'where' inside a value or a subquery's WHERE does not make a statement safe;
 *   - literals and comments are read as the statement's backend reads them — SQLite (block
 *     comments do not nest) or PostgreSQL (they nest: a comment holding an opener and a
 *     closer followed by WHERE and a second closer is all comment), and on PostgreSQL both
 *     with and without standard_conforming_strings ('\'' ends a string or not: a session
 *     may change it) — and a statement passes only when every such reading finds a
 *     top-level WHERE (all three readings when the statement names no session);
 *   - literals, identifiers and comments are found by the library's one SQL lexer
 *     (orm/sql_scan.h, shared with the raw placeholder rewrite);
 *   - raw statements are checked by their verb: the first keyword, or after a WITH clause
 *     the first top-level one (UPDATE / DELETE); PostgreSQL dollar-quoted bodies and E'..'
 *     strings (backslash escapes) are skipped like other literals, and the test stops at
 *     the first top-level ';', so a later statement's WHERE does not count;
 *   - the opt-out is per statement: a thread-local permission consumed by the next UPDATE or
 *     DELETE the guard sees (orm_guard_allow_next, orm_raw_options.allow_unsafe), or the
 *     ORM_STMT_ALLOW_UNSAFE flag set by an outer middleware.
 */
#include <ctype.h>
#include <string.h>

#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/session_internal.h"
#include "orm/sql_scan.h"

static _Thread_local int permit;

void orm_guard_allow_next(void)
{
    permit = 1;
}

void orm__guard_permit(int on)
{
    permit = on;
}

/* Does the word s[0..n) spell kw (upper case ASCII), ignoring case? */
static int word_is(const char *s, size_t n, const char *kw)
{
    size_t k = strlen(kw);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (toupper((unsigned char)s[i]) != kw[i])
            return 0;
    return 1;
}

static int is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* How a backend reads literals and comments. The guard does not ask which backend (nor
 * PostgreSQL's standard_conforming_strings, which a session may change): it checks a
 * statement under every reading below and lets it pass only when each finds a WHERE. */
typedef struct reading {
    int postgres;  /* nested block comments, E'..', dollar quotes */
    int backslash; /* standard_conforming_strings off: '\' escapes in every '..' */
} reading;
static const reading readings[] = { { 0, 0 },   /* SQLite */
                                    { 1, 0 },   /* PostgreSQL */
                                    { 1, 1 } }; /* PostgreSQL, standard_conforming_strings off */

static void scan_init(orm_scanner *sc, const char *s, size_t len, const reading *r)
{
    orm__sql_scan_init(sc, s, len, r->postgres);
    sc->backslash = r->backslash;
}

/* Is there a WHERE keyword in code (outside literals, comments, identifiers) and outside
 * parentheses, before the first top-level ';'? */
static int has_top_level_where(const char *s, size_t len, const reading *r)
{
    orm_scanner sc;
    orm_scan_token t;
    int depth = 0;
    scan_init(&sc, s, len, r);
    while (orm__sql_scan_next(&sc, &t)) {
        if (t.kind != ORM_SCAN_CODE)
            continue;
        for (size_t i = 0; i < t.len;) {
            char c = t.p[i];
            if (is_word(c)) {
                size_t w = i;
                while (i < t.len && is_word(t.p[i]))
                    i++;
                if (depth == 0 && word_is(t.p + w, i - w, "WHERE"))
                    return 1;
                continue;
            }
            if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            else if (c == ';' && depth <= 0)
                return 0; /* the statement ends here: what follows is another one */
            i++;
        }
    }
    return 0;
}

/* The statement's verb under reading r: its first keyword after blanks, comments and '(',
 * or after a WITH clause the first top-level data keyword. *n is 0 when it starts with
 * anything else (a literal, a parameter). */
static const char *first_word(const char *s, size_t len, size_t *n, const reading *r)
{
    static const char *const verbs[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE",
                                         "VALUES", "TABLE" };
    orm_scanner sc;
    orm_scan_token t;
    int with = 0, depth = 0;
    scan_init(&sc, s, len, r);
    *n = 0;
    while (orm__sql_scan_next(&sc, &t)) {
        if (t.kind == ORM_SCAN_COMMENT)
            continue;
        if (t.kind != ORM_SCAN_CODE) {
            if (!with)
                return s; /* starts with a literal or parameter: no verb */
            continue;
        }
        for (size_t i = 0; i < t.len;) {
            char c = t.p[i];
            if (!with && (isspace((unsigned char)c) || c == '(')) {
                i++;
                continue;
            }
            if (!is_word(c)) {
                if (!with)
                    return s;
                depth += c == '(' ? 1 : c == ')' ? -1 : 0;
                i++;
                continue;
            }
            size_t w = i;
            while (i < t.len && is_word(t.p[i]))
                i++;
            if (!with) {
                if (!word_is(t.p + w, i - w, "WITH")) {
                    *n = i - w;
                    return t.p + w;
                }
                with = 1; /* the verb is the first top-level data keyword after the CTEs */
                continue;
            }
            for (size_t k = 0; depth == 0 && k < sizeof verbs / sizeof verbs[0]; k++)
                if (word_is(t.p + w, i - w, verbs[k])) {
                    *n = i - w;
                    return t.p + w;
                }
        }
    }
    return s; /* no verb found: nothing the guard checks */
}

/* "UPDATE" or "DELETE" when the statement is one under reading mode, else NULL. */
static const char *write_verb(const orm_stmt *st, const reading *r)
{
    if (st->kind == ORM_STMT_UPDATE)
        return "UPDATE";
    if (st->kind == ORM_STMT_DELETE)
        return "DELETE";
    if (st->kind != ORM_STMT_RAW)
        return NULL;
    size_t n;
    const char *w = first_word(st->sql, st->sql_len, &n, r);
    return word_is(w, n, "UPDATE") ? "UPDATE" : word_is(w, n, "DELETE") ? "DELETE" : NULL;
}

static int guard_fn(orm_stmt *st, void *userdata)
{
    (void)userdata;
    const char *what = NULL, *unsafe = NULL;
    /* The backend's own readings when the statement says which (SQLite: one; PostgreSQL:
     * both settings of standard_conforming_strings, which a session may change); all three
     * when it does not (a chain without a session). */
    const reading *rs = readings;
    size_t nr = sizeof readings / sizeof readings[0];
    const orm_dialect *d = st->session ? orm__db_driver(orm_session_db(st->session))->dialect : NULL;
    if (d && d->lexer == ORM_SQL_LEXER_SQLITE)
        nr = 1;
    else if (d && d->lexer == ORM_SQL_LEXER_POSTGRES)
        rs = &readings[1], nr = d->backslash_strings ? 2 : 1;
    for (size_t k = 0; k < nr && !unsafe; k++) {
        const char *verb = write_verb(st, &rs[k]);
        what = what ? what : verb;
        if (verb && !has_top_level_where(st->sql, st->sql_len, &rs[k]))
            unsafe = verb;
    }
    if (unsafe)
        what = unsafe;
    if (unsafe) {
        int allowed = (st->flags & ORM_STMT_ALLOW_UNSAFE) || permit;
        permit = 0;
        if (!allowed)
            return orm__error_set(ORM_EUNSAFE, "guard",
                                  "%s%s%s without WHERE refused (orm_guard_allow_next() allows "
                                  "the next one)",
                                  what, st->model ? " on " : "",
                                  st->model && st->model->table ? st->model->table : "");
    } else if (what) {
        permit = 0; /* the permission is for one statement: a safe one uses it up too */
    }
    return orm_stmt_next(st);
}

int orm_guard_middleware(orm_middleware *out)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_guard_middleware: out is NULL");
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "guard";
    mw.fn = guard_fn;
    *out = mw;
    return ORM_OK;
}
