/* liborm internal — an SQL lexer just deep enough to find code outside literals.
 *
 * It splits SQL text into tokens that tell code apart from what the database does not read
 * as code: string literals ('..', '' doubled; PostgreSQL E'..' with backslash escapes),
 * quoted identifiers ("..", and `..` / [..] on SQLite), comments (-- to the end of the line,
 * block comments, nested on PostgreSQL and not on SQLite, as each database reads them),
 * PostgreSQL dollar quotes ($tag$..$tag$) and parameters (?, ?NNN, $NNN). Everything else is
 * ORM_SCAN_CODE. The tokens cover the text exactly, in order, so a caller can copy them back
 * with changes (placeholder rewriting) or look for keywords only in code (the guard).
 * No allocation; never reads past len.
 */
#ifndef ORM_SQL_SCAN_H
#define ORM_SQL_SCAN_H

#include <stddef.h>

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
    int postgres;    /* PostgreSQL's rules (nested comments, E'..', $tag$) rather than SQLite's */
    int backslash;   /* PostgreSQL with standard_conforming_strings off: a backslash escapes
                        in every '..' string (0 after init; the guard reads both ways) */
    char prev;       /* the last byte of the previous token (foo$1 is a name, not $1) */
} orm_scanner;

void orm__sql_scan_init(orm_scanner *s, const char *sql, size_t len, int postgres);

/* The next token into *t: 1, or 0 at the end of the text. */
int orm__sql_scan_next(orm_scanner *s, orm_scan_token *t);

/* Placeholders written either way, for the backend: "?" and "?NNN" become "$k" / "$NNN" on
 * PostgreSQL (a bare "?" numbered in text order; "??" is a literal "?", for PostgreSQL's
 * jsonb operators), "$NNN" becomes "?NNN" on SQLite; nothing changes inside literals,
 * identifiers, comments or dollar quotes. *out is NULL when the text needs no change, else a
 * malloc'ed (orm__free) NUL-terminated copy of *outlen bytes. ORM_EINVAL (last error set)
 * when bare "?" and numbered placeholders are mixed, or a number is 0 or too large. */
int orm__sql_params_rewrite(const char *sql, size_t len, int postgres, char **out,
                            size_t *outlen);

#endif
