#!/usr/bin/env bash
# W7's whole table: every trace in the traces folder at every size, through lru, arc, tinylfu
# and opt (orm-bench --trace), as the README's markdown table, with the share of the LRU->OPT
# gap tinylfu closes and whether its cell meets issue 20's bound (at least max(lru, arc) - 0.5
# points from 500 entries up, - 3 points at 100).
#
#   scripts/w7-table.sh BUILD_DIR [TRACES_DIR] [--baseline FILE] [--save FILE] [--policy P]
#   scripts/w7-table.sh --from FILE [--baseline FILE]     (print a saved run's table)
#
# TRACES_DIR (default: $ORM_TRACES_DIR, else ./traces) holds the traces you downloaded
# (lirs/*.trace.gz, cache2k/*.trace.xz: docs/BENCH.md, W7, says which); they are
# decompressed into a temporary folder. --save writes the raw JSON lines; --baseline reads
# such a file and adds tinylfu's change against it (and flags cells more than 0.5 points
# below it). --policy tinylfu reruns only tinylfu and takes the other columns from the
# baseline (fast iteration). SIZES (environment) overrides "100 500 1000 2000 5000 10000".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
from=
if [ "${1:-}" = --from ]; then from=${2:?--from wants a file}; shift 2; set -- - "$@"; fi
build=${1:?usage: scripts/w7-table.sh BUILD_DIR [TRACES_DIR] [--baseline FILE] [--save FILE] [--policy P]}
shift
traces=${ORM_TRACES_DIR:-traces}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then traces=$1; shift; fi
baseline= save= only=
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    --policy) only=$2; shift 2 ;;
    *) echo "w7-table: unknown argument $1" >&2; exit 2 ;;
  esac
done
bench="$build/bench/orm-bench"
[ -n "$from" ] || [ -x "$bench" ] || { echo "w7-table: no $bench (build the orm-bench target)" >&2; exit 2; }
[ -n "$from" ] || [ -d "$traces" ] || { echo "w7-table: no traces folder $traces" >&2; exit 2; }
if [ -n "$only" ] && [ -z "$baseline" ]; then
  echo "w7-table: --policy needs --baseline for the other columns" >&2; exit 2
fi
sizes=${SIZES:-100 500 1000 2000 5000 10000}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/w7.jsonl"
: >"$out"
[ -n "$from" ] && cp "$from" "$out"
[ -n "$from" ] || for f in "$traces"/lirs/*.trace.gz "$traces"/cache2k/*.trace.xz; do
  [ -e "$f" ] || continue
  name=$(basename "$f"); name=${name%%.*}
  case $f in
    *.gz) gzip -dc "$f" >"$tmp/$name"; fmt=lirs ;;
    *.xz) xz -dc "$f" >"$tmp/$name"; fmt=cache2k ;;
  esac
  for s in $sizes; do
    if [ -n "$only" ]; then
      "$bench" --trace "$tmp/$name" --format $fmt --size "$s" --policy "$only" --json >>"$out"
    else
      "$bench" --trace "$tmp/$name" --format $fmt --size "$s" --json >>"$out"
    fi
  done
  rm -f "$tmp/$name"
done
[ -n "$save" ] && cp "$out" "$save"

# Baseline lines first (tagged), then this run's; the last value of a cell wins.
{ if [ -n "$baseline" ]; then sed 's/^/B /' "$baseline"; fi; sed 's/^/N /' "$out"; } | awk '
function field(line, k,   m) {
  if (match(line, "\"" k "\":\"[^\"]*\"")) { m = substr(line, RSTART, RLENGTH); sub("^\"" k "\":\"", "", m); sub("\"$", "", m); return m }
  if (match(line, "\"" k "\":[-0-9.]+")) { m = substr(line, RSTART, RLENGTH); sub("^\"" k "\":", "", m); return m }
  return ""
}
function pt(x) { return sprintf("%.3f", x) }
{
  tag = $1; line = substr($0, 3)
  t = field(line, "trace"); s = field(line, "size") + 0; p = field(line, "policy"); h = field(line, "hit_ratio") + 0
  k = t SUBSEP s
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  if (tag == "B") { if (p == "tinylfu") base[k] = h; if (!((k, p) in hr)) hr[k, p] = h }
  else { hr[k, p] = h; fresh[k, p] = 1 }
}
END {
  printf "| trace | size | lru | arc | tinylfu | opt | gap closed | bound |%s\n", (length(base) ? " vs before |" : "")
  printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |%s\n", (length(base) ? " ---: |" : "")
  met = 0; cells = 0; worse = 0; sumgap = 0; ngap = 0
  for (i = 1; i <= nk; i++) {
    k = order[i]; split(k, ts, SUBSEP)
    l = hr[k, "lru"]; a = hr[k, "arc"]; w = hr[k, "tinylfu"]; o = hr[k, "opt"]
    best = l > a ? l : a
    slack = ts[2] < 500 ? 0.03 : 0.005
    ok = w >= best - slack - 1e-9
    cells++; met += ok
    gap = o - l
    gs = gap >= 0.005 ? sprintf("%.0f%%", 100 * (w - l) / gap) : "—"
    if (gs == "-0%") gs = "0%"
    if (gap >= 0.005) { sumgap += (w - l) / gap; ngap++ }
    d = ""
    if (length(base)) {
      if (k in base) {
        dd = w - base[k]
        d = sprintf(" %+.1f%s |", 100 * dd, dd < -0.005 - 1e-9 ? " (worse)" : "")
        if (dd < -0.005 - 1e-9) worse++
      } else d = " |"
    }
    printf "| %s | %d | %s | %s | %s | %s | %s | %s |%s\n", ts[1], ts[2], pt(l), pt(a), pt(w), pt(o), gs,
      ok ? "met" : sprintf("**%+.1f**", 100 * (w - best)), d
  }
  printf "\n%d of %d tinylfu cells meet the bound; mean share of the LRU->OPT gap closed %.0f%% (%d cells with a gap)", met, cells, ngap ? 100 * sumgap / ngap : 0, ngap
  if (length(base)) printf "; %d cells more than 0.5 points below the baseline", worse
  printf "\n"
}'
