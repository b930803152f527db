/* orm-bench — W6 (the local cache alone: hit latency on 1 and 2 threads, Zipf hit ratios) and
 * W7 (replaying a real access trace) of docs/BENCH.md.
 *
 * Kept true: every run is deterministic (fixed seeds); the caches run without the background
 * sweep thread, so only the measured work runs; W6's ns_per_op is wall time divided by the
 * operations of all threads (so two threads at twice the throughput show half the ns/op). */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cache.h"
#include "bench_policy_ref.h"
#include "orm/cache.h"
#include "orm/error.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static orm_cache *new_cache(size_t max_entries, orm_cache_policy policy)
{
    orm_cache_local_options o = ORM_CACHE_LOCAL_OPTIONS_INIT;
    o.max_entries = max_entries;
    o.policy = policy;
    o.background_sweep = 0;
    orm_cache *c = NULL;
    if (orm_cache_local_new(&c, &o) != ORM_OK)
        fprintf(stderr, "orm-bench: cache: %s\n", orm_error_last()->message);
    return c;
}

/* ---- W6: hit latency ---- */

#define W6_KEYS 100000
#define KEYLEN 24
#define KEY_SLOT 16 /* "users:99999" and its NUL, in a slot of a materialized key sequence */

#define SEQ_LEN (1 << 20) /* keys per access pattern, replayed in a loop */

/* What a W6 thread reads with: the cache's two reads, or the raw table (bench_cache_raw.c). */
enum { API_GET, API_GET_COPY, API_RAW, API_COUNT };
static const char *const api_names[API_COUNT] = { "get", "get_copy", "uthash" };

typedef struct hit_job {
    orm_cache *c;
    const bench_raw_table *raw;
    int cpu; /* pinned to this CPU, or -1 */
    int api; /* API_*: get and release, get_copy into a local, or the raw table's lookup */
    const char *keys; /* SEQ_LEN keys in access order, KEY_SLOT bytes each */
    long ops, start;
    long misses;
    double cpu_s; /* this thread's CPU time in the loop */
} hit_job;

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "users:<id>" into buf, as the ORM makes "table:pk" keys from a primary key. */
static void format_key(char *buf, uint32_t id)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[12];
    int n = 12;
    while (id >= 100) {
        unsigned d = (id % 100) * 2;
        id /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (id >= 10) {
        tmp[--n] = pairs[id * 2 + 1];
        tmp[--n] = pairs[id * 2];
    } else {
        tmp[--n] = (char)('0' + id);
    }
    memcpy(buf, "users:", 6);
    memcpy(buf + 6, tmp + n, (size_t)(12 - n));
    buf[6 + 12 - n] = '\0';
}

static void *hit_worker(void *arg)
{
    hit_job *j = arg;
#ifdef __linux__
    if (j->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(j->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
#endif
    double c0 = thread_cpu_s();
    uint64_t v;
    for (long i = 0; i < j->ops; i++) {
        orm_cache_ref *r;
        const char *key = j->keys + ((j->start + i) & (SEQ_LEN - 1)) * KEY_SLOT;
        if (j->api == API_GET_COPY) {
            if (orm_cache_get_copy(j->c, key, &v, sizeof v, NULL) != ORM_OK)
                j->misses++;
        } else if (j->api == API_RAW) {
            if (bench_raw_table_get_copy(j->raw, key, &v) != 0)
                j->misses++;
        } else if (orm_cache_get(j->c, key, &r) == ORM_OK) {
            orm_cache_ref_release(r);
        } else {
            j->misses++;
        }
    }
    j->cpu_s = thread_cpu_s() - c0;
    return NULL;
}

/* The n-th CPU this process may run on, or -1. Each W6 thread is pinned to its own CPU: left
 * alone, the scheduler moves a lone thread between this VM's two CPUs and it loses its private
 * L2 cache each time, which made one thread look slower per operation than each of two. */
static int nth_cpu(int n)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &set) && n-- == 0)
                return cpu;
#else
    (void)n;
#endif
    return -1;
}

/* Wall ns per op over all threads' ops; *cpu_ns (may be NULL) the same in CPU time, which a
 * loaded machine inflates less. */
static double hit_run(orm_cache *c, const bench_raw_table *raw, const char *keys, int api, int threads,
                      long ops, double *cpu_ns)
{
    pthread_t t[2];
    hit_job jobs[2];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (hit_job){ c, raw, nth_cpu(i), api, keys, ops, (long)i * (SEQ_LEN / 2), 0, 0 };
        pthread_create(&t[i], NULL, hit_worker, &jobs[i]);
    }
    double cpu = 0;
    long misses = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        cpu += jobs[i].cpu_s;
        misses += jobs[i].misses;
    }
    if (misses) /* every key was stored: a miss is a cache bug, and would time the wrong path */
        fprintf(stderr, "orm-bench: W6: %ld of %ld %s reads missed\n", misses, ops * threads, api_names[api]);
    if (cpu_ns)
        *cpu_ns = cpu * 1e9 / ((double)ops * threads);
    return (now_s() - t0) * 1e9 / ((double)ops * threads);
}

/* ---- W6: Zipf hit ratio ---- */

/* Keys 0..n-1 drawn with P(k) proportional to 1/(k+1)^s, by inverting a precomputed CDF. */
static double *zipf_cdf(long n, double s)
{
    double *cdf = malloc((size_t)n * sizeof *cdf);
    if (!cdf)
        return NULL;
    double sum = 0;
    for (long k = 0; k < n; k++)
        cdf[k] = (sum += 1.0 / pow((double)(k + 1), s));
    for (long k = 0; k < n; k++)
        cdf[k] /= sum;
    return cdf;
}

static long zipf_draw(const double *cdf, long n, uint64_t *seed)
{
    double u = (double)(xorshift(seed) >> 11) / 9007199254740992.0;
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Replay keys (as decimal strings) through a cache of size entries: get, and set on a miss. */
static double replay(const uint64_t *keys, long n, size_t size, orm_cache_policy policy)
{
    orm_cache *c = new_cache(size, policy);
    if (!c)
        return -1;
    long hits = 0;
    char buf[32];
    uint64_t one = 1;
    for (long i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)keys[i]);
        orm_cache_ref *r;
        if (orm_cache_get(c, buf, &r) == ORM_OK) {
            hits++;
            orm_cache_ref_release(r);
        } else {
            orm_cache_set_bytes(c, buf, &one, sizeof one, 0);
        }
    }
    orm_cache_close(c);
    return (double)hits / (double)n;
}

static const char *policy_name(orm_cache_policy p) { return p == ORM_CACHE_LRU ? "lru" : "tinylfu"; }

/* The best of three timings of each read, 1 and 2 threads, on one key sequence. The reads
 * take turns within each round, so a swing of this VM's speed (2x from minute to minute)
 * hits all of them alike and the ratios hold. */
static void w6_pattern(orm_cache *c, const bench_raw_table *raw, const char *kseq, const char *pname,
                       long ops, int json)
{
    double best[3][API_COUNT], best_cpu[3][API_COUNT];
    for (int api = 0; api < API_COUNT; api++)
        hit_run(c, raw, kseq, api, 1, ops / 10, NULL); /* warm up */
    for (int threads = 1; threads <= 2; threads++) {
        for (int run = 0; run < 3; run++)
            for (int api = 0; api < API_COUNT; api++) {
                double cpu, wall = hit_run(c, raw, kseq, api, threads, ops, &cpu);
                if (run == 0 || wall < best[threads][api]) {
                    best[threads][api] = wall;
                    best_cpu[threads][api] = cpu;
                }
            }
        for (int api = 0; api < API_COUNT; api++) {
            double ns = best[threads][api], cpu_ns = best_cpu[threads][api];
            if (json)
                printf("{\"workload\":\"W6\",\"impl\":\"%s\",\"api\":\"%s\",\"keys\":\"%s\",\"threads\":%d,"
                       "\"n\":%ld,\"ns_per_op\":%.1f,\"cpu_ns_per_op\":%.1f}\n",
                       api == API_RAW ? "raw" : "cache", api_names[api], pname, threads, ops * threads, ns, cpu_ns);
            else if (api == API_RAW)
                printf("  %-8s hit, %-7s keys, %d thread%s: %6.1f ns/op wall (all threads' ops), %6.1f ns/op CPU\n",
                       api_names[api], pname, threads, threads > 1 ? "s" : "", ns, cpu_ns);
            else
                printf("  %-8s hit, %-7s keys, %d thread%s: %6.1f ns/op wall (all threads' ops), %6.1f ns/op CPU, "
                       "%.2fx uthash\n",
                       api_names[api], pname, threads, threads > 1 ? "s" : "", ns, cpu_ns, ns / best[threads][API_RAW]);
        }
    }
    if (!json)
        printf("  %-7s keys, 2 threads' throughput over 1 thread's: get %.2fx, get_copy %.2fx, uthash %.2fx\n", pname,
               best[1][API_GET] / best[2][API_GET], best[1][API_GET_COPY] / best[2][API_GET_COPY],
               best[1][API_RAW] / best[2][API_RAW]);
}

/* The cache and the raw table, both holding keys users:0 .. users:(W6_KEYS-1). */
static int w6_fill(orm_cache **c, bench_raw_table **raw)
{
    *c = new_cache(W6_KEYS, ORM_CACHE_TINYLFU);
    *raw = bench_raw_table_new();
    if (!*c || !*raw) {
        fprintf(stderr, "orm-bench: W6: out of memory\n");
        return 1;
    }
    uint64_t v = 42;
    char key[KEYLEN];
    for (uint32_t i = 0; i < W6_KEYS; i++) {
        format_key(key, i);
        if (orm_cache_set_bytes(*c, key, &v, sizeof v, 0) != ORM_OK) {
            fprintf(stderr, "orm-bench: W6 fill: %s\n", orm_error_last()->message);
            return 1;
        }
        if (bench_raw_table_put(*raw, key, v) != 0) {
            fprintf(stderr, "orm-bench: W6 fill: out of memory\n");
            return 1;
        }
    }
    return 0;
}

int bench_w6_run(int json, int quick)
{
    long ops = quick ? 200000 : 2000000;
    orm_cache *c = NULL;
    bench_raw_table *raw = NULL;
    /* Three access patterns over the same 100,000 entries: Zipf(0.99) with the ranks scattered
     * over the keys (what a cache in front of a database sees, and what cache benchmarks use);
     * uniform (every get a likely CPU-cache miss: bound by memory latency, not by the cache's
     * code); and a hot set of 1,000 keys chosen uniformly (the cost of a hit when its lines
     * are in the CPU's caches, so the code's own cost).
     * The keys are formatted ahead, in access order, and read sequentially (the CPU streams
     * them in), so the timing holds the get and not its key: a key formatted just before the
     * get costs some 19 ns more here, because strlen and the hash read the fresh bytes back
     * with wide loads before the narrow stores that wrote them have landed (a store-forwarding
     * stall, which a caller formatting its key right before the call pays too). */
    char *kseq = malloc((size_t)SEQ_LEN * KEY_SLOT);
    double *hcdf = zipf_cdf(W6_KEYS, 0.99);
    int failed = !kseq || !hcdf || w6_fill(&c, &raw);
    if (!failed && !json)
        printf("W6  cache alone (local, tinylfu, %d entries), against a uthash table read without locks\n", W6_KEYS);
    static const char *const pnames[3] = { "zipf", "uniform", "hot1000" };
    for (int pattern = 0; pattern < 3 && !failed; pattern++) {
        uint64_t seed = 99;
        for (long i = 0; i < SEQ_LEN; i++)
            format_key(kseq + i * KEY_SLOT,
                       pattern == 0   ? (uint32_t)((uint64_t)zipf_draw(hcdf, W6_KEYS, &seed) * 7919 % W6_KEYS)
                       : pattern == 1 ? (uint32_t)(xorshift(&seed) % W6_KEYS)
                                      : (uint32_t)(xorshift(&seed) % 1000 * 97));
        w6_pattern(c, raw, kseq, pnames[pattern], ops, json);
    }
    free(kseq);
    free(hcdf);
    if (c)
        orm_cache_close(c);
    bench_raw_table_free(raw);
    if (failed)
        return 1;

    long space = quick ? 100000 : 1000000, stream = quick ? 1000000 : 5000000;
    double *cdf = zipf_cdf(space, 0.99);
    uint64_t *seq = malloc((size_t)stream * sizeof *seq);
    if (!cdf || !seq) {
        free(cdf);
        free(seq);
        return 1;
    }
    uint64_t seed = 12345;
    for (long i = 0; i < stream; i++) /* scatter ranks so hot keys are not neighbours */
        seq[i] = (uint64_t)zipf_draw(cdf, space, &seed) * 0x9E3779B97F4A7C15ULL >> 20;
    free(cdf);
    int pcts[2] = { 1, 10 };
    for (int pi = 0; pi < 2; pi++)
        for (int p = 0; p < 2; p++) {
            orm_cache_policy pol = p ? ORM_CACHE_TINYLFU : ORM_CACHE_LRU;
            double hr = replay(seq, stream, (size_t)(space * pcts[pi] / 100), pol);
            if (json)
                printf("{\"workload\":\"W6\",\"impl\":\"cache\",\"policy\":\"%s\",\"cache_pct\":%d,\"keys\":%ld,"
                       "\"n\":%ld,\"hit_ratio\":%.4f}\n",
                       policy_name(pol), pcts[pi], space, stream, hr);
            else
                printf("  zipf(0.99) %ld keys, cache %2d%%, %-7s hit ratio %.4f\n", space, pcts[pi],
                       policy_name(pol), hr);
        }
    free(seq);
    return 0;
}

/* ---- W7 ---- */

static int read_trace(const char *path, const char *format, uint64_t **out, long *n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "orm-bench: cannot open trace %s\n", path);
        return 1;
    }
    long cap = 1 << 16, len = 0;
    uint64_t *keys = malloc((size_t)cap * sizeof *keys);
    int bad = !keys;
    int binary = strcmp(format, "cache2k") == 0;
    if (!binary && strcmp(format, "lirs") != 0) {
        fprintf(stderr, "orm-bench: unknown trace format '%s' (lirs or cache2k)\n", format);
        bad = 1;
    }
    char line[128];
    unsigned char be[4];
    while (!bad) {
        uint64_t k;
        if (binary) {
            if (fread(be, 1, 4, f) != 4)
                break;
            k = (uint64_t)be[0] << 24 | (uint64_t)be[1] << 16 | (uint64_t)be[2] << 8 | be[3];
        } else {
            if (!fgets(line, sizeof line, f))
                break;
            char *end;
            if (line[0] < '0' || line[0] > '9')
                continue; /* "*" checkpoints and blank lines */
            k = strtoull(line, &end, 10);
        }
        if (len == cap) {
            uint64_t *nk = realloc(keys, (size_t)(cap *= 2) * sizeof *keys);
            if (!nk) {
                bad = 1;
                break;
            }
            keys = nk;
        }
        keys[len++] = k;
    }
    if (f != stdin)
        fclose(f);
    if (bad || len == 0) {
        if (!bad)
            fprintf(stderr, "orm-bench: trace %s holds no keys\n", path);
        free(keys);
        return 1;
    }
    *out = keys;
    *n = len;
    return 0;
}

/* "…/loop.trace.gz" -> "loop" */
static void trace_name(const char *path, char *buf, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (strcmp(path, "-") == 0)
        b = "stdin";
    size_t n = strcspn(b, ".");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, b, n);
    buf[n] = '\0';
}

/* W7's policies: the library's two, then the reference ones of bench_policy_ref.c. */
static const char *const w7_policies[] = { "lru", "arc", "tinylfu", "opt" };
#define W7_POLICIES 4

static double w7_hit_ratio(const char *pol, const uint64_t *keys, long n, long size, const long *ids, long distinct)
{
    if (strcmp(pol, "lru") == 0)
        return replay(keys, n, (size_t)size, ORM_CACHE_LRU);
    if (strcmp(pol, "tinylfu") == 0)
        return replay(keys, n, (size_t)size, ORM_CACHE_TINYLFU);
    if (strcmp(pol, "arc") == 0)
        return bench_ref_arc(ids, n, distinct, size);
    return bench_ref_opt(ids, n, distinct, size);
}

int bench_w7_run(const char *path, const char *format, long size, const char *policy, int json)
{
    if (!path || !format || size <= 0) {
        fprintf(stderr, "orm-bench: W7 needs --trace PATH --format lirs|cache2k --size N\n");
        return 1;
    }
    int known = !policy;
    for (int p = 0; p < W7_POLICIES && !known; p++)
        known = strcmp(policy, w7_policies[p]) == 0;
    if (!known) {
        fprintf(stderr, "orm-bench: unknown policy '%s' (lru, arc, tinylfu or opt)\n", policy);
        return 1;
    }
    uint64_t *keys;
    long n, distinct = 0;
    if (read_trace(path, format, &keys, &n))
        return 1;
    long *ids = bench_ref_dense_ids(keys, n, &distinct);
    if (!ids) {
        fprintf(stderr, "orm-bench: W7: out of memory\n");
        free(keys);
        return 1;
    }
    char name[64];
    trace_name(path, name, sizeof name);
    int rc = 0;
    for (int p = 0; p < W7_POLICIES && !rc; p++) {
        const char *pol = w7_policies[p];
        if (policy && strcmp(policy, pol) != 0)
            continue;
        double hr = w7_hit_ratio(pol, keys, n, size, ids, distinct);
        if (hr < 0) {
            fprintf(stderr, "orm-bench: W7 %s: out of memory\n", pol);
            rc = 1;
        } else if (json) {
            printf("{\"workload\":\"W7\",\"trace\":\"%s\",\"format\":\"%s\",\"policy\":\"%s\",\"size\":%ld,"
                   "\"accesses\":%ld,\"distinct\":%ld,\"hit_ratio\":%.4f}\n",
                   name, format, pol, size, n, distinct, hr);
        } else {
            printf("W7  trace %-10s %-7s size %7ld  accesses %9ld  hit ratio %.4f\n", name, pol, size, n, hr);
        }
    }
    free(ids);
    free(keys);
    return rc;
}
