/* The guard middleware: refuses UPDATE and DELETE statements without a top-level WHERE
 * (ORM_EUNSAFE), before they reach the database.
 *
 * What it keeps true:
 *   - the WHERE test reads the SQL the way the database would at the top level: string
 *     literals, quoted identifiers, comments and parenthesized subqueries are skipped, so a
 *     'where' inside a value or a subquery's WHERE does not make a statement safe;
 *   - literals and comments are read as each backend may read them — SQLite (block comments
 *     do not nest), PostgreSQL (they nest: a comment holding an opener and a closer
 *     followed by WHERE and a second closer is all comment) and
 *     PostgreSQL with standard_conforming_strings off ('\'' does not end a string) — and a
 *     statement passes only when every reading finds a top-level WHERE;
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
enum {
    READ_NESTED_COMMENTS = 1, /* PostgreSQL: block comments nest */
    READ_BACKSLASH = 2        /* PostgreSQL, standard_conforming_strings=off: '\'' escapes in '...' */
};
static const int readings[] = { 0,                                          /* SQLite */
                                READ_NESTED_COMMENTS,                       /* PostgreSQL */
                                READ_NESTED_COMMENTS | READ_BACKSLASH };    /* scs off */

/* Skip a literal, identifier or comment starting at s[i]; returns the index after it, or i
 * when s[i] starts none. */
static size_t skip(const char *s, size_t len, size_t i, int mode)
{
    char c = s[i];
    if (c == '$') { /* $$...$$ or $tag$...$tag$; $1 is a parameter */
        size_t t = i + 1;
        while (t < len && (s[t] == '_' || isalpha((unsigned char)s[t]) ||
                           (t > i + 1 && isdigit((unsigned char)s[t]))))
            t++;
        if (t >= len || s[t] != '$')
            return i;
        size_t taglen = t + 1 - i;
        for (size_t j = t + 1; j + taglen <= len; j++)
            if (s[j] == '$' && memcmp(s + j, s + i, taglen) == 0)
                return j + taglen;
        return len;
    }
    /* E'...' (PostgreSQL): a backslash escapes the next character */
    int esc = c == '\'' && (((mode & READ_BACKSLASH) != 0) ||
                            (i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !is_word(s[i - 2]))));
    if (c == '\'' || c == '"' || c == '`') {
        for (size_t j = i + 1; j < len; j++) {
            if (esc && s[j] == '\\') {
                j++;
                continue;
            }
            if (s[j] == c) {
                if (j + 1 < len && s[j + 1] == c) { /* doubled quote: still inside */
                    j++;
                    continue;
                }
                return j + 1;
            }
        }
        return len;
    }
    if (c == '[') { /* SQLite's [identifier] (a PostgreSQL subscript holds no WHERE) */
        const char *close = memchr(s + i, ']', len - i);
        return close ? (size_t)(close - s) + 1 : len;
    }
    if (c == '-' && i + 1 < len && s[i + 1] == '-') {
        const char *nl = memchr(s + i, '\n', len - i);
        return nl ? (size_t)(nl - s) + 1 : len;
    }
    if (c == '/' && i + 1 < len && s[i + 1] == '*') {
        size_t open = 1;
        for (size_t j = i + 2; j + 1 < len; j++) {
            if (s[j] == '*' && s[j + 1] == '/') {
                if (--open == 0)
                    return j + 2;
                j++;
            } else if ((mode & READ_NESTED_COMMENTS) && s[j] == '/' && s[j + 1] == '*') {
                open++;
                j++;
            }
        }
        return len;
    }
    return i;
}

/* Is there a WHERE keyword outside literals, comments and parentheses? */
static int has_top_level_where(const char *s, size_t len, int mode)
{
    int depth = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = skip(s, len, i, mode);
        if (j != i) {
            i = j;
            continue;
        }
        char c = s[i];
        if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
        else if (c == ';' && depth <= 0)
            return 0; /* the statement ends here: what follows is another one */
        else if (is_word(c)) {
            size_t w = i;
            while (i < len && is_word(s[i]))
                i++;
            if (depth == 0 && word_is(s + w, i - w, "WHERE"))
                return 1;
            continue;
        }
        i++;
    }
    return 0;
}

/* The statement's first keyword, after blanks and comments. */
static const char *first_word(const char *s, size_t len, size_t *n, int mode)
{
    size_t i = 0;
    while (i < len) {
        size_t j = skip(s, len, i, mode);
        if (j != i && s[i] != '\'' && s[i] != '"' && s[i] != '`') {
            i = j;
            continue;
        }
        if (isspace((unsigned char)s[i]) || s[i] == '(') {
            i++;
            continue;
        }
        break;
    }
    size_t w = i;
    while (i < len && is_word(s[i]))
        i++;
    *n = i - w;
    if (!word_is(s + w, *n, "WITH"))
        return s + w;
    const char *with = s + w;
    /* A WITH clause: the verb is the first top-level data keyword after it (the CTEs'
     * bodies are in parentheses). */
    int depth = 0;
    while (i < len) {
        size_t j = skip(s, len, i, mode);
        if (j != i) {
            i = j;
            continue;
        }
        if (s[i] == '(' || s[i] == ')') {
            depth += s[i] == '(' ? 1 : -1;
            i++;
            continue;
        }
        if (!is_word(s[i])) {
            i++;
            continue;
        }
        w = i;
        while (i < len && is_word(s[i]))
            i++;
        static const char *const verbs[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE",
                                             "VALUES", "TABLE" };
        for (size_t k = 0; depth == 0 && k < sizeof verbs / sizeof verbs[0]; k++)
            if (word_is(s + w, i - w, verbs[k])) {
                *n = i - w;
                return s + w;
            }
    }
    *n = 4;
    return with; /* no verb found: "WITH", which the guard does not check */
}

/* "UPDATE" or "DELETE" when the statement is one under reading mode, else NULL. */
static const char *write_verb(const orm_stmt *st, int mode)
{
    if (st->kind == ORM_STMT_UPDATE)
        return "UPDATE";
    if (st->kind == ORM_STMT_DELETE)
        return "DELETE";
    if (st->kind != ORM_STMT_RAW)
        return NULL;
    size_t n;
    const char *w = first_word(st->sql, st->sql_len, &n, mode);
    return word_is(w, n, "UPDATE") ? "UPDATE" : word_is(w, n, "DELETE") ? "DELETE" : NULL;
}

static int guard_fn(orm_stmt *st, void *userdata)
{
    (void)userdata;
    const char *what = NULL, *unsafe = NULL;
    for (size_t k = 0; k < sizeof readings / sizeof readings[0] && !unsafe; k++) {
        const char *verb = write_verb(st, readings[k]);
        what = what ? what : verb;
        if (verb && !has_top_level_where(st->sql, st->sql_len, readings[k]))
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
