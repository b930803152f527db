/* orm-bench — W7's reference policies, simulated on the trace's keys (not the library):
 * ARC (Megiddo & Modha, FAST 2003) and Belady's optimum, the ceiling every policy is measured
 * against.
 *
 * Kept true: both are exact simulations of the published algorithms over dense key ids, with
 * no hashing shortcuts, so their numbers are reference numbers: ARC as in the paper's
 * pseudocode (integer adaptation steps, as its reference simulators), OPT with bypass (a
 * missed key is not kept when it is used again later than every entry in the cache, which is
 * what an admission policy such as TinyLFU may also do). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_policy_ref.h"

/* ---- dense ids: the trace's keys renumbered 0..distinct-1 ---- */

long *bench_ref_dense_ids(const uint64_t *keys, long n, long *distinct)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2)
        cap <<= 1;
    uint64_t *slot_key = malloc(cap * sizeof *slot_key);
    long *slot_id = malloc(cap * sizeof *slot_id);
    long *ids = malloc((size_t)n * sizeof *ids);
    if (!slot_key || !slot_id || !ids) {
        free(slot_key);
        free(slot_id);
        free(ids);
        return NULL;
    }
    for (uint64_t i = 0; i < cap; i++)
        slot_id[i] = -1;
    long next = 0;
    for (long i = 0; i < n; i++) {
        uint64_t h = keys[i] * 0x9E3779B97F4A7C15ULL;
        uint64_t s = (h ^ (h >> 29)) & (cap - 1);
        while (slot_id[s] >= 0 && slot_key[s] != keys[i])
            s = (s + 1) & (cap - 1);
        if (slot_id[s] < 0) {
            slot_key[s] = keys[i];
            slot_id[s] = next++;
        }
        ids[i] = slot_id[s];
    }
    free(slot_key);
    free(slot_id);
    *distinct = next;
    return ids;
}

/* ---- ARC ---- */

/* Four LRU lists over ids, in arrays; list LISTS is "in none". Sentinels are ids m..m+3. */
enum { T1, T2, B1, B2, LISTS };

typedef struct arc {
    long *prev, *next;
    unsigned char *in;
    long len[LISTS];
    long m; /* distinct ids; list l's sentinel is m + l */
} arc;

static void arc_unlink(arc *a, long x)
{
    a->next[a->prev[x]] = a->next[x];
    a->prev[a->next[x]] = a->prev[x];
    a->len[a->in[x]]--;
    a->in[x] = LISTS;
}

static void arc_push_mru(arc *a, int l, long x)
{
    long h = a->m + l;
    a->prev[x] = a->prev[h];
    a->next[x] = h;
    a->next[a->prev[h]] = x;
    a->prev[h] = x;
    a->in[x] = (unsigned char)l;
    a->len[l]++;
}

static long arc_lru(const arc *a, int l) { return a->next[a->m + l]; }

/* REPLACE(x, p): make room in the cache by moving T1's or T2's LRU page to its ghost. */
static void arc_replace(arc *a, int x_in_b2, long p)
{
    if (a->len[T1] >= 1 && ((x_in_b2 && a->len[T1] == p) || a->len[T1] > p)) {
        long v = arc_lru(a, T1);
        arc_unlink(a, v);
        arc_push_mru(a, B1, v);
    } else {
        long v = arc_lru(a, T2);
        arc_unlink(a, v);
        arc_push_mru(a, B2, v);
    }
}

double bench_ref_arc(const long *ids, long n, long distinct, long c)
{
    arc a;
    memset(&a, 0, sizeof a);
    a.m = distinct;
    a.prev = malloc((size_t)(distinct + LISTS) * sizeof *a.prev);
    a.next = malloc((size_t)(distinct + LISTS) * sizeof *a.next);
    a.in = malloc((size_t)distinct);
    if (!a.prev || !a.next || !a.in) {
        free(a.prev);
        free(a.next);
        free(a.in);
        return -1;
    }
    memset(a.in, LISTS, (size_t)distinct);
    for (int l = 0; l < LISTS; l++)
        a.prev[distinct + l] = a.next[distinct + l] = distinct + l;
    long p = 0, hits = 0;
    for (long i = 0; i < n; i++) {
        long x = ids[i];
        int l = a.in[x];
        if (l == T1 || l == T2) { /* case I */
            hits++;
            arc_unlink(&a, x);
            arc_push_mru(&a, T2, x);
        } else if (l == B1) { /* case II: T1 was too small */
            long d = a.len[B1] >= a.len[B2] ? 1 : a.len[B2] / a.len[B1];
            p = p + d < c ? p + d : c;
            arc_replace(&a, 0, p);
            arc_unlink(&a, x);
            arc_push_mru(&a, T2, x);
        } else if (l == B2) { /* case III: T2 was too small */
            long d = a.len[B2] >= a.len[B1] ? 1 : a.len[B1] / a.len[B2];
            p = p - d > 0 ? p - d : 0;
            arc_replace(&a, 1, p);
            arc_unlink(&a, x);
            arc_push_mru(&a, T2, x);
        } else { /* case IV: a new page */
            long l1 = a.len[T1] + a.len[B1];
            long all = l1 + a.len[T2] + a.len[B2];
            if (l1 == c) {
                if (a.len[T1] < c) {
                    arc_unlink(&a, arc_lru(&a, B1));
                    arc_replace(&a, 0, p);
                } else {
                    arc_unlink(&a, arc_lru(&a, T1));
                }
            } else if (all >= c) {
                if (all == 2 * c)
                    arc_unlink(&a, arc_lru(&a, B2));
                arc_replace(&a, 0, p);
            }
            arc_push_mru(&a, T1, x);
        }
    }
    free(a.prev);
    free(a.next);
    free(a.in);
    return (double)hits / (double)n;
}

/* ---- Belady's optimum ---- */

/* A max-heap of (next use, id); entries go stale when their id is used again or evicted
 * (cur[id] then no longer equals the entry's next use) and are skipped when popped. */
typedef struct opt_item {
    long when, id;
} opt_item;

static void heap_push(opt_item *h, long *len, opt_item it)
{
    long i = (*len)++;
    while (i > 0 && h[(i - 1) / 2].when < it.when) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = it;
}

static opt_item heap_pop(opt_item *h, long *len)
{
    opt_item top = h[0], last = h[--*len];
    long i = 0;
    for (;;) {
        long c = 2 * i + 1;
        if (c >= *len)
            break;
        if (c + 1 < *len && h[c + 1].when > h[c].when)
            c++;
        if (h[c].when <= last.when)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*len > 0)
        h[i] = last;
    return top;
}

double bench_ref_opt(const long *ids, long n, long distinct, long c)
{
    long *nextuse = malloc((size_t)n * sizeof *nextuse);
    long *last = malloc((size_t)distinct * sizeof *last);
    long *cur = malloc((size_t)distinct * sizeof *cur); /* next use while cached, else -1 */
    opt_item *heap = malloc((size_t)(n + 1) * sizeof *heap);
    if (!nextuse || !last || !cur || !heap) {
        free(nextuse);
        free(last);
        free(cur);
        free(heap);
        return -1;
    }
    for (long k = 0; k < distinct; k++) {
        last[k] = n; /* never again: later than any index */
        cur[k] = -1;
    }
    for (long i = n - 1; i >= 0; i--) {
        nextuse[i] = last[ids[i]];
        last[ids[i]] = i;
    }
    long hits = 0, size = 0, hlen = 0;
    for (long i = 0; i < n; i++) {
        long x = ids[i];
        if (cur[x] >= 0)
            hits++;
        else
            size++;
        /* The key just used goes in too: when it is used later than every cached key it is
         * the one dropped (a bypass). */
        cur[x] = nextuse[i];
        heap_push(heap, &hlen, (opt_item){ nextuse[i], x });
        while (size > c) {
            opt_item v = heap_pop(heap, &hlen);
            if (cur[v.id] != v.when)
                continue; /* stale */
            cur[v.id] = -1;
            size--;
        }
    }
    free(nextuse);
    free(last);
    free(cur);
    free(heap);
    return (double)hits / (double)n;
}
