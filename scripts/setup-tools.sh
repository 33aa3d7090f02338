#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain and a C
# compiler: valgrind, cmake, pkg-config, redis-server, haproxy and openssl
# (Debian; the Kotlin TLS tests make their certificates with openssl;
# the scale-out tests start their own redis-server, the deployment
# sample's test its own haproxy) and cbindgen at the
# version pinned in cbindgen.version. Idempotent: does nothing when all of
# them are present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, installed in one apt-get run when any is missing
# (command name:package name).
missing=()
for pair in valgrind:valgrind cmake:cmake pkg-config:pkg-config redis-server:redis-server haproxy:haproxy openssl:openssl; do
  if ! command -v "${pair%%:*}" >/dev/null 2>&1; then
    missing+=("${pair#*:}")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

want=$(tr -d '[:space:]' < cbindgen.version)
have=$(cbindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  ./scripts/cargo-install.sh cbindgen "$want"
fi
