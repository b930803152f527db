/* liborm codegen internal — a growable text buffer with a size cap.
 *
 * Appends never fail loudly: the first failure (out of memory or the cap) sets `failed`
 * and later appends do nothing, so emitters write straight through and check once at the
 * end (as curl's dynbuf does). The text is always NUL-terminated while not failed.
 */
#ifndef ORM_CODEGEN_BUF_H
#define ORM_CODEGEN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "orm/error_internal.h"

/* Generated files and schema inputs above this are refused: no real schema comes close. */
#define ORM_CG_BUF_MAX ((size_t)256 * 1024 * 1024)

typedef struct orm__cg_buf {
    char *data;   /* NUL-terminated text, or NULL while empty */
    size_t len;
    size_t cap;
    int failed;   /* 0, or the ORM_E... code of the first failure */
} orm__cg_buf;

#define ORM_CG_BUF_INIT { NULL, 0, 0, 0 }

void orm__cg_buf_append(orm__cg_buf *b, const char *s, size_t n);
void orm__cg_buf_puts(orm__cg_buf *b, const char *s);
void orm__cg_buf_printf(orm__cg_buf *b, const char *fmt, ...) ORM__PRINTF(2, 3);
/* Frees the text and resets b to empty. NULL-safe. */
void orm__cg_buf_free(orm__cg_buf *b);
/* Hands the text to the caller (never NULL unless failed) and resets b. */
char *orm__cg_buf_take(orm__cg_buf *b);

#endif
