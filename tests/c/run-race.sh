#!/usr/bin/env bash
# Runs race_agreement (build/plain): a caller process and two device
# processes race every pair of actions, RACE_ROUNDS rounds each (default
# 1000), through a wd-signal process started for the run. The server's
# per-user invite and per-connection frame limits are raised: the test is
# about agreement, and a refused frame would end a round early.
set -u
cd "$(dirname "$0")"
source ./server.sh
trap wd_server_stop_all EXIT

wd_server_start WD_URL --dev --invite-rate 100000 --invite-burst 100000 --message-rate 0 || exit 1
start=${EPOCHREALTIME/./}
if ./build/plain/race_agreement; then status=ok; else status=FAILED; fi
printf '=== race_agreement %s (%d ms)\n' "$status" $(( (${EPOCHREALTIME/./} - start) / 1000 ))
if [[ $status != ok ]]; then
    wd_server_logs | tail -n 40 >&2
    exit 1
fi
