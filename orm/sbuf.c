/* liborm — the one growable string buffer (see sbuf.h).
 *
 * Keeps true: p[len] == '\0' whenever p != NULL and the buffer has not failed; len <= the cap;
 * after the first failure nothing more is appended (the text only goes away through take or
 * free), so a writer that checks `failed` once at the end never ships a half-written text.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/sbuf.h"

static size_t cap_of(const orm__sbuf *b) { return b->max ? b->max : SIZE_MAX >> 2; }

int orm__sbuf_reserve(orm__sbuf *b, size_t n)
{
    if (b->failed)
        return 0;
    if (n > cap_of(b) - b->len || b->len > cap_of(b)) {
        b->failed = ORM_EINVAL;
        return 0;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < need)
        cap *= 2;
    if (cap > cap_of(b) + 1) /* so the inline add's room check also keeps the cap */
        cap = cap_of(b) + 1;
    char *p = orm__realloc(b->p, cap);
    if (!p) {
        b->failed = ORM_ENOMEM;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void orm__sbuf_puts(orm__sbuf *b, const char *s) { orm__sbuf_add(b, s, strlen(s)); }

void orm__sbuf_quoted(orm__sbuf *b, const char *s, char q)
{
    orm__sbuf_add(b, &q, 1);
    for (; *s; s++) {
        if (*s == q)
            orm__sbuf_add(b, &q, 1);
        orm__sbuf_add(b, s, 1);
    }
    orm__sbuf_add(b, &q, 1);
}

void orm__sbuf_vprintf(orm__sbuf *b, const char *fmt, va_list ap)
{
    if (b->failed)
        return;
    char small[256];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        b->failed = ORM_EINVAL;
    } else if ((size_t)n < sizeof small) {
        orm__sbuf_add(b, small, (size_t)n);
    } else if (orm__sbuf_reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void orm__sbuf_printf(orm__sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    orm__sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *orm__sbuf_str(orm__sbuf *b)
{
    if (b->failed)
        return NULL;
    return b->len ? b->p : "";
}

char *orm__sbuf_take(orm__sbuf *b)
{
    if (!b->failed && !b->p && orm__sbuf_reserve(b, 0))
        b->p[0] = '\0';
    char *p = b->failed ? NULL : b->p;
    if (!p)
        orm__free(b->p);
    int failed = b->failed;
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
    b->failed = failed;
    return p;
}

void orm__sbuf_free(orm__sbuf *b)
{
    if (!b)
        return;
    orm__free(b->p);
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
}
