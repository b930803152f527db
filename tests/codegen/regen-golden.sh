#!/bin/sh
# Regenerates the golden outputs after an intended emitter change: review the diff!
# usage: tests/codegen/regen-golden.sh path/to/ormctl
set -eu
ormctl=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
for name in basic annotations quoting pg_dump; do
    "$ormctl" generate -o "golden/$name" "$name.sql"
done
"$ormctl" generate -o golden/migrations migrations
