/* The local cache's removal, notification and deferred frees.
 *
 * A removed entry is unlinked from its table, the policy and the wheel under the locks
 * (orm__local_detach), chained on the caller's dead list, and handed, after every lock is
 * released, to the listeners (orm__local_bury), then retired: it joins the limbo, stamped with
 * the current epoch, and is freed once every stripe that ever buffered a read has been drained
 * since (see the comment in local_internal.h for why, and the bounds that drain laggards).
 *
 * Keeps true: a read buffer never holds a freed entry; listeners run with no lock held, once
 * per removed entry; count, bytes and the removal counts change only under pol_mu; a built-in
 * value's free callback (the caller's code) runs outside the locks.
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

/* Free an entry that no lock, table or read buffer reaches any more (its value reference is
 * released apart). An embedded entry drops the hold its block has on the value built into it:
 * the block goes with the last reference, so a caller still holding that value keeps it. */
void orm__local_entry_drop(orm__centry *e)
{
    if (e->flags & ORM__E_EMBEDDED)
        orm_cache_ref_release((orm_cache_ref *)((char *)e + embed_offset(e->klen)));
    else
        orm__free(e);
}

/* entry_drop every entry of a chain linked by next. */
void orm__local_drop_chain(orm__centry *e)
{
    while (e) {
        orm__centry *next = e->next;
        orm__local_entry_drop(e);
        e = next;
    }
}

/* Unlink e from everything and chain it on d with its reason. Caller holds pol_mu and the
 * write lock of e's shard. */
void orm__local_detach(local *L, shard *s, orm__centry *e, orm_cache_reason why, dead_list *d)
{
    orm__ctable_remove(&s->tab, e);
    orm__cpolicy_remove(&L->pol, e);
    orm__local_wheel_del(e);
    L->count--;
    L->bytes -= e->charge;
    L->removals[why]++;
    e->flags = (uint8_t)((e->flags & ORM__E_EMBEDDED) | ORM__E_DEAD | (why << 4));
    e->next = d->head; /* off the policy's queues now, so its link is free */
    d->head = e;
}

void orm__local_notify(local *L, const char *key, orm_cache_ref *old, orm_cache_ref *nv, orm_cache_reason why)
{
    int n = atomic_load_explicit(&L->nlisteners, memory_order_acquire);
    for (int i = 0; i < n; i++)
        L->listeners[i].cb(key, old, nv, why, L->listeners[i].userdata);
}

/* Chain the retired entries that no read buffer can hold any more on *out. Caller holds
 * pol_mu. Looks at the stripes once per RECLAIM_BATCH retirements; drains the stripes that
 * hold the limbo back when it is over its bounds. */
static void reclaim(local *L, orm__centry **out)
{
    if (L->nlimbo < RECLAIM_BATCH)
        return;
    int force = L->nlimbo >= LIMBO_MAX || L->limbo_bytes >= LIMBO_MAX_BYTES;
    uint64_t safe = L->epoch; /* entries retired before this epoch may go */
    for (unsigned k = 0; k < L->nstripes; k++) {
        stripe *st = stripe_at(L, k);
        if (!atomic_load_explicit(&st->ring_w, memory_order_relaxed) || L->drained[k] >= safe)
            continue; /* never buffered a read, or drained since every retirement */
        if (force)
            orm__local_drain(L, st);
        else
            safe = L->drained[k];
    }
    orm__centry *e;
    while ((e = L->limbo) && e->retired < safe) {
        L->limbo = e->next;
        L->nlimbo--;
        if (e->flags & ORM__E_EMBEDDED)
            L->limbo_bytes -= e->charge;
        e->next = *out;
        *out = e;
    }
    if (!L->limbo)
        L->limbo_tail = NULL;
}

/* Put the entries of list (linked by next) at the limbo's tail, retired in epoch. Caller
 * holds pol_mu. */
static void limbo_append(local *L, orm__centry *list, uint64_t epoch)
{
    for (orm__centry *e = list, *next; e; e = next) {
        next = e->next;
        e->retired = epoch;
        e->next = NULL;
        if (L->limbo_tail)
            L->limbo_tail->next = e;
        else
            L->limbo = e;
        L->limbo_tail = e;
        L->nlimbo++;
        if (e->flags & ORM__E_EMBEDDED)
            L->limbo_bytes += e->charge;
    }
}

/* Retire the entries of two lists (linked by next): each is freed once no read buffer can
 * hold it. */
static void retire(local *L, orm__centry *list, orm__centry *more)
{
    if (!list && !more)
        return;
    orm__centry *freed = NULL;
    pthread_mutex_lock(&L->pol_mu);
    uint64_t epoch = L->epoch++;
    limbo_append(L, list, epoch);
    limbo_append(L, more, epoch);
    reclaim(L, &freed);
    pthread_mutex_unlock(&L->pol_mu);
    orm__local_drop_chain(freed); /* outside the lock: a built-in object's free callback is the caller's code */
}

/* Call the listeners for every removed entry on d and release its value, then retire the
 * entries of d. No lock may be held. */
void orm__local_bury(local *L, dead_list *d)
{
    for (orm__centry *e = d->head; e; e = e->next) {
        orm__local_notify(L, e->key, e->val, NULL, ORM__E_REASON(e));
        orm_cache_ref_release(e->val);
    }
    retire(L, d->head, d->silent);
    d->head = d->silent = NULL;
}

