/* liborm builder internal — a growable SQL text buffer plus the arguments bound to it.
 *
 * The text is the library's string buffer (orm/sbuf.h); this adds the bound arguments, the
 * dialect, and the error message the builders report (the buffer only knows a code).
 * The first failure (ORM_ENOMEM, a statement past the size cap, too many parameters) sticks
 * in `err`; every later append is a no-op, so render code appends without checking and looks
 * at `err` once at the end. Arguments are borrowed views (into expression nodes or the
 * caller's structs) until orm__sql_buf_take copies them into an orm_sql.
 */
#ifndef ORM_BUILDER_SQL_BUF_H
#define ORM_BUILDER_SQL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "orm/dialect.h"
#include "orm/error_internal.h"
#include "orm/sbuf.h"
#include "orm/value.h"

typedef struct orm_sql_buf {
    orm__sbuf text;          /* the SQL: the library's string buffer, capped at ORM_SQL_BUF_MAX */
    orm_value *args;
    size_t nargs, acap;
    int err;                 /* first error, ORM_OK while fine */
    const orm_dialect *d;
} orm_sql_buf;

/* The largest statement text the builders make (curl's habit: every growable buffer has a cap). */
#define ORM_SQL_BUF_MAX ((size_t)256 << 20)

void orm__sql_buf_init(orm_sql_buf *b, const orm_dialect *d);
void orm__sql_buf_free(orm_sql_buf *b);
/* Empty the text and args, keep the memory (and the error cleared). */
void orm__sql_buf_reset(orm_sql_buf *b);
void orm__sql_buf_putn(orm_sql_buf *b, const char *s, size_t n);
void orm__sql_buf_put(orm_sql_buf *b, const char *s);
void orm__sql_buf_putc(orm_sql_buf *b, char c);
/* A quoted identifier ("a""b" for a"b). */
void orm__sql_buf_ident(orm_sql_buf *b, const char *name);
/* qual."name", or just "name" when qual is NULL. */
void orm__sql_buf_qident(orm_sql_buf *b, const char *qual, const char *name);
/* A placeholder for v (? or $n, numbered across the whole statement), v bound (borrowed). */
void orm__sql_buf_param(orm_sql_buf *b, orm_value v);
/* Bind v (borrowed) without writing a placeholder: for re-binding a statement whose text
 * is already in the buffer. */
void orm__sql_buf_arg(orm_sql_buf *b, orm_value v);
/* Record an error (the first one sticks; sets the thread's last error). Returns b->err. */
int orm__sql_buf_fail(orm_sql_buf *b, int code, const char *fmt, ...)
    ORM__PRINTF(3, 4);
/* Finish: check the dialect's parameter limit; ORM_OK or the sticky error. */
int orm__sql_buf_finish(orm_sql_buf *b);
/* Move the text into out and deep-copy the args (out owns their bytes). On error out is
 * left empty. b is left empty but usable. */
int orm__sql_buf_take(orm_sql_buf *b, orm_sql *out);

/* Deep copy of a value (text/blob bytes duplicated; NUL-terminated text). ORM_ENOMEM. */
int orm__value_dup(orm_value *dst, orm_value src);
void orm__value_release(orm_value *v);

#endif
