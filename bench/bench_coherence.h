/* orm-bench — W8, cross-process coherence lag (bench_coherence.c). */
#ifndef ORM_BENCH_COHERENCE_H
#define ORM_BENCH_COHERENCE_H

/* Run W8 on SQLite and, when ORM_BENCH_PG_DSN is set, PostgreSQL. 0, or -1 on a failure. */
int bench_w8_run(int json, int quick);

#endif
