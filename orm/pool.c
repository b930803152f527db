/* liborm — the connection pool (see orm/pool.h for the contract).
 *
 * What stays true, under the mutex:
 *   - `all` holds every open connection (in use or idle); `idle` is a stack of those not in
 *     use, most recently released on top; `opening` counts connections being opened outside
 *     the lock, so nall + opening never exceeds max_open;
 *   - callbacks (open, close, alive, reset) are never called with the lock held, and only on
 *     a connection no other thread can reach (popped from idle, or not yet published);
 *   - every change that can let a waiter proceed (a release, a closed connection, a failed
 *     open) broadcasts the condition variable, and waiters re-check from the top, so no
 *     wakeup is lost when one waiter gives up at its deadline.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/pool.h"

#define MODULE "pool"

typedef struct entry {
    void *conn;
    int64_t created_us;
    int64_t idle_since_us;
} entry;

struct orm_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    orm_pool_config cfg;
    orm_pool_callbacks cb;
    entry **all;
    size_t nall, capall;
    entry **idle;
    size_t nidle;
    size_t opening, waiters;
    orm_pool_stats st;
};

int64_t orm__pool_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int orm__pool_new(orm_pool **out, const orm_pool_config *cfg, const orm_pool_callbacks *cb)
{
    *out = NULL;
    if (!cb || !cb->open || !cb->close)
        return orm__error_set(ORM_EINVAL, MODULE, "the open and close callbacks are required");
    orm_pool *p = orm__calloc(1, sizeof *p);
    if (!p)
        return orm__error_nomem(MODULE);
    orm_pool_config def = ORM_POOL_CONFIG_INIT;
    p->cfg = cfg ? *cfg : def;
    p->cb = *cb;
    p->st.max_open = p->cfg.max_open;
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&p->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        orm__free(p);
        return orm__error_set(ORM_ENOMEM, MODULE, "cannot make a condition variable");
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pthread_cond_destroy(&p->cv);
        orm__free(p);
        return orm__error_set(ORM_ENOMEM, MODULE, "cannot make a mutex");
    }
    *out = p;
    return ORM_OK;
}

void orm__pool_free(orm_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nall; i++) {
        p->cb.close(p->all[i]->conn, p->cb.userdata);
        orm__free(p->all[i]);
    }
    orm__free(p->all);
    orm__free(p->idle);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    orm__free(p);
}

/* ---- bookkeeping (lock held) ---- */

static void remove_from_all(orm_pool *p, entry *e)
{
    for (size_t i = 0; i < p->nall; i++)
        if (p->all[i] == e) {
            p->all[i] = p->all[--p->nall];
            return;
        }
}

/* Make room for one more connection in both arrays, so publishing it can't fail later. */
static int reserve(orm_pool *p)
{
    if (p->nall + p->opening + 1 <= p->capall)
        return ORM_OK;
    size_t cap = p->capall ? p->capall * 2 : 8;
    while (cap < p->nall + p->opening + 1)
        cap *= 2;
    entry **a = orm__realloc(p->all, cap * sizeof *a);
    if (!a)
        return orm__error_nomem(MODULE);
    p->all = a;
    entry **b = orm__realloc(p->idle, cap * sizeof *b);
    if (!b)
        return orm__error_nomem(MODULE);
    p->idle = b;
    p->capall = cap;
    return ORM_OK;
}

static int expired_lifetime(const orm_pool *p, const entry *e, int64_t now)
{
    return p->cfg.max_lifetime_us > 0 && now - e->created_us >= p->cfg.max_lifetime_us;
}

/* Remove one idle connection past idle_timeout or max_lifetime (oldest first) and count it;
 * the caller closes it after unlocking. NULL when none. */
static entry *take_expired(orm_pool *p, int64_t now)
{
    for (size_t i = 0; i < p->nidle; i++) {
        entry *e = p->idle[i];
        int lifetime = expired_lifetime(p, e, now);
        int idle = p->cfg.idle_timeout_us > 0 && now - e->idle_since_us >= p->cfg.idle_timeout_us;
        if (!lifetime && !idle)
            continue;
        memmove(p->idle + i, p->idle + i + 1, (p->nidle - i - 1) * sizeof *p->idle);
        p->nidle--;
        remove_from_all(p, e);
        if (lifetime)
            p->st.closed_lifetime++;
        else
            p->st.closed_idle_timeout++;
        return e;
    }
    return NULL;
}

/* Close expired idle connections; called and returns with the lock held. */
static void sweep(orm_pool *p)
{
    entry *e;
    int any = 0;
    while ((e = take_expired(p, orm__pool_now_us())) != NULL) {
        pthread_mutex_unlock(&p->mu);
        p->cb.close(e->conn, p->cb.userdata);
        orm__free(e);
        pthread_mutex_lock(&p->mu);
        any = 1;
    }
    if (any)
        pthread_cond_broadcast(&p->cv);
}

static void end_wait(orm_pool *p, int64_t since)
{
    if (since)
        p->st.wait_us += orm__pool_now_us() - since;
}

/* Open a new connection in a slot reserved by the caller (opening already counted). */
static int open_new(orm_pool *p, int64_t waited_since, void **out)
{
    pthread_mutex_unlock(&p->mu);
    entry *e = orm__malloc(sizeof *e);
    void *conn = NULL;
    int rc = e ? p->cb.open(&conn, p->cb.userdata) : orm__error_nomem(MODULE);
    pthread_mutex_lock(&p->mu);
    p->opening--;
    end_wait(p, waited_since);
    if (rc != ORM_OK) {
        pthread_cond_broadcast(&p->cv); /* the slot is free again */
        pthread_mutex_unlock(&p->mu);
        orm__free(e);
        return rc;
    }
    e->conn = conn;
    e->created_us = e->idle_since_us = orm__pool_now_us();
    p->all[p->nall++] = e; /* room reserved before opening */
    p->st.opened++;
    pthread_mutex_unlock(&p->mu);
    *out = conn;
    return ORM_OK;
}

int orm__pool_acquire(orm_pool *p, int64_t deadline_us, void **out)
{
    *out = NULL;
    int64_t waited_since = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        sweep(p);
        if (p->nidle > 0) {
            entry *e = p->idle[--p->nidle];
            pthread_mutex_unlock(&p->mu);
            if (!p->cb.alive || p->cb.alive(e->conn, p->cb.userdata)) {
                pthread_mutex_lock(&p->mu);
                end_wait(p, waited_since);
                pthread_mutex_unlock(&p->mu);
                *out = e->conn;
                return ORM_OK;
            }
            /* Broken while idle (server restart, terminated backend): replace it. */
            p->cb.close(e->conn, p->cb.userdata);
            pthread_mutex_lock(&p->mu);
            remove_from_all(p, e);
            orm__free(e);
            p->st.closed_broken++;
            pthread_cond_broadcast(&p->cv);
            continue;
        }
        if (p->cfg.max_open == 0 || p->nall + p->opening < p->cfg.max_open) {
            int rc = reserve(p);
            if (rc != ORM_OK) {
                end_wait(p, waited_since);
                pthread_mutex_unlock(&p->mu);
                return rc;
            }
            p->opening++;
            return open_new(p, waited_since, out); /* unlocks */
        }
        int64_t now = orm__pool_now_us();
        if (!waited_since) {
            waited_since = now;
            p->st.waits++;
        }
        if (deadline_us && now >= deadline_us) {
            p->st.timeouts++;
            end_wait(p, waited_since);
            pthread_mutex_unlock(&p->mu);
            return orm__error_set(ORM_ETIMEOUT, MODULE,
                                  "no connection free before the deadline (%zu open, max_open %zu)",
                                  p->nall, p->cfg.max_open);
        }
        p->waiters++;
        if (deadline_us) {
            struct timespec ts = { (time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000 };
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        } else {
            pthread_cond_wait(&p->cv, &p->mu);
        }
        p->waiters--;
    }
}

static entry *find(orm_pool *p, void *conn)
{
    for (size_t i = 0; i < p->nall; i++)
        if (p->all[i]->conn == conn)
            return p->all[i];
    return NULL;
}

void orm__pool_release(orm_pool *p, void *conn, int broken)
{
    if (!conn)
        return;
    if (!broken && p->cb.reset && p->cb.reset(conn, p->cb.userdata) != ORM_OK)
        broken = 1;
    pthread_mutex_lock(&p->mu);
    entry *e = find(p, conn);
    if (!e) { /* not ours: nothing sane to do, and this function can't fail */
        pthread_mutex_unlock(&p->mu);
        return;
    }
    int64_t now = orm__pool_now_us();
    int keep = 0;
    if (broken)
        p->st.closed_broken++;
    else if (expired_lifetime(p, e, now))
        p->st.closed_lifetime++;
    else if (p->nidle < p->cfg.max_idle || p->waiters > p->nidle)
        keep = 1; /* a waiter takes it even past max_idle, rather than opening anew */
    else
        p->st.closed_max_idle++;
    if (keep) {
        e->idle_since_us = now;
        p->idle[p->nidle++] = e; /* idle has room for every connection in all */
    } else {
        remove_from_all(p, e);
    }
    pthread_cond_broadcast(&p->cv);
    sweep(p);
    pthread_mutex_unlock(&p->mu);
    if (!keep) {
        p->cb.close(conn, p->cb.userdata);
        orm__free(e);
    }
}

void orm__pool_stats(orm_pool *p, orm_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    sweep(p);
    *out = p->st;
    out->open = p->nall + p->opening;
    out->idle = p->nidle;
    out->in_use = p->nall - p->nidle;
    pthread_mutex_unlock(&p->mu);
}
