# Sourced by the benchmark scripts that run wd-signal nodes through Redis
# (benches/cluster.sh, benches/connections.sh): a scratch directory
# `$work`, processes in `pids` stopped at exit, a Redis without
# persistence on a free loopback port (`$port`), and each node's address.

work=$(mktemp -d "${TMPDIR:-/tmp}/wd-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done

url() { # url NAME: the address of the node whose stdout is $work/NAME.out
  local line=
  until case $line in "listening on "*) true ;; *) false ;; esac; do
    sleep 0.05
    line=$(head -n1 "$work/$1.out" 2>/dev/null || true)
  done
  echo "${line#listening on }"
}
