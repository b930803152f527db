#!/usr/bin/env bash
# run-tests.sh ASAN_BUILD TSAN_BUILD JOBS — run inside scripts/with-postgres.sh and
# scripts/with-redis.sh (make test).
# Every suite in the sanitizer build, then the concurrent ones (ctest label "tsan") under
# ThreadSanitizer. Fails when PostgreSQL or Redis is not there: no test run silently skips them.
set -euo pipefail
asan=$1 tsan=$2 jobs=${3:-2}
[ -n "${ORM_TEST_PG_DSN:-}" ] || { echo "run-tests: ORM_TEST_PG_DSN is not set (start PostgreSQL with scripts/with-postgres.sh)" >&2; exit 1; }
[ -n "${ORM_TEST_REDIS_URL:-}" ] || { echo "run-tests: ORM_TEST_REDIS_URL is not set (start Redis with scripts/with-redis.sh)" >&2; exit 1; }
echo "== ASan+UBSan: every suite, SQLite and PostgreSQL =="
ctest --test-dir "$asan" --output-on-failure -j "$jobs"
echo "== ThreadSanitizer: the concurrent suites =="
ctest --test-dir "$tsan" --output-on-failure -L tsan -j "$jobs"
