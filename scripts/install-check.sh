#!/usr/bin/env bash
# Install liborm into a temporary prefix and build two downstream consumers against it:
# one through find_package(liborm) (shared and static targets), one through pkg-config.
# Both must build and run. Exits non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/orm-install.XXXXXX)
trap 'rm -rf "$work"' EXIT

cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DORM_BUILD_TESTS=OFF \
      -DORM_BUILD_BENCH=OFF -DORM_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --build "$work/build" -j "$(nproc)" >/dev/null
cmake --install "$work/build" >/dev/null

# 1. CMake package config.
cmake -S "$root/tests/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/$(gcc -print-multiarch 2>/dev/null || true)" "$work/consumer/consumer_shared"
"$work/consumer/consumer_static"
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/$(gcc -print-multiarch 2>/dev/null || true)" "$work/consumer/consumer_generated"
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/$(gcc -print-multiarch 2>/dev/null || true)" "$work/consumer/consumer_driver"

# 2. pkg-config (the .pc file is relocatable: prefix comes from its own folder).
pcdir=$(dirname "$(find "$work/prefix" -name liborm.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs liborm)
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror "$root/tests/consumer/consumer.c" $flags -o "$work/consumer_pc" \
    -Wl,-rpath,"$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir liborm)"
"$work/consumer_pc"
echo "install-check: find_package(liborm) with orm_generate and a downstream driver, and pkg-config ($flags) all work"
