#!/usr/bin/env bash
# TLS benchmark: addsvc serving HTTPS (--tls-cert/--tls-key, its full stack)
# against bare hyper on tokio-rustls (the bare-tls binary: rustls' defaults on
# ring, the same certificate), side by side in one run, each pinned to CPU 0
# with wrk on CPU 1, taking turns ROUNDS times:
#
# - keep-alive: wrk's 32 connections each send request after request
#   (throughput, and the server's CPU per request);
# - handshakes: every request on a new connection (`Connection: close`), so
#   each one is a full TLS handshake (wrk resumes no session): handshakes per
#   second, and the server's CPU per handshake.
#
# The certificate is ECDSA P-256 (made here with openssl), as a service mesh's
# usually are. Prints the best round of each and the median of the per-round
# ratios (each round's figure over the same round's bare-tls).
#
# Usage: bash bench/tls.sh            (ROUNDS=3 DURATION=10s CONNECTIONS=32)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p addsvc --bin addsvc -p kit-bench --bin bare-tls
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
source bench/lib.sh

# The certificate both servers present.
(
  cd "$tmp"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 2 -out ca.pem 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
  openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile ext -out server.pem 2>/dev/null
)

taskset -c 0 ./target/release/bare-tls "$tmp/server.pem" "$tmp/server.key" >"$tmp/bare.out" 2>&1 &
bare_pid=$!; pids+=("$bare_pid")
bare=$(announced "$tmp/bare.out" | sed 's/^http:/https:/')
answers "$bare"
SCHEME=https PIN_CPU=0 launch_addsvc ./target/release/addsvc --tls-cert "$tmp/server.pem" --tls-key "$tmp/server.key"
kit_pid=$pid; pids+=("$kit_pid")
kit=$url

best() { printf '%s\n' "$@" | sort -g | tail -1; }
declare -A rps cpu ratio cpu_ratio
for r in $(seq "$ROUNDS"); do
  for mode in keep-alive handshakes; do
    header=""; [[ $mode == handshakes ]] && header="Connection: close"
    read -r b_rps _ b_cpu _ < <(WRK_HEADER=$header wrk_round "$bare" "$bare_pid")
    read -r k_rps _ k_cpu _ < <(WRK_HEADER=$header wrk_round "$kit" "$kit_pid")
    echo "round $r $mode: bare-tls $b_rps req/s ($b_cpu us CPU/request), addsvc $k_rps req/s ($k_cpu us CPU/request)"
    rps[$mode bare]+="$b_rps "; rps[$mode kit]+="$k_rps "
    cpu[$mode bare]+="$b_cpu "; cpu[$mode kit]+="$k_cpu "
    ratio[$mode]+="$(awk "BEGIN {print $k_rps / $b_rps}") "
    cpu_ratio[$mode]+="$(awk "BEGIN {print $k_cpu / $b_cpu}") "
  done
done
echo
for mode in keep-alive handshakes; do
  # shellcheck disable=SC2086
  {
    b=$(best ${rps[$mode bare]}); k=$(best ${rps[$mode kit]})
    echo "$mode: best bare-tls $b req/s, best addsvc $k req/s: $(awk "BEGIN {printf \"%.2f\", $k / $b}")x;" \
      "median of rounds $(median ${ratio[$mode]})x ($(spread ${ratio[$mode]}));" \
      "CPU/request bare-tls $(median ${cpu[$mode bare]}) us, addsvc $(median ${cpu[$mode kit]}) us" \
      "($(median ${cpu_ratio[$mode]})x)"
  }
done
