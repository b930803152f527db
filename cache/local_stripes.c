/* The local cache's reader lock and stripes (see local_internal.h for the structs).
 *
 * A shard's reader-writer lock is spread over per-thread stripes (the "big reader" lock
 * described in local_internal.h): readers take it inline (rd_lock), writers here
 * (orm__local_wr_lock). Each stripe also buffers its thread's reads in a lossy ring, which
 * orm__local_drain applies to the policy. And a thread's exit gives its stripes back.
 *
 * Keeps true: a writer holds a shard only when every stripe's reader count for it is zero and
 * its writer flag is up (readers back off while it is), so a reader never sees the table
 * change under it; a drain records the epoch it ran at, which the deferred frees rely on
 * (local_free.c); a stripe owned by a thread that exited is owned by no one (when the exit
 * hook could be set up).
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

_Thread_local unsigned orm__local_thread_number ORM_TLS_FAST;
atomic_uint orm__local_threads_numbered;

/* ---- a thread's exit gives its stripes back ----
 * Thread numbers are never reused, so a stripe owned by a thread that has exited would serve
 * no one: the exit hook (a pthread key destructor, set up by a thread's first claim) clears
 * the thread's ownership in every live cache. Should the hook not be set up (no memory), the
 * stripe stays taken and later threads numbered to it use a shared one. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static local *live_caches; /* under live_mu */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_key_made;
static _Thread_local int exit_hooked;

static void stripe_release_all(void *unused)
{
    (void)unused;
    unsigned n = orm__local_thread_number;
    pthread_mutex_lock(&live_mu);
    for (local *L = live_caches; L; L = L->live_next)
        for (unsigned k = 0; k <= L->stripe_mask; k++) {
            stripe *st = stripe_at(L, k);
            if (atomic_load_explicit(&st->owner, memory_order_relaxed) == n)
                atomic_store_explicit(&st->owner, 0, memory_order_release); /* its counts, to the next owner */
        }
    pthread_mutex_unlock(&live_mu);
}

static void exit_key_make(void) { exit_key_made = pthread_key_create(&exit_key, stripe_release_all) == 0; }

#if defined(__GNUC__)
/* A library unloaded while threads live must not leave them a destructor in unmapped code. */
__attribute__((destructor)) static void exit_key_unmake(void)
{
    if (exit_key_made)
        pthread_key_delete(exit_key);
}
#endif

void orm__local_stripe_claimed(void)
{
    if (exit_hooked)
        return;
    pthread_once(&exit_once, exit_key_make);
    if (exit_key_made && pthread_setspecific(exit_key, &exit_hooked) == 0)
        exit_hooked = 1;
}

void orm__local_live_add(local *L)
{
    pthread_mutex_lock(&live_mu);
    L->live_next = live_caches;
    if (live_caches)
        live_caches->live_prev = L;
    live_caches = L;
    pthread_mutex_unlock(&live_mu);
}

void orm__local_live_remove(local *L)
{
    pthread_mutex_lock(&live_mu);
    if (L->live_prev)
        L->live_prev->live_next = L->live_next;
    else
        live_caches = L->live_next;
    if (L->live_next)
        L->live_next->live_prev = L->live_prev;
    pthread_mutex_unlock(&live_mu);
}

void orm__local_wr_lock(const local *L, shard *s)
{
    atomic_store_explicit(&s->writer, 1, memory_order_seq_cst);
    for (unsigned k = 0; k < L->nstripes; k++) {
        atomic_uint *n = &stripe_at(L, k)->readers[s->index];
        for (int i = 0; atomic_load_explicit(n, memory_order_seq_cst); i++)
            spin_wait(i);
    }
}


/* ---- read buffers ---- */

/* Apply a stripe's buffered reads to the policy, and record the epoch it was drained at (see
 * "deferred frees"). Caller holds pol_mu. Every entry in a ring is allocated then, but may
 * have been removed: the policy skips those (their flags say dead). */
void orm__local_drain(local *L, stripe *s)
{
    L->drained[s->index] = L->epoch;
    for (int i = 0; i < RING; i++) {
        /* A load and a store, not an exchange: a hit that fills the slot in between is
         * lost, which a lossy buffer allows, and costs no locked instruction per slot. */
        orm__centry *e = atomic_load_explicit(&s->ring[i], memory_order_acquire);
        if (!e)
            continue;
        atomic_store_explicit(&s->ring[i], NULL, memory_order_relaxed);
        if (!orm__cpolicy_access_quick(&L->pol, e))
            orm__cpolicy_access(&L->pol, e);
    }
}

/* Lock pol_mu for a write, and apply the caller's own buffered reads first, so a thread's
 * write is ordered after its reads (other threads' reads reach the policy when their buffers
 * are drained: a lossy buffer keeps no order between threads). */
void orm__local_pol_lock_write(local *L)
{
    int owned;
    pthread_mutex_lock(&L->pol_mu);
    stripe *st = my_stripe(L, &owned);
    if (atomic_load_explicit(&st->ring_w, memory_order_relaxed))
        orm__local_drain(L, st);
}

