#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain and a C
# compiler: valgrind (Debian) and cbindgen at the version pinned in
# cbindgen.version. Idempotent: does nothing when both are present.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "valgrind is missing; install it (Debian: apt-get install valgrind)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

want=$(tr -d '[:space:]' < cbindgen.version)
have=$(cbindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  cargo install --quiet --locked cbindgen --version "$want"
fi
