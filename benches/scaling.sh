#!/usr/bin/env bash
# How one wd-signal node scales with its runtime threads: runs the raw
# driver against a release wd-signal (its own process) with 1, 2, 4, 8
# and 16 worker threads (WD_SIGNAL_WORKERS), up to the machine's cores,
# and prints one row per run. Used for the scaling table in
# docs/BENCHMARKS.md.
#
#   benches/scaling.sh [--all] [--duration SECS] [--client-threads N]
#
# --all           also run the worker counts above the number of cores
# --duration      seconds measured per run (default 8)
# --client-threads  raw-driver threads (default: half the server's
#                 workers, at least 1, so that the load tool is not the
#                 limit; its own CPU is printed beside the server's)
#
# Columns: workers, client threads, completed invite cycles per second,
# server cores busy (CPU seconds per second), server CPU per cycle, the
# load tool's cores busy, and the CPU the rest of the machine used
# meanwhile (large: the run was disturbed).
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
duration=8
client_threads=
while [ $# -gt 0 ]; do
  case $1 in
    --all) all=1 ;;
    --duration) duration=$2; shift ;;
    --client-threads) client_threads=$2; shift ;;
    *) echo "usage: $0 [--all] [--duration SECS] [--client-threads N]" >&2; exit 2 ;;
  esac
  shift
done

cargo build --locked --release -q -p wd-signal -p wd-bench
cores=$(nproc)

# The value of "key": in wd-bench's one-line JSON report (null: -).
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2" | sed 's/null/-/'; }
# A number to two decimals (- stays -).
round() { awk -v v="$1" 'BEGIN { if (v == "-") print v; else printf "%.2f\n", v }'; }

printf '%-7s %-7s %-9s %-11s %-11s %-10s %s\n' \
  workers clients cycles/s server_busy us/cycle tool_busy other_cpu_s
for workers in 1 2 4 8 16; do
  if [ "$all" = 0 ] && [ "$workers" -gt "$cores" ]; then
    break
  fi
  clients=${client_threads:-$(((workers + 1) / 2))}
  pairs=$((clients * 16 > 16 ? clients * 16 : 16))
  report=$(WD_SIGNAL_WORKERS=$workers ./target/release/wd-bench \
    --server-bin target/release/wd-signal --driver raw --json \
    --warmup 1 --duration "$duration" --client-threads "$clients" --pairs "$pairs")
  # wd-bench's CPU figures span the warm-up and the measured seconds.
  tool_s=$(field process_cpu_s "$report")
  secs=$(awk -v d="$duration" 'BEGIN { print d + 1 }')
  printf '%-7s %-7s %-9.0f %-11.2f %-11.2f %-10.2f %s\n' "$workers" "$clients" \
    "$(field invites_per_sec "$report")" "$(field server_cpu_util "$report")" \
    "$(field server_cpu_us_per_cycle "$report")" \
    "$(awk -v c="$tool_s" -v s="$secs" 'BEGIN { print c / s }')" \
    "$(round "$(field other_cpu_s "$report")")"
done
