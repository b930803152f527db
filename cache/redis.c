/* The Redis backend: every orm_cache operation over a pooled hiredis connection. A get is a
 * GET (with PTTL when the caller wants the entry's meta); every write and compound operation
 * is one Lua script run by EVALSHA (redis_conn.c), which also bumps the key's generation, so
 * set-if-generation is atomic across every process sharing the prefix.
 *
 * Wire format of a value (the Redis string under prefix + key):
 *   counter   its decimal digits (what INCRBY reads and writes)
 *   bytes     0xB0, the TTL stored with (8 bytes LE, ms), the bytes
 *   object    0xB1, the TTL, the type's fingerprint (8 bytes LE), the type's encoding
 * Anything else under the prefix (written by another client) reads as bytes, as it is.
 * Generations live in one hash outside the prefix ("\x01orm:" prefix "gens"): field "e" is
 * an epoch bumped by clear, fields "0".."4095" count the writes of the keys of each stripe;
 * orm_cache_gen is (e << 40 | stripe count) + 1, so never 0, which is "could not be read".
 *
 * Kept true: Redis failing (down, slow, restarting, an error reply) never fails a get or a set:
 * the get is a miss and the set is dropped, both counted (redis_conn.c logs the state change);
 * an object is returned only decoded by a registered type of the fingerprint it was stored
 * with; no lock is held while talking to Redis. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "cache/redis_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

#define TAG_BYTES 0xB0
#define TAG_OBJ 0xB1
#define GEN_STRIPES 4096
#define GEN_MASK ((UINT64_C(1) << 40) - 1)
#define MAX_LISTENERS 8
#define CLEAR_BATCH 200

typedef struct rcache {
    orm_cache base;
    orm__redis_pool pool;
    char *prefix;
    size_t plen;
    char *gens;  /* the generations hash's name */
    char *lease; /* "\x01orm:" prefix "lease:" */
    pthread_mutex_t types_mu;
    const orm_cache_type *types[ORM__REDIS_MAX_TYPES];
    atomic_uint ntypes;
    atomic_ullong hits, misses, stale_reads;
    orm_cache_listener_cb cbs[MAX_LISTENERS];
    void *uds[MAX_LISTENERS];
    int nl;
} rcache;

/* ---- keys ---- */

typedef struct kbuf {
    char small[256];
    char *p;
    size_t len;
} kbuf;

static int check_key(const char *key, const char *fn)
{
    size_t n = key ? strlen(key) : 0;
    if (!n || n > ORM__CACHE_KEY_MAX)
        return orm__error_set(ORM_EINVAL, "cache", "%s: a key is 1 to %u bytes", fn, ORM__CACHE_KEY_MAX);
    return ORM_OK;
}

/* prefix + key, in k (which the caller frees with kfree). */
static int kmake(kbuf *k, const char *pre, size_t plen, const char *key)
{
    size_t n = strlen(key);
    k->len = plen + n;
    k->p = k->len < sizeof k->small ? k->small : orm__malloc(k->len + 1);
    if (!k->p)
        return orm__error_nomem("cache");
    memcpy(k->p, pre, plen);
    memcpy(k->p + plen, key, n + 1);
    return ORM_OK;
}

static void kfree(kbuf *k)
{
    if (k->p != k->small)
        orm__free(k->p);
}

static unsigned stripe_of(const char *key) { return (unsigned)(orm__cache_hash(key, strlen(key)) % GEN_STRIPES); }

/* ---- values ---- */

/* The wire form of v (malloc'd in *out, *len bytes). */
static int encode_value(orm_cache_ref *v, int64_t ttl, char **out, size_t *len)
{
    int64_t n;
    if (orm_cache_ref_int(v, &n)) {
        char *s = orm__malloc(24);
        if (!s)
            return orm__error_nomem("cache");
        *len = (size_t)snprintf(s, 24, "%" PRId64, n);
        *out = s;
        return ORM_OK;
    }
    const orm_cache_type *t = orm_cache_ref_type(v);
    size_t body = 0, head = t ? 17 : 9;
    if (!t)
        body = orm_cache_ref_size(v);
    else {
        if (!t->encode || !t->fingerprint)
            return orm__error_set(ORM_EUNSUPPORTED, "cache",
                                  "redis cache: this object's orm_cache_type has no encode/fingerprint "
                                  "(see orm_cache_type_from_model)");
        int rc = t->encode(orm_cache_ref_data(v), NULL, 0, &body, t->userdata);
        if (rc)
            return rc;
    }
    unsigned char *s = orm__malloc(head + body + 1);
    if (!s)
        return orm__error_nomem("cache");
    s[0] = t ? TAG_OBJ : TAG_BYTES;
    orm__cache_put_le64(s + 1, (uint64_t)ttl);
    if (!t) {
        if (body)
            memcpy(s + 9, orm_cache_ref_data(v), body);
    } else {
        orm__cache_put_le64(s + 9, t->fingerprint(t->userdata));
        size_t got = 0;
        int rc = t->encode(orm_cache_ref_data(v), s + 17, body, &got, t->userdata);
        if (rc || got != body) {
            orm__free(s);
            return rc ? rc : orm__error_set(ORM_ERROR, "cache", "orm_cache_type encode changed its size");
        }
    }
    *out = (char *)s;
    *len = head + body;
    return ORM_OK;
}

static const orm_cache_type *find_type(rcache *R, uint64_t fp)
{
    unsigned n = atomic_load_explicit(&R->ntypes, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (R->types[i]->fingerprint(R->types[i]->userdata) == fp)
            return R->types[i];
    return NULL;
}

static int strict_int(const char *s, size_t n, int64_t *out)
{
    if (!n || n > 20)
        return 0;
    char buf[24];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* A value from its wire form. ORM_ENOTFOUND (counted in stale_reads) for an object of no
 * registered fingerprint or one its type cannot decode. *ttl: the TTL stored with (0 unknown). */
static int decode_value(rcache *R, const char *s, size_t n, orm_cache_ref **out, int64_t *ttl)
{
    const unsigned char *u = (const unsigned char *)s;
    int64_t iv;
    *ttl = 0;
    if (n >= 9 && u[0] == TAG_BYTES) {
        *ttl = (int64_t)orm__cache_get_le64(u + 1);
        return orm_cache_ref_new_bytes(out, s + 9, n - 9);
    }
    if (n >= 17 && u[0] == TAG_OBJ) {
        *ttl = (int64_t)orm__cache_get_le64(u + 1);
        const orm_cache_type *t = find_type(R, orm__cache_get_le64(u + 9));
        if (!t) {
            atomic_fetch_add(&R->stale_reads, 1);
            return orm__error_set(ORM_ENOTFOUND, "cache",
                                  "redis cache: an entry of another type fingerprint (an older or newer model) read "
                                  "as a miss");
        }
        orm_cache_ref *r = orm__malloc(sizeof *r + t->obj_size);
        if (!r)
            return orm__error_nomem("cache");
        atomic_init(&r->refs, 1);
        r->kind = ORM__REF_OBJ;
        r->u.type = t;
        memset(r->data, 0, t->obj_size);
        int rc = t->decode(r->data, u + 17, n - 17, t->userdata);
        if (rc) {
            orm__free(r);
            if (rc == ORM_ENOMEM)
                return rc;
            atomic_fetch_add(&R->stale_reads, 1);
            return orm__error_set(ORM_ENOTFOUND, "cache", "redis cache: an undecodable entry read as a miss (%s)",
                                  orm_error_last()->message);
        }
        *out = r;
        return ORM_OK;
    }
    if (strict_int(s, n, &iv))
        return orm_cache_ref_new_int(out, iv);
    return orm_cache_ref_new_bytes(out, s, n);
}

/* ---- plumbing ---- */

static int bypassed(rcache *R, const char *key)
{
    orm__redis_bypass(&R->pool);
    return orm__error_set(ORM_ENOTFOUND, "cache", "'%.64s': Redis %s is not answering (bypassed)", key ? key : "",
                          R->pool.where);
}

/* Finish with a reply: NULL reply means the connection broke. */
static void done(rcache *R, redisContext *ctx, redisReply *r)
{
    orm__redis_release(&R->pool, ctx, r == NULL);
    if (r)
        freeReplyObject(r);
}

/* Finish with a failed command (ctx may be NULL): an error reply means Redis answered (the
 * connection goes back); no reply or an unexpected one, that the connection is broken. The
 * reply is freed after its type was read. */
static void failed(rcache *R, redisContext *ctx, redisReply *r)
{
    int answered = r && r->type == REDIS_REPLY_ERROR;
    if (ctx)
        orm__redis_release(&R->pool, ctx, !answered);
    if (r)
        freeReplyObject(r);
}

static void notify(rcache *R, const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why)
{
    for (int i = 0; i < R->nl; i++)
        R->cbs[i](key, old, nv, why, R->uds[i]);
}

/* A listener event with the old value in wire form (skipped when it does not decode). */
static void notify_wire(rcache *R, const char *key, const redisReply *old, orm_cache_ref *nv, orm_cache_reason why)
{
    if (!R->nl || !old || old->type != REDIS_REPLY_STRING)
        return;
    orm_cache_ref *o = NULL;
    int64_t ttl;
    if (decode_value(R, old->str, old->len, &o, &ttl) == ORM_OK) {
        notify(R, key, o, nv, why);
        orm_cache_ref_release(o);
    }
}

/* ---- ops ---- */

static int r_get(orm_cache *c, const char *key, orm_cache_ref **out, orm_cache_meta *meta)
{
    rcache *R = (rcache *)c;
    *out = NULL;
    int rc = check_key(key, "orm_cache_get");
    if (rc)
        return rc;
    kbuf k;
    if ((rc = kmake(&k, R->prefix, R->plen, key)))
        return rc;
    redisContext *ctx = orm__redis_acquire(&R->pool);
    if (!ctx) {
        kfree(&k);
        atomic_fetch_add(&R->misses, 1);
        return bypassed(R, key);
    }
    const char *a[2] = { meta ? "PTTL" : "GET", k.p };
    size_t l[2] = { meta ? 4u : 3u, k.len };
    redisReply *r = NULL, *pt = NULL;
    if (meta) {
        const char *g[2] = { "GET", k.p };
        size_t gl[2] = { 3, k.len };
        if (redisAppendCommandArgv(ctx, 2, g, gl) == REDIS_OK && redisAppendCommandArgv(ctx, 2, a, l) == REDIS_OK &&
            redisGetReply(ctx, (void **)&r) == REDIS_OK && redisGetReply(ctx, (void **)&pt) == REDIS_OK) {
        } else {
            if (r)
                freeReplyObject(r);
            r = NULL;
        }
    } else
        r = orm__redis_run(ctx, 2, a, l);
    kfree(&k);
    int64_t pttl = pt && pt->type == REDIS_REPLY_INTEGER ? (int64_t)pt->integer : -1;
    if (pt)
        freeReplyObject(pt);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        done(R, ctx, r);
        atomic_fetch_add(&R->misses, 1);
        return bypassed(R, key);
    }
    if (r->type != REDIS_REPLY_STRING) {
        done(R, ctx, r);
        atomic_fetch_add(&R->misses, 1);
        return orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s'", key);
    }
    int64_t ttl;
    rc = decode_value(R, r->str, r->len, out, &ttl);
    done(R, ctx, r);
    atomic_fetch_add(rc ? &R->misses : &R->hits, 1);
    if (rc == ORM_OK && meta) {
        int64_t now = orm__redis_now_ms();
        meta->now_ms = now;
        meta->expires_ms = pttl > 0 ? now + pttl : 0;
        meta->ttl_ms = pttl > 0 ? (ttl > 0 ? ttl : pttl) : 0;
    }
    return rc;
}

/* Several keys in one round trip (MGET): out[i] the value at keys[i], decoded, or NULL. ORM_OK,
 * or ORM_ENOTFOUND (every out[i] NULL) when Redis is bypassed. */
int orm__redis_mget(orm_cache *c, const char *const *keys, size_t n, orm_cache_ref **out)
{
    rcache *R = (rcache *)c;
    enum { MAXK = 4 };
    kbuf k[MAXK];
    const char *a[MAXK + 1] = { "MGET" };
    size_t l[MAXK + 1] = { 4 };
    size_t made = 0;
    int rc = n && n <= MAXK ? ORM_OK : orm__error_set(ORM_EINVAL, "cache", "orm__redis_mget: 1 to %d keys", MAXK);
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (; rc == ORM_OK && made < n; made++) {
        if ((rc = check_key(keys[made], "orm_cache_get")) || (rc = kmake(&k[made], R->prefix, R->plen, keys[made])))
            break;
        a[made + 1] = k[made].p;
        l[made + 1] = k[made].len;
    }
    redisContext *ctx = rc == ORM_OK ? orm__redis_acquire(&R->pool) : NULL;
    redisReply *r = ctx ? orm__redis_run(ctx, (int)n + 1, a, l) : NULL;
    for (size_t i = 0; i < made; i++)
        kfree(&k[i]);
    if (rc)
        return rc;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        failed(R, ctx, r);
        atomic_fetch_add(&R->misses, n);
        return bypassed(R, keys[n - 1]);
    }
    for (size_t i = 0; i < n && rc != ORM_ENOMEM; i++) {
        const redisReply *e = r->element[i];
        int64_t ttl;
        int got = e->type == REDIS_REPLY_STRING ? decode_value(R, e->str, e->len, &out[i], &ttl) : ORM_ENOTFOUND;
        atomic_fetch_add(got ? &R->misses : &R->hits, 1);
        if (got == ORM_ENOMEM)
            rc = got;
    }
    done(R, ctx, r);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            orm_cache_ref_release(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

/* The set script: op 's', 'g' (with gen) or 'l'. *reply: the script's reply for the caller
 * (freed by it), NULL when bypassed. */
static int run_set(rcache *R, const char *key, orm_cache_ref *v, int64_t ttl, char op, uint64_t gen,
                   redisReply **reply, const char *fn)
{
    *reply = NULL;
    int rc = check_key(key, fn);
    if (rc)
        return rc;
    if (!v || ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "%s: NULL value or negative TTL", fn);
    if (op == 'g' && gen == 0) {
        /* The generation was not read (Redis was unreachable): nothing to compare with, so it
         * never stores. Still answered as every call is: dropped (ORM_OK) while Redis is
         * down, ORM_EBUSY when it is up. */
        redisContext *ctx = orm__redis_acquire(&R->pool);
        if (!ctx) {
            orm__redis_bypass(&R->pool);
            return ORM_OK;
        }
        orm__redis_release(&R->pool, ctx, 0);
        return orm__error_set(ORM_EBUSY, "cache", "%s: '%.64s': no generation was read", fn, key);
    }
    char *wire = NULL;
    size_t wlen = 0;
    if ((rc = encode_value(v, ttl, &wire, &wlen)))
        return rc;
    kbuf k;
    if ((rc = kmake(&k, R->prefix, R->plen, key))) {
        orm__free(wire);
        return rc;
    }
    char st[12], ttls[24], es[24], ss[24], opc[2] = { op, 0 };
    snprintf(st, sizeof st, "%u", stripe_of(key));
    snprintf(ttls, sizeof ttls, "%" PRId64, ttl);
    uint64_t g = gen ? gen - 1 : 0; /* r_gen's encoding (for 'g', 0 was answered above) */
    snprintf(es, sizeof es, "%" PRIu64, g >> 40);
    snprintf(ss, sizeof ss, "%" PRIu64, g & GEN_MASK);
    const char *a[9] = { k.p, R->gens, opc, st, wire, ttls, es, ss, R->nl ? "1" : "0" };
    size_t l[9] = { k.len, strlen(R->gens), 1, strlen(st), wlen, strlen(ttls), strlen(es), strlen(ss), 1 };
    redisContext *ctx = orm__redis_acquire(&R->pool);
    redisReply *r = ctx ? orm__redis_eval(&R->pool, ctx, ORM__RS_SET, 2, 9, a, l) : NULL;
    kfree(&k);
    orm__free(wire);
    /* An overwrite that did not reach Redis leaves the old value there: it is remembered and
     * dropped before Redis is read again. A load (set-if-generation, load-or-store) that did
     * not land leaves nothing wrong behind. */
    if (!ctx) {
        if (op == 's')
            orm__redis_remember(&R->pool, key);
        orm__redis_bypass(&R->pool);
        return ORM_OK;
    }
    if (!r || r->type != REDIS_REPLY_ARRAY || !r->elements || r->element[0]->type != REDIS_REPLY_INTEGER) {
        if (op == 's')
            orm__redis_remember(&R->pool, key); /* before the release: no caller reads Redis in between */
        failed(R, ctx, r);
        orm__redis_bypass(&R->pool);
        return ORM_OK;
    }
    orm__redis_release(&R->pool, ctx, 0);
    *reply = r;
    return ORM_OK;
}

static int r_set(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl)
{
    rcache *R = (rcache *)c;
    redisReply *r;
    int rc = run_set(R, key, v, ttl, 's', 0, &r, "orm_cache_set");
    if (r) {
        if (r->elements > 1)
            notify_wire(R, key, r->element[1], v, ORM_CACHE_REPLACED);
        freeReplyObject(r);
    }
    return rc;
}

static int r_set_if_gen(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, uint64_t gen)
{
    rcache *R = (rcache *)c;
    redisReply *r;
    int rc = run_set(R, key, v, ttl, 'g', gen, &r, "orm_cache_set_if_gen");
    if (r) {
        if (r->element[0]->integer < 0)
            rc = orm__error_set(ORM_EBUSY, "cache", "'%.64s' was written since generation %" PRIu64, key, gen);
        else if (r->elements > 1)
            notify_wire(R, key, r->element[1], v, ORM_CACHE_REPLACED);
        freeReplyObject(r);
    }
    return rc;
}

static int r_load_or_store(orm_cache *c, const char *key, orm_cache_ref *v, int64_t ttl, orm_cache_ref **out,
                           int *loaded)
{
    rcache *R = (rcache *)c;
    redisReply *r;
    *out = NULL;
    int rc = run_set(R, key, v, ttl, 'l', 0, &r, "orm_cache_load_or_store");
    if (rc)
        return rc;
    if (r && r->element[0]->integer == 1 && r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING) {
        int64_t t;
        rc = decode_value(R, r->element[1]->str, r->element[1]->len, out, &t);
        freeReplyObject(r);
        if (rc == ORM_OK) {
            if (loaded)
                *loaded = 1;
            return ORM_OK;
        }
        if (rc != ORM_ENOTFOUND)
            return rc;
        /* an entry this process cannot read (another fingerprint): replace it */
        if ((rc = run_set(R, key, v, ttl, 's', 0, &r, "orm_cache_load_or_store")))
            return rc;
    }
    if (r)
        freeReplyObject(r);
    *out = orm_cache_ref_retain(v);
    if (loaded)
        *loaded = 0;
    return ORM_OK;
}

/* The delete script; want: return the old value in *reply. */
static int run_del(rcache *R, const char *key, int want, redisReply **reply, const char *fn)
{
    *reply = NULL;
    int rc = check_key(key, fn);
    if (rc)
        return rc;
    kbuf k;
    if ((rc = kmake(&k, R->prefix, R->plen, key)))
        return rc;
    char st[12];
    snprintf(st, sizeof st, "%u", stripe_of(key));
    const char *a[4] = { k.p, R->gens, st, want ? "1" : "0" };
    size_t l[4] = { k.len, strlen(R->gens), strlen(st), 1 };
    redisContext *ctx = orm__redis_acquire(&R->pool);
    redisReply *r = ctx ? orm__redis_eval(&R->pool, ctx, ORM__RS_DEL, 2, 4, a, l) : NULL;
    kfree(&k);
    if (!ctx || !r || r->type != REDIS_REPLY_ARRAY || !r->elements) {
        /* the old value may still be in Redis: drop it before Redis is read again (remembered
         * before the release, so no caller reads Redis in between) */
        orm__redis_remember(&R->pool, key);
        failed(R, ctx, r);
        return bypassed(R, key);
    }
    orm__redis_release(&R->pool, ctx, 0);
    if (r->element[0]->integer == 0) {
        freeReplyObject(r);
        return orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s'", key);
    }
    *reply = r;
    return ORM_OK;
}

static int r_del(orm_cache *c, const char *key)
{
    rcache *R = (rcache *)c;
    redisReply *r;
    int rc = run_del(R, key, R->nl > 0, &r, "orm_cache_delete");
    if (r) {
        if (r->elements > 1)
            notify_wire(R, key, r->element[1], NULL, ORM_CACHE_DELETED);
        freeReplyObject(r);
    }
    return rc;
}

static int r_load_and_delete(orm_cache *c, const char *key, orm_cache_ref **out)
{
    rcache *R = (rcache *)c;
    redisReply *r;
    *out = NULL;
    int rc = run_del(R, key, 1, &r, "orm_cache_load_and_delete");
    if (rc)
        return rc;
    int64_t t;
    rc = r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING
             ? decode_value(R, r->element[1]->str, r->element[1]->len, out, &t)
             : orm__error_set(ORM_ENOTFOUND, "cache", "no value for '%.64s'", key);
    freeReplyObject(r);
    if (rc == ORM_OK)
        notify(R, key, *out, NULL, ORM_CACHE_DELETED);
    return rc;
}

/* A counter from a reply: an integer, or its decimal string (the incr script's). 1 when read. */
static int reply_i64(const redisReply *e, int64_t *out)
{
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = (int64_t)e->integer;
        return 1;
    }
    if (e->type != REDIS_REPLY_STRING || !e->len || e->len > 20)
        return 0;
    char buf[24], *end;
    memcpy(buf, e->str, e->len);
    buf[e->len] = 0;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int r_incr(orm_cache *c, const char *key, int64_t delta, int64_t ttl, int64_t *out)
{
    rcache *R = (rcache *)c;
    int rc = check_key(key, "orm_cache_incr");
    if (rc)
        return rc;
    if (ttl < 0)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_incr: negative TTL");
    kbuf k;
    if ((rc = kmake(&k, R->prefix, R->plen, key)))
        return rc;
    char st[12], ds[24], ts[24];
    snprintf(st, sizeof st, "%u", stripe_of(key));
    snprintf(ds, sizeof ds, "%" PRId64, delta);
    snprintf(ts, sizeof ts, "%" PRId64, ttl);
    const char *a[5] = { k.p, R->gens, st, ds, ts };
    size_t l[5] = { k.len, strlen(R->gens), strlen(st), strlen(ds), strlen(ts) };
    redisContext *ctx = orm__redis_acquire(&R->pool);
    redisReply *r = ctx ? orm__redis_eval(&R->pool, ctx, ORM__RS_INCR, 2, 5, a, l) : NULL;
    kfree(&k);
    if (!ctx || !r) {
        if (ctx)
            done(R, ctx, NULL);
        orm__redis_bypass(&R->pool);
        return orm__error_set(ORM_ECONN, "cache", "incr '%.64s': Redis %s is not answering", key, R->pool.where);
    }
    orm__redis_release(&R->pool, ctx, 0);
    if (r->type == REDIS_REPLY_ERROR) {
        rc = orm__error_set(ORM_EINVAL, "cache", "incr '%.64s': %s", key,
                            strstr(r->str, "ORMNOTCOUNTER") ? "the key holds a value that is not a counter" : r->str);
        freeReplyObject(r);
        return rc;
    }
    int64_t n = 0;
    if (r->type != REDIS_REPLY_ARRAY || !r->elements || !reply_i64(r->element[0], &n)) {
        freeReplyObject(r);
        return orm__error_set(ORM_ECONN, "cache", "incr '%.64s': unexpected reply from Redis", key);
    }
    if (out)
        *out = n;
    if (R->nl && r->elements > 1) {
        orm_cache_ref *nv = NULL;
        if (orm_cache_ref_new_int(&nv, n) == ORM_OK)
            notify_wire(R, key, r->element[1], nv, ORM_CACHE_REPLACED);
        orm_cache_ref_release(nv);
    }
    freeReplyObject(r);
    return ORM_OK;
}

/* A glob pattern matching exactly the keys that start with prefix. */
static char *glob_prefix(const char *prefix, size_t plen)
{
    char *g = orm__malloc(plen * 2 + 2);
    if (!g)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < plen; i++) {
        if (strchr("*?[]\\", prefix[i]))
            g[o++] = '\\';
        g[o++] = prefix[i];
    }
    g[o++] = '*';
    g[o] = 0;
    return g;
}

static int bump_epoch(rcache *R, redisContext *ctx)
{
    const char *a[4] = { "HINCRBY", R->gens, "e", "1" };
    redisReply *r = orm__redis_run(ctx, 4, a, NULL);
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Remove keys[0..n) (wire names), reporting each removal to the listeners. */
static int clear_batch(rcache *R, redisContext *ctx, const char **keys, const size_t *lens, size_t n,
                       int notify_them)
{
    const char **a = orm__malloc((n + 1) * sizeof *a);
    size_t *l = orm__malloc((n + 1) * sizeof *l);
    if (!a || !l) {
        orm__free(a);
        orm__free(l);
        return -1;
    }
    a[0] = notify_them ? "1" : "0";
    l[0] = 1;
    memcpy(a + 1, keys, n * sizeof *a);
    memcpy(l + 1, lens, n * sizeof *l);
    redisReply *r = orm__redis_eval(&R->pool, ctx, ORM__RS_CLEAR, 0, (int)n + 1, a, l);
    orm__free(a);
    orm__free(l);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *kr = r->element[i];
        if (kr->type == REDIS_REPLY_STRING && kr->len >= R->plen)
            notify_wire(R, kr->str + R->plen, r->element[i + 1], NULL, ORM_CACHE_CLEARED);
    }
    freeReplyObject(r);
    return 0;
}

static int clear_on(rcache *R, redisContext *ctx, const char *glob, int notify_them);

static int r_clear(orm_cache *c)
{
    rcache *R = (rcache *)c;
    char *glob = glob_prefix(R->prefix, R->plen);
    if (!glob)
        return orm__error_nomem("cache");
    redisContext *ctx = orm__redis_acquire(&R->pool);
    if (!ctx) {
        orm__free(glob);
        orm__redis_remember(&R->pool, NULL); /* replayed before Redis is read again */
        orm__redis_bypass(&R->pool);
        return orm__error_set(ORM_ECONN, "cache", "clear: Redis %s is not answering (the clear is done when it is back)",
                              R->pool.where);
    }
    int fail = clear_on(R, ctx, glob, R->nl > 0);
    orm__free(glob);
    if (fail)
        orm__redis_remember(&R->pool, NULL);
    orm__redis_release(&R->pool, ctx, fail);
    if (fail)
        return orm__error_set(ORM_ECONN, "cache", "clear: Redis %s failed midway (the clear is done when it is back)",
                              R->pool.where);
    return ORM_OK;
}

/* The clear itself on ctx: the epoch bumped, every key under the prefix (glob) removed by the
 * clear script in batches, the epoch bumped again. notify: report removals to the listeners.
 * 0, or -1 when Redis failed. */
static int clear_on(rcache *R, redisContext *ctx, const char *glob, int notify_them)
{
    int fail = bump_epoch(R, ctx);
    char cursor[32] = "0";
    do {
        const char *a[6] = { "SCAN", cursor, "MATCH", glob, "COUNT", "1000" };
        redisReply *r = fail ? NULL : orm__redis_run(ctx, 6, a, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING) {
            if (r)
                freeReplyObject(r);
            fail = 1;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *ks = r->element[1];
        const char *keys[CLEAR_BATCH];
        size_t lens[CLEAR_BATCH], n = 0;
        for (size_t i = 0; i < ks->elements && !fail; i++) {
            const redisReply *kr = ks->element[i];
            if (kr->type != REDIS_REPLY_STRING || (kr->len >= 5 && memcmp(kr->str, "\x01orm:", 5) == 0))
                continue; /* our own bookkeeping, when the prefix is empty */
            keys[n] = kr->str;
            lens[n++] = kr->len;
            if (n == CLEAR_BATCH) {
                fail = clear_batch(R, ctx, keys, lens, n, notify_them);
                n = 0;
            }
        }
        if (n && !fail)
            fail = clear_batch(R, ctx, keys, lens, n, notify_them);
        freeReplyObject(r);
    } while (!fail && strcmp(cursor, "0") != 0);
    if (!fail)
        fail = bump_epoch(R, ctx);
    return fail;
}

/* The pool's replay of the drops remembered while Redis was unreachable (orm__redis_replay_fn):
 * the clear first when one is remembered, then the keys, CLEAR_BATCH at a time, each batch
 * deleted and its keys' generation stripes bumped by one script (atomic: a load that read the
 * database before the write that failed cannot install what it read). */
static int replay_drops(void *ud, redisContext *ctx, char *const *keys, size_t n, int clear)
{
    rcache *R = ud;
    if (clear) {
        char *glob = glob_prefix(R->prefix, R->plen);
        int fail = !glob || clear_on(R, ctx, glob, 0);
        orm__free(glob);
        if (fail)
            return -1;
    }
    const char *a[2 * CLEAR_BATCH + 1];
    size_t l[2 * CLEAR_BATCH + 1];
    kbuf *wire = orm__malloc(CLEAR_BATCH * sizeof *wire); /* 200 wire names: off the stack */
    char st[CLEAR_BATCH][12];
    if (!wire)
        return -1;
    for (size_t i = 0; i < n;) {
        size_t b = 0;
        int fail = 0;
        a[0] = R->gens;
        l[0] = strlen(R->gens);
        for (; b < CLEAR_BATCH && i < n; b++, i++) {
            if (kmake(&wire[b], R->prefix, R->plen, keys[i]) != ORM_OK) {
                fail = 1;
                break;
            }
            snprintf(st[b], sizeof st[b], "%u", stripe_of(keys[i]));
            a[1 + 2 * b] = wire[b].p;
            l[1 + 2 * b] = wire[b].len;
            a[2 + 2 * b] = st[b];
            l[2 + 2 * b] = strlen(st[b]);
        }
        redisReply *r = fail ? NULL : orm__redis_eval(&R->pool, ctx, ORM__RS_DROP, 1, (int)(1 + 2 * b), a, l);
        for (size_t j = 0; j < b; j++)
            kfree(&wire[j]);
        int ok = r && r->type == REDIS_REPLY_INTEGER;
        if (r)
            freeReplyObject(r);
        if (!ok) {
            orm__free(wire);
            return -1;
        }
    }
    orm__free(wire);
    return 0;
}

static int r_stats(orm_cache *c, orm_cache_stats *out)
{
    rcache *R = (rcache *)c;
    memset(out, 0, sizeof *out);
    out->hits = atomic_load(&R->hits);
    out->misses = atomic_load(&R->misses);
    return ORM_OK;
}

static int r_flush(orm_cache *c) { return ORM_OK; }

static int r_subscribe(orm_cache *c, orm_cache_listener_cb cb, void *ud)
{
    rcache *R = (rcache *)c;
    if (!cb || R->nl >= MAX_LISTENERS)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_subscribe: NULL callback or more than %d listeners",
                              MAX_LISTENERS);
    R->cbs[R->nl] = cb;
    R->uds[R->nl++] = ud;
    return ORM_OK;
}

static int64_t r_now(orm_cache *c) { return orm__redis_now_ms(); }

static int r_gen(orm_cache *c, const char *key, uint64_t *out)
{
    rcache *R = (rcache *)c;
    int rc = check_key(key, "orm_cache_gen");
    if (rc)
        return rc;
    char st[12];
    snprintf(st, sizeof st, "%u", stripe_of(key));
    const char *a[4] = { "HMGET", R->gens, "e", st };
    *out = 0;
    redisContext *ctx = orm__redis_acquire(&R->pool);
    redisReply *r = ctx ? orm__redis_run(ctx, 4, a, NULL) : NULL;
    if (!ctx || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        failed(R, ctx, r);
        orm__redis_bypass(&R->pool);
        return ORM_OK; /* 0: not read (a set_if_gen of it never stores) */
    }
    uint64_t e = r->element[0]->type == REDIS_REPLY_STRING ? strtoull(r->element[0]->str, NULL, 10) : 0;
    uint64_t s = r->element[1]->type == REDIS_REPLY_STRING ? strtoull(r->element[1]->str, NULL, 10) : 0;
    done(R, ctx, r);
    /* + 1: a real generation is never 0, which means "not read" (a fresh stripe, never
     * written nor cleared, is e = s = 0) */
    *out = (e << 40 | (s & GEN_MASK)) + 1;
    return ORM_OK;
}

static int r_close(orm_cache *c)
{
    rcache *R = (rcache *)c;
    orm__redis_pool_free(&R->pool);
    pthread_mutex_destroy(&R->types_mu);
    orm__free(R->prefix);
    orm__free(R->gens);
    orm__free(R->lease);
    orm__free(R);
    return ORM_OK;
}

const orm_cache_ops orm__cache_redis_ops = {
    ORM_CACHE_OPS_VERSION, "redis", r_get, r_set, r_del, r_load_or_store, r_load_and_delete, r_incr, r_clear,
    r_stats, r_flush, r_subscribe, r_now, r_gen, r_set_if_gen, r_close,
};

/* ---- construction, and what the two-level cache asks ---- */

static char *concat3(const char *a, const char *b, const char *c3)
{
    size_t n = strlen(a) + strlen(b) + strlen(c3) + 1;
    char *s = orm__malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c3);
    return s;
}

int orm_cache_redis_new(orm_cache **out, const orm_cache_redis_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_new: NULL out");
    *out = NULL;
    orm_cache_redis_options d = ORM_CACHE_REDIS_OPTIONS_INIT;
    if (!opts)
        opts = &d;
    /* version 1: the fields up to log_userdata (replay_keys_max came with 2) */
    if (opts->version < 1 || opts->version > ORM_CACHE_REDIS_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_options: version %u, expected 1 to %u",
                              opts->version, ORM_CACHE_REDIS_OPTIONS_VERSION);
    unsigned replay_keys_max = opts->version >= 2 ? opts->replay_keys_max : 0;
    if (opts->connect_timeout_ms < 0 || opts->command_timeout_ms < 0 || opts->backoff_min_ms < 0 ||
        opts->backoff_max_ms < 0 || opts->pool_size > 1024)
        return orm__error_set(ORM_EINVAL, "cache",
                              "orm_cache_redis_options: negative timeout or backoff, or pool_size over 1024");
    orm__redis_conf conf;
    memset(&conf, 0, sizeof conf);
    int rc = orm__redis_parse_url(&conf, opts->url ? opts->url : "redis://127.0.0.1:6379/0");
    if (rc)
        return rc;
    conf.connect_timeout_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : 200;
    conf.command_timeout_ms = opts->command_timeout_ms ? opts->command_timeout_ms : 100;
    conf.backoff_min_ms = opts->backoff_min_ms ? opts->backoff_min_ms : 50;
    conf.backoff_max_ms = opts->backoff_max_ms ? opts->backoff_max_ms : 2000;
    if (conf.backoff_max_ms < conf.backoff_min_ms)
        conf.backoff_max_ms = conf.backoff_min_ms;
    conf.pool_size = opts->pool_size ? opts->pool_size : 4;
    conf.replay_keys_max = replay_keys_max ? replay_keys_max : 4096;
    conf.log = opts->log;
    conf.log_userdata = opts->log_userdata;
    const char *prefix = opts->prefix ? opts->prefix : "orm:";
    if (strlen(prefix) > 1024 || prefix[0] == '\x01')
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_options: prefix over 1024 bytes or starting "
                                                   "with \\x01 (reserved)");
    rcache *R = orm__calloc(1, sizeof *R);
    if (!R)
        return orm__error_nomem("cache");
    R->base.ops = &orm__cache_redis_ops;
    R->prefix = orm__strdup(prefix);
    R->plen = strlen(prefix);
    R->gens = concat3("\x01orm:", prefix, "gens");
    R->lease = concat3("\x01orm:", prefix, "lease:");
    if (!R->prefix || !R->gens || !R->lease ||
        (rc = orm__redis_pool_init(&R->pool, &conf, replay_drops, R)) != ORM_OK) {
        orm__free(R->prefix);
        orm__free(R->gens);
        orm__free(R->lease);
        orm__free(R);
        return rc ? rc : orm__error_nomem("cache");
    }
    pthread_mutex_init(&R->types_mu, NULL);
    *out = &R->base;
    return ORM_OK;
}

orm__redis_pool *orm__redis_cache_pool(orm_cache *c) { return &((rcache *)c)->pool; }
const char *orm__redis_cache_prefix(orm_cache *c) { return ((rcache *)c)->prefix; }

char *orm__redis_lease_key(orm_cache *c, const char *key) { return concat3(((rcache *)c)->lease, key, ""); }

static rcache *as_redis(orm_cache *c)
{
    if (c && c->ops != &orm__cache_redis_ops)
        c = orm__two_level_remote(c);
    return c && c->ops == &orm__cache_redis_ops ? (rcache *)c : NULL;
}

int orm_cache_redis_add_type(orm_cache *c, const orm_cache_type *type)
{
    rcache *R = as_redis(c);
    if (!R || !type || !type->obj_size || !type->copy || !type->fingerprint || !type->encode || !type->decode)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_add_type: needs a Redis or two-level cache and a "
                                                   "type with obj_size, copy, fingerprint, encode and decode");
    pthread_mutex_lock(&R->types_mu);
    unsigned n = atomic_load(&R->ntypes);
    int rc = ORM_OK;
    for (unsigned i = 0; i < n; i++)
        if (R->types[i] == type)
            goto out;
    if (n == ORM__REDIS_MAX_TYPES) {
        rc = orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_add_type: more than %d types",
                            ORM__REDIS_MAX_TYPES);
        goto out;
    }
    R->types[n] = type;
    atomic_store_explicit(&R->ntypes, n + 1, memory_order_release);
out:
    pthread_mutex_unlock(&R->types_mu);
    return rc;
}

int orm_cache_redis_stats_get(orm_cache *c, orm_cache_redis_stats *out)
{
    rcache *R = as_redis(c);
    if (!R || !out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_stats_get: needs a Redis or two-level cache");
    out->bypassed = atomic_load(&R->pool.bypassed);
    out->errors = atomic_load(&R->pool.errors);
    out->down_events = atomic_load(&R->pool.down_events);
    out->reconnects = atomic_load(&R->pool.reconnects);
    out->stale_reads = atomic_load(&R->stale_reads);
    out->script_loads = atomic_load(&R->pool.script_loads);
    out->up = atomic_load(&R->pool.up);
    out->replays = atomic_load(&R->pool.replays);
    out->replayed_keys = atomic_load(&R->pool.replayed_keys);
    out->replay_clears = atomic_load(&R->pool.replay_clears);
    out->replay_pending = atomic_load(&R->pool.pending);
    return ORM_OK;
}
