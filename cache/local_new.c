/* Making and closing a local cache: options, shards and stripes, the policy and the wheel,
 * the sweep thread; and freeing it all.
 *
 * Keeps true: a cache that failed to be made leaves nothing allocated and no thread running;
 * a closed cache is out of the live list (so no exiting thread walks its stripes) before it
 * is freed, and its sweep thread has been joined.
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

static void free_entry(orm__centry *e, void *arg)
{
    (void)arg;
    orm_cache_ref_release(e->val);
    orm__local_entry_drop(e);
}

void orm__local_free_all(local *L)
{
    orm__local_drop_chain(L->limbo); /* no thread reads a closed cache: its buffers are dead too */
    L->limbo = NULL;
    if (L->shards) {
        for (size_t i = 0; i < ((size_t)1 << L->shard_bits); i++) {
            shard *s = &L->shards[i];
            orm__ctable_drain(&s->tab, free_entry, NULL);
            orm__ctable_free(&s->tab);
        }
    }
    orm__cpolicy_free(&L->pol);
    orm__free(L->shard_mem);
    orm__free(L->stripe_mem);
    orm__free(L->drained);
    orm__free(L->wheel);
    pthread_mutex_destroy(&L->pol_mu);
    pthread_mutex_destroy(&L->stop_mu);
    pthread_cond_destroy(&L->stop_cv);
    orm__free(L);
}

int orm__local_close(local *L)
{
    orm__local_live_remove(L);
    if (L->sweeper_running) {
        pthread_mutex_lock(&L->stop_mu);
        L->stop = 1;
        pthread_cond_signal(&L->stop_cv);
        pthread_mutex_unlock(&L->stop_mu);
        pthread_join(L->sweeper, NULL);
    }
    orm__local_free_all(L);
    return ORM_OK;
}

int orm_cache_local_options_init(orm_cache_local_options *opts, unsigned version)
{
    if (!opts || version != ORM_CACHE_LOCAL_OPTIONS_VERSION)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options_init: unknown version %u", version);
    orm_cache_local_options d = ORM_CACHE_LOCAL_OPTIONS_INIT;
    *opts = d;
    return ORM_OK;
}

static int init_shards(local *L, unsigned n)
{
    unsigned bits = 0;
    while ((1u << bits) < n && bits < 12)
        bits++;
    L->shard_bits = bits;
    L->shard_shift = 32 - bits;
    size_t count = (size_t)1 << bits;
    L->shard_mem = orm__calloc(1, count * sizeof(shard) + 64);
    if (!L->shard_mem)
        return orm__error_nomem("cache");
    /* Cache-line aligned, so shards do not share lines. */
    L->shards = (shard *)(((uintptr_t)L->shard_mem + 63) & ~(uintptr_t)63);
    /* A count-limited cache sizes its tables for its limit (2.5% over the mean share, three
     * standard deviations at 12,500 entries a shard), so they never grow. */
    uint64_t per = L->o.max_entries ? L->o.max_entries / count + L->o.max_entries / count / 40 + 1 : 0;
    for (size_t i = 0; i < count; i++) {
        shard *s = &L->shards[i];
        if (orm__ctable_init(&s->tab, per) != ORM_OK) {
            for (size_t j = 0; j < i; j++)
                orm__ctable_free(&L->shards[j].tab);
            L->shards = NULL;
            return orm__error_nomem("cache");
        }
        s->index = (uint32_t)i;
        atomic_init(&s->writer, 0);
        for (size_t g = 0; g < sizeof s->gens / sizeof s->gens[0]; g++)
            s->gens[g] = 1; /* a generation is never 0 (orm_cache_gen: 0 is "not read") */
    }
    /* Stripes: the next power of two at or above twice the CPUs, 2..64. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned stripes = 2;
    while (stripes < 64 && (long)stripes < 2 * cpus)
        stripes *= 2;
    L->stripe_mask = stripes - 1;
    L->nstripes = 2 * stripes; /* the ownable ones, then as many shared */
    L->stripe_size = (sizeof(stripe) + count * sizeof(atomic_uint) + 63) & ~(size_t)63;
    L->stripe_mem = orm__calloc(1, L->nstripes * L->stripe_size + 64);
    if (!L->stripe_mem)
        return orm__error_nomem("cache"); /* free_all frees the shards' tables */
    L->stripes = (char *)(((uintptr_t)L->stripe_mem + 63) & ~(uintptr_t)63);
    for (unsigned k = 0; k < L->nstripes; k++)
        stripe_at(L, k)->index = k;
    L->epoch = 1; /* drained[k] == 0: never drained, before every retirement */
    if (!(L->drained = orm__calloc(L->nstripes, sizeof *L->drained)))
        return orm__error_nomem("cache");
    return ORM_OK;
}

int orm_cache_local_new(orm_cache **out, const orm_cache_local_options *opts)
{
    if (!out)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_new: NULL out");
    *out = NULL;
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    if (opts) {
        if (opts->version != ORM_CACHE_LOCAL_OPTIONS_VERSION)
            return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options: unknown version %u", opts->version);
        o = *opts;
    }
    if (o.policy != ORM_CACHE_TINYLFU && o.policy != ORM_CACHE_LRU)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options.policy: unknown policy %d", (int)o.policy);
    if (o.tick_ms < 0 || o.sweep_max_us < 0)
        return orm__error_set(ORM_EINVAL, "cache", "orm_cache_local_options: negative tick_ms or sweep_max_us");
    if (!o.shards) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o.shards = cpus > 0 && cpus < 16 ? (unsigned)cpus * 4 : 64;
        if (o.shards < 8)
            o.shards = 8;
    }
    if (!o.tick_ms)
        o.tick_ms = 1000;
    if (!o.sweep_max_entries)
        o.sweep_max_entries = 1024;
    if (!o.sweep_max_us)
        o.sweep_max_us = 1000;

    local *L = orm__calloc(1, sizeof *L);
    if (!L)
        return orm__error_nomem("cache");
    L->base.ops = &orm__cache_local_ops;
    L->o = o;
    pthread_mutex_init(&L->pol_mu, NULL);
    pthread_mutex_init(&L->stop_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&L->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    int by_bytes = o.max_entries == 0 && o.max_bytes != 0;
    uint64_t max = o.max_entries ? o.max_entries : o.max_bytes;
    uint64_t expected = o.max_entries ? o.max_entries : (o.max_bytes ? o.max_bytes / 256 + 1 : 0);
    if (expected > (1u << 26))
        expected = 1u << 26;
    L->tracking = max != 0;
    int rc = orm__cpolicy_init(&L->pol, (int)o.policy, by_bytes, max, expected);
    if (!rc)
        rc = init_shards(L, o.shards);
    if (!rc && !(L->wheel = orm__calloc(WHEEL_SLOTS, sizeof *L->wheel)))
        rc = orm__error_nomem("cache");
    if (rc) {
        orm__local_free_all(L);
        return rc;
    }
    orm__local_wheel_reset(L);
    L->cursor = tick_of(L, now_ms(L));
    if (o.listener)
        orm__cache_local_ops.subscribe(&L->base, o.listener, o.listener_userdata);
    if (o.background_sweep) {
        if (pthread_create(&L->sweeper, NULL, orm__local_sweeper_main, L) != 0) {
            orm__local_free_all(L);
            return orm__error_set(ORM_ERROR, "cache", "orm_cache_local_new: cannot start the sweep thread");
        }
        L->sweeper_running = 1;
    }
    orm__local_live_add(L);
    *out = &L->base;
    return ORM_OK;
}
