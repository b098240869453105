#!/usr/bin/env bash
# Hostile-client floods against the release addsvc, reporting its memory:
#
# 1. idle: CONNECTIONS (10,000) connections opened and held idle for HOLD
#    seconds, then closed; RSS before, at the peak, and each second for 10 s
#    after the flood ends (the goal: back within 20 MB of before).
# 2. stalled uploads: STALLED (500) clients announce a 1000-byte body and send
#    one byte a second; every one must be cut (408) within the body timeout,
#    while an ordinary request meanwhile keeps its latency.
#
# Usage: bash bench/flood.sh      (CONNECTIONS=10000 HOLD=5 STALLED=500)
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-10000}
HOLD=${HOLD:-5}
STALLED=${STALLED:-500}
# addsvc's connection cap (its default unless set).
MAX_CONNECTIONS=${MAX_CONNECTIONS:-}

cargo build --release -q -p addsvc --bin addsvc
ulimit -n "$(ulimit -Hn)"   # the hard limit: enough for both ends of the flood

source bench/lib.sh
start_addsvc --shutdown-delay-ms 0 --body-timeout-ms 5000 ${MAX_CONNECTIONS:+--max-connections "$MAX_CONNECTIONS"}

python3 - "$port" "$pid" "$CONNECTIONS" "$HOLD" "$STALLED" <<'EOF'
import resource, socket, sys, threading, time

port, pid, n, hold, stalled = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def timed_request():
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port))
    body = b'{"a":1,"b":2}'
    s.sendall(b"POST /sum HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 13\r\n\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.split(b" ", 2)[1].decode(), (time.monotonic() - start) * 1000

print(f"ordinary request before: {timed_request()[1]:.2f} ms")
before = rss_mb()
print(f"RSS before the idle flood: {before:.1f} MB")
conns, refused = [], 0
peak = before
for i in range(n):
    try:
        conns.append(socket.create_connection(("127.0.0.1", port)))
    except OSError:
        refused += 1
    if i % 1000 == 999:
        peak = max(peak, rss_mb())
deadline = time.monotonic() + hold
while time.monotonic() < deadline:
    peak = max(peak, rss_mb())
    time.sleep(0.1)
status, ms = timed_request()
print(f"{len(conns)} idle connections held ({refused} refused), peak RSS {peak:.1f} MB; an ordinary request meanwhile: {status} in {ms:.2f} ms")
for c in conns:
    c.close()
conns.clear()
after = []
for second in range(1, 11):
    time.sleep(1)
    after.append(rss_mb())
print("RSS each second after the flood: " + " ".join(f"{r:.1f}" for r in after) + " MB")
print(f"RSS 10 s after: {after[-1]:.1f} MB ({after[-1] - before:+.1f} MB against before)")

# Stalled uploads: one byte a second.
start = time.monotonic()
socks = []
for _ in range(stalled):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /sum HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{")
    s.setblocking(False)
    socks.append(s)
cut = {}
answers = {}
while len(cut) < stalled and time.monotonic() - start < 60:
    for i, s in enumerate(socks):
        if i in cut:
            continue
        try:
            data = s.recv(4096)
            if data:
                answers[i] = answers.get(i, b"") + data
            else:
                cut[i] = time.monotonic() - start
        except BlockingIOError:
            try:
                s.send(b" ")
            except OSError:
                cut[i] = time.monotonic() - start
        except OSError:
            cut[i] = time.monotonic() - start
    if len(cut) < stalled:
        status, ms = timed_request()
        time.sleep(1)
statuses = {}
for a in answers.values():
    code = a.split(b" ", 2)[1].decode() if a.startswith(b"HTTP/1.1") else "?"
    statuses[code] = statuses.get(code, 0) + 1
print(f"{len(cut)} of {stalled} stalled uploads cut, the last after {max(cut.values()):.1f} s; answers {statuses}; an ordinary request meanwhile: {status} in {ms:.2f} ms")
print(f"RSS after the stalled uploads: {rss_mb():.1f} MB")
EOF
