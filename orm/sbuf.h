/* liborm internal — the library's one growable string buffer, with a size cap.
 *
 * Appends never fail loudly: the first failure (out of memory, the cap, a bad format) sticks
 * in `failed` as its ORM_E… code and later appends do nothing, so writers append straight
 * through and check once at the end (as curl's dynbuf does). The text is NUL-terminated
 * whenever `p` is non-NULL and the buffer has not failed.
 *
 * Used by the built-in middlewares (log lines, Prometheus text), the row cache's Prometheus
 * text, the change feeds' trigger SQL (and the SQLite log rows a check read), the
 * migrations' reader and writer, codegen, and the builders' SQL text (builder/sql_buf.c keeps
 * the arguments and the error message on top).
 *
 * Ownership: the buffer owns `p` until orm__sbuf_take hands it over; orm__sbuf_free frees it.
 * Thread safety: one thread at a time.
 */
#ifndef ORM_SBUF_H
#define ORM_SBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "orm/error_internal.h"

typedef struct orm__sbuf {
    char *p;       /* NUL-terminated text, or NULL while nothing was added */
    size_t len, cap;
    size_t max;    /* the cap on len: an append past it fails with ORM_EINVAL; 0: SIZE_MAX / 4 */
    int failed;    /* 0, or the ORM_E… code of the first failure */
} orm__sbuf;

#define ORM__SBUF_INIT { NULL, 0, 0, 0, 0 }

/* Room for n more bytes (and the NUL): 1, or 0 when the buffer has failed or fails now. */
int orm__sbuf_reserve(orm__sbuf *b, size_t n);

/* Append s[0..n). Inline, because the builders append a few dozen pieces per statement: when
 * there is room (cap never exceeds the cap on len plus the NUL, and is 0 after a failure's
 * reset or before the first append) it is a compare and a copy. */
static inline void orm__sbuf_add(orm__sbuf *b, const char *s, size_t n)
{
    if (n >= b->cap - b->len || b->failed) {
        if (!orm__sbuf_reserve(b, n))
            return;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void orm__sbuf_puts(orm__sbuf *b, const char *s);
/* s between two q's, each q inside doubled: a SQL identifier ("...") or a literal ('...') for a
 * server that reads a backslash as itself (SQLite; PostgreSQL with standard_conforming_strings,
 * the default). */
void orm__sbuf_quoted(orm__sbuf *b, const char *s, char q);
void orm__sbuf_printf(orm__sbuf *b, const char *fmt, ...) ORM__PRINTF(2, 3);
void orm__sbuf_vprintf(orm__sbuf *b, const char *fmt, va_list ap);
/* The text ("" when empty); NULL after a failure. The buffer keeps it. */
const char *orm__sbuf_str(orm__sbuf *b);
/* Hands the text to the caller ("" allocated when empty) and empties b; after a failure
 * (or when allocating "" fails) returns NULL, b->failed still says why, and b is emptied of
 * its text. */
char *orm__sbuf_take(orm__sbuf *b);
/* Frees the text and empties b (max kept, failure cleared). NULL-safe. */
void orm__sbuf_free(orm__sbuf *b);

#endif
