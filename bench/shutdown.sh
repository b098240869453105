#!/usr/bin/env bash
# SIGTERM under load: wrk drives addsvc (release) with CONNECTIONS keep-alive
# connections; SIGTERM comes DELAY seconds in. addsvc turns unready, serves on
# for its shutdown delay (1 s here), then stops accepting and answers every
# request it has received with `Connection: close`. wrk's "read" errors count
# requests sent on an open connection that got no answer: the goal is 0.
# Connect errors after the listener closes are expected.
#
# Usage: bash bench/shutdown.sh      (CONNECTIONS=256 DURATION=6s DELAY=2)
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-256}
DURATION=${DURATION:-6s}
DELAY=${DELAY:-2}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -q -p addsvc --bin addsvc
source bench/lib.sh
start_addsvc --shutdown-delay-ms 1000

wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s bench/post-sum.lua "http://127.0.0.1:$port/sum" >"${TMPDIR:-/tmp}/wrk.out" 2>&1 &
wrk_pid=$!
sleep "$DELAY"
kill -TERM "$pid"
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$debug/ready" || true)
wait "$pid"; status=$?
wait "$wrk_pid" || true
cat "${TMPDIR:-/tmp}/wrk.out"
echo "/ready right after SIGTERM: $ready; addsvc exit status: $status"
errors=$(grep -o 'Socket errors:.*' "${TMPDIR:-/tmp}/wrk.out" || echo "Socket errors: none")
echo "$errors"
read_errors=$(grep -o 'read [0-9]*' <<<"$errors" | awk '{print $2}')
echo "read errors (requests received and dropped): ${read_errors:-0}"
