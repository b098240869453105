# Shared by the bench scripts: free ports and a release addsvc on them.

# free_port: a TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# answers URL [SECONDS]: waits (10 s by default) until URL/sum answers a sum
# (an https:// URL's certificate unchecked; with WRK_HEADER, that header sent
# too); fails otherwise.
answers() {
  local header=()
  [[ -n ${WRK_HEADER:-} ]] && header=(-H "$WRK_HEADER")
  for _ in $(seq $(( ${2:-10} * 10 ))); do
    curl -fsk -o /dev/null "${header[@]}" -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' "$1/sum" && return
    sleep 0.1
  done
  echo "$1 did not answer" >&2
  return 1
}

# launch_addsvc BIN FLAGS...: BIN (addsvc, or a build of it) on free loopback
# ports, logging to /dev/null, pinned to CPU $PIN_CPU when that is set
# (`PIN_CPU=0 launch_addsvc ...`), its URL https:// with SCHEME=https (for
# --tls-cert). Sets $port (API), $debug, $url and $pid, the
# server's own process: call it in the script's shell, not inside $(...) or
# <(...), whose variables the script never sees. Returns once the server
# answers (30 s at most; fails otherwise).
launch_addsvc() {
  local bin=$1 pin=()
  shift
  [[ -n ${PIN_CPU:-} ]] && pin=(taskset -c "$PIN_CPU")
  port=$(free_port)
  debug=$(free_port)
  url=${SCHEME:-http}://127.0.0.1:$port
  "${pin[@]}" "$bin" --http-addr "127.0.0.1:$port" --debug-addr "127.0.0.1:$debug" "$@" >/dev/null 2>&1 &
  pid=$!
  answers "$url" 30
}

# start_addsvc FLAGS...: the release addsvc, launched as launch_addsvc does,
# stopped when the script exits.
start_addsvc() {
  trap 'kill ${pid:-} 2>/dev/null || true' EXIT
  launch_addsvc ./target/release/addsvc "$@" || exit 1
}

# announced FILE: the URL a bench server announced in FILE (its output), as
# `NAME http=http://ADDR`, waiting up to 10 s for the line; fails otherwise.
announced() {
  local url
  for _ in $(seq 100); do
    url=$(grep -o 'http=http://[0-9.:]*' "$1" | head -1 | cut -d= -f2 || true)
    [[ -n $url ]] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no server announced itself in $1" >&2; cat "$1" >&2; return 1
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# client_ipis: inter-processor interrupts taken so far by wrk's CPU (1):
# rescheduling and function-call interrupts, what it costs another CPU to wake
# a task sleeping there. Each time wrk sleeps waiting for an answer, the
# server's `writev` pays for waking it; a server slower than wrk finds it
# asleep more often, so this cost grows faster than the server's own.
client_ipis() { awk '$1 == "RES:" || $1 == "CAL:" {s += $3} END {print s + 0}' /proc/interrupts; }

# wrk_round URL [PID]: one round of wrk on CPU 1 against URL's POST /sum
# (CONNECTIONS, default 32, for DURATION, default 3s; with WRK_HEADER, that
# header on every request, e.g. `Connection: close`); prints
# "requests_per_second p99_ms cpu_us_per_request client_ipis_per_request" (the
# CPU figure from /proc/PID/stat, 0 without PID). Fails on a non-2xx answer.
wrk_round() {
  local out rps p99 before after requests ipis tick_us
  tick_us=$(awk "BEGIN {print 1000000 / $(getconf CLK_TCK)}")
  before=$( [[ -n ${2:-} ]] && cpu_ticks "$2" || echo 0 )
  ipis=$(client_ipis)
  local header=()
  [[ -n ${WRK_HEADER:-} ]] && header=(-H "$WRK_HEADER")
  out=$(taskset -c 1 wrk -t1 -c"${CONNECTIONS:-32}" -d"${DURATION:-3s}" --latency "${header[@]}" -s bench/post-sum.lua "$1/sum")
  ipis=$(( $(client_ipis) - ipis ))
  after=$( [[ -n ${2:-} ]] && cpu_ticks "$2" || echo 0 )
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1" >&2; echo "$out" >&2; return 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  awk "BEGIN {printf \"%s %s %.2f %.3f\\n\", $rps, $p99, ($after - $before) * $tick_us / $requests, $ipis / $requests}"
}

# median VALUES...: the median; spread VALUES...: "min-max".
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
spread() { printf '%s\n' "$@" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
