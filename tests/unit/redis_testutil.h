/* Helpers of the Redis suites: the throwaway server's URL (scripts/with-redis.sh), servers of
 * a test's own (to kill and restart), raw commands beside the cache, a unique key prefix. */
#ifndef ORM_REDIS_TESTUTIL_H
#define ORM_REDIS_TESTUTIL_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "orm/cache_redis.h"
#include "testutil.h"

static inline void rt_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The shared server: never skipped, a missing one fails the test. */
static inline const char *rt_url(void)
{
    const char *u = getenv("ORM_TEST_REDIS_URL");
    ck_assert_msg(u && *u, "ORM_TEST_REDIS_URL is not set: run under scripts/with-redis.sh (make test does)");
    return u;
}

static inline int rt_port_of(const char *url)
{
    const char *c = strrchr(url, ':');
    return c ? atoi(c + 1) : 6379;
}

/* A prefix no other test (or process, or run) uses. */
static inline void rt_prefix(char *buf, size_t n, const char *tag)
{
    static unsigned seq;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, n, "t%ld.%ld.%u.%s:", (long)getpid(), (long)ts.tv_nsec, ++seq, tag);
}

/* A raw connection to url's host and port. */
static inline redisContext *rt_raw(int port)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    ck_assert_msg(c && !c->err, "raw connect to 127.0.0.1:%d: %s", port, c ? c->errstr : "no memory");
    return c;
}

/* A raw command's integer reply (or -1). */
static inline long long rt_int(redisContext *c, const char *fmt, const char *a1)
{
    redisReply *r = a1 ? redisCommand(c, fmt, a1) : redisCommand(c, fmt);
    ck_assert_ptr_nonnull(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                  : r->type == REDIS_REPLY_STRING ? atoll(r->str)
                                                  : -1;
    freeReplyObject(r);
    return v;
}

static inline int rt_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* Start a server of the test's own on port (no persistence); waits until it answers. */
static inline pid_t rt_server_start(int port)
{
    const char *bin = getenv("ORM_TEST_REDIS_SERVER");
    ck_assert_msg(bin && *bin, "ORM_TEST_REDIS_SERVER is not set: run under scripts/with-redis.sh");
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(bin, bin, "--bind", "127.0.0.1", "--port", ps, "--save", "", "--appendonly", "no", "--logfile",
              "/dev/null", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct timeval tv = { 0, 100000 };
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return pid;
        } else if (c)
            redisFree(c);
        rt_sleep_ms(25);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_abort_msg("redis-server on port %d did not start", port);
    return -1;
}

static inline void rt_server_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Log lines counted (the options' log callback), to check "once per state change". */
typedef struct rt_log {
    int down, up, other;
} rt_log;

static inline void rt_log_cb(const char *line, void *ud)
{
    rt_log *l = ud;
    if (strstr(line, "down") || strstr(line, "lost") || strstr(line, "no invalidation"))
        __atomic_add_fetch(&l->down, 1, __ATOMIC_SEQ_CST);
    else if (strstr(line, "up again") || strstr(line, "arrive again"))
        __atomic_add_fetch(&l->up, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&l->other, 1, __ATOMIC_SEQ_CST);
}

/* A Redis cache on url under prefix (short timeouts, so fault tests run fast). */
static inline orm_cache *rt_redis(const char *url, const char *prefix, rt_log *log)
{
    orm_cache_redis_options o = ORM_CACHE_REDIS_OPTIONS_INIT;
    o.url = url;
    o.prefix = prefix;
    o.connect_timeout_ms = 200;
    o.command_timeout_ms = 500;
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 200;
    o.log = rt_log_cb;
    static rt_log sink;
    o.log_userdata = log ? log : &sink;
    orm_cache *c = NULL;
    ck_assert_ok(orm_cache_redis_new(&c, &o));
    return c;
}

#endif
