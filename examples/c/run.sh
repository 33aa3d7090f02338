#!/usr/bin/env bash
# Runs the example: a wd-signal server, then the callee (bob), then, once
# bob is ready, the caller (alice). Fails if either program fails.
set -u
cd "$(dirname "$0")"
source ../../tests/c/server.sh
trap 'wd_server_stop_all; [ -n "${callee:-}" ] && kill "$callee" 2>/dev/null' EXIT

wd_server_start URL --dev || exit 1
echo "[run] server at $URL"

# The callee says "[callee] ready" once connected; wait for it (bounded).
fifo="$WD_SERVER_TMP/callee.out"
mkfifo "$fifo"
build/callee "$URL" >"$fifo" &
callee=$!
exec {out}<"$fifo"   # EOF once the callee exits
if ! read -r -t 10 -u "$out" line || [ "$line" != "[callee] ready" ]; then
    echo "[run] the callee did not start" >&2
    exit 1
fi
echo "$line"
cat <&"$out" &   # the rest of the callee's timeline
printer=$!

build/caller "$URL"
caller_status=$?
# A failed caller may leave bob waiting for invites that never come.
[ "$caller_status" -eq 0 ] || kill "$callee" 2>/dev/null
wait "$callee"
callee_status=$?
callee=
wait "$printer"
echo "[run] caller exit $caller_status, callee exit $callee_status"
[ "$caller_status" -eq 0 ] && [ "$callee_status" -eq 0 ]
