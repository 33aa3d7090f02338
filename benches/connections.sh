#!/usr/bin/env bash
# Holds 100 000 (by default) idle authenticated connections at once on
# wd-signal nodes sharing one Redis, and prints what they cost: each
# node's RSS per connection, Redis's memory per device, and the moment
# every node's devices were announced in Redis. Used for the connection
# figures in docs/BENCHMARKS.md.
#
#   benches/connections.sh [NODES] [PER_NODE] [HOLD_SECS]
#
# One wd-bench process per node opens that node's connections (from its
# own 127.0.0.x source addresses, with its own users), because one
# process can hold no more descriptors than RLIMIT_NOFILE allows (20 000
# where these figures were taken). Needs release builds
# (cargo build --release -p wd-bench -p wd-signal) and redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
B=./target/release/wd-bench
S=./target/release/wd-signal
NODES=${1:-6}
PER_NODE=${2:-16700}
HOLD=${3:-60}
TOTAL=$((NODES * PER_NODE))
# shellcheck source=benches/redis-cluster.sh
. benches/redis-cluster.sh
redis_mem() { redis-cli -p "$port" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

node_pids=()
urls=()
for k in $(seq "$NODES"); do
  $S --dev --listen 127.0.0.1:0 --log-level error --node "n$k" \
    --broker "redis://127.0.0.1:$port" >"$work/n$k.out" 2>&1 &
  pids+=($!)
  node_pids+=($!)
done
for k in $(seq "$NODES"); do urls+=("$(url "n$k")"); done
mem_before=$(redis_mem)
rss_before=()
for p in "${node_pids[@]}"; do rss_before+=("$(rss "$p")"); done

echo "$NODES nodes, $PER_NODE connections each ($TOTAL in all), held $HOLD s"
started=$(date +%s.%N)
tools=()
for k in $(seq "$NODES"); do
  i=$((k - 1))
  # Source addresses 127.0.0.(2 + 10 i) onwards: 10 000 connections each.
  $B --url "${urls[$i]}" --server-pid "${node_pids[$i]}" --connections "$PER_NODE" \
    --per-ip 10000 --first-source $((2 + 10 * i)) --duration "$HOLD" --json \
    >"$work/tool$k.json" 2>"$work/tool$k.err" &
  tools+=($!)
done

# Every node announces each device in Redis (wd:members:<node>) once it
# is registered: wait until all of them are there at once.
announced=0
while [ "$announced" -lt "$TOTAL" ]; do
  sleep 0.5
  announced=0
  for k in $(seq "$NODES"); do
    announced=$((announced + $(redis-cli -p "$port" scard "wd:members:n$k")))
  done
  for t in "${tools[@]}"; do
    kill -0 "$t" 2>/dev/null || { echo "a wd-bench process ended early:"; cat "$work"/tool*.err; exit 1; }
  done
done
held=$(python3 -c "print(round($(date +%s.%N) - $started, 1))")
mem_after=$(redis_mem)
echo "all $announced devices announced in Redis after $held s"
rss_total=0
for k in $(seq "$NODES"); do
  i=$((k - 1))
  r=$(rss "${node_pids[$i]}")
  rss_total=$((rss_total + r - rss_before[i]))
  echo "  node n$k: RSS ${rss_before[$i]} -> $r KiB"
done
python3 -c "
total, rss, mem = $TOTAL, $rss_total, $mem_after - $mem_before
print(f'nodes: {rss / total:.2f} KiB of RSS per connection ({rss / 1024:.0f} MiB for {total})')
print(f'redis: {mem / total:.0f} bytes per device ({mem / 1048576:.0f} MiB used_memory growth)')
"
failed=0
for k in $(seq "$NODES"); do
  wait "${tools[$((k - 1))]}" || failed=1
  python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[2], "connections", d["connections"], "failed", d["failed_connections"],
      "connect_s", round(d["connect_s"], 1), "server_rss_per_connection_KiB",
      round(d["server_rss_per_connection_bytes"] / 1024, 2), "idle_cpu_s", d["server_idle_cpu_s"])
' "$work/tool$k.json" "  tool n$k:" || { failed=1; cat "$work/tool$k.err"; }
done
exit "$failed"
