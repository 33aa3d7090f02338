#!/usr/bin/env bash
# Runs the C++ demo against a wd-signal server started for it.
set -u
cd "$(dirname "$0")"
source ../../tests/c/server.sh
trap wd_server_stop_all EXIT
wd_server_start URL --dev || exit 1
echo "[run] server at $URL"
build/invite_demo "$URL"
