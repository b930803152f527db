/* orm-bench — W5's cache get path with Redis (bench_redis.c). */
#ifndef ORM_BENCH_REDIS_H
#define ORM_BENCH_REDIS_H

/* Run the rows against ORM_BENCH_REDIS_URL (a line saying so when it is not set). 0 or -1. */
int bench_w5_redis_run(int json, int quick);

#include <stddef.h>
#include <stdint.h>

#include "orm/orm.h"

/* A db on dsn with a row cache over the Redis of ORM_BENCH_REDIS_URL (two: a local level in
 * front of it), users read-write, under a fresh key prefix (written into prefix). NULL when the
 * URL is not set, or after saying what failed. */
orm_db *bench_redis_row_db(const char *dsn, int two, char *prefix, size_t cap);
/* Seconds for a raw GET (one loopback round trip) of each of ids' rows under prefix, or -1. */
double bench_redis_raw_gets(const char *prefix, const int64_t *ids, size_t n);

#endif
