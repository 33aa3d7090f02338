#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer); targets in fuzz/fuzz_targets/.
#
#   scripts/fuzz.sh smoke [SECS]        every target for SECS (default 15) s:
#                                        what `make fuzz-smoke` and CI run
#   scripts/fuzz.sh run TARGET [SECS]   one target for SECS (default 300) s
#   scripts/fuzz.sh list                the targets
#
# Installs cargo-fuzz (pinned) if it is missing. Only the stable toolchain is
# assumed: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags to it.
# FUZZ_SANITIZER picks the sanitizer (default: none; "address" works where
# the toolchain ships the ASan runtime). The checked-in seed corpora
# (fuzz/corpus/TARGET) are read, never written: new inputs go to
# fuzz/target/corpus/TARGET, crashes to fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(decode_client decode_server decode_push server_frame options_json config_json c_abi_sequence)
SANITIZER=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

CARGO_FUZZ_VERSION=0.13.2
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  ./scripts/cargo-install.sh cargo-fuzz "$CARGO_FUZZ_VERSION"
fi

# cargo-fuzz has no --locked of its own: check fuzz/Cargo.lock first, so
# that a stale lock file fails here instead of being rewritten by the build.
locked() {
  (cd fuzz && cargo metadata --locked --format-version 1 >/dev/null)
}

build() {
  locked
  (cd fuzz && cargo fuzz build -O --sanitizer "$SANITIZER" "$@")
}

run() {
  local target=$1 secs=$2
  local log=fuzz/target/fuzz-$target.log rc=0
  mkdir -p "fuzz/target/corpus/$target"
  echo "== $target: ${secs}s"
  (cd fuzz && cargo fuzz run -O --sanitizer "$SANITIZER" "$target" \
    "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1) \
    >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed (exit $rc); the input is in fuzz/artifacts/$target" >&2
    return 1
  fi
}

case "${1:-smoke}" in
  list) printf '%s\n' "${TARGETS[@]}" ;;
  smoke)
    secs=${2:-15}
    build
    for t in "${TARGETS[@]}"; do run "$t" "$secs"; done
    ;;
  run)
    t=${2:?target}
    build "$t"
    run "$t" "${3:-300}"
    ;;
  *) echo "usage: $0 smoke [SECS] | run TARGET [SECS] | list" >&2; exit 2 ;;
esac
