/* The task pool: N worker threads and a bounded FIFO queue, for background cache work
 * (refreshes, loads of BACKGROUND read-through).
 *
 * Kept true: every task submitted with ORM_OK has its callback called exactly once, run or
 * cancelled (deadline passed before a worker took it, or close without drain); the queue
 * never holds more than its capacity; close joins every worker before it frees anything. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>

#include "orm/alloc.h"
#include "orm/cache_patterns.h"
#include "orm/error_internal.h"

typedef struct task {
    orm_task_cb fn;
    void *arg;
    int64_t deadline;
} task;

struct orm_task_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    task *q;
    size_t cap, head, len;
    int closing, drain;
    unsigned nworkers;
    pthread_t *workers;
};

int64_t orm_task_pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *worker_main(void *arg)
{
    orm_task_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->len && !p->closing)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->len)
            break; /* closing and empty */
        task t = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        int cancel = (p->closing && !p->drain) || (t.deadline && orm_task_pool_now() > t.deadline);
        pthread_mutex_unlock(&p->mu);
        t.fn(t.arg, cancel);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int orm_task_pool_new(orm_task_pool **out, unsigned workers, size_t queue_cap)
{
    if (!out || !workers || !queue_cap)
        return orm__error_set(ORM_EINVAL, "cache", "orm_task_pool_new: needs out, workers > 0 and queue_cap > 0");
    *out = NULL;
    orm_task_pool *p = orm__calloc(1, sizeof *p);
    if (!p)
        return orm__error_nomem("cache");
    p->q = orm__calloc(queue_cap, sizeof *p->q);
    p->workers = orm__calloc(workers, sizeof *p->workers);
    if (!p->q || !p->workers) {
        orm__free(p->q);
        orm__free(p->workers);
        orm__free(p);
        return orm__error_nomem("cache");
    }
    p->cap = queue_cap;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
            p->nworkers = i;
            orm_task_pool_close(p, 0);
            return orm__error_set(ORM_ERROR, "cache", "orm_task_pool_new: cannot start worker %u", i);
        }
    }
    p->nworkers = workers;
    *out = p;
    return ORM_OK;
}

int orm_task_pool_submit(orm_task_pool *p, orm_task_cb fn, void *arg, int64_t deadline_ms)
{
    if (!p || !fn)
        return orm__error_set(ORM_EINVAL, "cache", "orm_task_pool_submit: NULL pool or callback");
    pthread_mutex_lock(&p->mu);
    int rc = ORM_OK;
    if (p->closing)
        rc = orm__error_set(ORM_ECANCELED, "cache", "task pool is closing");
    else if (p->len == p->cap)
        rc = orm__error_set(ORM_EBUSY, "cache", "task pool queue full (%zu tasks)", p->cap);
    else {
        p->q[(p->head + p->len) % p->cap] = (task){ fn, arg, deadline_ms };
        p->len++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void orm_task_pool_close(orm_task_pool *p, int drain)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    p->drain = drain;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    /* no worker ever started (creation failed): cancel what is left */
    while (p->len) {
        task t = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        t.fn(t.arg, 1);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    orm__free(p->q);
    orm__free(p->workers);
    orm__free(p);
}
