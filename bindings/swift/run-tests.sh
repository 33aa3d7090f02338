#!/usr/bin/env bash
# Builds the C library and wd-signal, starts the test push gateway
# (tests/support/push_gateway.py) and a real wd-signal that pushes through
# it, both on loopback, and runs the Swift package's tests against them
# three times: plain, under AddressSanitizer and under ThreadSanitizer
# (each in its own build folder under bindings/swift/.build/, git-ignored).
# Then builds and runs the getting-started example of
# docs/getting-started-swift.md against the same server and gateway.
#
#   bindings/swift/run-tests.sh [plain|address|thread|example]...   (default: all)
#
# SWIFT=path/to/swift picks the toolchain (default: swift on PATH, else
# /opt/swift/usr/bin/swift). Exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cargo="${CARGO:-cargo}"
swift="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
started=$SECONDS
runs=("$@")
[[ ${#runs[@]} -gt 0 ]] || runs=(plain address thread example)

"$swift" --version 2>&1 | head -1

# 1. The C library and the server.
echo "== cargo build -p wilddog-video -p wd-signal"
(cd "$root" && "$cargo" build --locked --quiet -p wilddog-video -p wd-signal)
target_dir="$(cd "$root" && "$cargo" metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$root/target}"
libdir="$target_dir/debug"
server="$libdir/wd-signal"

# The package finds the header and the library through pkg-config: a
# wilddog_video.pc for this checkout's build, in the build folder.
mkdir -p "$here/.build/pkgconfig"
cat >"$here/.build/pkgconfig/wilddog_video.pc" <<PC
Name: wilddog_video
Description: wilddog-video C API (this checkout's debug build)
Version: $(sed -n 's/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
Cflags: -I$root/include
Libs: -L$libdir -lwilddog_video
PC
export PKG_CONFIG_PATH="$here/.build/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# The run-time path of the shared library (pkg-config's Libs carry no rpath).
link=(-Xlinker -rpath -Xlinker "$libdir")

# 2. The test push gateway and a real wd-signal that pushes through it, on
# free loopback ports; both stopped on exit.
WD_SIGNAL="$server"
source "$root/tests/c/server.sh"
trap wd_server_stop_all EXIT
wd_gateway_start gateway || exit 1
wd_server_start url --dev --push-gateway "$gateway" || exit 1
echo "== wd-signal at $url, push gateway at $gateway"
export WILDDOG_TEST_URL="$url" WILDDOG_TEST_GATEWAY="$gateway"

# 3. The tests, each run bounded as a whole.
failed=0
run_tests() {   # name, extra flags...
    local name="$1"; shift
    local scratch="$here/.build/$name"
    local t0=$SECONDS
    echo "== swift test ($name)"
    # One output line per test and the summaries (the per-test "started" lines are dropped).
    if (cd "$here" && timeout 900 "$swift" test --scratch-path "$scratch" "${link[@]}" "$@" 2>&1) |
        grep --line-buffered -v -E '^(◇|􀟈) Test .* started\.$|^Test Case .* started\.$'; then
        echo "== swift test ($name): passed in $((SECONDS - t0)) s"
    else
        echo "== swift test ($name): FAILED after $((SECONDS - t0)) s"
        failed=1
    fi
}

for run in "${runs[@]}"; do
    case "$run" in
        plain) run_tests plain ;;
        address) LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
                 run_tests address --sanitize=address ;;
        thread) run_tests thread --sanitize=thread ;;
        example)
            echo "== getting-started example (docs/getting-started-swift.md)"
            t0=$SECONDS
            if (cd "$here" && "$swift" build --scratch-path "$here/.build/plain" "${link[@]}" --product GettingStarted 2>&1 | tail -1 &&
                timeout 60 "$here/.build/plain/debug/GettingStarted" "$url" "$gateway"); then
                echo "== getting-started example: passed in $((SECONDS - t0)) s"
            else
                echo "== getting-started example: FAILED"
                failed=1
            fi
            ;;
        *) echo "unknown run: $run (plain, address, thread, example)" >&2; exit 2 ;;
    esac
done
echo "== run-tests.sh took $((SECONDS - started)) s"
exit "$failed"
