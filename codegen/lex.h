/* liborm codegen internal — the SQL tokenizer behind ormctl generate.
 *
 * Splits SQLite and PostgreSQL text into tokens with 1-based line and byte column. Comments
 * and whitespace vanish; a `-- @orm:key[=value]` comment is kept as an annotation (with
 * whether it stood on a line of its own); psql meta-command lines (`\connect`, `\set` ...)
 * are dropped. Strings in every spelling ('..', E'..', N'..', X'..', B'..', U&'..',
 * $tag$..$tag$) are single tokens, so nothing inside them is ever mistaken for SQL.
 *
 * Ownership: tokens point into the source, which must outlive the lexer; the decoded
 * identifier from orm__sql_ident is the caller's (orm__free).
 */
#ifndef ORM_CODEGEN_LEX_H
#define ORM_CODEGEN_LEX_H

#include <stdbool.h>
#include <stddef.h>

typedef enum orm__sql_kind {
    ORM_SQL_EOF = 0,
    ORM_SQL_WORD,    /* bare word: keyword or unquoted identifier */
    ORM_SQL_QIDENT,  /* "ident", `ident`, U&"ident" */
    ORM_SQL_BRACKET, /* [ident] in SQLite, or a PostgreSQL array suffix [] / [3] */
    ORM_SQL_STRING,  /* any string literal, dollar-quoted bodies included */
    ORM_SQL_NUMBER,
    ORM_SQL_PARAM,   /* $1, ?, ?1, :name, @name, $name */
    ORM_SQL_OP       /* punctuation and operators: ( ) , ; . :: || <= ... */
} orm__sql_kind;

typedef struct orm__sql_token {
    orm__sql_kind kind;
    const char *start; /* raw source text */
    size_t len;
    size_t offset;     /* of start in the source */
    int line, col;
    int end_line;      /* line of the last byte (strings may span lines) */
} orm__sql_token;

typedef struct orm__sql_annotation {
    char *key;    /* owned */
    char *value;  /* owned, NULL when the annotation has no =value */
    size_t offset;
    int line, col;
    bool own_line; /* nothing but blanks before it on its line */
} orm__sql_annotation;

typedef struct orm__sql_lexer {
    const char *file; /* for messages */
    const char *src;
    size_t len, pos;
    int line;
    size_t line_start;
    int last_token_line; /* end line of the last token, 0 before the first */
    orm__sql_annotation *anns;
    size_t nanns, capanns;
} orm__sql_lexer;

void orm__sql_lexer_init(orm__sql_lexer *lx, const char *file, const char *src, size_t len);
void orm__sql_lexer_dispose(orm__sql_lexer *lx);

/* The next token into *out. ORM_OK, or ORM_EPARSE (unterminated string, quoted identifier
 * or comment; malformed annotation) / ORM_ENOMEM with file:line:column in the last error. */
int orm__sql_next(orm__sql_lexer *lx, orm__sql_token *out);

/* Skip the data block of COPY ... FROM stdin: the rest of the current line, then lines up to
 * and including one that is exactly `\.` (or to the end of the input). */
void orm__sql_skip_copy_data(orm__sql_lexer *lx);

/* Whether tok is the bare word kw (ASCII case-insensitive). */
bool orm__sql_is(const orm__sql_token *tok, const char *kw);
/* Whether tok is the operator op. */
bool orm__sql_is_op(const orm__sql_token *tok, const char *op);

/* The identifier a WORD, QIDENT or BRACKET token names: quotes removed, doubled quotes and
 * U&"" escapes decoded, unquoted words folded to lower case (as PostgreSQL does; SQLite
 * compares names without case anyway). *out is the caller's. ORM_EPARSE for an empty or
 * malformed name, ORM_ENOMEM. */
int orm__sql_ident(const orm__sql_lexer *lx, const orm__sql_token *tok, char **out);

#endif
