#!/usr/bin/env bash
# Load benchmark: addsvc's POST /sum with its full production stack (request
# context, logging every request through the async sink, RED and USE metrics)
# against a bare hyper handler doing the same JSON work, side by side in one run;
# and, between the two, that bare handler served by kit's serve and Router
# (serve-only), which tells kit's serving layer from its server and endpoint stack.
#
# Each server is pinned to CPU 0 (so tokio runs one worker: "one core"), wrk to
# CPU 1. The servers take turns, ROUNDS times each, and the best round of each
# is compared, which filters out noise from other work on a shared machine.
#
# With TRACING=1, two more addsvc instances take turns too, exporting spans
# over OTLP to a real collector (rotel from the tools venv, `bash .ci/run`
# installs it; its exporter discards): one sampling 1% of requests, one 100%.
#
# Besides the best round of each, it prints the median (and spread) of the
# per-round ratios (each round's figure over the same round's bare hyper), the
# servers' CPU time per request (/proc/PID/stat over wrk's request count) and
# their peak RSS (VmHWM): figures that drift less than throughput on a shared host.
# And how often, per request, wrk's CPU had to be woken by another CPU (an IPI):
# on a virtual machine those wake-ups are dear and land in the server's writev,
# and a server slower than wrk pays them for most answers, one faster for few.
#
# With PADDED=1, two calibration servers take turns too (the `padded` binary):
# bare hyper's handler plus ~6,000 extra instructions per request, from one
# small function (compact) or from 300 (spread, ~30 KiB more code, about what
# addsvc's stack adds). Against bare hyper they tell what extra instructions,
# and extra code on top of them, cost on this host today: compare kit's ratios
# with theirs.
#
# With BATCHED=1, bare hyper with each connection in kit's BatchedIo takes
# turns too (the `bare-batched` binary): what kit's batched answers
# (ServeConfig::batch_answers, on in kit's serve) would give bare hyper.
#
# With NOLINE=1, addsvc with its log line filtered out (`--log-level warn`)
# takes turns too: what the full stack costs without the line, to tell the
# line's share of the gap from the rest's.
#
# With PGO=1, the servers are the profile-guided builds of bench/pgo.sh (which
# it runs first): bare hyper, serve-only, addsvc and bare-batched, built with
# one profile merged from their runs under this load. Not with PADDED=1 (the padded
# servers calibrate plain builds) or TRACING=1. PGO=built measures the builds
# bench/pgo.sh made last.
#
# Usage: bash bench/load.sh            (ROUNDS=3 DURATION=10s CONNECTIONS=32 TRACING=0 PADDED=0 BATCHED=0 NOLINE=0 PGO=0)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
TRACING=${TRACING:-0}
PADDED=${PADDED:-0}
BATCHED=${BATCHED:-0}
NOLINE=${NOLINE:-0}
PGO=${PGO:-0}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

bin=./target/release
if [[ $PGO != 0 ]]; then
  [[ $PADDED == 1 || $TRACING == 1 ]] && { echo "PGO goes with neither PADDED=1 nor TRACING=1" >&2; exit 1; }
  [[ $PGO == built ]] || bash bench/pgo.sh
  bin=./target/pgo/release
else
  cargo build --release -q -p addsvc --bin addsvc -p kit-bench --bin bare-hyper --bin serve-only --bin padded --bin bare-batched
fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# free_port, answers, announced, launch_addsvc, wrk_round, median, spread.
source bench/lib.sh

# start NAME CMD...: runs CMD pinned to CPU 0 and prints the address it reports.
start() {
  local name=$1; shift
  taskset -c 0 "$@" >"$tmp/$name.out" 2>&1 &
  # (A command substitution runs this in a subshell: the pid goes to a file.)
  echo $! >"$tmp/$name.pid"
  announced "$tmp/$name.out" || exit 1
}

bare=$(start bare "$bin/bare-hyper" 127.0.0.1:0)
served=$(start served "$bin/serve-only")
bare_pid=$(cat "$tmp/bare.pid"); served_pid=$(cat "$tmp/served.pid")
pids+=("$bare_pid" "$served_pid")
# pinned_addsvc FLAGS...: addsvc pinned to CPU 0, stopped when the script exits;
# sets $url, $debug and $pid (launch_addsvc). It logs every request through its
# async sink to /dev/null, so that a log file does not fill the disk.
pinned_addsvc() {
  PIN_CPU=0 launch_addsvc "$bin/addsvc" "$@"
  pids+=("$pid")
}
pinned_addsvc
kit=$url; kit_pid=$pid; debug_port=$debug

traced=()
if [[ $TRACING == 1 ]]; then
  rotel=$(ls target/kit-tools/venv/lib/python3*/site-packages/rotel/rotel-agent 2>/dev/null | head -1)
  [[ -x $rotel ]] || { echo "rotel is missing: bash .ci/run installs it" >&2; exit 1; }
  otlp_port=$(free_port)
  taskset -c 1 "$rotel" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$otlp_port" \
    --otlp-grpc-endpoint "127.0.0.1:$(free_port)" --pid-file /dev/null --log-file /dev/null >/dev/null 2>&1 &
  pids+=($!)
  for ratio in 0.01 1; do
    pinned_addsvc --otlp-endpoint "http://127.0.0.1:$otlp_port" --trace-sample-ratio "$ratio"
    traced+=("$ratio $url $debug")
  done
fi
declare -A best_traced_rps best_traced_p99

# The calibration servers (PADDED=1, BATCHED=1, NOLINE=1), by name, in the order run.
calibs=()
declare -A calib_url calib_pid calib_ratios calib_cpu calib_ipis
# register NAME URL PID: the server at URL (process PID, stopped at the end)
# takes its turns as a calibration server named NAME.
register() {
  calib_url[$1]=$2
  calib_pid[$1]=$3
  pids+=("$3")
  calibs+=("$1")
}
# calibrate NAME CMD...: starts CMD as a calibration server named NAME.
calibrate() {
  local name=$1 url; shift
  url=$(start "$name" "$@")
  register "$name" "$url" "$(cat "$tmp/$name.pid")"
}
if [[ $PADDED == 1 ]]; then
  for shape in compact spread; do
    calibrate "padded-$shape" ./target/release/padded "$shape" 127.0.0.1:0
  done
fi
if [[ $BATCHED == 1 ]]; then
  calibrate bare-batched "$bin/bare-batched" 127.0.0.1:0
fi
if [[ $NOLINE == 1 ]]; then
  # addsvc with its log line filtered out (`--log-level warn`: the hook still
  # runs, slog drops the record before it is formatted), everything else the same.
  PIN_CPU=0 launch_addsvc "$bin/addsvc" --log-level warn
  register addsvc-noline "$url" "$pid"
fi

# peak_rss_kib PID: the process's peak resident memory (VmHWM), in KiB.
peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

best_bare_rps=0; best_bare_p99=0; best_kit_rps=0; best_kit_p99=0; best_served_rps=0
ratios=(); served_ratios=(); p99_ratios=(); bare_cpu=(); kit_cpu=(); cpu_ratios=(); bare_ipis=(); served_ipis=(); kit_ipis=()
for r in $(seq "$ROUNDS"); do
  read -r rps p99 cpu ipis < <(wrk_round "$bare" "$bare_pid")
  echo "round $r bare-hyper: $rps req/s, p99 $p99 ms, $cpu us CPU/request, $ipis client IPIs/request"
  bare_ipis+=("$ipis")
  if awk "BEGIN {exit !($rps > $best_bare_rps)}"; then best_bare_rps=$rps; best_bare_p99=$p99; fi
  round_bare=$rps; round_bare_p99=$p99; round_bare_cpu=$cpu; bare_cpu+=("$cpu")
  read -r rps p99 cpu ipis < <(wrk_round "$served" "$served_pid")
  echo "round $r serve-only: $rps req/s, p99 $p99 ms, $cpu us CPU/request, $ipis client IPIs/request"
  served_ipis+=("$ipis")
  if awk "BEGIN {exit !($rps > $best_served_rps)}"; then best_served_rps=$rps; fi
  served_ratios+=("$(awk "BEGIN {print $rps / $round_bare}")")
  read -r rps p99 cpu ipis < <(wrk_round "$kit" "$kit_pid")
  echo "round $r addsvc:     $rps req/s, p99 $p99 ms, $cpu us CPU/request, $ipis client IPIs/request"
  kit_ipis+=("$ipis")
  if awk "BEGIN {exit !($rps > $best_kit_rps)}"; then best_kit_rps=$rps; best_kit_p99=$p99; fi
  ratios+=("$(awk "BEGIN {print $rps / $round_bare}")"); kit_cpu+=("$cpu")
  cpu_ratios+=("$(awk "BEGIN {print $cpu / $round_bare_cpu}")")
  p99_ratios+=("$(awk "BEGIN {print $p99 / $round_bare_p99}")")
  for name in "${calibs[@]}"; do
    read -r rps p99 cpu ipis < <(wrk_round "${calib_url[$name]}" "${calib_pid[$name]}")
    echo "round $r $name: $rps req/s, p99 $p99 ms, $cpu us CPU/request, $ipis client IPIs/request"
    calib_ratios[$name]+="$(awk "BEGIN {print $rps / $round_bare}") "
    calib_cpu[$name]+="$cpu "
    calib_ipis[$name]+="$ipis "
  done
  for t in "${traced[@]}"; do
    read -r ratio url _ <<<"$t"
    read -r rps p99 _ _ < <(wrk_round "$url")
    echo "round $r addsvc traced at $ratio: $rps req/s, p99 $p99 ms"
    if awk "BEGIN {exit !($rps > ${best_traced_rps[$ratio]:-0})}"; then
      best_traced_rps[$ratio]=$rps; best_traced_p99[$ratio]=$p99
    fi
  done
done

echo
# Proof that addsvc logged and counted every request.
curl -s "http://127.0.0.1:$debug_port/metrics" | grep -E '^kit_endpoint_(requests_total|duration_seconds_count)\{endpoint="sum"\}' || true
echo "best bare-hyper: $best_bare_rps req/s, p99 $best_bare_p99 ms"
echo "best serve-only: $best_served_rps req/s"
echo "best addsvc:     $best_kit_rps req/s, p99 $best_kit_p99 ms"
awk "BEGIN {printf \"throughput ratio serve-only/bare: %.2f (kit's serving layer alone)\n\", $best_served_rps / $best_bare_rps}"
awk "BEGIN {printf \"throughput ratio addsvc/bare: %.2f (issue 18: >= 0.90 with the full stack)\n\", $best_kit_rps / $best_bare_rps}"
awk "BEGIN {printf \"p99 ratio addsvc/bare:        %.2f (issue 18: <= 1.20)\n\", $best_kit_p99 / $best_bare_p99}"
for t in "${traced[@]}"; do
  read -r ratio url dport <<<"$t"
  curl -s "http://127.0.0.1:$dport/metrics" | grep -E '^kit_tracing_spans_total' || true
  awk "BEGIN {printf \"addsvc traced at %s: %s req/s (%.2fx bare), p99 %s ms (%.2fx bare)\n\", \"$ratio\", ${best_traced_rps[$ratio]}, ${best_traced_rps[$ratio]} / $best_bare_rps, ${best_traced_p99[$ratio]}, ${best_traced_p99[$ratio]} / $best_bare_p99}"
done

echo
echo "per-round ratios (each round's figure over the same round's bare hyper), median (spread):"
printf 'addsvc/bare throughput: %.2f (%s)\n' "$(median "${ratios[@]}")" "$(spread "${ratios[@]}")"
printf 'serve-only/bare:        %.2f (%s)\n' "$(median "${served_ratios[@]}")" "$(spread "${served_ratios[@]}")"
printf 'addsvc/bare p99:        %.2f (%s)\n' "$(median "${p99_ratios[@]}")" "$(spread "${p99_ratios[@]}")"
printf 'CPU per request: bare %s us, addsvc %s us (medians)\n' "$(median "${bare_cpu[@]}")" "$(median "${kit_cpu[@]}")"
printf 'addsvc/bare CPU per request: %.2f (%s)\n' "$(median "${cpu_ratios[@]}")" "$(spread "${cpu_ratios[@]}")"
printf 'client IPIs per request (waking wrk): bare %s, serve-only %s, addsvc %s (medians)\n' "$(median "${bare_ipis[@]}")" "$(median "${served_ipis[@]}")" "$(median "${kit_ipis[@]}")"
printf 'peak RSS: bare %s KiB, serve-only %s KiB, addsvc %s KiB\n' "$(peak_rss_kib "$bare_pid")" "$(peak_rss_kib "$served_pid")" "$(peak_rss_kib "$kit_pid")"
for name in "${calibs[@]}"; do
  # (Word splitting wanted: the values were gathered as one string each.)
  # shellcheck disable=SC2086
  printf '%s/bare throughput: %.2f (%s), CPU %s us, client IPIs %s per request (medians)\n' "$name" \
    "$(median ${calib_ratios[$name]})" "$(spread ${calib_ratios[$name]})" \
    "$(median ${calib_cpu[$name]})" "$(median ${calib_ipis[$name]})"
done
