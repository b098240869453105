#!/usr/bin/env bash
# Instructions per request: addsvc (full production stack) and the bare hyper
# server, each run under valgrind's callgrind while wrk sends POST /sum, counting
# only while the load runs. Unlike time, an instruction count does not move with
# what else the machine is doing (the load benchmark's rounds move by 5-10% on a
# shared host), so it tells a change's effect on kit's own code apart from the
# noise. It does not see what instructions cost (cache misses, atomic operations,
# the kernel's share): pair it with bench/load.sh.
#
# With FOOTPRINT=1 it also prints each server's hot code (bench/footprint.py):
# the distinct 64-byte lines of code run on most requests, against the
# instruction cache they have to fit in.
#
# Usage: bash bench/instructions.sh            (DURATION=8s)
#        BINS="/tmp/addsvc-before ./target/release/addsvc" bash bench/instructions.sh
#        FOOTPRINT=1 bash bench/instructions.sh
#        PGO=1 bash bench/instructions.sh   (the profile-guided builds of bench/pgo.sh;
#                                            PGO=built: the ones it made last)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
source bench/lib.sh

bin=./target/release
if [[ ${PGO:-0} != 0 ]]; then
  [[ $PGO == built ]] || bash bench/pgo.sh
  bin=./target/pgo/release
else
  cargo build --release -q -p addsvc --bin addsvc -p kit-bench --bin bare-hyper
fi
tmp=$(mktemp -d)
server=
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# count NAME CMD...: runs CMD (which serves on $port) under callgrind, and prints
# "NAME: N requests, M instructions per request".
count() {
  local name=$1; shift
  rm -f "$tmp"/cg.*
  local dump=()
  [[ -n ${FOOTPRINT:-} ]] && dump=(--dump-instr=yes)
  valgrind --tool=callgrind --instr-atstart=no "${dump[@]}" --callgrind-out-file="$tmp/cg.%p" "$@" >/dev/null 2>"$tmp/valgrind.err" &
  server=$!
  # Under valgrind a server takes much longer to start.
  answers "http://127.0.0.1:$port" 60
  # Warm (first-call set-up is not counted), then count while the load runs.
  taskset -c 1 wrk -t1 -c4 -d2s -s bench/post-sum.lua "http://127.0.0.1:$port/sum" >/dev/null
  callgrind_control -i on "$server" >/dev/null 2>&1
  local requests
  requests=$(taskset -c 1 wrk -t1 -c4 -d"$DURATION" -s bench/post-sum.lua "http://127.0.0.1:$port/sum" | awk '/requests in/ {print $1}')
  callgrind_control -i off "$server" >/dev/null 2>&1
  callgrind_control -d "$server" >/dev/null 2>&1
  [[ -n ${KEEP:-} ]] && cp "$tmp"/cg.*.1 "$KEEP" 2>/dev/null; kill "$server"; wait "$server" 2>/dev/null || true; server=
  local ir
  ir=$(cat "$tmp"/cg.* | awk '/^totals:/ {s += $2} END {print s}')
  awk -v n="$name" -v r="$requests" -v i="$ir" 'BEGIN {printf "%s: %d requests, %.0f instructions per request\n", n, r, i / r}'
  if [[ -n ${FOOTPRINT:-} ]]; then
    # The part written at the dump: the counts of the load alone.
    python3 bench/footprint.py "$(ls "$tmp"/cg.*.1 | head -1)" "$requests" 12
  fi
}

port=$(free_port)
count "bare hyper" "$bin/bare-hyper" "127.0.0.1:$port"
for addsvc in ${BINS:-$bin/addsvc}; do
  port=$(free_port)
  count "addsvc ($addsvc)" "$addsvc" --http-addr "127.0.0.1:$port" --debug-addr "127.0.0.1:$(free_port)"
done
