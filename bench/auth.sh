#!/usr/bin/env bash
# Authentication under load: addsvc with `--jwt-keys` (every request carries a
# bearer token, verified per request) against the same addsvc without, side by
# side in one run, each pinned to CPU 0 with wrk on CPU 1, taking turns ROUNDS
# times. The keys and tokens are minted by PyJWT (tests/mint_tokens.py, the
# tools venv of `bash .ci/run`): an RSA-2048 key (RS256) and an EC P-256 key
# (ES256); ALG picks which token the load sends (RS256 by default). The same
# token on every request, as a client holding one sends it: kit-auth verifies
# it once and remembers it until it expires (`Verifier::verify`).
#
# Usage: bash bench/auth.sh            (ROUNDS=3 DURATION=10s CONNECTIONS=32 ALG=RS256)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
ALG=${ALG:-RS256}
export DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
python=target/kit-tools/venv/bin/python
[[ -x $python ]] || { echo "the tools venv is missing: bash .ci/run makes it" >&2; exit 1; }
cargo build --release -q -p addsvc --bin addsvc
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
source bench/lib.sh

"$python" tests/mint_tokens.py "$tmp" https://issuer.bench addsvc
case $ALG in
  RS256) name=good_rs256 ;;
  ES256) name=good_es256 ;;
  *) echo "ALG is RS256 or ES256" >&2; exit 1 ;;
esac
token=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$tmp/tokens.json" "$name")

# Every request carries the token (the probes of launch_addsvc too).
export WRK_HEADER="Authorization: Bearer $token"
PIN_CPU=0 launch_addsvc ./target/release/addsvc
plain=$url; plain_pid=$pid; pids+=("$pid")
PIN_CPU=0 launch_addsvc ./target/release/addsvc --jwt-keys "$tmp/jwks.json" \
  --jwt-issuer https://issuer.bench --jwt-audience addsvc
authed=$url; authed_pid=$pid; pids+=("$pid")

ratios=(); cpu_ratios=(); plain_cpu=(); authed_cpu=()
for r in $(seq "$ROUNDS"); do
  read -r p_rps _ p_cpu _ < <(wrk_round "$plain" "$plain_pid")
  read -r a_rps _ a_cpu _ < <(wrk_round "$authed" "$authed_pid")
  echo "round $r: without $p_rps req/s ($p_cpu us CPU/request), with $ALG tokens $a_rps req/s ($a_cpu us CPU/request)"
  ratios+=("$(awk "BEGIN {print $a_rps / $p_rps}")")
  cpu_ratios+=("$(awk "BEGIN {print $a_cpu / $p_cpu}")")
  plain_cpu+=("$p_cpu"); authed_cpu+=("$a_cpu")
done
echo "with/without --jwt-keys ($ALG): throughput $(median "${ratios[@]}")x ($(spread "${ratios[@]}")), CPU per request $(median "${authed_cpu[@]}") us against $(median "${plain_cpu[@]}") us ($(median "${cpu_ratios[@]}")x)"
