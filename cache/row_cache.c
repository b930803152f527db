/* liborm — the row cache layer: the one place where the cache meets models (row_cache.h).
 *
 * A middleware in the db's chain. Statements that carry an intent (orm_stmt_intent) on a
 * model the layer caches are answered or followed by invalidation; raw SQL and scripts are
 * scanned for the tables they write; everything else passes through after one lookup.
 *
 * Keeps true:
 *  - a value in the cache is never older than the database's committed row in a way a reader
 *    can see: it is installed only by a load outside any transaction, with orm_cache_set_if_gen
 *    against the key's generation read before the database read, and it is stamped with the
 *    model's generations read before it (a whole-model drop or, for a not-found answer, an
 *    insert makes it stale at once, in O(1)); every write drops after the database answered
 *    (never before: a load in between would put the old row back);
 *  - a reader that joined another thread's load uses its row only if that load began after
 *    the reader did (its key generation is the one the reader saw), so a thread reads back
 *    what it committed; otherwise it reads the database itself; a reader whose key
 *    generation could not be read (0: a shared cache out of reach) joins no load;
 *  - the hot path (a hit) formats the key without printf into a stack buffer, takes no lock
 *    besides the cache's own, and deep-copies straight into the caller's struct.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cache/cache_internal.h"
#include "cache/row_cache_internal.h"
#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"
#include "orm/middleware_internal.h"
#include "orm/model_internal.h"
#include "orm/session_internal.h"
#include "orm/sql_scan.h"
#include "orm/sys/driver.h"
#include "orm/txn.h"
#include "orm/write.h"

#define KEY_STACK 256
/* A table prefix this short is copied into a key as a fixed-size block (its allocation holds
 * at least this many bytes). */
#define RC_PREFIX_FAST 32

/* ---- keys ---- */

static size_t put(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap)
        memcpy(buf + at, s, at + n <= cap ? n : cap - at);
    return at + n;
}

static size_t put_escaped(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':' || s[i] == '\\')
            at = put(buf, cap, at, "\\", 1);
        at = put(buf, cap, at, s + i, 1);
    }
    return at;
}

/* Two digits per step from a table: a get's key is built on every hit, and writing it a digit
 * at a time was a tenth of a hit's instructions. */
static inline size_t put_i64(char *buf, size_t cap, size_t at, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[48] = { 0 }; /* the digits end at tmp + 24; the rest lets a fixed-size copy read on */
    char *p = tmp + 24;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        const char *d = pairs + 2 * (u % 100);
        u /= 100;
        *--p = d[1];
        *--p = d[0];
    }
    if (u >= 10) {
        *--p = pairs[2 * u + 1];
        *--p = pairs[2 * u];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + 24 - p);
    if (at + 24 <= cap) { /* the common case: a fixed-size copy the compiler inlines (the bytes
                             past the number are written over next, or past the key's NUL) */
        memcpy(buf + at, p, 24);
        return at + n;
    }
    return put(buf, cap, at, p, n);
}

size_t orm__rc_key(char *buf, size_t cap, const rc_model *m, const orm_value *key)
{
    size_t at;
    if (m->prefix_len <= RC_PREFIX_FAST && cap >= RC_PREFIX_FAST) { /* a fixed-size copy */
        memcpy(buf, m->prefix, RC_PREFIX_FAST);
        at = m->prefix_len;
        if (m->model->npk == 1 && key->type == ORM_VALUE_INT) { /* the usual key, every get's */
            at = put_i64(buf, cap, at, key->u.i);
            if (at < cap)
                buf[at] = '\0';
            return at;
        }
    } else {
        at = put(buf, cap, 0, m->prefix, m->prefix_len);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t k = 0; k < m->model->npk; k++) {
        const orm_value *v = &key[k];
        if (k)
            at = put(buf, cap, at, ":", 1);
        switch (v->type) {
        case ORM_VALUE_INT: at = put_i64(buf, cap, at, v->u.i); break;
        case ORM_VALUE_TEXT:
            at = put(buf, cap, at, "'", 1);
            at = put_escaped(buf, cap, at, v->u.s, v->len);
            break;
        case ORM_VALUE_BLOB:
            at = put(buf, cap, at, "x", 1);
            for (size_t i = 0; i < v->len; i++) {
                unsigned char c = ((const unsigned char *)v->u.s)[i];
                char two[2] = { hex[c >> 4], hex[c & 15] };
                at = put(buf, cap, at, two, 2);
            }
            break;
        case ORM_VALUE_DOUBLE: {
            char tmp[40];
            int n = snprintf(tmp, sizeof tmp, "d%.17g", v->u.d);
            at = put(buf, cap, at, tmp, (size_t)n);
            break;
        }
        case ORM_VALUE_BOOL: at = put(buf, cap, at, v->u.b ? "b1" : "b0", 2); break;
        case ORM_VALUE_TIMESTAMP:
            at = put(buf, cap, at, "t", 1);
            at = put_i64(buf, cap, at, v->u.i);
            break;
        default: at = put(buf, cap, at, "n", 1); break;
        }
    }
    if (at < cap)
        buf[at] = '\0';
    return at;
}

/* The key in kb (KEY_STACK bytes) or, when longer, in a malloc'ed buffer; NULL when out of
 * memory. Free with key_done. */
static char *key_of(char *kb, const rc_model *m, const orm_value *key, size_t *len)
{
    size_t n = orm__rc_key(kb, KEY_STACK, m, key);
    if (len)
        *len = n;
    if (n < KEY_STACK)
        return kb;
    char *p = orm__malloc(n + 1);
    if (p)
        orm__rc_key(p, n + 1, m, key);
    return p;
}

static void key_done(char *key, char *kb)
{
    if (key != kb)
        orm__free(key);
}

int orm_row_cache_key(char *buf, size_t cap, size_t *len, const orm_model *model, const orm_value *key)
{
    if (!model || !key || (!buf && cap))
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_key: NULL argument");
    if (!model->table || model->npk == 0)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_key: model %s has no table or key",
                              model->name ? model->name : "?");
    /* A model not configured has no prefix yet: encode the table the same way here. */
    rc_model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.model = model;
    char pre[KEY_STACK] = { 0 }; /* zeroed: orm__rc_key may copy RC_PREFIX_FAST bytes of it */
    size_t tl = strlen(model->table);
    size_t pn = put_escaped(pre, sizeof pre, 0, model->table, tl);
    char *heap = NULL;
    if (pn + 1 >= sizeof pre) {
        heap = orm__malloc(pn + 2);
        if (!heap)
            return orm__error_nomem("row_cache");
        put_escaped(heap, pn + 2, 0, model->table, tl);
    }
    tmp.prefix = heap ? heap : pre;
    tmp.prefix[pn] = ':';
    tmp.prefix_len = pn + 1;
    size_t n = orm__rc_key(buf, cap, &tmp, key);
    orm__free(heap);
    if (len)
        *len = n;
    if (n >= cap)
        return buf ? orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_key: buffer of %zu bytes, "
                                    "the key needs %zu", cap, n + 1) : ORM_OK;
    return ORM_OK;
}

/* ---- cached values ----
 *
 * A value is packed: the header, the row's struct, then its text and blob bytes, all in the
 * one allocation the cache makes (obj_size leaves RC_INLINE bytes for them) when they fit,
 * else in one more allocation (the arena, kept in the header's row pointer). A hit then reads
 * a few adjacent cache lines instead of one per text field scattered over the heap: on a
 * cache far larger than the CPU's caches (W5 at 50,000 rows) each of those was a miss. */

/* The bytes a row's text and blobs take packed (a NUL after each text). */
static size_t var_bytes(const orm_model *model, const char *row)
{
    size_t n = 0;
    for (size_t i = 0; i < model->nfields; i++) {
        const orm_field *f = &model->fields[i];
        if (f->type == ORM_FIELD_TEXT) {
            const char *t = *(char *const *)(row + f->offset);
            if (t)
                n += strlen(t) + 1;
        } else if (f->type == ORM_FIELD_BLOB) {
            const orm_blob *b = (const orm_blob *)(row + f->offset);
            if (b->data)
                n += b->len;
        }
    }
    return n;
}

/* Copy row into dst (struct_size bytes) with its text and blobs packed at var. */
static void pack_row(const orm_model *model, char *dst, const char *row, char *var)
{
    memcpy(dst, row, model->struct_size);
    for (size_t i = 0; i < model->nfields; i++) {
        const orm_field *f = &model->fields[i];
        if (f->type == ORM_FIELD_TEXT) {
            char **t = (char **)(dst + f->offset);
            if (*t) {
                size_t n = strlen(*t) + 1;
                memcpy(var, *t, n);
                *t = var;
                var += n;
            }
        } else if (f->type == ORM_FIELD_BLOB) {
            orm_blob *b = (orm_blob *)(dst + f->offset);
            if (b->data) {
                if (b->len)
                    memcpy(var, b->data, b->len);
                b->data = var;
                var += b->len;
            }
        }
    }
}

int orm__rc_pack(const rc_model *m, rc_hdr *d, const void *row)
{
    char *out = (char *)d + RC_ROW_OFF;
    size_t need = var_bytes(m->model, row);
    char *var = out + m->model->struct_size;
    d->indirect = 0;
    d->row = NULL;
    d->var_len = need;
    if (need > m->inline_cap) {
        if (!(var = orm__malloc(need))) {
            d->found = 0; /* owns nothing */
            return orm__error_nomem("row_cache");
        }
        d->row = var; /* the arena */
    }
    pack_row(m->model, out, row, var);
    return ORM_OK;
}

static int value_copy(void *dst, const void *src, void *ud)
{
    const rc_model *m = ud;
    const rc_hdr *s = src;
    rc_hdr *d = dst;
    *d = *s;
    d->indirect = 0;
    d->row = NULL;
    if (!s->found)
        return ORM_OK;
    return orm__rc_pack(m, d, s->indirect ? s->row : (const char *)s + RC_ROW_OFF);
}

static void value_clear(void *obj, void *ud)
{
    (void)ud;
    rc_hdr *h = obj;
    if (h->found && !h->indirect)
        orm__free((void *)h->row); /* the arena, when the row did not fit inline */
}

static size_t value_size(const void *obj, void *ud)
{
    const rc_model *m = ud;
    const rc_hdr *h = obj;
    return m->type.obj_size + (h->found && h->row ? var_bytes(m->model, (const char *)obj + RC_ROW_OFF) : 0);
}

/* Whether r is a current value of m: made by this model, and no whole-model drop (nor, for a
 * not-found answer, an insert) since its load began. g: the generations a shared cache gave
 * (NULL: this process's). */
static const rc_hdr *current(const rc_model *m, const orm_cache_ref *r, const rc_gens *g)
{
    if (ORM__REF_KIND(r) != ORM__REF_OBJ || r->u.type != &m->type)
        return NULL;
    const rc_hdr *h = (const rc_hdr *)r->data;
    if (g) {
        if (!g->mgen || h->mgen != g->mgen || (!h->found && h->igen != g->igen))
            return NULL;
        return h;
    }
    if (h->mgen != atomic_load_explicit(&m->gen, memory_order_acquire))
        return NULL;
    if (!h->found && h->igen != atomic_load_explicit(&m->igen, memory_order_acquire))
        return NULL;
    return h;
}

/* Fill the caller's struct from a current value: 1 found, 0 not found, or ORM_ENOMEM.
 * A packed row's text and blobs lie one after another in field order, so each one ends where
 * the next begins (the last at var_len): walking the fields last to first copies every text
 * with its NUL without a strlen (callgrind: 1,556 -> 1,510 instructions a W5 hit against
 * orm_model_copy's strdup of each). */
static int fill(const rc_model *m, const rc_hdr *h, void *out)
{
    const orm_model *model = m->model;
    if (!h->found) {
        memset(out, 0, model->struct_size);
        return 0;
    }
    const char *src = (const char *)h + RC_ROW_OFF; /* packed: every value a cache holds is */
    char *dst = out;
    memcpy(dst, src, model->struct_size);
    const char *end = (h->row ? (const char *)h->row : src + model->struct_size) + h->var_len;
    size_t i = m->nowned;
    while (i-- > 0) {
        void **slot = orm__model_owned_slot(&model->fields[m->owned[i]], dst);
        const char *p = *slot;
        if (!p)
            continue;
        size_t n = (size_t)(end - p); /* a text's bytes and its NUL; a blob's len */
        end = p;
        void *copy = orm__malloc(n);
        if (!copy)
            goto nomem;
        memcpy(copy, p, n);
        *slot = copy;
    }
    return 1;

nomem:
    /* Owned fields after i hold our copies; i and before still point into the cached value. */
    for (size_t j = i + 1; j < m->nowned; j++)
        orm__free(*orm__model_owned_slot(&model->fields[m->owned[j]], dst));
    memset(dst, 0, model->struct_size);
    return orm__error_nomem("row_cache");
}

/* lookup on a shared cache: the row and the model's generations read together; *seen gets
 * the generations (mgen 0 when unknown). */
static int lookup_shared(const rc_model *m, const char *key, void *out, rc_gens *seen)
{
    orm_cache_ref *r = NULL;
    rc_gens g = { 0, 0 };
    int rc = orm__rc_shared_get(m, key, &r, &g);
    if (seen)
        *seen = g;
    if (rc == ORM_ENOMEM)
        return rc;
    if (rc != ORM_OK || !r)
        return -1;
    const rc_hdr *h = current(m, r, &g);
    rc = h ? fill(m, h, out) : -1;
    orm_cache_ref_release(r);
    if (!h && g.mgen)
        orm_cache_delete(m->rc->cache, key);
    return rc;
}

/* The value of a hit on a local cache, read in place under the cache's read lock
 * (orm__cache_local_read): filled into out (1 found / 0 not found), ORM_ENOMEM, or HIT_STALE. */
enum { HIT_STALE = 2 };
typedef struct hit_req {
    const rc_model *m;
    void *out;
} hit_req;
static int fill_in_place(const orm_cache_ref *r, void *arg)
{
    const hit_req *q = arg;
#if defined(__GNUC__)
    /* The header, the struct and the packed text are adjacent lines: ask for them at once
     * rather than one miss after another. */
    __builtin_prefetch((const char *)r->data + 64);
    __builtin_prefetch((const char *)r->data + 128);
#endif
    const rc_hdr *h = current(q->m, r, NULL);
    return h ? fill(q->m, h, q->out) : HIT_STALE;
}

/* A hit: 1 found / 0 cached not-found (out filled), -1 a miss, or ORM_ENOMEM. key: klen
 * bytes. seen (may be NULL): on a shared cache, the generations read with the row. */
static int lookup(const rc_model *m, const char *key, size_t klen, void *out, rc_gens *seen)
{
    if (m->rc->shared)
        return lookup_shared(m, key, out, seen);
    int rc;
    if (orm__cache_is_local(m->rc->cache)) {
        hit_req q = { m, out };
        rc = orm__cache_local_read(m->rc->cache, key, klen, fill_in_place, &q);
        if (rc < 0 && rc != ORM_ENOMEM)
            return -1; /* not cached (fill_in_place's answers are >= 0 but ENOMEM) */
    } else {
        orm_cache_ref *r;
        if (orm_cache_get(m->rc->cache, key, &r) != ORM_OK)
            return -1;
        rc = fill_in_place(r, &(hit_req){ m, out });
        orm_cache_ref_release(r);
    }
    if (rc == HIT_STALE) {
        /* its model was dropped since: out of the way of the load that follows, which would
         * otherwise find it and not load */
        orm_cache_delete(m->rc->cache, key);
        return -1;
    }
    return rc;
}

static uint64_t next_rand(orm_row_cache *rc)
{
    /* splitmix64 on a shared counter: a race only repeats a jitter value */
    uint64_t z = __atomic_add_fetch(&rc->rng, 0x9E3779B97F4A7C15ull, __ATOMIC_RELAXED);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t ttl_of(rc_model *m, int found)
{
    int64_t ttl = found ? m->o.ttl_ms : (m->o.negative_ttl_ms ? m->o.negative_ttl_ms : m->o.ttl_ms);
    if (ttl <= 0 || m->o.jitter <= 0)
        return ttl;
    double u = (double)(next_rand(m->rc) >> 11) / 9007199254740992.0; /* [0, 1) */
    int64_t t = (int64_t)((double)ttl * (1.0 + m->o.jitter * (2.0 * u - 1.0)));
    return t < 1 ? 1 : t;
}

/* ---- drops ---- */

void orm__rc_drop_key(rc_model *m, const char *key)
{
    orm_cache_delete(m->rc->cache, key); /* bumps the key's generation, present or not */
    if (m->rc->wb)
        orm__rc_wb_forget(m, key); /* a clean row kept for older transactions is stale now */
    atomic_fetch_add_explicit(&m->invalidations, 1, memory_order_relaxed);
}

void orm__rc_drop_model(rc_model *m)
{
    if (m->rc->shared)
        orm__rc_shared_bump(m, 0);
    atomic_fetch_add_explicit(&m->gen, 1, memory_order_acq_rel);
    atomic_fetch_add_explicit(&m->invalidations, 1, memory_order_relaxed);
}

void orm__rc_drop_inserts(rc_model *m)
{
    if (!m->o.negative)
        return;
    if (m->rc->shared)
        orm__rc_shared_bump(m, 1);
    atomic_fetch_add_explicit(&m->igen, 1, memory_order_acq_rel);
}

void orm__rc_drop_every(orm_row_cache *rc)
{
    for (size_t i = 0; i < rc->n; i++)
        orm__rc_drop_model(rc->list[i]);
}

/* ---- reads ---- */

/* The model's generations now, into a value about to be loaded. */
static void stamp(const rc_model *m, rc_hdr *h)
{
    if (m->rc->shared) {
        rc_gens g;
        orm__rc_shared_gens(m, &g);
        h->mgen = g.mgen;
        h->igen = g.igen;
        return;
    }
    h->mgen = atomic_load_explicit(&m->gen, memory_order_acquire);
    h->igen = atomic_load_explicit(&m->igen, memory_order_acquire);
}

int orm__rc_stamp_key(const rc_model *m, const char *key, uint64_t out[3])
{
    rc_hdr h;
    stamp(m, &h);
    out[0] = h.mgen;
    out[1] = h.igen;
    out[2] = 0;
    if (!m->rc->shared)
        return 1; /* a drop of the key forgets a kept row itself (orm__rc_drop_key) */
    /* Other processes' writes of the key reach this one only as a moved generation (every
     * write moves it: a load installed since too, which only costs a read of the database). */
    orm_cache_gen(m->rc->cache, key, &out[2]);
    /* 0: the shared cache could not tell. The insert generation is kept only for a model
     * with negative caching (0 otherwise, by design), so it is required only there. */
    return h.mgen && (h.igen || !m->o.negative) && out[2];
}

/* The singleflight's loader reads the database through the statement that missed: a
 * thread-local handoff (the loader runs on the missing thread: synchronous mode). */
typedef struct load_req {
    orm_stmt *st;
    rc_model *m;
    const char *key;
    int led;        /* this thread ran the load */
    int rc;         /* the statement's result when it did */
} load_req;

static _Thread_local load_req *cur_req;

static int loader(const char *key, orm_cache_ref **out, int64_t *ttl, void *ud)
{
    (void)ud;
    load_req *req = cur_req;
    if (!req || strcmp(key, req->key) != 0)
        return orm__error_set(ORM_ERROR, "row_cache", "load of '%.64s' outside a get", key);
    req->led = 1;
    rc_model *m = req->m;
    rc_hdr h;
    memset(&h, 0, sizeof h);
    stamp(m, &h);
    orm_cache_gen(m->rc->cache, key, &h.kgen);
    uint64_t t0 = orm__mw_now_ns();
    req->rc = orm_stmt_next(req->st);
    atomic_fetch_add_explicit(&m->loads, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->load_ns, orm__mw_now_ns() - t0, memory_order_relaxed);
    if (req->rc != ORM_OK)
        return req->rc;
    h.found = req->st->rows > 0;
    if (!h.found && !m->o.negative)
        return orm__error_set(ORM_ENOTFOUND, "row_cache", "no row");
    h.indirect = 1;
    h.row = req->st->intent->obj;
    *ttl = ttl_of(m, (int)h.found);
    return orm_cache_ref_new_obj(out, &m->type, &h);
}

static int on_get(orm_row_cache *self, rc_model *m, orm_stmt *st)
{
    const orm_stmt_intent *in = st->intent;
    char kb[KEY_STACK];
    size_t klen;
    char *key = key_of(kb, m, in->key, &klen);
    if (!key)
        return orm__error_nomem("row_cache");
    orm_tx *tx = st->session->tx; /* orm_stmt_tx, inlined for the common case */
    if (!tx && st->ctx)
        tx = orm_stmt_tx(st);
    int rc;
    int hit = -1;
    /* In a transaction: its snapshot (REPEATABLE READ and up) or its own write of the key
     * is in the database, not in the buffer or the cache. */
    int db_only = tx && (tx->isolation >= ORM_ISOLATION_REPEATABLE_READ || orm__rc_tx_wrote(self, tx, m, key));
    if (m->o.mode == ORM_ROW_CACHE_WRITE_BACK) {
        if (!db_only) /* a saved row, not written yet (or written since tx began reading) */
            hit = orm__rc_wb_get(m, key, in->obj, tx ? orm__rc_tx_reader_seq(self, tx) : UINT64_MAX);
        else if ((rc = orm__rc_wb_flush_tx(self, m, tx, st->ctx)) != ORM_OK) {
            key_done(key, kb); /* the saved rows go into the transaction first, as for a query */
            return rc;
        }
    }
    rc_gens seen = { 0, 0 };
    if (hit == -1 && !db_only)
        hit = lookup(m, key, klen, in->obj, &seen);
    if (hit >= 0) {
        atomic_fetch_add_explicit(&m->hits, 1, memory_order_relaxed);
        st->flags |= ORM_STMT_CACHED;
        st->rows = hit;
        key_done(key, kb);
        return ORM_OK;
    }
    if (hit == ORM_ENOMEM) {
        key_done(key, kb);
        return hit;
    }
    atomic_fetch_add_explicit(&m->misses, 1, memory_order_relaxed);
    st->flags |= ORM_STMT_CACHE_MISS;
    if (tx) { /* never fills: the transaction may see a snapshot older than the commit */
        rc = orm_stmt_next(st);
        key_done(key, kb);
        return rc;
    }
    uint64_t g0 = 0;
    orm_cache_gen(self->cache, key, &g0);
    if (!g0) {
        /* The generation could not be read (Redis unreachable): a load in flight may have
         * read the row before a write that returned before this get began, and nothing tells
         * them apart (its generation is unknown or unmoved: a drop that could not reach Redis
         * does not move it). Read the database; a load could not install anyway. */
        rc = orm_stmt_next(st);
        key_done(key, kb);
        return rc;
    }
    load_req req = { st, m, key, 0, ORM_OK };
    load_req *prev = cur_req;
    cur_req = &req;
    orm_cache_ref *r = NULL;
    int lrc = orm_cache_get(self->loading, key, &r);
    cur_req = prev;
    if (req.led) {
        rc = req.rc; /* the statement ran here: its rows are mapped already */
    } else {
        const rc_hdr *h = lrc == ORM_OK ? current(m, r, self->shared ? &seen : NULL) : NULL;
        int got = h && h->kgen == g0 ? fill(m, h, in->obj) : -1;
        if (got >= 0) { /* another thread's load that began after this read did */
            st->flags = (st->flags & ~(unsigned)ORM_STMT_CACHE_MISS) | ORM_STMT_CACHED;
            st->rows = got;
            rc = ORM_OK;
        } else {
            rc = got == ORM_ENOMEM ? got : orm_stmt_next(st);
        }
    }
    orm_cache_ref_release(r);
    key_done(key, kb);
    return rc;
}

/* GET_MANY: the hits here, the misses through the statement (one query per chunk), then the
 * rows it loaded installed as a load would (outside transactions). */
static int on_get_many(orm_row_cache *self, rc_model *m, orm_stmt *st)
{
    const orm_stmt_intent *in = st->intent;
    const orm_model *model = m->model;
    size_t n = in->nkeys, npk = model->npk, sz = model->struct_size;
    orm_tx *tx = orm_stmt_tx(st);
    int bypass = tx && tx->isolation >= ORM_ISOLATION_REPEATABLE_READ;
    uint64_t reader = tx && self->wb ? orm__rc_tx_reader_seq(self, tx) : UINT64_MAX;
    char **keys = orm__calloc(n ? n : 1, sizeof *keys);
    uint64_t *gens = orm__calloc(n ? n : 1, sizeof *gens);
    int rc = keys && gens ? ORM_OK : orm__error_nomem("row_cache");
    size_t hits = 0, found = 0;
    rc_hdr h0;
    memset(&h0, 0, sizeof h0);
    stamp(m, &h0);
    for (size_t i = 0; rc == ORM_OK && i < n; i++) {
        char kb[KEY_STACK];
        char *k = key_of(kb, m, in->key + i * npk, NULL);
        if (!k || !(keys[i] = k == kb ? orm__strdup(kb) : k)) {
            rc = orm__error_nomem("row_cache");
            break;
        }
        if (bypass || (tx && orm__rc_tx_wrote(self, tx, m, keys[i])))
            continue;
        orm_cache_gen(self->cache, keys[i], &gens[i]);
        int hit = -1;
        if (m->o.mode == ORM_ROW_CACHE_WRITE_BACK) /* a saved row the flush left to another
                                                       writer (an open transaction) */
            hit = orm__rc_wb_get(m, keys[i], (char *)in->obj + i * sz, reader);
        if (hit == -1)
            hit = lookup(m, keys[i], strlen(keys[i]), (char *)in->obj + i * sz, NULL);
        if (hit == ORM_ENOMEM)
            rc = hit;
        else if (hit >= 0) {
            in->found[i] = hit == 1;
            found += (size_t)hit;
            hits++;
            gens[i] = UINT64_MAX; /* answered: nothing to install */
        }
    }
    if (rc == ORM_OK) {
        atomic_fetch_add_explicit(&m->hits, hits, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->misses, n - hits, memory_order_relaxed);
        if (hits == n) {
            st->flags |= ORM_STMT_CACHED;
            st->rows = (int64_t)found;
        } else {
            st->flags |= ORM_STMT_CACHE_MISS;
            /* The answered keys are marked: the statement loads only the others. But the
             * answered not-found keys are not marked found, so mark them for the terminal. */
            bool *answered_nf = orm__calloc(n, sizeof *answered_nf);
            if (!answered_nf)
                rc = orm__error_nomem("row_cache");
            for (size_t i = 0; answered_nf && i < n; i++)
                if (gens[i] == UINT64_MAX && !in->found[i]) {
                    answered_nf[i] = true;
                    in->found[i] = true; /* skip it */
                }
            uint64_t t0 = orm__mw_now_ns();
            if (rc == ORM_OK)
                rc = orm_stmt_next(st);
            atomic_fetch_add_explicit(&m->loads, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&m->load_ns, orm__mw_now_ns() - t0, memory_order_relaxed);
            for (size_t i = 0; answered_nf && i < n; i++)
                if (answered_nf[i])
                    in->found[i] = false;
            orm__free(answered_nf);
            if (rc == ORM_OK) {
                found = 0;
                for (size_t i = 0; i < n; i++) {
                    found += in->found[i];
                    if (tx || gens[i] == UINT64_MAX || !keys[i])
                        continue;
                    if (!in->found[i] && !m->o.negative)
                        continue;
                    rc_hdr h = h0;
                    h.kgen = gens[i];
                    h.found = in->found[i];
                    h.indirect = 1;
                    h.row = (char *)in->obj + i * sz;
                    orm_cache_ref *r;
                    if (orm_cache_ref_new_obj(&r, &m->type, &h) == ORM_OK) {
                        orm_cache_set_if_gen(self->cache, keys[i], r, ttl_of(m, (int)h.found), gens[i]);
                        orm_cache_ref_release(r);
                    }
                }
                st->rows = (int64_t)found;
            }
        }
    }
    for (size_t i = 0; keys && i < n; i++)
        orm__free(keys[i]);
    orm__free(keys);
    orm__free(gens);
    return rc;
}

/* ---- writes ---- */

static int refuse_read_only(const rc_model *m, const char *what)
{
    return orm__error_set(ORM_EINVAL, "row_cache", "%s of \"%s\": the model is read-only in the row cache",
                          what, m->model->table);
}

static int flush_rows(orm_row_cache *rc, rc_model *m, orm_stmt *st);

/* A write-back insert with its key (orm_insert_one): refused with ORM_ECONSTRAINT when the
 * key has a row now — a saved one not written yet, a cached one, or one in the database
 * (orm_get through the chain asks them in that order) — as the database would refuse it;
 * otherwise saved (over a saved delete of the key too: the flush's upsert then replaces the
 * old row, as the delete and the insert would). */
static int wb_insert(orm_row_cache *rc, rc_model *m, orm_stmt *st, const char *key)
{
    const orm_model *model = m->model;
    void *tmp = orm__calloc(1, model->struct_size);
    if (!tmp)
        return orm__error_nomem("row_cache");
    int r = orm_get(orm_db_session(rc->db), st->ctx, model, tmp, st->intent->key);
    orm_model_clear(model, tmp);
    orm__free(tmp);
    if (r == ORM_OK)
        return orm__error_set(ORM_ECONSTRAINT, "row_cache", "insert into \"%s\": duplicate key %.200s (the "
                              "row exists)", model->table, key);
    if (r != ORM_ENOTFOUND)
        return r;
    return orm__rc_wb_save(m, key, st->intent->obj, st->intent->key, 1);
}

static int on_write(orm_row_cache *rc, rc_model *m, orm_stmt *st)
{
    const orm_stmt_intent *in = st->intent;
    orm_stmt_op op = in->op;
    if (m->o.mode == ORM_ROW_CACHE_READ_ONLY)
        return refuse_read_only(m, orm_stmt_kind_name(st->kind));
    if (m->o.mode == ORM_ROW_CACHE_READ_WRITE && st->session->tx) {
        /* A bulk write in a transaction that will drop the whole model at commit anyway
         * (past MAX_KEYS keys, or a builder write): nothing to stage, no key to format. */
        struct rc_tx *t0 = orm__rc_tx_state(rc, st->session->tx);
        if (!t0)
            return ORM_ENOMEM;
        if (orm__rc_tx_covers(t0, st->session->tx, m))
            return orm_stmt_next(st);
    }
    char kb[KEY_STACK];
    char *key = NULL;
    /* The one row the write can touch, when known: by key, or a builder whose WHERE pins one
     * key (the builder sets in->key then). */
    int one_row = op == ORM_STMT_OP_UPDATE_ONE || op == ORM_STMT_OP_DELETE_ONE ||
                  ((op == ORM_STMT_OP_INSERT_ONE || op == ORM_STMT_OP_UPDATE_WHERE ||
                    op == ORM_STMT_OP_DELETE_WHERE) && in->key);
    if (one_row && !(key = key_of(kb, m, in->key, NULL)))
        return orm__error_nomem("row_cache");
    orm_tx *tx = orm_stmt_tx(st);
    int save = op == ORM_STMT_OP_UPDATE_ONE || op == ORM_STMT_OP_DELETE_ONE ||
               (op == ORM_STMT_OP_INSERT_ONE && in->key);
    if (m->o.mode == ORM_ROW_CACHE_WRITE_BACK) {
        if (!tx && save) { /* a save: the buffer takes it, the database later */
            int r = op == ORM_STMT_OP_INSERT_ONE ? wb_insert(rc, m, st, key)
                                                 : orm__rc_wb_save(m, key, op == ORM_STMT_OP_UPDATE_ONE ? in->obj : NULL,
                                                                   in->key, 0);
            key_done(key, kb);
            if (r == ORM_OK) {
                st->flags |= ORM_STMT_CACHED;
                st->affected = 1;
            }
            return r;
        }
        /* Anything else reaches the database: the saved rows go first, so it sees them. */
        if (atomic_load_explicit(&m->dirty, memory_order_relaxed) > 0) {
            int r = flush_rows(rc, m, st);
            if (r != ORM_OK) {
                if (key)
                    key_done(key, kb);
                return r;
            }
        }
    }
    struct rc_tx *t = NULL;
    if (tx && !(t = orm__rc_tx_state(rc, tx))) { /* before the write: staging must not fail after */
        if (key)
            key_done(key, kb);
        return ORM_ENOMEM;
    }
    int rc_ = orm_stmt_next(st);
    /* Drop whatever the outcome: a failed write may have been applied (a lost connection). */
    if (key)
        op = ORM_STMT_OP_UPDATE_ONE; /* one row (an insert's too: its not-found answer): drop its key */
    switch (op) {
    case ORM_STMT_OP_UPDATE_ONE:
    case ORM_STMT_OP_DELETE_ONE:
        if (t)
            orm__rc_tx_key(t, tx, m, key);
        else
            orm__rc_drop_key(m, key);
        break;
    case ORM_STMT_OP_INSERT_ONE:
    case ORM_STMT_OP_INSERT:
        if (t)
            orm__rc_tx_inserts(t, tx, m);
        else
            orm__rc_drop_inserts(m);
        break;
    default: /* UPSERT; UPDATE_WHERE, DELETE_WHERE whose rows are not known */
        if (t)
            orm__rc_tx_model(t, tx, m);
        else
            orm__rc_drop_model(m);
        break;
    }
    if (key)
        key_done(key, kb);
    return rc_;
}

/* Raw SQL and scripts: drop the models whose tables they write. */
typedef struct table_hit {
    orm_row_cache *rc;
    struct rc_tx *t;
    orm_tx *tx;
} table_hit;

static void on_table(const char *name, size_t len, void *ud)
{
    table_hit *th = ud;
    for (size_t i = 0; i < th->rc->n; i++) {
        rc_model *m = th->rc->list[i];
        const char *t = m->model->table;
        if (strlen(t) == len && strncasecmp(t, name, len) == 0) {
            if (th->t)
                orm__rc_tx_model(th->t, th->tx, m);
            else
                orm__rc_drop_model(m);
        }
    }
}

/* The tables the statement writes, read as the db's server reads its literals and comments
 * (its dialect's lexer); where a session may read a backslash in '..' as an escape
 * (backslash_strings: PostgreSQL with standard_conforming_strings off), the tables of both
 * readings. 0, or -1: drop every model. */
static int sql_tables(orm_row_cache *rc, const orm_stmt *st, table_hit *th)
{
    const orm_dialect *d = orm_db_dialect(rc->db);
    unsigned rules = orm__sql_scan_rules(d->lexer);
    int r = orm__rc_sql_tables_by(st->sql, st->sql_len, rules, on_table, th);
    if (d->backslash_strings && st->sql && memchr(st->sql, '\\', st->sql_len) &&
        orm__rc_sql_tables_by(st->sql, st->sql_len, rules | ORM_SCAN_BACKSLASH, on_table, th) != 0)
        r = -1;
    return r;
}

static int on_sql(orm_row_cache *rc, orm_stmt *st)
{
    orm_tx *tx = orm_stmt_tx(st);
    struct rc_tx *t = NULL;
    if (tx && !(t = orm__rc_tx_state(rc, tx)))
        return ORM_ENOMEM;
    int r = orm_stmt_next(st);
    table_hit th = { rc, t, tx };
    if (sql_tables(rc, st, &th) != 0) {
        if (t)
            orm__rc_tx_every(t, tx);
        else
            orm__rc_drop_every(rc);
    }
    return r;
}

/* Write the saved rows of m (NULL: every write-back model) before a statement of st's that
 * could read or overwrite them reaches the database: outside transactions in a transaction
 * of their own; inside one, on its connection as part of it (orm__rc_wb_flush_tx: a second
 * connection would wait for this transaction's locks, and its commit would not belong to
 * this transaction's outcome or be seen by its snapshot). */
static int flush_rows(orm_row_cache *rc, rc_model *m, orm_stmt *st)
{
    orm_tx *tx = orm_stmt_tx(st);
    return tx ? orm__rc_wb_flush_tx(rc, m, tx, st->ctx) : orm__rc_wb_flush(rc, m, 0);
}

/* Before a query, or a raw statement, reaches the database: the saved rows it could read
 * are written first. */
static int flush_before(orm_row_cache *rc, orm_stmt *st)
{
    if (!rc->wb)
        return ORM_OK;
    if (st->model) {
        rc_model *m = orm__rc_find(rc, st->model);
        if (!m || m->o.mode != ORM_ROW_CACHE_WRITE_BACK || !atomic_load_explicit(&m->dirty, memory_order_relaxed))
            return ORM_OK;
        return flush_rows(rc, m, st);
    }
    for (size_t i = 0; i < rc->n; i++)
        if (atomic_load_explicit(&rc->list[i]->dirty, memory_order_relaxed))
            return flush_rows(rc, NULL, st);
    return ORM_OK;
}

static int rc_fn(orm_stmt *st, void *ud)
{
    orm_row_cache *rc = ud;
    const orm_stmt_intent *in = st->intent;
    if (orm__rc_in_flush)
        return orm_stmt_next(st); /* the write-back flush's own statements */
    if (rc->wb && st->kind < ORM_STMT_BEGIN) { /* a query or a write, not BEGIN ... SAVEPOINT */
        /* A transaction's first statement may start its snapshot: from here on the buffer
         * keeps the rows other writers clean for its gets (row_cache_wb.c). */
        orm_tx *tx = orm_stmt_tx(st);
        if (tx && !orm__rc_tx_state(rc, tx))
            return ORM_ENOMEM;
    }
    if (!in) {
        if (rc->wb && (st->kind == ORM_STMT_SELECT || st->kind == ORM_STMT_RAW || st->kind == ORM_STMT_DDL)) {
            int r = flush_before(rc, st);
            if (r != ORM_OK)
                return r;
        }
        if ((st->kind == ORM_STMT_RAW || st->kind == ORM_STMT_DDL) && rc->n)
            return on_sql(rc, st);
        return orm_stmt_next(st);
    }
    if (in->op == ORM_STMT_OP_ROLLBACK_TO && rc->wb) {
        /* Any savepoint rolled back may undo write-back rows its transaction wrote, also
         * through the outer session while it was open (which no savepoint hook sees). */
        int r = orm_stmt_next(st);
        orm_tx *tx = orm_stmt_tx(st);
        if (tx)
            orm__rc_tx_savepoint_undone(rc, tx);
        return r;
    }
    rc_model *m = st->model ? orm__rc_find(rc, st->model) : NULL;
    if (!m || m->o.mode == ORM_ROW_CACHE_OFF)
        return orm_stmt_next(st);
    if (rc->notify_strict && (in->op == ORM_STMT_OP_GET || in->op == ORM_STMT_OP_GET_MANY))
        orm__rc_notify_check(rc); /* row_cache_listen.h strict: the feed first */
    if (in->op == ORM_STMT_OP_GET_MANY && m->o.mode == ORM_ROW_CACHE_WRITE_BACK) {
        int r = flush_before(rc, st);
        if (r != ORM_OK)
            return r;
    }
    switch (in->op) {
    case ORM_STMT_OP_GET: return on_get(rc, m, st);
    case ORM_STMT_OP_GET_MANY: return on_get_many(rc, m, st);
    case ORM_STMT_OP_INSERT_ONE:
    case ORM_STMT_OP_UPDATE_ONE:
    case ORM_STMT_OP_DELETE_ONE:
    case ORM_STMT_OP_INSERT:
    case ORM_STMT_OP_UPSERT:
    case ORM_STMT_OP_UPDATE_WHERE:
    case ORM_STMT_OP_DELETE_WHERE: return on_write(rc, m, st);
    default: return orm_stmt_next(st);
    }
}

/* ---- attach, models, drops, stats ---- */

static void model_free(rc_model *m)
{
    if (!m)
        return;
    orm__free(m->prefix);
    orm__free(m->owned);
    orm__free(m->gkey);
    orm__free(m->ikey);
    orm__free(m);
}

static int collect(char **out, void *ud);

static void rc_free(void *ud)
{
    orm_row_cache *rc = ud;
    orm__rc_notify_free(rc); /* first: the listener drops through the cache */
    if (rc->metrics)
        orm_metrics_remove_collector(rc->metrics, collect, rc);
    orm__rc_wb_free(rc);
    orm_cache_close(rc->loading);
    for (size_t i = 0; i < rc->n; i++)
        model_free(rc->list[i]);
    orm__free(rc->list);
    orm__free(rc->slots);
    orm__free(rc);
}

/* orm_db_close, before anything goes: the write-back rows are written (or reported), then the
 * row cache is freed (its layer, when registered, is never called again: the chain's free
 * callback is NULL). */
static void on_close(void *ud)
{
    orm_row_cache *rc = ud;
    orm__rc_wb_close(rc);
    rc_free(rc);
}

/* The layer joins the chain with the first model that is not OFF: a row cache caching nothing
 * costs the db's statements nothing at all (no layer, the chain's bypass stays). */
static int register_layer(orm_row_cache *rc)
{
    if (rc->registered)
        return ORM_OK;
    orm_middleware mw = ORM_MIDDLEWARE_INIT;
    mw.name = "row_cache";
    mw.fn = rc_fn;
    mw.userdata = rc;
    int r = orm_db_use(rc->db, &mw);
    if (r == ORM_OK)
        rc->registered = 1;
    return r;
}

int orm_row_cache_attach(orm_row_cache **out, orm_db *db, orm_cache *cache, const orm_row_cache_options *opts)
{
    if (out)
        *out = NULL;
    if (!out || !db || !cache) {
        orm_cache_close(cache);
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_attach: NULL %s",
                              !out ? "out" : !db ? "db" : "cache");
    }
    orm_row_cache_options d = ORM_ROW_CACHE_OPTIONS_INIT;
    if (!opts)
        opts = &d;
    if (opts->version != ORM_ROW_CACHE_OPTIONS_VERSION || opts->load_wait_ms < 0 || opts->flush_interval_ms < 0) {
        orm_cache_close(cache);
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_options: unknown version %u or a "
                              "negative time", opts->version);
    }
    if (atomic_load(&orm__db_chain(db)->frozen)) {
        orm_cache_close(cache);
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_attach: the db already ran a "
                              "statement: attach before");
    }
    orm_row_cache *rc = orm__calloc(1, sizeof *rc);
    if (!rc) {
        orm_cache_close(cache);
        return orm__error_nomem("row_cache");
    }
    rc->db = db;
    rc->cache = cache;
    rc->shared = orm__rc_cache_is_shared(cache, &rc->redis);
    rc->rng = (uint64_t)(uintptr_t)rc;
    rc->opts = *opts;
    orm_cache_loading_options lo = ORM_CACHE_LOADING_OPTIONS_INIT;
    lo.loader = loader;
    lo.userdata = rc;
    lo.jitter = 0; /* per model, by the loader */
    lo.wait_timeout_ms = opts->load_wait_ms ? opts->load_wait_ms : 5000;
    int r = orm_cache_loading_new(&rc->loading, cache, &lo);
    if (r != ORM_OK) {
        orm_cache_close(cache);
        orm__free(rc);
        return r;
    }
    if (orm__db_set_close_hook(db, on_close, rc) != ORM_OK) {
        rc_free(rc); /* closes the cache */
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_attach: the db has a row cache already");
    }
    *out = rc;
    return ORM_OK;
}

static int table_put(orm_row_cache *rc, rc_model *m)
{
    if ((rc->n + 1) * 2 > rc->cap) {
        size_t cap = rc->cap ? rc->cap * 2 : 16;
        rc_model **slots = orm__calloc(cap, sizeof *slots);
        if (!slots)
            return orm__error_nomem("row_cache");
        orm__free(rc->slots);
        rc->slots = slots;
        rc->cap = cap;
        for (size_t i = 0; i < rc->n; i++) { /* re-place every model in the new table */
            size_t mask = cap - 1;
            size_t k = (size_t)(((uintptr_t)rc->list[i]->model >> 4) * 0x9E3779B97F4A7C15ull >> 32) & mask;
            while (slots[k])
                k = (k + 1) & mask;
            slots[k] = rc->list[i];
        }
    }
    rc_model **list = orm__realloc(rc->list, (rc->n + 1) * sizeof *list);
    if (!list)
        return orm__error_nomem("row_cache");
    rc->list = list;
    size_t mask = rc->cap - 1;
    size_t k = (size_t)(((uintptr_t)m->model >> 4) * 0x9E3779B97F4A7C15ull >> 32) & mask;
    while (rc->slots[k])
        k = (k + 1) & mask;
    rc->slots[k] = m;
    rc->list[rc->n++] = m;
    return ORM_OK;
}

int orm_row_cache_model(orm_row_cache *rc, const orm_model *model, const orm_row_cache_model_options *opts)
{
    if (!rc || !model)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_model: NULL %s", !rc ? "row cache" : "model");
    orm_row_cache_model_options d = ORM_ROW_CACHE_MODEL_OPTIONS_INIT;
    if (!opts)
        opts = &d;
    if (opts->version != ORM_ROW_CACHE_MODEL_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_model_options: unknown version %u",
                              opts->version);
    if ((unsigned)opts->mode > ORM_ROW_CACHE_WRITE_BACK || opts->ttl_ms < 0 || opts->negative_ttl_ms < 0 ||
        !(opts->jitter >= 0 && opts->jitter <= 1))
        return orm__error_set(ORM_EINVAL, "row_cache", "model %s: unknown mode, a negative TTL, or a jitter "
                              "outside 0..1", model->name ? model->name : "?");
    int r = orm_model_validate(model);
    if (r != ORM_OK)
        return r;
    if (model->npk == 0)
        return orm__error_set(ORM_EINVAL, "row_cache", "model %s: table \"%s\" has no primary key",
                              model->name, model->table);
    if (opts->mode != ORM_ROW_CACHE_OFF && (r = register_layer(rc)) != ORM_OK)
        return r;
    if (opts->mode == ORM_ROW_CACHE_WRITE_BACK && (r = orm__rc_wb_start(rc)) != ORM_OK)
        return r;
    rc_model *m = orm__rc_find(rc, model);
    if (m) {
        if (m->o.mode == ORM_ROW_CACHE_WRITE_BACK && opts->mode != ORM_ROW_CACHE_WRITE_BACK &&
            atomic_load(&m->dirty) && (r = orm__rc_wb_flush(rc, m, 0)) != ORM_OK)
            return r;
        m->o = *opts;
        orm__rc_drop_model(m); /* what was cached under the old options goes */
        return ORM_OK;
    }
    m = orm__calloc(1, sizeof *m);
    size_t tl = strlen(model->table);
    size_t pn = put_escaped(NULL, 0, 0, model->table, tl);
    if (m) /* at least RC_PREFIX_FAST bytes, zeroed past the prefix (orm__rc_key copies as many) */
        m->prefix = orm__calloc(1, pn + 2 > RC_PREFIX_FAST ? pn + 2 : RC_PREFIX_FAST);
    if (!m || !m->prefix) {
        model_free(m);
        return orm__error_nomem("row_cache");
    }
    put_escaped(m->prefix, pn + 2, 0, model->table, tl);
    m->prefix[pn] = ':';
    m->prefix[pn + 1] = '\0';
    m->prefix_len = pn + 1;
    m->model = model;
    m->rc = rc;
    m->o = *opts;
    m->inline_cap = 0;
    m->owned = orm__malloc(model->nfields * sizeof *m->owned);
    if (!m->owned) {
        model_free(m);
        return orm__error_nomem("row_cache");
    }
    for (size_t i = 0; i < model->nfields; i++)
        if (model->fields[i].type == ORM_FIELD_TEXT || model->fields[i].type == ORM_FIELD_BLOB)
            m->owned[m->nowned++] = i;
    if (m->nowned)
        m->inline_cap = RC_INLINE;
    m->type.obj_size = RC_ROW_OFF + model->struct_size + m->inline_cap;
    m->type.copy = value_copy;
    m->type.clear = value_clear;
    m->type.size = value_size;
    m->type.userdata = m;
    if ((r = orm__rc_shared_type(m)) != ORM_OK || (rc->shared && (r = orm__rc_shared_keys(m)) != ORM_OK) ||
        (r = table_put(rc, m)) != ORM_OK) {
        model_free(m);
        return r;
    }
    /* last: the Redis level keeps a pointer to the type (a failure, past 256 types, leaves
     * the model configured but off) */
    if (rc->shared && (r = orm__rc_shared_register(m)) != ORM_OK)
        m->o.mode = ORM_ROW_CACHE_OFF;
    return r;
}

static rc_model *configured(orm_row_cache *rc, const orm_model *model, const char *fn)
{
    rc_model *m = rc && model ? orm__rc_find(rc, model) : NULL;
    if (!m)
        orm__error_set(ORM_EINVAL, "row_cache", "%s: %s", fn,
                       !rc || !model ? "NULL argument" : "the row cache does not cache this model");
    return m;
}

int orm_row_cache_drop_row(orm_row_cache *rc, const orm_model *model, const orm_value *key)
{
    rc_model *m = configured(rc, model, "orm_row_cache_drop_row");
    if (!m)
        return ORM_EINVAL;
    if (!key)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_drop_row: NULL key");
    char kb[KEY_STACK];
    char *k = key_of(kb, m, key, NULL);
    if (!k)
        return orm__error_nomem("row_cache");
    orm__rc_drop_key(m, k);
    key_done(k, kb);
    return ORM_OK;
}

int orm_row_cache_drop_model(orm_row_cache *rc, const orm_model *model)
{
    rc_model *m = configured(rc, model, "orm_row_cache_drop_model");
    if (!m)
        return ORM_EINVAL;
    orm__rc_drop_model(m);
    return ORM_OK;
}

int orm_row_cache_drop_all(orm_row_cache *rc)
{
    if (!rc)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_drop_all: NULL row cache");
    orm__rc_drop_every(rc);
    return ORM_OK;
}

int orm_row_cache_stats_get(orm_row_cache *rc, const orm_model *model, orm_row_cache_stats *out)
{
    rc_model *m = configured(rc, model, "orm_row_cache_stats_get");
    if (!m)
        return ORM_EINVAL;
    if (!out)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_stats_get: NULL out");
    out->hits = atomic_load(&m->hits);
    out->misses = atomic_load(&m->misses);
    out->loads = atomic_load(&m->loads);
    out->load_time_ns = atomic_load(&m->load_ns);
    out->invalidations = atomic_load(&m->invalidations);
    out->dirty = atomic_load(&m->dirty);
    out->flushes = atomic_load(&m->flushes);
    out->flush_failures = atomic_load(&m->flush_failures);
    return ORM_OK;
}

int orm_row_cache_flush(orm_row_cache *rc)
{
    if (!rc)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_flush: NULL row cache");
    return orm__rc_wb_flush(rc, NULL, 0);
}

/* ---- Prometheus ---- */

static void series(orm__sbuf *b, orm_row_cache *rc, const char *name, const char *help, int which)
{
    orm__sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, which == 5 ? "gauge" : "counter");
    for (size_t i = 0; i < rc->n; i++) {
        rc_model *m = rc->list[i];
        if (m->o.mode == ORM_ROW_CACHE_OFF)
            continue;
        orm__sbuf_printf(b, "%s{model=\"", name);
        for (const char *p = m->model->table; *p; p++) {
            if (*p == '\\' || *p == '"')
                orm__sbuf_add(b, "\\", 1);
            orm__sbuf_add(b, p, 1);
        }
        switch (which) {
        case 0: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->hits)); break;
        case 1: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->misses)); break;
        case 2: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->loads)); break;
        case 3: orm__sbuf_printf(b, "\"} %.9f\n", (double)atomic_load(&m->load_ns) / 1e9); break;
        case 4: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->invalidations)); break;
        case 5: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->dirty)); break;
        case 6: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->flushes)); break;
        default: orm__sbuf_printf(b, "\"} %llu\n", (unsigned long long)atomic_load(&m->flush_failures)); break;
        }
    }
}

static int collect(char **out, void *ud)
{
    orm_row_cache *rc = ud;
    orm__sbuf b = { 0 };
    series(&b, rc, "orm_row_cache_hits_total", "Reads by key answered by the row cache.", 0);
    series(&b, rc, "orm_row_cache_misses_total", "Reads by key that went to the database.", 1);
    series(&b, rc, "orm_row_cache_loads_total", "Database reads that could fill the row cache.", 2);
    series(&b, rc, "orm_row_cache_load_seconds_total", "Time spent in those.", 3);
    series(&b, rc, "orm_row_cache_invalidations_total", "Rows and whole models dropped.", 4);
    series(&b, rc, "orm_row_cache_dirty_rows", "Write-back rows saved and not yet written.", 5);
    series(&b, rc, "orm_row_cache_flushes_total", "Write-back batches written.", 6);
    series(&b, rc, "orm_row_cache_flush_failures_total", "Write-back batches that failed.", 7);
    if (b.failed) {
        orm__sbuf_free(&b);
        return orm__error_nomem("row_cache");
    }
    *out = b.p;
    return ORM_OK;
}

int orm_row_cache_metrics(orm_row_cache *rc, orm_metrics *m)
{
    if (!rc || !m)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_metrics: NULL argument");
    if (rc->metrics)
        return orm__error_set(ORM_EINVAL, "row_cache", "orm_row_cache_metrics: already added to a metrics object");
    int r = orm_metrics_add_collector(m, collect, rc);
    if (r == ORM_OK)
        rc->metrics = m;
    return r;
}
