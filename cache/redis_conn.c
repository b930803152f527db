/* The Redis backend's connections: URL parsing, a small pool of hiredis connections, the up /
 * down state with reconnect backoff, the drops remembered while Redis is unreachable, and the
 * Lua scripts run by EVALSHA.
 *
 * State. The pool is up while commands succeed. The first failure (a refused connect, an I/O
 * error, a reply slower than command_timeout_ms) marks it down: the idle connections are
 * closed, one line is logged, and every acquire returns NULL at once (the caller bypasses
 * Redis). A background thread then tries to connect after backoff_min_ms, doubling the wait
 * up to backoff_max_ms after each failure; it does not wait for a caller.
 *
 * Drops. A delete or overwrite that cannot reach Redis would leave the old value there for
 * every process to read once Redis answers again (a network partition, a pause: the server
 * kept its data). So the backend remembers each such key (orm__redis_remember), up to
 * replay_keys_max distinct keys, past which it remembers "clear the whole prefix". While any
 * drop is remembered (`pending`) acquire returns NULL even when Redis answers: nothing is read
 * from Redis and nothing written to it but by the background thread, which on a fresh
 * connection replays them (redis.c: a clear, then the keys deleted in batches by one script
 * each, their generations bumped) and only then lets callers back in. A replay that fails
 * puts its drops back and is retried after the backoff.
 *
 * Kept true: no lock is held while talking to Redis; at most pool_size connections are idle
 * or lent; the log callback is called outside the lock, once per state change; no command of
 * a caller reaches Redis while a remembered drop has not been replayed. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/hash.h"
#include "cache/redis_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

/* KEYS[1] the key, KEYS[2] the generations hash; ARGV: op ('s' set, 'g' set if generation,
 * 'l' load-or-store), the key's generation stripe, the value, the TTL (PX, '0': none), the
 * expected epoch and stripe count ('g'), '1' to return the old value. Returns {-1} (the
 * generation moved), {1, old} (load-or-store found a value), or {0[, old]} (stored). */
static const char script_set[] =
    "local op = ARGV[1]\n"
    "if op == 'g' then\n"
    "  local h = redis.call('HMGET', KEYS[2], 'e', ARGV[2])\n"
    "  if (h[1] or '0') ~= ARGV[5] or (h[2] or '0') ~= ARGV[6] then return {-1} end\n"
    "end\n"
    "local old = false\n"
    "if op == 'l' or ARGV[7] == '1' then old = redis.call('GET', KEYS[1]) end\n"
    "if op == 'l' and old then return {1, old} end\n"
    "if ARGV[4] ~= '0' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])\n"
    "else redis.call('SET', KEYS[1], ARGV[3]) end\n"
    "redis.call('HINCRBY', KEYS[2], ARGV[2], 1)\n"
    "if old then return {0, old} end\n"
    "return {0}\n";

/* KEYS as above; ARGV: stripe, '1' to return the old value. {0}: there was none; {1[, old]}.
 * The generation moves also when there was none: a load that read the database before the
 * write this delete follows must not install what it read (orm_cache_gen: "every write"). */
static const char script_del[] =
    "redis.call('HINCRBY', KEYS[2], ARGV[1], 1)\n"
    "local old = redis.call('GET', KEYS[1])\n"
    "if not old then return {0} end\n"
    "redis.call('DEL', KEYS[1])\n"
    "if ARGV[2] == '1' then return {1, old} end\n"
    "return {1}\n";

/* KEYS as above; ARGV: stripe, delta, TTL for a new counter ('0': none). {new[, old]}, both as
 * decimal strings (Lua's numbers are doubles: INCRBY's integer reply would come back rounded
 * past 2^53, where the row cache's generations live, so the new value is read back with GET);
 * an error ORMNOTCOUNTER when the key holds something else. */
static const char script_incr[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and not string.match(v, '^%-?%d+$') then return redis.error_reply('ORMNOTCOUNTER') end\n"
    "redis.call('INCRBY', KEYS[1], ARGV[2])\n"
    "local n = redis.call('GET', KEYS[1])\n"
    "if not v and ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "redis.call('HINCRBY', KEYS[2], ARGV[1], 1)\n"
    "if v then return {n, v} end\n"
    "return {n}\n";

/* ARGV: '1' to return the removed values, then the keys to remove. {key, old, key, old...}. */
static const char script_clear[] =
    "local out = {}\n"
    "for i = 2, #ARGV do\n"
    "  local v = false\n"
    "  if ARGV[1] == '1' then v = redis.call('GET', ARGV[i]) end\n"
    "  if redis.call('DEL', ARGV[i]) == 1 and v then out[#out + 1] = ARGV[i]; out[#out + 1] = v end\n"
    "end\n"
    "return out\n";

/* KEYS[1] a lease; ARGV[1] its holder's token: drop it only when it is still ours. */
static const char script_unlease[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* KEYS[1] the generations hash; ARGV: key, stripe, key, stripe... (wire names): each key
 * deleted and its stripe bumped (as the delete script does), atomically. The remembered drops'
 * replay. */
static const char script_drop[] =
    "for i = 1, #ARGV - 1, 2 do\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)\n"
    "  redis.call('DEL', ARGV[i])\n"
    "end\n"
    "return #ARGV / 2\n";

static const char *const scripts[ORM__RS_COUNT] = { script_set, script_del, script_incr, script_clear,
                                                    script_unlease, script_drop };

int64_t orm__redis_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void orm__redis_log(const orm__redis_conf *conf, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (conf->log)
        conf->log(line, conf->log_userdata);
    else
        fprintf(stderr, "orm: %s\n", line);
}

/* ---- URL ---- */

/* Decode %XX escapes of src[0..n) into dst (cap bytes). -1 when it does not fit or is bad. */
static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static int unescape(char *dst, size_t cap, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = ch;
    }
    dst[o] = 0;
    return 0;
}

static int parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    if (!n || n > 10)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int bad_url(const char *url, const char *why)
{
    return orm__error_set(ORM_EINVAL, "cache", "orm_cache_redis_new: bad URL '%.200s': %s", url, why);
}

int orm__redis_parse_url(orm__redis_conf *conf, const char *url)
{
    conf->host[0] = conf->path[0] = conf->user[0] = conf->pass[0] = 0;
    conf->port = 6379;
    conf->db = 0;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *p = url + 7, *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (!n || p[0] != '/' || unescape(conf->path, sizeof conf->path, p, n))
            return bad_url(url, "expected unix:///absolute/path[?db=N]");
        if (q) {
            if (strncmp(q, "?db=", 4) || parse_int(q + 4, strlen(q + 4), 0, 1000000, &conf->db))
                return bad_url(url, "the only query is ?db=N");
        }
        snprintf(conf->host, sizeof conf->host, "%s", conf->path);
        return ORM_OK;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return bad_url(url, "expected redis://[[user]:password@]host[:port][/db] or unix:///path");
    const char *p = url + 8;
    const char *end = p + strcspn(p, "/");
    const char *at = NULL;
    for (const char *s = p; s < end; s++)
        if (*s == '@')
            at = s;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return bad_url(url, "credentials are [user]:password@");
        if (unescape(conf->user, sizeof conf->user, p, (size_t)(colon - p)) ||
            unescape(conf->pass, sizeof conf->pass, colon + 1, (size_t)(at - colon - 1)))
            return bad_url(url, "user or password too long or badly escaped");
        p = at + 1;
    }
    const char *hend = end;
    if (*p == '[') { /* [v6]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return bad_url(url, "unclosed [ in the host");
        if ((size_t)(rb - p - 1) >= sizeof conf->host || rb == p + 1)
            return bad_url(url, "bad host");
        memcpy(conf->host, p + 1, (size_t)(rb - p - 1));
        conf->host[rb - p - 1] = 0;
        p = rb + 1;
        if (p < end && *p != ':')
            return bad_url(url, "junk after ]");
        hend = p;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        if (hend == p || (size_t)(hend - p) >= sizeof conf->host)
            return bad_url(url, "missing or too long host");
        memcpy(conf->host, p, (size_t)(hend - p));
        conf->host[hend - p] = 0;
        p = hend;
    }
    if (p < end && *p == ':' && parse_int(p + 1, (size_t)(end - p - 1), 1, 65535, &conf->port))
        return bad_url(url, "port is not 1..65535");
    if (*end == '/' && end[1] && parse_int(end + 1, strlen(end + 1), 0, 1000000, &conf->db))
        return bad_url(url, "db is not a number");
    return ORM_OK;
}

/* ---- connections ---- */

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    return tv;
}

static int setup_cmd(redisContext *ctx, char *err, size_t errlen, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(ctx, argc, argv, NULL);
    if (!r) {
        snprintf(err, errlen, "%s", ctx->errstr);
        return -1;
    }
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        snprintf(err, errlen, "%s: %.200s", argv[0], r->str);
    freeReplyObject(r);
    return bad ? -1 : 0;
}

redisContext *orm__redis_connect(const orm__redis_conf *conf, char *err, size_t errlen)
{
    struct timeval ct = tv_of(conf->connect_timeout_ms);
    redisContext *ctx = conf->path[0] ? redisConnectUnixWithTimeout(conf->path, ct)
                                      : redisConnectWithTimeout(conf->host, conf->port, ct);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ctx->err) {
        snprintf(err, errlen, "%s", ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    /* The connect timeout covers the handshake too; then every reply has command_timeout_ms. */
    if (redisSetTimeout(ctx, ct) != REDIS_OK)
        goto fail_io;
    if (conf->pass[0] || conf->user[0]) {
        const char *a[3] = { "AUTH", conf->user, conf->pass };
        if (conf->user[0] ? setup_cmd(ctx, err, errlen, 3, a) : (a[1] = conf->pass, setup_cmd(ctx, err, errlen, 2, a)))
            goto fail;
    }
    if (conf->db) {
        char dbs[16];
        snprintf(dbs, sizeof dbs, "%d", conf->db);
        const char *a[2] = { "SELECT", dbs };
        if (setup_cmd(ctx, err, errlen, 2, a))
            goto fail;
    }
    if (redisSetTimeout(ctx, tv_of(conf->command_timeout_ms)) != REDIS_OK)
        goto fail_io;
    return ctx;
fail_io:
    snprintf(err, errlen, "%s", ctx->errstr);
fail:
    redisFree(ctx);
    return NULL;
}

static void *bg_main(void *arg);

/* CLOCK_MONOTONIC, ms from now (the condition variables' clock). */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = t.tv_nsec + (ms % 1000) * 1000000;
    t.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    t.tv_nsec = (long)(ns % 1000000000);
    return t;
}

int orm__redis_pool_init(orm__redis_pool *p, const orm__redis_conf *conf, orm__redis_replay_fn replay,
                         void *replay_ud)
{
    memset(p, 0, sizeof *p);
    p->conf = *conf;
    if (conf->path[0])
        snprintf(p->where, sizeof p->where, "unix:%s", conf->path);
    else
        snprintf(p->where, sizeof p->where, "%s:%d", conf->host, conf->port);
    p->idle = orm__calloc(conf->pool_size, sizeof *p->idle);
    if (!p->idle)
        return orm__error_nomem("cache");
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_cond_init(&p->bg_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->up, 1); /* optimistic: the first failure logs "down" once */
    p->backoff_ms = conf->backoff_min_ms;
    p->replay = replay;
    p->replay_ud = replay_ud;
    if (pthread_create(&p->bg, NULL, bg_main, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        pthread_cond_destroy(&p->bg_cv);
        orm__free(p->idle);
        return orm__error_set(ORM_ERROR, "cache", "orm_cache_redis_new: cannot start the reconnect thread");
    }
    p->bg_started = 1;
    return ORM_OK;
}

static void close_all(redisContext **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        redisFree(v[i]);
}

static void pend_free(char **v, size_t cap)
{
    for (size_t i = 0; i < cap; i++)
        orm__free(v[i]);
    orm__free(v);
}

void orm__redis_pool_free(orm__redis_pool *p)
{
    if (p->bg_started) {
        pthread_mutex_lock(&p->mu);
        p->bg_stop = 1;
        pthread_cond_signal(&p->bg_cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->bg, NULL);
    }
    close_all(p->idle, p->nidle);
    orm__free(p->idle);
    pend_free(p->pend, p->pend_cap);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->bg_cv);
}

/* Under p->mu: a failure. Returns 1 when it took the pool from up to down (log then); the
 * idle connections are closed (redisFree closes a socket: no talk with Redis). */
static int mark_down(orm__redis_pool *p, int connect_failed)
{
    atomic_fetch_add(&p->errors, 1);
    int64_t now = orm__redis_now_ms();
    if (atomic_load(&p->up)) {
        atomic_store(&p->up, 0);
        atomic_fetch_add(&p->down_events, 1);
        p->backoff_ms = p->conf.backoff_min_ms;
        p->next_try_ms = now + p->backoff_ms;
        close_all(p->idle, p->nidle);
        p->open -= p->nidle;
        p->nidle = 0;
        pthread_cond_signal(&p->bg_cv);
        return 1;
    }
    if (connect_failed) {
        p->backoff_ms = p->backoff_ms * 2 > p->conf.backoff_max_ms ? p->conf.backoff_max_ms : p->backoff_ms * 2;
        p->next_try_ms = now + p->backoff_ms;
    }
    return 0;
}

/* ---- remembered drops ---- */

static size_t pend_slot(char *const *v, size_t cap, const char *key)
{
    size_t i = (size_t)orm__cache_hash(key, strlen(key)) & (cap - 1);
    while (v[i] && strcmp(v[i], key) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Under p->mu: everything under the prefix is to be dropped (the keys are then redundant). */
static void pend_clear_all(orm__redis_pool *p)
{
    pend_free(p->pend, p->pend_cap);
    p->pend = NULL;
    p->npend = p->pend_cap = 0;
    p->pend_clear = 1;
}

/* Under p->mu: key (NULL: the whole prefix) is to be dropped. own: key itself when the caller
 * hands its malloc'd copy over (freed when not kept), else NULL (a copy is made). */
static void pend_add(orm__redis_pool *p, const char *key, char *own)
{
    if (!key || p->pend_clear)
        goto clear;
    if (p->pend && p->pend[pend_slot(p->pend, p->pend_cap, key)]) {
        orm__free(own); /* already remembered */
        return;
    }
    if (p->npend >= p->conf.replay_keys_max)
        goto clear;
    if ((p->npend + 1) * 2 > p->pend_cap) { /* grow (load at most 1/2) */
        size_t cap = p->pend_cap ? p->pend_cap * 2 : 64;
        char **v = orm__calloc(cap, sizeof *v);
        if (!v)
            goto clear;
        for (size_t i = 0; i < p->pend_cap; i++)
            if (p->pend[i])
                v[pend_slot(v, cap, p->pend[i])] = p->pend[i];
        orm__free(p->pend);
        p->pend = v;
        p->pend_cap = cap;
    }
    char *k = own ? own : orm__strdup(key);
    if (!k)
        goto clear;
    p->pend[pend_slot(p->pend, p->pend_cap, k)] = k;
    p->npend++;
    return;
clear:
    orm__free(own);
    pend_clear_all(p);
}

void orm__redis_remember(orm__redis_pool *p, const char *key)
{
    pthread_mutex_lock(&p->mu);
    pend_add(p, key, NULL);
    atomic_store(&p->pending, 1);
    pthread_cond_signal(&p->bg_cv);
    pthread_mutex_unlock(&p->mu);
}

/* Load every script on ctx (the first connection, or after NOSCRIPT); the SHAs are kept. */
static int load_scripts(orm__redis_pool *p, redisContext *ctx)
{
    for (int s = 0; s < ORM__RS_COUNT; s++) {
        const char *a[3] = { "SCRIPT", "LOAD", scripts[s] };
        redisReply *r = redisCommandArgv(ctx, 3, a, NULL);
        if (!r)
            return -1;
        int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
        if (ok) {
            pthread_mutex_lock(&p->mu);
            memcpy(p->sha[s], r->str, 40);
            p->sha[s][40] = 0;
            pthread_mutex_unlock(&p->mu);
        }
        freeReplyObject(r);
        if (!ok)
            return -1;
        atomic_fetch_add(&p->script_loads, 1);
    }
    pthread_mutex_lock(&p->mu);
    p->shas_ready = 1;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* ---- the background thread ---- */

/* One attempt of the background thread, on a connection of its own: connect, load the scripts
 * (a restarted server has none), replay the remembered drops (again while more arrive), and
 * only then let callers use Redis. On failure the drops are kept and the wait doubles. */
static void recover(orm__redis_pool *p)
{
    char err[256] = "";
    redisContext *ctx = orm__redis_connect(&p->conf, err, sizeof err);
    if (ctx && load_scripts(p, ctx)) {
        snprintf(err, sizeof err, "SCRIPT LOAD: %s", ctx->err ? ctx->errstr : "refused");
        redisFree(ctx);
        ctx = NULL;
    }
    int failed = !ctx, io = !ctx;
    size_t replayed = 0;
    int cleared = 0;
    while (!failed) {
        pthread_mutex_lock(&p->mu);
        char **keys = p->pend;
        size_t cap = p->pend_cap, m = 0;
        int clear = p->pend_clear;
        if (!keys && !clear) {
            atomic_store(&p->pending, 0); /* everything replayed: callers may read Redis again */
            break;                        /* (with p->mu held) */
        }
        p->pend = NULL;
        p->npend = p->pend_cap = 0;
        p->pend_clear = 0;
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < cap; i++)
            if (keys[i])
                keys[m++] = keys[i];
        if (p->replay(p->replay_ud, ctx, keys, m, clear) == 0) {
            atomic_fetch_add(&p->replays, 1);
            atomic_fetch_add(&p->replayed_keys, m);
            if (clear)
                atomic_fetch_add(&p->replay_clears, 1);
            replayed += m;
            cleared |= clear;
            for (size_t i = 0; i < m; i++)
                orm__free(keys[i]);
            orm__free(keys);
            continue;
        }
        /* not replayed: remember them again (beside what came meanwhile) */
        pthread_mutex_lock(&p->mu);
        if (clear)
            pend_add(p, NULL, NULL);
        for (size_t i = 0; i < m; i++)
            pend_add(p, keys[i], keys[i]);
        pthread_mutex_unlock(&p->mu);
        orm__free(keys);
        snprintf(err, sizeof err, "replaying dropped keys: %s", ctx->err ? ctx->errstr : "refused");
        io = ctx->err != 0;
        failed = 1;
    }
    int went_down = 0, came_up = 0;
    if (!failed) { /* p->mu is held */
        atomic_fetch_add(&p->reconnects, 1);
        p->backoff_ms = p->conf.backoff_min_ms;
        if (!atomic_load(&p->up)) {
            atomic_store(&p->up, 1);
            came_up = 1;
        }
        if (p->open < p->conf.pool_size) { /* the connection serves callers now */
            p->idle[p->nidle++] = ctx;
            p->open++;
            ctx = NULL;
        }
        pthread_cond_broadcast(&p->cv);
    } else {
        pthread_mutex_lock(&p->mu);
        if (io)
            went_down = mark_down(p, 1);
        else { /* Redis answers but refused the replay: try again later, bypassed meanwhile */
            atomic_fetch_add(&p->errors, 1);
            p->backoff_ms = p->backoff_ms * 2 > p->conf.backoff_max_ms ? p->conf.backoff_max_ms : p->backoff_ms * 2;
            p->next_try_ms = orm__redis_now_ms() + p->backoff_ms;
        }
    }
    int64_t backoff = p->backoff_ms;
    pthread_mutex_unlock(&p->mu);
    if (ctx)
        redisFree(ctx);
    if (went_down)
        orm__redis_log(&p->conf, "redis %s: down (%s); the cache is bypassed, retrying in %lld ms", p->where, err,
                       (long long)backoff);
    if (came_up) {
        if (replayed || cleared)
            orm__redis_log(&p->conf, "redis %s: up again; %zu dropped keys%s replayed; the cache is in use", p->where,
                           replayed, cleared ? " and a clear" : "");
        else
            orm__redis_log(&p->conf, "redis %s: up again; the cache is in use", p->where);
    }
}

static void *bg_main(void *arg)
{
    orm__redis_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->bg_stop) {
        if (atomic_load(&p->up) && !atomic_load(&p->pending)) {
            pthread_cond_wait(&p->bg_cv, &p->mu);
            continue;
        }
        int64_t wait = p->next_try_ms - orm__redis_now_ms();
        if (wait > 0) {
            struct timespec until = deadline_in(wait);
            pthread_cond_timedwait(&p->bg_cv, &p->mu, &until);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        recover(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- callers ---- */

redisContext *orm__redis_acquire(orm__redis_pool *p)
{
    pthread_mutex_lock(&p->mu);
    struct timespec until = deadline_in(p->conf.command_timeout_ms);
    for (;;) {
        /* down, or drops not yet replayed: bypass (the background thread reconnects) */
        if (!atomic_load(&p->up) || atomic_load(&p->pending))
            break;
        if (p->nidle) {
            redisContext *ctx = p->idle[--p->nidle];
            pthread_mutex_unlock(&p->mu);
            return ctx;
        }
        if (p->open < p->conf.pool_size) {
            p->open++;
            int need_scripts = !p->shas_ready;
            pthread_mutex_unlock(&p->mu);
            char err[256];
            redisContext *ctx = orm__redis_connect(&p->conf, err, sizeof err);
            if (ctx && need_scripts && load_scripts(p, ctx)) {
                snprintf(err, sizeof err, "SCRIPT LOAD: %s", ctx->err ? ctx->errstr : "refused");
                redisFree(ctx);
                ctx = NULL;
            }
            int went_down = 0;
            pthread_mutex_lock(&p->mu);
            if (!ctx) {
                p->open--;
                went_down = mark_down(p, 1);
            } else {
                atomic_fetch_add(&p->reconnects, 1);
                if (!atomic_load(&p->up) || atomic_load(&p->pending)) { /* changed meanwhile */
                    p->open--;
                    redisFree(ctx);
                    ctx = NULL;
                }
            }
            int64_t backoff = p->backoff_ms;
            pthread_mutex_unlock(&p->mu);
            if (went_down)
                orm__redis_log(&p->conf, "redis %s: down (%s); the cache is bypassed, retrying in %lld ms", p->where,
                               err, (long long)backoff);
            return ctx;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void orm__redis_release(orm__redis_pool *p, redisContext *ctx, int broken)
{
    int went_down = 0;
    char err[160] = "";
    pthread_mutex_lock(&p->mu);
    if (broken || ctx->err) {
        snprintf(err, sizeof err, "%s", ctx->err ? ctx->errstr : "protocol error");
        p->open--;
        redisFree(ctx);
        went_down = mark_down(p, 0);
    } else if (!atomic_load(&p->up)) { /* lent before the outage: the background thread opens fresh ones */
        p->open--;
        redisFree(ctx);
    } else
        p->idle[p->nidle++] = ctx;
    pthread_cond_signal(&p->cv);
    int64_t backoff = p->backoff_ms;
    pthread_mutex_unlock(&p->mu);
    if (went_down)
        orm__redis_log(&p->conf, "redis %s: down (%s); the cache is bypassed, retrying in %lld ms", p->where, err,
                       (long long)backoff);
}

void orm__redis_bypass(orm__redis_pool *p) { atomic_fetch_add_explicit(&p->bypassed, 1, memory_order_relaxed); }

redisReply *orm__redis_run(redisContext *ctx, int argc, const char **argv, const size_t *lens)
{
    return redisCommandArgv(ctx, argc, argv, lens);
}

redisReply *orm__redis_eval(orm__redis_pool *p, redisContext *ctx, int s, int nkeys, int argc, const char **argv,
                            const size_t *lens)
{
    enum { SMALL = 16 };
    const char *sa[SMALL + 3];
    size_t sl[SMALL + 3];
    const char **a = sa;
    size_t *l = sl;
    char nk[12], sha[41];
    if (argc > SMALL) {
        a = orm__malloc((size_t)(argc + 3) * sizeof *a);
        l = orm__malloc((size_t)(argc + 3) * sizeof *l);
        if (!a || !l) {
            orm__free(a);
            orm__free(l);
            return NULL;
        }
    }
    pthread_mutex_lock(&p->mu);
    memcpy(sha, p->sha[s], sizeof sha);
    pthread_mutex_unlock(&p->mu);
    snprintf(nk, sizeof nk, "%d", nkeys);
    a[0] = "EVALSHA";
    l[0] = 7;
    a[1] = sha;
    l[1] = 40;
    a[2] = nk;
    l[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        a[i + 3] = argv[i];
        l[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    redisReply *r = redisCommandArgv(ctx, argc + 3, a, l);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        /* SCRIPT FLUSH, or a restart this connection did not see: load and run again. */
        freeReplyObject(r);
        r = load_scripts(p, ctx) ? NULL : redisCommandArgv(ctx, argc + 3, a, l);
    }
    if (a != sa) {
        orm__free(a);
        orm__free(l);
    }
    return r;
}
