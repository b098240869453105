#!/usr/bin/env python3
"""The code a request runs through, from a callgrind profile made with
--dump-instr=yes (bench/instructions.sh with FOOTPRINT=1 makes one).

Usage: python3 bench/footprint.py PROFILE REQUESTS [TOP]

Prints the distinct 64-byte lines of code executed on at least half the
requests ("hot lines"), their size in KiB, and the TOP functions (default 15)
with the most of them. Against the instruction cache (64 KiB on the hosts of
BENCHMARKS.md) this tells whether a request's code stays cached from one
request to the next or comes back from L2 on every one: the instruction count
does not say that.
"""
import collections
import re
import sys


def main():
    path, requests = sys.argv[1], float(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    names, current = {}, None
    cost = collections.Counter()  # instruction address -> times executed
    owner = {}  # instruction address -> function
    last, after_call = 0, False
    with open(path) as profile:
        for line in profile:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
                if m.group(2):
                    names[m.group(1)] = m.group(2).strip()
                if line.startswith("fn="):
                    current = names[m.group(1)]
                continue
            if line.startswith("calls="):
                # The next line is the call's inclusive cost, not this
                # function's own.
                after_call = True
                continue
            fields = line.split()
            if len(fields) < 3 or re.match(r"^[a-z]+[=:]", line):
                continue
            a = fields[0]
            if a.startswith("0x"):
                addr = int(a, 16)
            elif a.startswith("+"):
                addr = last + int(a[1:])
            elif a.startswith("-"):
                addr = last - int(a[1:])
            elif a == "*":
                addr = last
            else:
                continue
            last = addr
            if after_call:
                after_call = False
                continue
            cost[addr] += int(fields[2])
            owner[addr] = current
    lines = collections.defaultdict(set)
    for addr, n in cost.items():
        if n >= requests / 2:
            lines[owner[addr]].add(addr >> 6)
    every = set().union(*lines.values()) if lines else set()
    print(
        f"  hot code: {len(every)} lines of 64 bytes ({len(every) * 64 / 1024:.1f} KiB), "
        f"{sum(cost.values()) / requests:.0f} instructions per request"
    )
    for fn, held in sorted(lines.items(), key=lambda kv: -len(kv[1]))[:top]:
        print(f"  {len(held):5d} lines  {fn[:120]}")


if __name__ == "__main__":
    main()
