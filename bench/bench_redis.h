/* orm-bench — W5's cache get path with Redis (bench_redis.c). */
#ifndef ORM_BENCH_REDIS_H
#define ORM_BENCH_REDIS_H

/* Run the rows against ORM_BENCH_REDIS_URL (a line saying so when it is not set). 0 or -1. */
int bench_w5_redis_run(int json, int quick);

#endif
