#!/usr/bin/env bash
# What a profile-guided build (bench/pgo.sh) changes, for bare hyper and for
# addsvc alike: the plain release builds and the profile-guided ones of both,
# four servers pinned to CPU 0 taking turns under wrk on CPU 1 (POST /sum, 32
# connections). Per round it prints each server's requests per second and CPU
# time per request, then addsvc over bare hyper for each kind of build; at the
# end the medians. Measures the builds bench/pgo.sh made last (run it first).
#
# Usage: bash bench/pgo-ab.sh          (ROUNDS=6 DURATION=3s)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-3s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[[ -x target/pgo/release/addsvc && -x target/pgo/release/bare-hyper ]] ||
  { echo "no profile-guided builds: run bash bench/pgo.sh first" >&2; exit 1; }
source bench/lib.sh
cargo build --release -q -p addsvc --bin addsvc -p kit-bench --bin bare-hyper

names=(bare addsvc bare-pgo addsvc-pgo)
declare -A urls server_pid
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# serve NAME BINARY: BINARY (addsvc or bare hyper) pinned to CPU 0, serving on a
# free port.
serve() {
  local name=$1 bin=$2
  if [[ $name == addsvc* ]]; then
    PIN_CPU=0 launch_addsvc "$bin"
  else
    port=$(free_port)
    url=http://127.0.0.1:$port
    taskset -c 0 "$bin" "127.0.0.1:$port" >/dev/null 2>&1 &
    pid=$!
    answers "$url" 30
  fi
  server_pid[$name]=$pid; pids+=("$pid")
  urls[$name]=$url
}
serve bare target/release/bare-hyper
serve addsvc target/release/addsvc
serve bare-pgo target/pgo/release/bare-hyper
serve addsvc-pgo target/pgo/release/addsvc
for name in "${names[@]}"; do
  taskset -c 1 wrk -t1 -c32 -d1s -s bench/post-sum.lua "${urls[$name]}/sum" >/dev/null
done

plain=(); pgo=(); plain_cpu=(); pgo_cpu=()
for r in $(seq "$ROUNDS"); do
  declare -A rps cpu
  line="round $r:"
  for name in "${names[@]}"; do
    read -r rps[$name] _ cpu[$name] _ < <(wrk_round "${urls[$name]}" "${server_pid[$name]}")
    line+=$(printf " %s %.0f/s %s us," "$name" "${rps[$name]}" "${cpu[$name]}")
  done
  plain+=("$(awk "BEGIN {print ${rps[addsvc]} / ${rps[bare]}}")")
  pgo+=("$(awk "BEGIN {print ${rps[addsvc-pgo]} / ${rps[bare-pgo]}}")")
  plain_cpu+=("$(awk "BEGIN {print ${cpu[addsvc]} / ${cpu[bare]}}")")
  pgo_cpu+=("$(awk "BEGIN {print ${cpu[addsvc-pgo]} / ${cpu[bare-pgo]}}")")
  printf '%s addsvc/bare %.2f (plain), %.2f (PGO)\n' "$line" "${plain[-1]}" "${pgo[-1]}"
done
echo
both() { printf '%.2f (%s)' "$(median "$@")" "$(spread "$@")"; }
echo "addsvc/bare throughput, plain builds:          $(both "${plain[@]}")"
echo "addsvc/bare throughput, profile-guided builds: $(both "${pgo[@]}")"
echo "addsvc/bare CPU per request, plain:            $(both "${plain_cpu[@]}")"
echo "addsvc/bare CPU per request, profile-guided:   $(both "${pgo_cpu[@]}")"
