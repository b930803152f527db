/* The tag middleware: appends a sqlcommenter comment (key='value',... sorted by key) built from
 * the db-wide tags and the tags on the statement's ctx (orm_ctx_set_tag), so the database's own views (statement logs,
 * pg_stat_activity, traces) show where a statement came from.
 *
 * What it keeps true:
 *   - serialization follows the sqlcommenter spec: key and value URL-encoded as
 *     encodeURIComponent does, then ' escaped as \', the value wrapped in '...'; pairs sorted
 *     by key and joined with ','; a key set both db-wide and on the ctx takes the ctx's value;
 *   - the comment can never end early: '/' is always percent-encoded, so no "*" "/" appears
 *     inside it;
 *   - a statement that already ends with a comment is left alone (the spec's rule), and so is
 *     one with no tags to add;
 *   - the rewritten SQL lives on the stack when it fits in 1 KiB, else in one allocation
 *     freed when next returns.
 */
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"
#include "orm/ctx.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"

typedef struct tag_mw {
    orm_tag tags[ORM_TAG_MAX];
    size_t n;
} tag_mw;

/* encodeURIComponent's unreserved set. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("-_.!~*'()", c) != NULL;
}

/* Append the encoded s to buf[*at..buflen) (counting past the end, as snprintf does). */
static void put(char *buf, size_t buflen, size_t *at, char c)
{
    if (*at + 1 < buflen)
        buf[*at] = c;
    (*at)++;
}

static void encode(char *buf, size_t buflen, size_t *at, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'') {
            put(buf, buflen, at, '\\');
            put(buf, buflen, at, '\'');
        } else if (unreserved(c)) {
            put(buf, buflen, at, (char)c);
        } else {
            put(buf, buflen, at, '%');
            put(buf, buflen, at, hex[c >> 4]);
            put(buf, buflen, at, hex[c & 15]);
        }
    }
}

static int by_key(const void *a, const void *b)
{
    const orm_tag *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* Render tags already sorted and unique. */
static size_t render_sorted(const orm_tag *t, size_t n, char *buf, size_t buflen)
{
    size_t at = 0;
    const char *open = " /*";
    for (const char *p = open; *p; p++)
        put(buf, buflen, &at, *p);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(buf, buflen, &at, ',');
        encode(buf, buflen, &at, t[i].key);
        put(buf, buflen, &at, '=');
        put(buf, buflen, &at, '\'');
        encode(buf, buflen, &at, t[i].value);
        put(buf, buflen, &at, '\'');
    }
    put(buf, buflen, &at, '*');
    put(buf, buflen, &at, '/');
    if (buflen)
        buf[at < buflen ? at : buflen - 1] = '\0';
    return at;
}

/* Merge db tags and call tags into out (sorted, call tags winning); returns the count. */
static size_t merge(const tag_mw *t, const orm_tag *call, size_t ncall, orm_tag *out)
{
    size_t n = 0;
    if (ncall > ORM_TAG_MAX)
        ncall = ORM_TAG_MAX;
    for (size_t i = 0; i < ncall; i++)
        if (call[i].key && call[i].value)
            out[n++] = call[i];
    for (size_t i = 0; i < t->n; i++) {
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(out[k].key, t->tags[i].key) == 0;
        if (!dup)
            out[n++] = t->tags[i];
    }
    qsort(out, n, sizeof *out, by_key);
    return n;
}

size_t orm_tags_render(const orm_tag *tags, size_t n, char *buf, size_t buflen)
{
    orm_tag sorted[ORM_TAG_MAX];
    tag_mw none = { .n = 0 };
    if (n > ORM_TAG_MAX)
        n = ORM_TAG_MAX;
    size_t k = merge(&none, tags, n, sorted);
    return render_sorted(sorted, k, buf, buflen);
}

static int ends_with_comment(const char *sql, size_t len)
{
    while (len && (sql[len - 1] == ' ' || sql[len - 1] == '\n' || sql[len - 1] == '\t'))
        len--;
    return len >= 2 && sql[len - 2] == '*' && sql[len - 1] == '/';
}

/* The ctx's tags (nearest ctx first, so a child's value shadows its parent's), borrowed for
 * the statement: the ctx outlives the call. */
typedef struct ctx_tags {
    orm_tag tags[ORM_TAG_MAX];
    size_t n;
} ctx_tags;

static int collect_tag(const char *key, const char *value, void *userdata)
{
    ctx_tags *c = userdata;
    if (c->n == ORM_TAG_MAX)
        return 1;
    c->tags[c->n].key = key;
    c->tags[c->n].value = value;
    c->n++;
    return 0;
}

static int tag_fn(orm_stmt *st, void *userdata)
{
    const tag_mw *t = userdata;
    ctx_tags call = { .n = 0 };
    if (st->ctx)
        orm_ctx_tags_foreach(st->ctx, collect_tag, &call);
    orm_tag all[2 * ORM_TAG_MAX];
    size_t n = merge(t, call.tags, call.n, all);
    if (n == 0 || ends_with_comment(st->sql, st->sql_len))
        return orm_stmt_next(st);
    char stack[1024];
    size_t clen = render_sorted(all, n, NULL, 0);
    size_t need = st->sql_len + clen + 1;
    char *sql = need <= sizeof stack ? stack : orm__malloc(need);
    if (!sql)
        return orm__error_nomem("tag");
    memcpy(sql, st->sql, st->sql_len);
    render_sorted(all, n, sql + st->sql_len, clen + 1);
    int rc = orm_stmt_set_sql(st, sql, st->sql_len + clen);
    if (rc == ORM_OK)
        rc = orm_stmt_next(st);
    if (sql != stack)
        orm__free(sql);
    return rc;
}

static void tag_free(void *userdata)
{
    tag_mw *t = userdata;
    for (size_t i = 0; i < t->n; i++) {
        orm__free((char *)t->tags[i].key);
        orm__free((char *)t->tags[i].value);
    }
    orm__free(t);
}

int orm_tag_middleware(orm_middleware *out, const orm_tag_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_tag_middleware: out is NULL");
    orm_tag_options defaults = ORM_TAG_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (opts->version != ORM_TAG_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_tag_options: unknown version %u",
                              opts->version);
    if (opts->ntags > ORM_TAG_MAX)
        return orm__error_set(ORM_EINVAL, "middleware", "orm_tag_options: more than %d tags",
                              ORM_TAG_MAX);
    tag_mw *t = orm__calloc(1, sizeof *t);
    if (!t)
        return orm__error_nomem("tag");
    for (size_t i = 0; i < opts->ntags; i++) {
        const orm_tag *g = &opts->tags[i];
        if (!g->key || !g->value || !*g->key) {
            tag_free(t);
            return orm__error_set(ORM_EINVAL, "middleware", "orm_tag_options: tag %zu has no "
                                  "key or value", i);
        }
        char *k = orm__strdup(g->key), *v = orm__strdup(g->value);
        if (!k || !v) {
            orm__free(k);
            orm__free(v);
            tag_free(t);
            return orm__error_nomem("tag");
        }
        t->tags[t->n].key = k;
        t->tags[t->n].value = v;
        t->n++;
    }
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "tag";
    mw.fn = tag_fn;
    mw.free = tag_free;
    mw.userdata = t;
    *out = mw;
    return ORM_OK;
}
