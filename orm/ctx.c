/* liborm — orm_ctx: deadline, cancellation, the open transaction and tags of a call.
 *
 * Keeps true:
 *  - a ctx's deadline is fixed at creation as the earlier of its own and its parent's, so a
 *    check never walks the ancestors: one atomic load (the cancel flag) and, with a deadline,
 *    one clock read;
 *  - cancel sets the flag of the ctx and of every descendant (children are linked into their
 *    parent under its lock; a child made after the cancel copies the flag under that same
 *    lock) and never touches the network: a driver running a statement with the ctx polls
 *    the flag (PostgreSQL: every 20 ms; SQLite: its progress handler) and stops the statement
 *    itself, so orm_ctx_cancel never blocks on a server that does not answer;
 *  - lock order is parent before child: cancel walks down holding each lock, free takes the
 *    parent's lock only to unlink.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/ctx_internal.h"
#include "orm/error_internal.h"

typedef struct ctx_tag {
    char *key;
    char *value;
} ctx_tag;

struct orm_ctx {
    orm_ctx *parent;
    int64_t deadline_us;   /* effective: min(own, parent's); 0 none */
    atomic_int cancelled;
    pthread_mutex_t lock;  /* children links */
    orm_ctx *first_child, *next, *prev;
    orm_tx *tx;            /* the innermost transaction recorded on this ctx */
    ctx_tag *tags;
    size_t ntags, tagcap;
};

int64_t orm_ctx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int make(orm_ctx **out, orm_ctx *parent, int64_t deadline_us)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "ctx", "orm_ctx: out is NULL");
    *out = NULL;
    orm_ctx *c = orm__calloc(1, sizeof *c);
    if (!c)
        return orm__error_nomem("ctx");
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->cancelled, 0);
    c->parent = parent;
    c->deadline_us = deadline_us;
    if (parent) {
        if (parent->deadline_us && (!c->deadline_us || parent->deadline_us < c->deadline_us))
            c->deadline_us = parent->deadline_us;
        pthread_mutex_lock(&parent->lock);
        c->next = parent->first_child;
        if (c->next)
            c->next->prev = c;
        parent->first_child = c;
        atomic_store(&c->cancelled, atomic_load(&parent->cancelled));
        pthread_mutex_unlock(&parent->lock);
    }
    *out = c;
    return ORM_OK;
}

int orm_ctx_new(orm_ctx **out, orm_ctx *parent) { return make(out, parent, 0); }

int orm_ctx_with_timeout(orm_ctx **out, orm_ctx *parent, int64_t timeout_ms)
{
    int64_t now = orm_ctx_now_us();
    /* A timeout past what the microsecond clock can hold is "never": saturate instead of
     * overflowing into a negative (already expired) deadline. */
    int64_t d = timeout_ms <= 0                          ? now
              : timeout_ms > (INT64_MAX - now) / 1000 ? INT64_MAX
                                                        : now + timeout_ms * 1000;
    return make(out, parent, d > 0 ? d : 1);
}

int orm_ctx_with_deadline(orm_ctx **out, orm_ctx *parent, int64_t deadline_us)
{
    return make(out, parent, deadline_us > 0 ? deadline_us : 0);
}

void orm_ctx_free(orm_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->parent) {
        orm_ctx *p = ctx->parent;
        pthread_mutex_lock(&p->lock);
        if (ctx->prev)
            ctx->prev->next = ctx->next;
        else
            p->first_child = ctx->next;
        if (ctx->next)
            ctx->next->prev = ctx->prev;
        pthread_mutex_unlock(&p->lock);
    }
    /* Children left alive lose their parent link (a misuse, but no dangling walk). */
    for (orm_ctx *ch = ctx->first_child; ch; ch = ch->next)
        ch->parent = NULL;
    for (size_t i = 0; i < ctx->ntags; i++) {
        orm__free(ctx->tags[i].key);
        orm__free(ctx->tags[i].value);
    }
    orm__free(ctx->tags);
    pthread_mutex_destroy(&ctx->lock);
    orm__free(ctx);
}

static void cancel_locked_tree(orm_ctx *c)
{
    atomic_store(&c->cancelled, 1);
    pthread_mutex_lock(&c->lock);
    for (orm_ctx *ch = c->first_child; ch; ch = ch->next)
        cancel_locked_tree(ch);
    pthread_mutex_unlock(&c->lock);
}

void orm_ctx_cancel(orm_ctx *ctx)
{
    if (ctx)
        cancel_locked_tree(ctx);
}

int orm_ctx_err(const orm_ctx *ctx)
{
    if (!ctx)
        return ORM_OK;
    if (atomic_load_explicit(&ctx->cancelled, memory_order_acquire))
        return ORM_ECANCELED;
    if (ctx->deadline_us && orm_ctx_now_us() >= ctx->deadline_us)
        return ORM_ETIMEOUT;
    return ORM_OK;
}

int64_t orm_ctx_deadline(const orm_ctx *ctx) { return ctx ? ctx->deadline_us : 0; }

orm_tx *orm_ctx_tx(const orm_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (ctx->tx)
            return ctx->tx;
    return NULL;
}

orm_tx *orm__ctx_own_tx(const orm_ctx *ctx) { return ctx ? ctx->tx : NULL; }

orm_ctx *orm__ctx_parent(const orm_ctx *ctx) { return ctx ? ctx->parent : NULL; }

void orm__ctx_set_tx(orm_ctx *ctx, orm_tx *tx)
{
    if (ctx)
        ctx->tx = tx;
}

/* ---- checks for the session and the drivers ---- */

int orm__ctx_expired(const orm_ctx *ctx) { return orm_ctx_err(ctx) != ORM_OK; }

int orm__ctx_check(const orm_ctx *ctx, const char *module)
{
    int rc = orm_ctx_err(ctx);
    if (rc == ORM_ECANCELED)
        return orm__error_set(rc, module, "the context was cancelled");
    if (rc == ORM_ETIMEOUT)
        return orm__error_set(rc, module, "the context's deadline passed");
    return ORM_OK;
}

int orm__ctx_fix(const orm_ctx *ctx, int rc)
{
    /* ORM_EBUSY too: SQLite's busy wait stops early when the ctx is done. */
    if (!ctx || (rc != ORM_ECANCELED && rc != ORM_ETIMEOUT && rc != ORM_EBUSY))
        return rc;
    int why = orm_ctx_err(ctx);
    if (why == ORM_OK || why == rc)
        return rc;
    const orm_error *e = orm_error_last();
    char msg[512];
    strncpy(msg, e->message, sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    char state[6];
    memcpy(state, e->sqlstate, sizeof state);
    return orm__error_set_db(why, e->module, state[0] ? state : NULL, e->native_code, "%s: %s",
                             why == ORM_ECANCELED ? "cancelled" : "deadline passed", msg);
}

/* ---- tags ---- */

static char *dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = orm__malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int orm_ctx_set_tag(orm_ctx *ctx, const char *key, const char *value)
{
    if (!ctx || !key || !*key)
        return orm__error_set(ORM_EINVAL, "ctx", "orm_ctx_set_tag: NULL ctx or empty key");
    size_t i = 0;
    while (i < ctx->ntags && strcmp(ctx->tags[i].key, key) != 0)
        i++;
    if (!value) {
        if (i < ctx->ntags) {
            orm__free(ctx->tags[i].key);
            orm__free(ctx->tags[i].value);
            memmove(&ctx->tags[i], &ctx->tags[i + 1], (ctx->ntags - i - 1) * sizeof ctx->tags[0]);
            ctx->ntags--;
        }
        return ORM_OK;
    }
    char *v = dup(value);
    if (!v)
        return orm__error_nomem("ctx");
    if (i < ctx->ntags) {
        orm__free(ctx->tags[i].value);
        ctx->tags[i].value = v;
        return ORM_OK;
    }
    char *k = dup(key);
    if (!k) {
        orm__free(v);
        return orm__error_nomem("ctx");
    }
    if (ctx->ntags == ctx->tagcap) {
        size_t cap = ctx->tagcap ? ctx->tagcap * 2 : 4;
        ctx_tag *t = orm__realloc(ctx->tags, cap * sizeof *t);
        if (!t) {
            orm__free(k);
            orm__free(v);
            return orm__error_nomem("ctx");
        }
        ctx->tags = t;
        ctx->tagcap = cap;
    }
    ctx->tags[ctx->ntags].key = k;
    ctx->tags[ctx->ntags].value = v;
    ctx->ntags++;
    return ORM_OK;
}

static const char *own_tag(const orm_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->ntags; i++)
        if (strcmp(c->tags[i].key, key) == 0)
            return c->tags[i].value;
    return NULL;
}

const char *orm_ctx_tag(const orm_ctx *ctx, const char *key)
{
    if (!key)
        return NULL;
    for (; ctx; ctx = ctx->parent) {
        const char *v = own_tag(ctx, key);
        if (v)
            return v;
    }
    return NULL;
}

int orm_ctx_tags_foreach(const orm_ctx *ctx, orm_ctx_tag_fn fn, void *userdata)
{
    if (!fn)
        return orm__error_set(ORM_EINVAL, "ctx", "orm_ctx_tags_foreach: fn is NULL");
    for (const orm_ctx *c = ctx; c; c = c->parent)
        for (size_t i = 0; i < c->ntags; i++) {
            int shadowed = 0;
            for (const orm_ctx *n = ctx; n != c && !shadowed; n = n->parent)
                shadowed = own_tag(n, c->tags[i].key) != NULL;
            if (shadowed)
                continue;
            int rc = fn(c->tags[i].key, c->tags[i].value, userdata);
            if (rc)
                return rc;
        }
    return ORM_OK;
}
