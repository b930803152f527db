/* liborm internal — the Redis backend's connection layer (redis_conn.c), shared by the
 * backend (redis.c) and the two-level cache's invalidation listener (two_level.c). */
#ifndef ORM_CACHE_REDIS_INTERNAL_H
#define ORM_CACHE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "orm/cache.h"
#include "orm/cache_redis.h"

/* The Lua scripts (redis_conn.c holds their text). */
enum { ORM__RS_SET = 0, ORM__RS_DEL, ORM__RS_INCR, ORM__RS_CLEAR, ORM__RS_UNLEASE, ORM__RS_DROP, ORM__RS_COUNT };

#define ORM__REDIS_MAX_TYPES 256

typedef struct orm__redis_conf {
    char host[256];
    int port;
    char path[256]; /* unix socket; "" for TCP */
    char user[128], pass[256];
    int db;
    int64_t connect_timeout_ms, command_timeout_ms, backoff_min_ms, backoff_max_ms;
    unsigned pool_size;
    unsigned replay_keys_max; /* drops remembered one by one while Redis is unreachable */
    orm_cache_log_cb log;
    void *log_userdata;
} orm__redis_conf;

/* Replay drops that could not reach Redis, on ctx (a fresh connection, scripts loaded): clear
 * everything under the prefix when clear, then delete keys[0..n) (the keys as the cache's
 * callers name them). 0 on success; -1 when Redis failed (ctx->err set when the connection
 * broke) or memory ran out. */
typedef int (*orm__redis_replay_fn)(void *ud, redisContext *ctx, char *const *keys, size_t n, int clear);

typedef struct orm__redis_pool {
    orm__redis_conf conf;
    char where[300]; /* host:port or the socket, for messages */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    redisContext **idle;
    unsigned nidle, open;
    int64_t next_try_ms;    /* while down or pending: no reconnect / replay before this */
    int64_t backoff_ms;
    int shas_ready;
    char sha[ORM__RS_COUNT][41];
    atomic_int up;
    atomic_ullong bypassed, errors, down_events, reconnects, script_loads;
    /* Drops (deletes, overwrites, the row cache's generation bumps) that could not reach
     * Redis, replayed by the background thread before any command is sent again: while
     * `pending` is 1 every acquire answers NULL (bypass). pend is an open-addressed set of
     * pend_cap slots (malloc'd keys, NULL free), at most conf.replay_keys_max of them; past
     * that, or out of memory, pend_clear (clear the whole prefix) replaces them. */
    char **pend;
    size_t npend, pend_cap;
    int pend_clear;
    atomic_int pending;
    orm__redis_replay_fn replay;
    void *replay_ud;
    atomic_ullong replays, replayed_keys, replay_clears;
    /* The background thread: reconnects with backoff and replays, whether or not calls
     * arrive; joined by orm__redis_pool_free. */
    pthread_t bg;
    pthread_cond_t bg_cv;
    int bg_started, bg_stop;
} orm__redis_pool;

/* Parse url (see orm_cache_redis_options) into conf. ORM_EINVAL naming the URL when bad. */
int orm__redis_parse_url(orm__redis_conf *conf, const char *url);
/* replay: how remembered drops are replayed (redis.c); the background thread starts. */
int orm__redis_pool_init(orm__redis_pool *p, const orm__redis_conf *conf, orm__redis_replay_fn replay,
                         void *replay_ud);
void orm__redis_pool_free(orm__redis_pool *p);
/* A fresh connection set up like the pool's (auth, db, timeouts), or NULL with why in err. */
redisContext *orm__redis_connect(const orm__redis_conf *conf, char *err, size_t errlen);
/* A connection, or NULL when Redis is to be bypassed now (down and not yet time to retry,
 * no connection free within the command timeout, or the connect failed). */
redisContext *orm__redis_acquire(orm__redis_pool *p);
/* Give a connection back; broken: it failed (I/O or protocol), so it is closed and Redis is
 * marked down. */
void orm__redis_release(orm__redis_pool *p, redisContext *ctx, int broken);
/* Run a command on ctx. NULL when the connection failed (then release it broken). Error
 * replies are returned as replies. */
redisReply *orm__redis_run(redisContext *ctx, int argc, const char **argv, const size_t *lens);
/* EVALSHA of script s with argv (keys first: nkeys of them), loading the script again on
 * NOSCRIPT. NULL when the connection failed. */
redisReply *orm__redis_eval(orm__redis_pool *p, redisContext *ctx, int s, int nkeys, int argc, const char **argv,
                            const size_t *lens);
/* Remember that key (NULL: everything under the prefix) must be dropped from Redis before Redis
 * is read again: its delete or overwrite could not reach it. From then on the pool is bypassed
 * until the background thread has replayed every remembered drop. */
void orm__redis_remember(orm__redis_pool *p, const char *key);
/* Note one operation answered without Redis. */
void orm__redis_bypass(orm__redis_pool *p);
int64_t orm__redis_now_ms(void);
/* Report a line through the configured log (or stderr). */
void orm__redis_log(const orm__redis_conf *conf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The Redis backend as the two-level cache needs it. */
orm__redis_pool *orm__redis_cache_pool(orm_cache *c);
const char *orm__redis_cache_prefix(orm_cache *c);
/* The name of key's lease in Redis (NUL-terminated, malloc'd), or NULL on no memory. */
char *orm__redis_lease_key(orm_cache *c, const char *key);
extern const orm_cache_ops orm__cache_redis_ops;
/* Several keys (1 to 4) in one round trip (MGET): out[i] the value at keys[i], decoded, or
 * NULL on a miss. ORM_OK, ORM_ENOMEM, or ORM_ENOTFOUND (all NULL) when Redis is bypassed. */
int orm__redis_mget(orm_cache *c, const char *const *keys, size_t n, orm_cache_ref **out);
/* The two-level cache (two_level.c): its Redis level (NULL for another cache). */
orm_cache *orm__two_level_remote(orm_cache *c);
/* A stamp of key's state in the two-level cache c's local level: it changes whenever key is
 * invalidated there (after the local delete too), the level is cleared, or tracking is lost;
 * 0 while the local level is not in use. A value read from c after reading a stamp is current
 * while the stamp is unchanged (as current as the local level itself). */
uint64_t orm__two_level_stamp(orm_cache *c, const char *key);

#endif
