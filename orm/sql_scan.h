/* liborm internal — the library's one SQL lexer, just deep enough to find code outside
 * literals.
 *
 * It tells code apart from what the database does not read as code: string literals ('..',
 * '' doubled; PostgreSQL E'..' with backslash escapes), quoted identifiers ("..", and `..` /
 * [..] on SQLite), comments (-- to the end of the line, block comments, nested on PostgreSQL
 * and not on SQLite, as each database reads them), PostgreSQL dollar quotes ($tag$..$tag$)
 * and parameters (?, ?NNN, $NNN). Two ways to use it:
 *   - the scanner (orm__sql_scan_init / _next) splits a whole text into tokens that cover it
 *     exactly, in order (everything else is ORM_SCAN_CODE), so a caller can copy them back
 *     with changes (the raw placeholder rewrite) or look for keywords only in code (the
 *     guard);
 *   - orm__sql_scan_skip answers, for a lexer of its own that reads words and numbers (the
 *     migration splitter, the row cache's table finder, codegen's schema lexer), where the
 *     literal, identifier, comment or dollar quote starting at a position ends.
 * Both read by a set of rules (ORM_SCAN_*): a dialect's (orm__sql_scan_rules), or codegen's
 * ORM_SCAN_RULES_EITHER for schema files read outside a database.
 * No allocation; never reads past len.
 */
#ifndef ORM_SQL_SCAN_H
#define ORM_SQL_SCAN_H

#include <stddef.h>

#include "orm/sys/driver.h"

/* How a server reads text that is not code; a dialect's reading is a set of these. */
enum {
    ORM_SCAN_NESTED = 1 << 0,    /* block comments nest (PostgreSQL) */
    ORM_SCAN_DOLLARQ = 1 << 1,   /* $tag$..$tag$ quotes (PostgreSQL) */
    ORM_SCAN_ESTRING = 1 << 2,   /* E'..' takes backslash escapes (PostgreSQL) */
    ORM_SCAN_BACKSLASH = 1 << 3, /* every '..' does (PostgreSQL, standard_conforming_strings
                                    off) */
    ORM_SCAN_BRACKETS = 1 << 4   /* `..` and [..] quote identifiers (SQLite; on PostgreSQL [
                                    is an array subscript) */
};
#define ORM_SCAN_RULES_SQLITE ORM_SCAN_BRACKETS
#define ORM_SCAN_RULES_POSTGRES (ORM_SCAN_NESTED | ORM_SCAN_DOLLARQ | ORM_SCAN_ESTRING)
/* Either database's text, read with every quote of both (codegen's schema files). */
#define ORM_SCAN_RULES_EITHER (ORM_SCAN_RULES_SQLITE | ORM_SCAN_RULES_POSTGRES)

/* The rules a driver's lexer (struct orm_dialect's `lexer`) reads by; without
 * ORM_SCAN_BACKSLASH, which `backslash_strings` says a session may turn on. */
unsigned orm__sql_scan_rules(orm_sql_lexer lexer);

typedef enum orm_scan_kind {
    ORM_SCAN_CODE,    /* anything else: keywords, names, operators, numbers, blanks */
    ORM_SCAN_STRING,  /* a string literal, quotes (and an E/X/B prefix) included */
    ORM_SCAN_QIDENT,  /* a quoted identifier, quotes included */
    ORM_SCAN_COMMENT, /* a comment, its markers included */
    ORM_SCAN_DOLLAR,  /* a dollar-quoted string (PostgreSQL), both tags included */
    ORM_SCAN_PARAM    /* "?" (num 0), "?NNN" or "$NNN" (num NNN) */
} orm_scan_kind;

typedef struct orm_scan_token {
    orm_scan_kind kind;
    const char *p;   /* its first byte in the scanned text */
    size_t len;
    long num;        /* ORM_SCAN_PARAM: the number, 0 for a bare "?" */
    int unterminated;/* a literal, identifier, comment or dollar quote that runs to the end */
} orm_scan_token;

typedef struct orm_scanner {
    const char *p, *end;
    int backslash;   /* PostgreSQL with standard_conforming_strings off: a backslash escapes
                        in every '..' string (0 after init; the guard reads both ways) */
    unsigned rules;  /* ORM_SCAN_RULES_POSTGRES (nested comments, E'..', $tag$) or _SQLITE,
                        by init's postgres */
    char prev;       /* the last byte of the previous token (foo$1 is a name, not $1) */
} orm_scanner;

void orm__sql_scan_init(orm_scanner *s, const char *sql, size_t len, int postgres);

/* The next token into *t: 1, or 0 at the end of the text. */
int orm__sql_scan_next(orm_scanner *s, orm_scan_token *t);

/* When a string literal (with its E/X/B/N prefix), quoted identifier, comment or dollar quote
 * starts at sql[i], read by rules: its kind into *kind, *unterminated (0, or 1 when it runs
 * to len) and the offset just past it (len when unterminated; a -- comment ends before its
 * newline). Otherwise (code, a parameter, i >= len) returns i. The caller's lexer decides
 * that a token starts at i: a word it reads has already taken "foo$a$" and "xE'..'" whole
 * (the scanner above decides by the byte before instead). */
size_t orm__sql_scan_skip(const char *sql, size_t len, size_t i, unsigned rules,
                          orm_scan_kind *kind, int *unterminated);

/* Placeholders written either way, for the backend: "?" and "?NNN" become "$k" / "$NNN" on
 * PostgreSQL (a bare "?" numbered in text order; "??" is a literal "?", for PostgreSQL's
 * jsonb operators), "$NNN" becomes "?NNN" on SQLite; nothing changes inside literals,
 * identifiers, comments or dollar quotes. *out is NULL when the text needs no change, else a
 * malloc'ed (orm__free) NUL-terminated copy of *outlen bytes. ORM_EINVAL (last error set)
 * when bare "?" and numbered placeholders are mixed, or a number is 0 or too large. */
int orm__sql_params_rewrite(const char *sql, size_t len, int postgres, char **out,
                            size_t *outlen);

#endif
