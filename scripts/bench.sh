#!/usr/bin/env bash
# Run orm-bench on sqlite, on a throwaway PostgreSQL and (W5's get path) a throwaway Redis, with
# the benchmark and the servers pinned to one CPU.
#
#   scripts/bench.sh BUILD_DIR [orm-bench arguments, e.g. --json or --quick]
#
# First a smoke check: a quick sqlite-only run whose JSON lines must name every workload on
# both sides with the fields docs/BENCH.md lists, and whose W3 row counts must agree. Then the full
# run inside scripts/with-postgres.sh. On a 2-core VM an idle core sleeps and waking it costs
# tens of microseconds per round trip, so client and server share CPU $ORM_BENCH_CPU (0).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

# ---- inside with-postgres.sh: pin the server and run the benchmark ----
if [ "${ORM_BENCH_INNER:-}" = 1 ]; then
  cpu=$ORM_BENCH_CPU
  if ! command -v taskset >/dev/null 2>&1; then
    echo "bench: taskset not found (util-linux): running UNPINNED, postgres numbers will be noisy"
    exec "$ORM_BENCH_BIN" "$@"
  fi
  pm=$(head -n 1 "$ORM_TEST_PG_DATA/postmaster.pid")
  # The postmaster and the processes it already started (checkpointer, walwriter, ...);
  # backends forked later inherit its affinity.
  pids=("$pm")
  for stat in /proc/[0-9]*/stat; do
    s=$(cat "$stat" 2>/dev/null) || continue
    s=${s##*) }              # after "pid (comm) ": state ppid ...
    read -r _ ppid _ <<<"$s"
    if [ "$ppid" = "$pm" ]; then p=${stat#/proc/}; pids+=("${p%/stat}"); fi
  done
  for p in "${pids[@]}"; do
    taskset -a -p -c "$cpu" "$p" >/dev/null
  done
  echo "bench: pinned orm-bench and the PostgreSQL server (postmaster $pm, ${#pids[@]} processes) to CPU $cpu with taskset"
  # The throwaway redis-server (scripts/with-redis.sh) on the same CPU: W5r and W5tl (the row
  # cache over Redis, over two levels) run in the sqlite and postgres runs, W5's get path alone
  # in --db redis.
  if [ -n "${ORM_TEST_REDIS_PID:-}" ]; then
    taskset -a -p -c "$cpu" "$ORM_TEST_REDIS_PID" >/dev/null
    echo "bench: pinned the Redis server (pid $ORM_TEST_REDIS_PID) to CPU $cpu"
  fi
  taskset -c "$cpu" "$ORM_BENCH_BIN" --db sqlite "$@"
  taskset -c "$cpu" "$ORM_BENCH_BIN" --db postgres "$@"
  if [ -n "${ORM_TEST_REDIS_PID:-}" ]; then
    taskset -c "$cpu" "$ORM_BENCH_BIN" --db redis "$@"
  fi
  # W6 measures one thread against two, so it pins each of its threads to a CPU of its own.
  echo "bench: W6 (cache alone) pins its threads itself, one per CPU"
  exec "$ORM_BENCH_BIN" --db cache "$@"
fi

# ---- outside: check the binary, smoke-test it, then start the server ----
build=${1:?usage: scripts/bench.sh BUILD_DIR [orm-bench arguments]}
shift
bin=$(cd "$build" && pwd)/bench/orm-bench
[ -x "$bin" ] || { echo "bench: $bin is not built (make build)" >&2; exit 1; }

echo "bench: smoke check: orm-bench --quick --json --db sqlite"
out=$("$bin" --quick --json --db sqlite 2>&1) || { echo "$out" >&2; echo "bench: the smoke run failed" >&2; exit 1; }
num='[0-9]+(\.[0-9]+)?'
for w in W1 W1b W2 W3 W4; do
  for impl in orm raw; do
    [ "$w/$impl" = W1b/raw ] && continue   # W1b's raw side is W1's
    grep -Eq "^\{\"workload\":\"$w\",\"db\":\"sqlite\",\"impl\":\"$impl\",\"n\":[0-9]+,\"us_per_op\":$num,\"total_s\":$num[,}]" <<<"$out" \
      || { echo "$out" >&2; echo "bench: smoke check: no well-formed $w $impl line" >&2; exit 1; }
  done
done
for w in W5 W2off W4rc; do   # the row cache's: orm lines (their base is W2 raw / W2 orm / W4 orm)
  grep -Eq "^\{\"workload\":\"$w\",\"db\":\"sqlite\",\"impl\":\"orm\",\"n\":[0-9]+,\"us_per_op\":$num," <<<"$out" \
    || { echo "$out" >&2; echo "bench: smoke check: no well-formed $w orm line" >&2; exit 1; }
done
rows=$(grep -Eo '"workload":"W3".*"rows":[0-9]+' <<<"$out" | grep -Eo '[0-9]+$' | sort -u)
[ "$(wc -l <<<"$rows")" = 1 ] && [ "$rows" -gt 0 ] \
  || { echo "$out" >&2; echo "bench: smoke check: W3 row counts differ between orm and raw" >&2; exit 1; }
echo "bench: smoke check passed (W3 read $rows rows on both sides)"

export ORM_BENCH_INNER=1 ORM_BENCH_BIN="$bin" ORM_BENCH_CPU="${ORM_BENCH_CPU:-0}"
if grep -q 'ORM_WITH_REDIS:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  exec "$here/with-postgres.sh" "$here/with-redis.sh" "$here/bench.sh" "$@"
fi
exec "$here/with-postgres.sh" "$here/bench.sh" "$@"
