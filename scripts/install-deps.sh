#!/usr/bin/env bash
# Install the Debian packages liborm needs to build and test, only those that are missing.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libsqlite3-dev sqlite3 libpq-dev postgresql check uthash-dev
      libhiredis-dev redis-server util-linux clang)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
