/* The local cache's timer wheel and its sweep.
 *
 * Every entry with an expiry sits in the wheel slot of its tick (WHEEL_SLOTS slots of tick_ms;
 * a deadline past the wheel's span waits in its slot for later rounds). A sweep walks the slots
 * from the cursor up to now, removing what expired, bounded per call by entries examined and
 * microseconds (a sweep that runs out of budget resumes there next time), so no call does O(n)
 * work; a get never returns an expired entry anyway (it checks), the sweep only frees memory
 * and tells the listeners sooner. The background sweep thread runs one pass a tick.
 *
 * Keeps true (under pol_mu): an entry with an expiry is in exactly one slot, one without in
 * none; the cursor never moves back.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/local_internal.h"
#include "orm/alloc.h"
#include "orm/error_internal.h"

void orm__local_wheel_add(local *L, orm__centry *e)
{
    if (!e->expires)
        return;
    int64_t tick = tick_of(L, e->expires);
    if (tick < L->cursor)
        tick = L->cursor;
    orm__centry *head = &L->wheel[tick & (WHEEL_SLOTS - 1)];
    e->wnext = head;
    e->wprev = head->wprev;
    head->wprev->wnext = e;
    head->wprev = e;
}

void orm__local_wheel_del(orm__centry *e)
{
    if (!e->wnext)
        return;
    e->wprev->wnext = e->wnext;
    e->wnext->wprev = e->wprev;
    e->wprev = e->wnext = NULL;
}

void orm__local_wheel_reset(local *L)
{
    for (int i = 0; i < WHEEL_SLOTS; i++)
        L->wheel[i].wprev = L->wheel[i].wnext = &L->wheel[i];
}


/* One bounded pass of the wheel: process the slots from the cursor up to now, removing what
 * expired; stop after sweep_max_entries entries examined or sweep_max_us microseconds, and
 * resume there next time. Entries of later rounds found in a slot move to its tail, so the
 * expired ones behind them are reached. */
static size_t sweep(local *L, dead_list *d)
{
    size_t seen = 0, removed = 0;
    int64_t deadline = mono_us() + L->o.sweep_max_us;
    pthread_mutex_lock(&L->pol_mu);
    int64_t now = now_ms(L);
    int64_t target = tick_of(L, now);
    if (target - L->cursor > WHEEL_SLOTS)
        L->cursor = target - WHEEL_SLOTS;
    for (;;) {
        orm__centry *head = &L->wheel[L->cursor & (WHEEL_SLOTS - 1)];
        orm__centry *first_kept = NULL, *e;
        int out_of_budget = 0;
        while ((e = head->wnext) != head && e != first_kept) {
            if (seen >= L->o.sweep_max_entries || ((seen & 31) == 31 && mono_us() > deadline)) {
                out_of_budget = 1;
                break;
            }
            seen++;
            if (is_expired(e, now)) {
                shard *s = shard_of(L, e->hash);
                orm__local_wr_lock(L, s);
                orm__local_detach(L, s, e, ORM_CACHE_EXPIRED, d);
                wr_unlock(s);
                removed++;
            } else {
                orm__local_wheel_del(e);
                e->wnext = head;
                e->wprev = head->wprev;
                head->wprev->wnext = e;
                head->wprev = e;
                if (!first_kept)
                    first_kept = e;
            }
        }
        if (out_of_budget || L->cursor >= target)
            break;
        L->cursor++;
    }
    pthread_mutex_unlock(&L->pol_mu);
    return removed;
}

int orm_cache_local_sweep(orm_cache *c, size_t *expired)
{
    if (!c || c->ops != &orm__cache_local_ops)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_sweep: not a local cache");
    local *L = (local *)c;
    dead_list d = { NULL, NULL };
    size_t n = sweep(L, &d);
    orm__local_bury(L, &d);
    if (expired)
        *expired = n;
    return ORM_OK;
}

void *orm__local_sweeper_main(void *arg)
{
    local *L = arg;
    pthread_mutex_lock(&L->stop_mu);
    while (!L->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (L->o.tick_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(L->o.tick_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        int rc = 0;
        while (!L->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&L->stop_cv, &L->stop_mu, &ts);
        if (L->stop)
            break;
        pthread_mutex_unlock(&L->stop_mu);
        dead_list d = { NULL, NULL };
        sweep(L, &d);
        orm__local_bury(L, &d);
        pthread_mutex_lock(&L->stop_mu);
    }
    pthread_mutex_unlock(&L->stop_mu);
    return NULL;
}

