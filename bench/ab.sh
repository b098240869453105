#!/usr/bin/env bash
# A/B of two builds of an addsvc-like server (taking --http-addr and
# --debug-addr): each build runs alone, pinned to CPU 0, under
# `wrk -c32` on CPU 1, the two alternating in ABBA order (A B B A, then
# B A A B...), so that a drift of the host does not favour either. Prints,
# per run, the server's CPU time per request (/proc/PID/stat), requests per
# second, how often wrk's CPU was woken per request (IPIs, see load.sh) and
# wrk's p99.
#
# Usage: ROUNDS=3 bash bench/ab.sh BUILD_A BUILD_B      (ROUNDS=4 DURATION=3)
#        e.g. cp target/release/addsvc /tmp/addsvc-before, change, rebuild, then
#        bash bench/ab.sh /tmp/addsvc-before ./target/release/addsvc
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
A=$1; B=$2; ROUNDS=${ROUNDS:-4}; DURATION=${DURATION:-3}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
tick=$(getconf CLK_TCK)
# one BUILD: one run, one line.
one() {
  # (Run in $(...): launch_addsvc's $port and $pid are this subshell's.)
  PIN_CPU=0 launch_addsvc "$1"
  # Warm up, then measure.
  taskset -c 1 wrk -t1 -c32 -d1s -s bench/post-sum.lua "$url/sum" >/dev/null
  local c0 i0 out c1 i1
  c0=$(cpu_ticks "$pid"); i0=$(client_ipis)
  out=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" --latency -s bench/post-sum.lua "$url/sum")
  c1=$(cpu_ticks "$pid"); i1=$(client_ipis)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local n p99
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  awk -v c=$((c1 - c0)) -v n="$n" -v t="$tick" -v d="$DURATION" -v i=$((i1 - i0)) -v p="$p99" \
    'BEGIN {printf "%.2f us CPU/request, %.0f req/s, wrk woken %.3f/request, p99 %s\n", c / t * 1e6 / n, n / d, i / n, p}'
}
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then a1=$(one "$A"); b1=$(one "$B"); b2=$(one "$B"); a2=$(one "$A")
  else b1=$(one "$B"); a1=$(one "$A"); a2=$(one "$A"); b2=$(one "$B"); fi
  echo "round $r A: $a1 | $a2"
  echo "round $r B: $b1 | $b2"
done
