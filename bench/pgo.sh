#!/usr/bin/env bash
# Profile-guided builds (PGO) of the load benchmark's servers: addsvc, bare
# hyper, serve-only and bare-batched, all the same way, into
# target/pgo/release/. `PGO=1 bash bench/load.sh` and `PGO=1 bash
# bench/instructions.sh` measure them; it is also how to build addsvc (or any
# kit service) for production.
#
# 1. builds the servers instrumented (-Cprofile-generate), in target/pgo-gen;
# 2. runs each, pinned to CPU 0, under wrk's POST /sum (what bench/load.sh
#    measures) for TRAIN, and addsvc also through a few hundred requests that
#    take its other paths (bad JSON, wrong content type, unknown path, a metrics
#    scrape): each server is trained on the load it is measured under;
# 3. merges the profiles with llvm-profdata (rustup's llvm-tools component, which
#    matches rustc's LLVM; installed here if missing);
# 4. builds the servers again with the merged profile (-Cprofile-use), in
#    target/pgo. Generic code (hyper's connection, tokio's tasks) is
#    instantiated for each server's own types, so it is laid out from that
#    server's run; the little they share as it is (the runtime's scheduler,
#    httparse) from all four runs together, the same for each.
#
# The profile tells LLVM which branches and calls are taken: hot code is
# inlined and laid out together, cold code moved away. For addsvc that is the
# difference between a request's code overflowing the 64 KiB instruction cache
# and fitting in it (BENCHMARKS.md, issue 18). The cargo-pgo tool does the same
# steps; this script keeps them in the open and needs nothing beyond rustup.
#
# Usage: bash bench/pgo.sh            (TRAIN=8s)
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN=${TRAIN:-8s}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
source bench/lib.sh

sysroot=$(rustc --print sysroot)
profdata=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-profdata 2>/dev/null | head -1 || true)
if [[ -z $profdata ]]; then
  rustup component add llvm-tools-preview >&2
  profdata=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-profdata | head -1)
fi

servers=(addsvc bare-hyper serve-only bare-batched)
build() { # TARGET_DIR RUSTFLAGS
  CARGO_TARGET_DIR=$1 RUSTFLAGS=$2 cargo build --release -q -p addsvc --bin addsvc \
    -p kit-bench --bin bare-hyper --bin serve-only --bin bare-batched
}

profiles=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$profiles"; }
trap cleanup EXIT

echo "pgo: instrumented build (target/pgo-gen)" >&2
# (Its build scripts and proc macros are instrumented too, and write their
# profiles as they run: to a directory of their own, left out of the merge, and
# at a fixed path, so that a second run rebuilds only what changed.)
build target/pgo-gen "-Cprofile-generate=$PWD/target/pgo-gen/build-profiles"

# train NAME URL: the POST /sum load on URL, then SIGTERM to the server (which
# writes its profile as it exits) and a wait for it to go.
train() {
  taskset -c 1 wrk -t1 -c32 -d"$TRAIN" -s bench/post-sum.lua "$2/sum" | awk -v n="$1" '/Requests\/sec/ {print "pgo: trained " n " at " $2 " req/s"}' >&2
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

for server in "${servers[@]}"; do
  bin=target/pgo-gen/release/$server
  export LLVM_PROFILE_FILE="$profiles/run/$server-%p.profraw"
  if [[ $server == addsvc ]]; then
    # (Sets $pid and $url.)
    PIN_CPU=0 launch_addsvc "$bin" --shutdown-delay-ms 0
    # Its other paths, so that they are not laid out as if never taken.
    for _ in $(seq 100); do
      curl -s -o /dev/null -XPOST -H 'content-type: application/json' -d '{"a":1,' "$url/sum"
      curl -s -o /dev/null -XPOST -d '{"a":1,"b":2}' "$url/sum"
      curl -s -o /dev/null "$url/nowhere"
    done
  else
    args=(127.0.0.1:0)
    [[ $server == serve-only ]] && args=()
    out=$profiles/$server.out
    taskset -c 0 "$bin" "${args[@]}" >"$out" 2>&1 &
    pid=$!
    url=$(announced "$out")
    answers "$url" 30
  fi
  train "$server" "$url"
done
unset LLVM_PROFILE_FILE
for server in "${servers[@]}"; do
  ls "$profiles"/run/"$server"-*.profraw >/dev/null 2>&1 || { echo "pgo: no profile from $server" >&2; exit 1; }
done
"$profdata" merge -o "$profiles/merged.profdata" "$profiles"/run/*.profraw

echo "pgo: optimized build (target/pgo)" >&2
build target/pgo "-Cprofile-use=$profiles/merged.profdata -Cllvm-args=-pgo-warn-missing-function=false"
echo "pgo: built ${servers[*]} in target/pgo/release" >&2
