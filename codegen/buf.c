/* liborm codegen — growable text buffer (see buf.h).
 * Keeps true: data[len] == '\0' whenever data != NULL and the buffer has not failed; after a
 * failure the buffer only ever shrinks back through orm__cg_buf_free/take. */
#include <stdio.h>
#include <string.h>

#include "codegen/buf.h"
#include "orm/alloc.h"

static int grow(orm__cg_buf *b, size_t extra)
{
    if (b->failed)
        return 0;
    if (extra > ORM_CG_BUF_MAX - b->len) {
        b->failed = ORM_EINVAL;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = orm__realloc(b->data, cap);
    if (!p) {
        b->failed = ORM_ENOMEM;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void orm__cg_buf_append(orm__cg_buf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void orm__cg_buf_puts(orm__cg_buf *b, const char *s) { orm__cg_buf_append(b, s, strlen(s)); }

void orm__cg_buf_printf(orm__cg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (!b->failed)
            b->failed = ORM_EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        orm__cg_buf_append(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void orm__cg_buf_free(orm__cg_buf *b)
{
    if (!b)
        return;
    orm__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

char *orm__cg_buf_take(orm__cg_buf *b)
{
    if (b->failed) {
        orm__cg_buf_free(b);
        return NULL;
    }
    if (!b->data)
        grow(b, 0);
    char *p = b->data;
    if (p)
        p[b->len] = '\0';
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
