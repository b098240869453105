#!/usr/bin/env bash
# Tail latency with real processes on loopback: three stringsvc instances, one
# of them slow on 10% of its calls (--inject-latency 10%:100ms), behind addsvc;
# wrk drives POST /concat (addsvc -> stringsvc) at a steady concurrency.
#
# 1. p50 / p99 / p99.9 and stringsvc calls per request: a healthy fleet (no
#    injection), then the slow fleet with no hedging, hedging after a fixed
#    10 ms or 5 ms, and hedging at the live p95.
# 2. p50 / p99 per balancer strategy on the slow fleet (no hedging).
# 3. Every stringsvc instance failing (--inject-errors 100%): stringsvc calls
#    per request without and with the retry budget (3 attempts per call;
#    breakers kept closed, or they would stop the calls first).
#
# Usage: bash bench/tail.sh     (DURATION=10s CONNECTIONS=16)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p addsvc --bin addsvc -p stringsvc --bin stringsvc
source bench/lib.sh
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# stringsvc FLAGS...: a release stringsvc on free ports; prints "URL DEBUGPORT".
stringsvc() {
  local port dport
  port=$(free_port); dport=$(free_port)
  ./target/release/stringsvc --http-addr "127.0.0.1:$port" --debug-addr "127.0.0.1:$dport" --shutdown-delay-ms 0 "$@" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -fs -o /dev/null "http://127.0.0.1:$dport/health" && break
    sleep 0.05
  done
  echo "http://127.0.0.1:$port $dport"
}

# addsvc URLS FLAGS...: a release addsvc in front of URLS; prints its URL.
addsvc() {
  local urls=$1; shift
  local port dport
  port=$(free_port); dport=$(free_port)
  ./target/release/addsvc --http-addr "127.0.0.1:$port" --debug-addr "127.0.0.1:$dport" --shutdown-delay-ms 0 --stringsvc "$urls" "$@" >/dev/null 2>&1 &
  pids+=($!)
  answers "http://127.0.0.1:$port" >&2
  echo "http://127.0.0.1:$port"
}

# calls DEBUGPORTS...: uppercase calls the stringsvc instances served so far.
calls() {
  local total=0 n
  for d in "$@"; do
    n=$(curl -s "http://127.0.0.1:$d/metrics" | awk '/^kit_endpoint_requests_total\{endpoint="uppercase"\}/ {print $2}')
    total=$(awk "BEGIN {print $total + ${n:-0}}")
  done
  echo "$total"
}

# run NAME ADDSVC_URL DEBUGPORTS...: one wrk run; prints its figures.
run() {
  local name=$1 url=$2; shift 2
  local before after out line
  before=$(calls "$@")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s bench/post-concat.lua "$url/concat")
  after=$(calls "$@")
  line=$(grep '^TAIL' <<<"$out")
  local requests
  requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")
  printf '%-34s %s calls_per_request=%.3f\n' "$name" "${line#TAIL }" "$(awk "BEGIN {print ($after - $before) / $requests}")"
}

slow_flags=(--inject-latency 10%:100ms)
read -r h1 d1 < <(stringsvc); read -r h2 d2 < <(stringsvc); read -r h3 d3 < <(stringsvc)
read -r s1 e1 < <(stringsvc "${slow_flags[@]}"); read -r s2 e2 < <(stringsvc); read -r s3 e3 < <(stringsvc)
healthy="$h1,$h2,$h3"; slow="$s1,$s2,$s3"

echo "== 1. hedging (POST /concat, $CONNECTIONS connections, $DURATION each)"
run "healthy fleet, no hedging" "$(addsvc "$healthy")" "$d1" "$d2" "$d3"
run "one slow instance, no hedging" "$(addsvc "$slow")" "$e1" "$e2" "$e3"
run "one slow instance, hedge 10ms" "$(addsvc "$slow" --hedge 10ms)" "$e1" "$e2" "$e3"
run "one slow instance, hedge 5ms" "$(addsvc "$slow" --hedge 5ms)" "$e1" "$e2" "$e3"
run "one slow instance, hedge p95" "$(addsvc "$slow" --hedge p95)" "$e1" "$e2" "$e3"
run "one slow instance, hedge p95, budget 10%" "$(addsvc "$slow" --hedge p95 --hedge-budget-percent 10)" "$e1" "$e2" "$e3"

echo "== 2. balancers (one slow instance, no hedging)"
for b in rr least-pending peak-ewma epsilon-greedy; do
  run "balancer $b" "$(addsvc "$slow" --balancer "$b")" "$e1" "$e2" "$e3"
done

echo "== 3. every instance failing (3 attempts per call)"
read -r f1 g1 < <(stringsvc --inject-errors 100%); read -r f2 g2 < <(stringsvc --inject-errors 100%); read -r f3 g3 < <(stringsvc --inject-errors 100%)
failing="$f1,$f2,$f3"
# The breakers would stop the calls before the retries: kept closed here.
nobreak=(--breaker-failures 4000000000)
run "no retry budget" "$(addsvc "$failing" --retry-budget-percent 0 "${nobreak[@]}")" "$g1" "$g2" "$g3"
run "retry budget 20%" "$(addsvc "$failing" "${nobreak[@]}")" "$g1" "$g2" "$g3"
