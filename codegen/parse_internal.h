/* liborm codegen internal — the parser state shared by parse.c (statements, CREATE TABLE,
 * annotations) and parse_alter.c (ALTER TABLE). */
#ifndef ORM_CODEGEN_PARSE_INTERNAL_H
#define ORM_CODEGEN_PARSE_INTERNAL_H

#include <stdbool.h>

#include "codegen/buf.h"
#include "codegen/lex.h"
#include "codegen/schema.h"

typedef struct orm__cg_parser {
    orm__sql_lexer lx;
    orm__sql_token cur;
    orm__cg_schema *s;
    const char *file;   /* owned by s->files */
    size_t ann_next;    /* lx.anns before this index have been handed out */
    size_t *pending;    /* own-line annotations waiting for the next table / column */
    size_t npending;
    long last_table;    /* target of a trailing annotation: index in s->tables, or -1 */
    long last_col;      /* ... and of a trailing column annotation in that table, or -1 */
} orm__cg_parser;

int orm__cg_p_next(orm__cg_parser *p);
/* ORM_EPARSE "file:line:col: <what>, got '<token>'" at the current token. */
int orm__cg_p_error(orm__cg_parser *p, const char *what);
int orm__cg_p_error_at(orm__cg_parser *p, const orm__sql_token *t, const char *what);
bool orm__cg_p_is(orm__cg_parser *p, const char *kw);
bool orm__cg_p_op(orm__cg_parser *p, const char *op);
/* If the current token is kw (or op), consume it and set *yes; errors only from lexing. */
int orm__cg_p_accept(orm__cg_parser *p, const char *kw, bool *yes);
int orm__cg_p_expect(orm__cg_parser *p, const char *kw);
int orm__cg_p_expect_op(orm__cg_parser *p, const char *op);
int orm__cg_p_name(orm__cg_parser *p, char **out);
int orm__cg_p_qualified_name(orm__cg_parser *p, char **out);
/* Skips tokens up to (not including) a ',' or ')' at depth 0, or ';' / end. */
int orm__cg_p_skip_item(orm__cg_parser *p);
/* Hands annotations before offset limit to their targets (see parse.c). */
int orm__cg_p_attach(orm__cg_parser *p, size_t limit);
int orm__cg_p_take_table_annotations(orm__cg_parser *p, long table);
int orm__cg_p_take_column_annotations(orm__cg_parser *p, long table, long col);
/* A column definition (name, type, constraints) appended to table ti; sets *ci. */
int orm__cg_p_column_def(orm__cg_parser *p, long ti, long *ci);
bool orm__cg_p_at_table_constraint(orm__cg_parser *p);
int orm__cg_p_table_constraint(orm__cg_parser *p, long ti);
/* Parses a type name at the current token into *out ("" when there is none). */
int orm__cg_p_type(orm__cg_parser *p, char **out);
/* A DEFAULT expression into *out. */
int orm__cg_p_default_expr(orm__cg_parser *p, char **out);
/* ALTER TABLE, the current token being TABLE. */
int orm__cg_p_alter_table(orm__cg_parser *p);
orm__cg_loc orm__cg_p_loc(orm__cg_parser *p, const orm__sql_token *t);

#endif
