#!/usr/bin/env bash
# Run a command with a throwaway Redis around it.
#
# Start redis-server on 127.0.0.1 on a free port (and a unix socket) in a temporary folder, with
# no persistence (no RDB, no AOF), export ORM_TEST_REDIS_URL (redis://127.0.0.1:PORT/0),
# ORM_TEST_REDIS_SOCK, ORM_TEST_REDIS_SERVER (the server binary, for tests that start and
# kill servers of their own), ORM_TEST_REDIS_PID and ORM_BENCH_REDIS_URL (orm-bench --db redis), run "$@", then stop the server and remove the folder — also when
# the command fails. If the server cannot start, this exits non-zero: a test run never silently
# skips Redis.
set -euo pipefail

server=$(command -v redis-server || true)
[ -n "$server" ] || { echo "with-redis: no redis-server found (apt-get install redis-server)" >&2; exit 1; }

dir=$(mktemp -d /tmp/orm-redis.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))

"$server" --bind 127.0.0.1 --port "$port" --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
  --save '' --appendonly no --dir "$dir" --daemonize no --protected-mode yes \
  --maxclients 2000 --logfile "$dir/server.log" &
pid=$!

up=
for _ in $(seq 1 100); do
  if redis-cli -s "$dir/redis.sock" ping 2>/dev/null | grep -q PONG; then up=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$up" ] || { cat "$dir/server.log" >&2 2>/dev/null || true; echo "with-redis: the server did not start" >&2; exit 1; }

export ORM_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
export ORM_TEST_REDIS_SOCK="$dir/redis.sock"
export ORM_TEST_REDIS_SERVER="$server" ORM_TEST_REDIS_PID="$pid"
export ORM_BENCH_REDIS_URL="$ORM_TEST_REDIS_URL"
echo "with-redis: Redis $("$server" --version | awk '{print $3}' | sed 's/v=//') on 127.0.0.1:$port"
set +e
"$@"
rc=$?
set -e
exit $rc
