/* liborm — allocation wrappers with a fail-the-Nth-allocation test hook (see alloc.h).
 * The counters are atomics so the hook is harmless when several threads allocate; they count
 * only once a test has armed the hook. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "orm/alloc.h"

static atomic_long fail_countdown = -1; /* < 0: never fail */
static atomic_long attempts;
static atomic_int injected;
/* Set by the first orm__alloc_fail_after: until a test arms the hook, an allocation reads
 * this one flag and writes nothing (a counter every thread bumped would be a contended
 * cache line on every allocation of a service's threads). */
static atomic_int armed;

static int should_fail(void)
{
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    atomic_fetch_add_explicit(&attempts, 1, memory_order_relaxed);
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (c < 0)
        return 0;
    if (atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed) == 0) {
        atomic_store(&injected, 1);
        return 1;
    }
    return 0;
}

long orm__alloc_fail_after(long n)
{
    atomic_store(&armed, 1);
    long prev = atomic_exchange(&attempts, 0);
    atomic_store(&injected, 0);
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
    return prev;
}

int orm__alloc_failed(void) { return atomic_load(&injected); }

void *orm__malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }
void *orm__calloc(size_t count, size_t size) { return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1); }
void *orm__realloc(void *p, size_t n) { return should_fail() ? NULL : realloc(p, n ? n : 1); }
void orm__free(void *p) { free(p); }

char *orm__strndup(const char *s, size_t n)
{
    char *d = orm__malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *orm__strdup(const char *s) { return orm__strndup(s, strlen(s)); }
