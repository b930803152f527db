/* liborm builder — the growable SQL buffer and its bound arguments (see sql_buf.h).
 *
 * Keeps true: s is NUL-terminated whenever it is non-NULL; len <= ORM_SQL_BUF_MAX; after the
 * first error nothing more is appended, so a failed render never half-grows.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "builder/dialect_internal.h"
#include "builder/sql_buf.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

void orm__sql_buf_init(orm_sql_buf *b, const orm_dialect *d)
{
    memset(b, 0, sizeof *b);
    b->text.max = ORM_SQL_BUF_MAX - 1; /* the text and its NUL fit in ORM_SQL_BUF_MAX */
    b->d = d;
}

void orm__sql_buf_free(orm_sql_buf *b)
{
    orm__sbuf_free(&b->text);
    orm__free(b->args);
    const orm_dialect *d = b->d;
    orm__sql_buf_init(b, d);
}

void orm__sql_buf_reset(orm_sql_buf *b)
{
    b->text.len = 0;
    b->text.failed = 0;
    if (b->text.p)
        b->text.p[0] = '\0';
    b->nargs = 0;
    b->err = ORM_OK;
}

int orm__sql_buf_fail(orm_sql_buf *b, int code, const char *fmt, ...)
{
    if (b->err)
        return b->err;
    b->err = code;
    if (code == ORM_ENOMEM) {
        orm__error_nomem("builder");
        return code;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    orm__error_set(code, "builder", "%s", msg);
    return code;
}

/* The text buffer failed: report it once, as the builders' sticky error. */
static void text_failed(orm_sql_buf *b)
{
    if (b->text.failed == ORM_ENOMEM)
        orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
    else
        orm__sql_buf_fail(b, ORM_EINVAL, "statement longer than %zu bytes", ORM_SQL_BUF_MAX);
}

static int grow(orm_sql_buf *b, size_t extra)
{
    if (b->err)
        return 0;
    if (orm__sbuf_reserve(&b->text, extra))
        return 1;
    text_failed(b);
    return 0;
}

void orm__sql_buf_putn(orm_sql_buf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    orm__sbuf_add(&b->text, s, n);
    if (b->text.failed)
        text_failed(b);
}

void orm__sql_buf_put(orm_sql_buf *b, const char *s) { orm__sql_buf_putn(b, s, strlen(s)); }

void orm__sql_buf_putc(orm_sql_buf *b, char c) { orm__sql_buf_putn(b, &c, 1); }

void orm__sql_buf_ident(orm_sql_buf *b, const char *name)
{
    const char q = b->d->ident_quote; /* doubled inside the name */
    size_t n = strlen(name), quotes = 0;
    for (size_t i = 0; i < n; i++)
        quotes += name[i] == q;
    if (!grow(b, n + quotes + 2))
        return;
    char *p = b->text.p + b->text.len;
    *p++ = q;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == q)
            *p++ = q;
        *p++ = name[i];
    }
    *p++ = q;
    *p = '\0';
    b->text.len = (size_t)(p - b->text.p);
}

void orm__sql_buf_qident(orm_sql_buf *b, const char *qual, const char *name)
{
    if (qual) {
        orm__sql_buf_ident(b, qual);
        orm__sql_buf_putc(b, '.');
    }
    orm__sql_buf_ident(b, name);
}

void orm__sql_buf_arg(orm_sql_buf *b, orm_value v)
{
    if (b->err)
        return;
    if (b->nargs == b->acap) {
        size_t cap = b->acap ? b->acap * 2 : 16;
        orm_value *a = orm__realloc(b->args, cap * sizeof *a);
        if (!a) {
            orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
            return;
        }
        b->args = a;
        b->acap = cap;
    }
    b->args[b->nargs++] = v;
}

void orm__sql_buf_param(orm_sql_buf *b, orm_value v)
{
    orm__sql_buf_arg(b, v);
    if (b->err)
        return;
    if (b->d->numbered_params) {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "$%zu", b->nargs);
        orm__sql_buf_putn(b, tmp, (size_t)n);
    } else {
        orm__sql_buf_putc(b, '?');
    }
}

int orm__sql_buf_finish(orm_sql_buf *b)
{
    if (!b->err && b->nargs > b->d->max_params)
        orm__sql_buf_fail(b, ORM_EINVAL, "statement binds %zu parameters, more than %s allows (%zu)",
                          b->nargs, b->d->name, b->d->max_params);
    if (!b->err && !b->text.p && grow(b, 0))
        b->text.p[0] = '\0';
    return b->err;
}

int orm__value_dup(orm_value *dst, orm_value src)
{
    *dst = src;
    if (src.type == ORM_VALUE_TEXT) {
        char *s = orm__strndup(src.u.s ? src.u.s : "", src.u.s ? src.len : 0);
        if (!s) {
            *dst = orm_null();
            return ORM_ENOMEM;
        }
        dst->u.s = s;
    } else if (src.type == ORM_VALUE_BLOB) {
        void *p = orm__malloc(src.len ? src.len : 1);
        if (!p) {
            *dst = orm_null();
            return ORM_ENOMEM;
        }
        if (src.len)
            memcpy(p, src.u.p, src.len);
        dst->u.p = p;
    }
    return ORM_OK;
}

void orm__value_release(orm_value *v)
{
    if (v->type == ORM_VALUE_TEXT || v->type == ORM_VALUE_BLOB)
        orm__free((void *)v->u.p);
    *v = orm_null();
}

int orm__sql_buf_take(orm_sql_buf *b, orm_sql *out)
{
    memset(out, 0, sizeof *out);
    int rc = orm__sql_buf_finish(b);
    if (rc)
        return rc;
    orm_value *args = NULL;
    if (b->nargs) {
        args = orm__calloc(b->nargs, sizeof *args);
        if (!args)
            return orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
        for (size_t i = 0; i < b->nargs; i++) {
            if (orm__value_dup(&args[i], b->args[i]) != ORM_OK) {
                for (size_t j = 0; j < i; j++)
                    orm__value_release(&args[j]);
                orm__free(args);
                return orm__sql_buf_fail(b, ORM_ENOMEM, "out of memory");
            }
        }
    }
    out->len = b->text.len;
    out->text = orm__sbuf_take(&b->text); /* never NULL: finish made the text */
    out->args = args;
    out->nargs = b->nargs;
    b->nargs = 0;
    return ORM_OK;
}
