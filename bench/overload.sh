#!/usr/bin/env bash
# Overload: stringsvc made CPU-bound (`--inject-cpu 100%:200us`: every call
# spins 200 us) and pinned to CPU 0, the load generator (oha, open loop) on
# CPU 1. First its capacity, measured with CAPACITY_CONNS (4) connections
# (closed loop: the rate one core sustains); then, for each limiter, an
# open-loop load of FACTOR (3) times that rate over CONNS (300) connections
# for DURATION (10s), with latency correction (a request's latency counts
# from when it was due, so queueing is not hidden as wrk's closed loop hides
# it). For each: successes per second, the p99 of the *successful* calls
# (refusals are fast and would flatter it), the share refused.
#
# kit's limiters are stringsvc's own flag (`--concurrency-limit`); the
# comparisons serve the same work (a 200 us spin) on bare hyper behind tower's
# ConcurrencyLimit + LoadShed and tower-resilience-adaptive's Vegas and AIMD
# limiters inside LoadShed (bench/src/bin/overload-tower.rs).
#
# Needs oha (`cargo install oha`; OHA=/path/to/oha) and taskset.
# Usage: bash bench/overload.sh   (DURATION=10s FACTOR=3 CONNS=300 VARIANTS="...")
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
FACTOR=${FACTOR:-3}
CONNS=${CONNS:-300}
CAPACITY_CONNS=${CAPACITY_CONNS:-4}
OHA=${OHA:-$(command -v oha || echo /tmp/oha-root/bin/oha)}
[[ -x $OHA ]] || { echo "oha is missing: cargo install oha (or OHA=/path/to/oha)" >&2; exit 1; }
VARIANTS=${VARIANTS:-"kit:off kit:fixed:4 kit:adaptive kit:aimd:2ms tower:none tower:tower-shed:4 tower:vegas tower:aimd"}
cargo build --release -q -p stringsvc -p kit-bench --bin stringsvc --bin overload-tower
source bench/lib.sh
tmp=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

body='{"s":"a"}'
# start VARIANT: the server for VARIANT on a free port, pinned to CPU 0.
start() {
  local kind=${1%%:*} spec=${1#*:}
  port=$(free_port)
  case $kind in
    kit) taskset -c 0 target/release/stringsvc --http-addr "127.0.0.1:$port" \
           --debug-addr "127.0.0.1:$(free_port)" --inject-cpu 100%:200us \
           --concurrency-limit "$spec" --max-connections 4096 >/dev/null 2>&1 & ;;
    tower) taskset -c 0 target/release/overload-tower "127.0.0.1:$port" "$spec" >/dev/null 2>&1 & ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null -XPOST -H 'content-type: application/json' -d "$body" \
      "http://127.0.0.1:$port/uppercase" && return 0
    sleep 0.1
  done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

oha_run() { # ARGS...: oha on CPU 1 against the server, JSON out
  taskset -c 1 "$OHA" --no-tui --output-format json -m POST -H 'content-type: application/json' \
    -d "$body" "$@" "http://127.0.0.1:$port/uppercase"
}

# Capacity: stringsvc without a limit, a few connections.
start kit:off
oha_run -z 2s -c "$CAPACITY_CONNS" >/dev/null   # warm-up
oha_run -z 5s -c "$CAPACITY_CONNS" >"$tmp/capacity.json"
stop
read -r capacity low_p99 < <(python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
print(int(r["summary"]["requestsPerSec"]), r["latencyPercentiles"]["p99"])' "$tmp/capacity.json")
rate=$((capacity * FACTOR))
echo "capacity: $capacity req/s on one core ($CAPACITY_CONNS connections), p99 $(python3 -c "print(f'{$low_p99*1000:.2f} ms')")"
echo "open-loop load: $rate req/s (${FACTOR}x) over $CONNS connections for $DURATION"
printf '%-26s %12s %10s %14s %12s %10s\n' limiter "successes/s" "x capacity" "success p99" "x low-load" refused
for v in $VARIANTS; do
  start "$v"
  rm -f "$tmp/run.db"
  oha_run -z "$DURATION" -q "$rate" -c "$CONNS" --latency-correction --db-url "$tmp/run.db" >"$tmp/run.json"
  stop
  python3 - "$tmp/run.db" "$v" "$capacity" "$low_p99" "$DURATION" <<'PY'
import sqlite3, sys
db, name, capacity, low_p99, duration = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
secs = float(duration.rstrip("s"))
rows = sqlite3.connect(db).execute("select status, duration from oha").fetchall()
ok = sorted(d for s, d in rows if s == 200)
refused = sum(1 for s, _ in rows if s == 503)
p99 = ok[len(ok) * 99 // 100] if ok else float("nan")
print(f"{name:<26} {len(ok)/secs:>12.0f} {len(ok)/secs/capacity:>9.2f}x {p99*1000:>11.2f} ms {p99/low_p99:>11.1f}x {refused/max(len(rows),1):>9.0%}")
PY
done
