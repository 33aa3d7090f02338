#!/usr/bin/env bash
# Runs wd-bench against one wd-signal node (in memory) and against two
# nodes routing through Redis, alternating, with fresh processes per call,
# and prints one line per run. Used for the Scale-out figures in
# docs/BENCHMARKS.md.
#
#   benches/cluster.sh [ROUNDS] [RUN...]
#
# RUN is one of: raw-4x64 raw-32x8 sdk sdk-io (default: all four), each
# measured on one node and on two nodes; sdk and sdk-io take a rate as
# sdk-io:1000 (default 200 invites per second). Two-node lines also give
# Redis's CPU seconds during the run. Needs release builds
# (cargo build --release -p wd-bench -p wd-signal) and redis-server.
# WD_SIGNAL_WORKERS, if set, is passed to the nodes (their runtime threads).
set -euo pipefail
cd "$(dirname "$0")/.."
B=./target/release/wd-bench
S=./target/release/wd-signal
R=100000000
ROUNDS=${1:-2}
shift || true
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(raw-4x64 raw-32x8 sdk sdk-io)
# shellcheck source=benches/redis-cluster.sh
. benches/redis-cluster.sh

start() { # start NAME [ARGS...]: starts a node in the background
  local name=$1; shift
  WD_SIGNAL_MESSAGE_RATE=0 $S --dev --listen 127.0.0.1:0 --invite-rate $R --invite-burst $R \
    --log-level error --node "$name" "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
}
start solo; P1=$!
start n1 --broker "redis://127.0.0.1:$port"; PA=$!
start n2 --broker "redis://127.0.0.1:$port"; PC=$!
U1=$(url solo); A=$(url n1); C=$(url n2)

args() { # args RUN
  case $1 in
    raw-4x64) echo "--driver raw --pairs 4 --window 64" ;;
    raw-32x8) echo "--driver raw --pairs 32 --window 8" ;;
    sdk) echo "--driver sdk --rate 200" ;;
    sdk:*) echo "--driver sdk --rate ${1#sdk:}" ;;
    sdk-io) echo "--driver sdk --dispatch io --rate 200" ;;
    sdk-io:*) echo "--driver sdk --dispatch io --rate ${1#sdk-io:}" ;;
    *) echo "unknown run $1" >&2; exit 2 ;;
  esac
}
report() { # report LABEL [REDIS_CPU_S]: one line from wd-bench's JSON
  python3 -c '
import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
extra = ["redis_cpu_s", sys.argv[2]] if len(sys.argv) > 2 else []
print(sys.argv[1], "cycles/s", d["invites_per_sec"], "p50_us", d["p50_us"], "p99_us", d["p99_us"],
      "failed", d["failed"], "server_cpu_s", d["server_cpu_s"], "other_cpu_s", round(d.get("other_cpu_s", 0), 2),
      *extra)
' "$@"
}
redis_cpu() { # Redis's CPU seconds so far (user + system)
  redis-cli -p "$port" info cpu | awk -F: '/used_cpu_(sys|user):/ { s += $2 } END { print s }'
}
for round in $(seq "$ROUNDS"); do
  for run in "${RUNS[@]}"; do
    # shellcheck disable=SC2046
    $B --url "$U1" --server-pid "$P1" $(args "$run") --duration 5 --json | report "round $round $run one-node"
    before=$(redis_cpu)
    # shellcheck disable=SC2046
    out=$($B --url "$A" --url "$C" --server-pid "$PA" --server-pid "$PC" $(args "$run") --duration 5 --json)
    report "round $round $run two-nodes" "$(python3 -c "print(round($(redis_cpu) - $before, 2))")" <<<"$out"
  done
done
