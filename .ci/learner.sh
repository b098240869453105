#!/usr/bin/env bash
# The workshop's learner route, followed exactly as workshop/README.md ("How to
# follow") says, with the reference code as the learner's: a crate of one's own
# in the workspace, one module per step, each checkpoint test copied in with its
# `kit_workshop` paths changed to the crate's name. Every checkpoint must pass
# there as it does in the workshop crate.
#
# It works in a copy of the checkout (the root Cargo.toml and the lockfile gain
# the learner's crate), sharing this checkout's target directory, so that only
# the learner's crate is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT

# The checkout as git has it, with the working tree's changes.
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$copy"
# The tools .ci/run installed (the venv with PyJWT, grpcio...), as the harness
# finds them: under target/kit-tools.
mkdir -p "$copy/target"
[[ -d target/kit-tools ]] && ln -s "$root/target/kit-tools" "$copy/target/kit-tools"
cd "$copy"

# 1. `cargo new --lib myaddsvc` (cargo adds it to the workspace's members).
cargo new --lib --quiet --vcs none myaddsvc
grep -q '"myaddsvc"' Cargo.toml || { echo "cargo did not add myaddsvc to the members" >&2; exit 1; }

# 2. The dependencies, dev-dependencies and lints of workshop/Cargo.toml: its
#    part from [dependencies] on replaces the new crate's empty one.
sed -i '/^\[dependencies\]$/,$d' myaddsvc/Cargo.toml
sed -n '/^\[dependencies\]/,$p' workshop/Cargo.toml >> myaddsvc/Cargo.toml

# 3. One module per step: the reference's, as the learner writes them.
cp workshop/src/*.rs myaddsvc/src/

# 4. Each checkpoint test into tests/, its `kit_workshop` paths changed to the
#    crate's name (in `use` lines and in test bodies alike).
mkdir -p myaddsvc/tests
for test in workshop/tests/s[0-9][0-9]_*.rs; do
  sed 's/kit_workshop::/myaddsvc::/g' "$test" > "myaddsvc/tests/$(basename "$test")"
done

# Every checkpoint, in the learner's crate (the lockfile gains the crate and
# nothing else: offline, no new version of anything).
CARGO_TARGET_DIR="$root/target" cargo test --offline -q -p myaddsvc --tests
echo "the learner's route: every checkpoint passes in a crate of one's own"
