/* orm-bench — W6's raw side: the table a C developer would write instead of linking the
 * cache, so each cache row has a baseline measured in the same run (docs/BENCH.md: compare as
 * ratios). A uthash table of the same keys and 8-byte values, read with no lock at all, as a
 * program may when nothing writes it while it is read: no thread safety for writers, no
 * expiry, no limits, no eviction policy, no statistics. What the cache costs above it is
 * what those cost; the two-thread run of it shows how far this machine lets two threads of
 * lookups scale at that moment, which no cache can beat. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#include "bench_cache.h"

typedef struct raw_item {
    UT_hash_handle hh;
    uint64_t value;
    char key[]; /* NUL-terminated */
} raw_item;

struct bench_raw_table {
    raw_item *head;
    int oom;
};

/* uthash's out-of-memory hook: the add is undone, and the table remembers it. */
#undef uthash_nonfatal_oom
#define uthash_nonfatal_oom(obj) (t->oom = 1)

bench_raw_table *bench_raw_table_new(void) { return calloc(1, sizeof(bench_raw_table)); }

int bench_raw_table_put(bench_raw_table *t, const char *key, uint64_t value)
{
    size_t len = strlen(key);
    raw_item *it = malloc(sizeof *it + len + 1);
    if (!it)
        return -1;
    memcpy(it->key, key, len + 1);
    it->value = value;
    HASH_ADD_KEYPTR(hh, t->head, it->key, (unsigned)len, it);
    if (t->oom) {
        free(it);
        return -1;
    }
    return 0;
}

int bench_raw_table_get_copy(const bench_raw_table *t, const char *key, uint64_t *out)
{
    raw_item *it;
    HASH_FIND_STR(t->head, key, it);
    if (!it)
        return -1;
    *out = it->value;
    return 0;
}

void bench_raw_table_free(bench_raw_table *t)
{
    if (!t)
        return;
    raw_item *it, *tmp;
    HASH_ITER(hh, t->head, it, tmp)
    {
        HASH_DEL(t->head, it);
        free(it);
    }
    free(t);
}
