#!/usr/bin/env python3
"""Each kit crate's `rust-version` must be at least what every dependency it
builds with (normal dependencies, all features, as locked) declares: a crate
must truly build on the Rust version it names. Prints each crate's need; fails
naming the crate, its rust-version and the dependency that needs more.

Usage: python3 .ci/msrv.py   (reads `cargo metadata --locked --all-features`)
"""
import json
import subprocess
import sys


def version(v):
    parts = [int(p) for p in (v or "0").split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--all-features"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}


def normal_deps(pid):
    """Every package `pid` builds with (normal and build dependencies, not dev)."""
    seen, todo = set(), [pid]
    while todo:
        for dep in nodes[todo.pop()]["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return seen


failed = False
for pid in meta["workspace_members"]:
    pkg = packages[pid]
    # Every member: the crates users depend on, and the example services.
    declared = pkg.get("rust_version")
    need, by = (0, 0, 0), "-"
    for dep in normal_deps(pid):
        v = version(packages[dep].get("rust_version"))
        if v > need:
            need, by = v, f'{packages[dep]["name"]} {packages[dep]["version"]}'
    ok = version(declared) >= need
    failed |= not ok
    print(f'{pkg["name"]:<20} rust-version {declared:<6} needs {".".join(map(str, need)):<8} ({by}){"" if ok else "  <- too low"}')
sys.exit(1 if failed else 0)
