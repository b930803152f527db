/* orm-bench — W7's reference policies (bench_policy_ref.c): ARC and Belady's optimum,
 * simulated over a trace's keys renumbered densely. */
#ifndef ORM_BENCH_POLICY_REF_H
#define ORM_BENCH_POLICY_REF_H

#include <stdint.h>

/* keys[0..n) renumbered 0..*distinct-1 in order of first use; NULL when out of memory. The
 * caller frees the result. */
long *bench_ref_dense_ids(const uint64_t *keys, long n, long *distinct);

/* Hit ratio of ARC (Megiddo & Modha) with c entries over ids[0..n); -1 when out of memory. */
double bench_ref_arc(const long *ids, long n, long distinct, long c);

/* Hit ratio of Belady's optimum with c entries (a missed key may be left out); -1 when out of
 * memory. */
double bench_ref_opt(const long *ids, long n, long distinct, long c);

#endif
