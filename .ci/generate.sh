#!/usr/bin/env bash
# `cargo kit new`, as a user runs it: a service generated from a trait with
# every supported type (cargo-kit/tests/data/catalog.rs; and the smallest one,
# cargo-kit/tests/data/strings.rs), built with clippy's
# warnings as errors, formatted, its own tests run (every method through the
# in-memory transport, HTTP and gRPC; the Pact consumer skeleton); then the
# binary served and called by Python's grpcio from the generated .proto; then
# `--update` after the trait gained a method.
#
# The crate is generated outside the workspace (it is the user's), with this
# checkout's lockfile (the versions kit is tested with) and target directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$out"' EXIT
export CARGO_TARGET_DIR=$root/target

cargo build --locked -q -p cargo-kit
# `cargo kit` finds the subcommand on PATH, as after `cargo install cargo-kit`.
export PATH=$root/target/debug:$PATH
cargo kit new catalog --trait cargo-kit/tests/data/catalog.rs --kit-path "$root" --dir "$out"
cd "$out/catalog"
cp "$root/Cargo.lock" .
cargo fmt --check
cargo clippy --offline --all-targets -q -- -D warnings
cargo test --offline -q 2>&1 | grep -E '^test result|FAILED|panicked' || true
cargo test --offline -q >/dev/null

# The binary on free loopback ports; Python's grpcio calls every method.
venv=$root/target/kit-tools/venv/bin
python=$venv/python
if [[ ! -x $python ]]; then
  if [[ ${KIT_REQUIRE_EXTERNAL:-} == 1 ]]; then
    echo "the venv with grpcio is missing: run bash .ci/run" >&2
    exit 1
  fi
  echo "SKIPPED: the grpcio check (no venv: bash .ci/run installs it)"
else
  read -r http debug grpc < <("$python" -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
  cargo build --offline -q
  "$CARGO_TARGET_DIR/debug/catalog" --http-addr "127.0.0.1:$http" --debug-addr "127.0.0.1:$debug" \
    --grpc-addr "127.0.0.1:$grpc" > "$out/catalog.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$debug/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$python" "$root/tests/generated_client.py" "127.0.0.1:$grpc" "$out/catalog/proto" > "$out/answers"
  diff -u - "$out/answers" <<'ANSWERS'
Add(full)=UNIMPLEMENTED:Catalog::add is not implemented yet
Add(empty)=INVALID_ARGUMENT:item is missing
Get=UNIMPLEMENTED:Catalog::get is not implemented yet
Search(empty)=INVALID_ARGUMENT:query is missing
Remove=UNIMPLEMENTED:Catalog::remove is not implemented yet
Has=UNIMPLEMENTED:Catalog::has is not implemented yet
Price=UNIMPLEMENTED:Catalog::price is not implemented yet
Kinds=UNIMPLEMENTED:Catalog::kinds is not implemented yet
Add(kind 0)=INVALID_ARGUMENT:0 is not a Kind
ANSWERS
  # And over HTTP, as curl sends it: 501 until written.
  status=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -d '{"id": 1}' "http://127.0.0.1:$http/get")
  [[ $status == 501 ]] || { echo "GET /get answered $status, not 501" >&2; exit 1; }
  kill "$pid"; wait "$pid" || true; pid=
fi

# The trait gains a method: --update regenerates, keeps the user's files, and
# gives the new method a "not implemented" stub; the crate still builds.
cd "$root"
python3 - "$root/cargo-kit/tests/data/catalog.rs" "$out/catalog.rs" <<'PY'
import sys
src = open(sys.argv[1]).read().rstrip()
assert src.endswith("}")
src = src[:-1] + "\n    /// How many items there are.\n    async fn size(&self, ctx: &Context, kind: Option<Kind>) -> Result<u64, CatalogError>;\n}\n"
open(sys.argv[2], "w").write(src)
PY
echo '// my own note' >> "$out/catalog/src/main.rs"
cargo kit new catalog --trait "$out/catalog.rs" --kit-path "$root" --dir "$out" --update
grep -q '^// my own note' "$out/catalog/src/main.rs" || { echo "--update overwrote main.rs" >&2; exit 1; }
grep -q 'Catalog::size' "$out/catalog/src/service.rs" || { echo "--update added no stub" >&2; exit 1; }
cd "$out/catalog"
cargo fmt --check
cargo clippy --offline --all-targets -q -- -D warnings
cargo test --offline -q >/dev/null

# The smallest trait (scalars only, no type of its own but the errors): the
# imports a bigger trait needs are not there to go unused.
cd "$root"
cargo kit new strings --trait cargo-kit/tests/data/strings.rs --kit-path "$root" --dir "$out" >/dev/null
cd "$out/strings"
cp "$root/Cargo.lock" .
cargo fmt --check
cargo clippy --offline --all-targets -q -- -D warnings
cargo test --offline -q >/dev/null
echo "cargo kit: generated, built, tested, served, updated"
