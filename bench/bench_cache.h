/* orm-bench — the cache workloads (W6, W7), implemented in bench_cache.c. */
#ifndef ORM_BENCH_CACHE_H
#define ORM_BENCH_CACHE_H

#include <stdint.h>

/* W6: hit latency on the local cache (1 and 2 threads) and hit ratio per eviction policy on
 * a Zipf(0.99) stream at 1% and 10% of the key space. json: one JSON object per line, else a
 * readable table. quick: a tenth of each count. Returns 0 or 1 on failure. */
int bench_w6_run(int json, int quick);

/* W7: replay a trace (path, or "-" for stdin; format "lirs" or "cache2k") through a cache of
 * size entries, for one policy or, policy NULL, every policy. Returns 0, or 1 with a message
 * on stderr. */
int bench_w7_run(const char *path, const char *format, long size, const char *policy, int json);

/* W6's raw side (bench_cache_raw.c): a uthash table of keys and 8-byte values, read without
 * locks. new: NULL when out of memory; put: 0, or -1 when out of memory; get_copy: 0, or -1
 * when the key is absent. Safe for concurrent get_copy calls while no put runs. */
typedef struct bench_raw_table bench_raw_table;
bench_raw_table *bench_raw_table_new(void);
int bench_raw_table_put(bench_raw_table *t, const char *key, uint64_t value);
int bench_raw_table_get_copy(const bench_raw_table *t, const char *key, uint64_t *out);
void bench_raw_table_free(bench_raw_table *t);

#endif
