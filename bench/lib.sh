# Shared by the bench scripts: free ports and a release addsvc on them.

# free_port: a TCP port nobody listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# answers URL [SECONDS]: waits (10 s by default) until URL/sum answers a sum;
# fails otherwise.
answers() {
  for _ in $(seq $(( ${2:-10} * 10 ))); do
    curl -fs -o /dev/null -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' "$1/sum" && return
    sleep 0.1
  done
  echo "$1 did not answer" >&2
  return 1
}

# start_addsvc FLAGS...: the release addsvc on free ports $port (API) and $debug,
# logging to /dev/null, stopped when the script exits; returns once it answers.
start_addsvc() {
  port=$(free_port)
  debug=$(free_port)
  ./target/release/addsvc --http-addr "127.0.0.1:$port" --debug-addr "127.0.0.1:$debug" "$@" >/dev/null 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  answers "http://127.0.0.1:$port" || exit 1
}
