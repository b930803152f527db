#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster around it.
#
# initdb into a temporary folder as a non-root user, listen only on 127.0.0.1 on a free port
# (and a unix socket in the same folder), export ORM_TEST_PG_DSN and ORM_BENCH_PG_DSN, run
# "$@", then stop the server and remove the folder — also when the command fails.
# If the server cannot start, this exits non-zero: a test run never silently skips postgres.
set -euo pipefail

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] || { echo "with-postgres: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

run_as=()
if [ "$(id -u)" -eq 0 ]; then
  id -u postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  run_as=(runuser -u postgres --)
fi

dir=$(mktemp -d /tmp/orm-pg.XXXXXX)
chmod 755 "$dir"
[ ${#run_as[@]} -eq 0 ] || chown postgres "$dir"

cleanup() {
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))

"${run_as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; echo "with-postgres: initdb failed" >&2; exit 1; }
"${run_as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
  start >/dev/null \
  || { cat "$dir/server.log" >&2; echo "with-postgres: the server did not start" >&2; exit 1; }

export ORM_TEST_PG_DSN="host=127.0.0.1 port=$port user=postgres dbname=postgres"
export ORM_BENCH_PG_DSN="$ORM_TEST_PG_DSN"
export ORM_TEST_PG_DATA="$dir/data" ORM_TEST_PG_BIN="$pgbin" ORM_TEST_PG_PORT="$port"
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
set +e
"$@"
rc=$?
set -e
exit $rc
