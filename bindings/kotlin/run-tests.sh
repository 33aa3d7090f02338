#!/usr/bin/env bash
# Builds the JNI library, compiles the Kotlin wrapper, its coroutine layer and
# its tests without Gradle (kotlinc from the npm package `kotlin-compiler`,
# Java 17; kotlinx-coroutines from the same package's lib/), starts a real
# wd-signal on loopback, pushing through the test push gateway
# (tests/support/push_gateway.py), and runs the tests against them: once with each cleaner
# (`-Dwilddog.video.cleaner=jdk`, then `phantom`, the one Android below API 33
# uses). The tests include every ```kotlin block of
# docs/getting-started-kotlin.md, compiled and run (tests/docs/kotlin-snippets.py
# turns them into functions).
#
#   bindings/kotlin/run-tests.sh [name-filter...]
#
# KOTLIN_COMPILER_TGZ=path/to/kotlin-compiler-2.4.20.tgz installs the
# compiler from that npm tarball instead of the npm registry (offline
# builds; .ci/run sets it when the registry cannot be reached).
# WILDDOG_CLEANERS="jdk phantom" (the default) names the cleaner runs.
#
# Prints `N passed, M failed` per run; exits non-zero on any failure.
# Everything it builds goes to bindings/kotlin/build/ (git-ignored). Where
# Gradle is installed it also builds the JVM library with build.gradle.kts
# (this project's CI has no Gradle, so that step is skipped there;
# WILDDOG_GRADLE=0 skips it anywhere).
set -euo pipefail

KOTLIN_COMPILER_VERSION=2.4.20   # npm package; its kotlinc works with Java 17

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$here/build"
npm_prefix="$build/npm"
kc="$npm_prefix/node_modules/kotlin-compiler"
cargo="${CARGO:-cargo}"
started=$SECONDS

mkdir -p "$build"

# 1. The compiler, pinned, installed once into a local prefix.
installed="$(node -p "try{require('$kc/package.json').version}catch(e){''}" 2>/dev/null || true)"
if [[ "$installed" != "$KOTLIN_COMPILER_VERSION" ]]; then
    if [[ -n "${KOTLIN_COMPILER_TGZ:-}" ]]; then
        [[ -f "$KOTLIN_COMPILER_TGZ" ]] || { echo "KOTLIN_COMPILER_TGZ: no such file: $KOTLIN_COMPILER_TGZ" >&2; exit 1; }
        tgz="$(cd "$(dirname "$KOTLIN_COMPILER_TGZ")" && pwd)/$(basename "$KOTLIN_COMPILER_TGZ")"
        echo "== installing kotlin-compiler from $tgz (offline) into $npm_prefix"
        npm install --offline --no-audit --no-fund --no-save --prefix "$npm_prefix" "$tgz" >/dev/null
    else
        echo "== installing kotlin-compiler@$KOTLIN_COMPILER_VERSION (npm) into $npm_prefix"
        npm install --no-audit --no-fund --no-save --prefix "$npm_prefix" \
            "kotlin-compiler@$KOTLIN_COMPILER_VERSION" >/dev/null
    fi
    installed="$(node -p "try{require('$kc/package.json').version}catch(e){''}" 2>/dev/null || true)"
    [[ "$installed" == "$KOTLIN_COMPILER_VERSION" ]] || {
        echo "kotlin-compiler: installed '$installed', want $KOTLIN_COMPILER_VERSION" >&2; exit 1; }
fi
kotlinc="$kc/bin/kotlinc"
stdlib="$kc/lib/kotlin-stdlib.jar"
ktest="$kc/lib/kotlin-test.jar"
coroutines="$kc/lib/kotlinx-coroutines-core-jvm.jar"
for f in "$kotlinc" "$stdlib" "$ktest" "$coroutines"; do
    [[ -e "$f" ]] || { echo "missing $f in kotlin-compiler@$KOTLIN_COMPILER_VERSION" >&2; exit 1; }
done
java -version 2>&1 | head -1

# 2. The native library and the server.
echo "== cargo build -p wilddog-video-jni -p wd-signal"
(cd "$root" && "$cargo" build --locked --quiet -p wilddog-video-jni -p wd-signal)
target_dir="$(cd "$root" && "$cargo" metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$root/target}"
native="$target_dir/debug/libwilddog_video_jni.so"
[[ "$(uname)" == Darwin ]] && native="$target_dir/debug/libwilddog_video_jni.dylib"
server="$target_dir/debug/wd-signal"

# 3. Kotlin: the plain API (against the standard library alone: it must not
# need kotlinx.coroutines), the coroutine layer, then the tests with the
# guide's snippets (with access to `internal`).
# C1 only and a serial GC: kotlinc is a short-lived process on a small machine.
export JAVA_OPTS="${KOTLINC_JAVA_OPTS:--Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
main_jar="$build/wilddog-video.jar"
coroutines_jar="$build/wilddog-video-coroutines.jar"
test_jar="$build/wilddog-video-tests.jar"
snippets="$build/doc-snippets"
echo "== kotlinc: main -> $(basename "$main_jar")"
"$kotlinc" -jvm-target 17 -module-name wilddog-video -Werror \
    "$here/src/main/kotlin" -d "$main_jar"
echo "== kotlinc: coroutines -> $(basename "$coroutines_jar")"
"$kotlinc" -jvm-target 17 -module-name wilddog-video-coroutines -Werror \
    -cp "$main_jar:$coroutines" "$here/src/coroutines/kotlin" -d "$coroutines_jar"
rm -rf "$snippets" && mkdir -p "$snippets"
python3 "$root/tests/docs/kotlin-snippets.py" "$snippets/DocSnippets.kt" "$root/docs/getting-started-kotlin.md"
echo "== kotlinc: tests and the guide's snippets -> $(basename "$test_jar")"
"$kotlinc" -jvm-target 17 -module-name wilddog-video-tests -nowarn \
    -Xfriend-paths="$main_jar" -cp "$main_jar:$coroutines_jar:$coroutines:$ktest" \
    "$here/src/test/kotlin" "$snippets" -d "$test_jar"
unset JAVA_OPTS

# 4. The test push gateway (tests/support/push_gateway.py: the Matrix push
# gateway API on loopback, recording every push) and two real wd-signal
# servers on free loopback ports, all stopped on exit: one plain that pushes
# through that gateway, one serving wss:// with a certificate from a CA made
# here (the TLS tests trust it through caFile/caPem, or not at all; it has no
# push gateway).
WD_SIGNAL="$server"
source "$root/tests/c/server.sh"
trap wd_server_stop_all EXIT
tls="$build/tls"
rm -rf "$tls" && mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=wd-test-ca -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$tls/key.pem" -out "$tls/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
openssl x509 -req -in "$tls/leaf.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 2 -extfile "$tls/ext.cnf" -out "$tls/cert.pem" 2>/dev/null
wd_gateway_start gateway || exit 1
wd_server_start url --dev --push-gateway "$gateway" || exit 1
wd_server_start tls_url --dev --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" || exit 1
echo "== wd-signal at $url (pushing through $gateway) and $tls_url"

# 5. The tests, once per cleaner (each run bounded as a whole, too).
failed=0
for cleaner in ${WILDDOG_CLEANERS:-jdk phantom}; do
    echo "== tests (cleaner: $cleaner)"
    if ! RUST_BACKTRACE=0 timeout 300 java -Xmx256m -Xss1m \
        -Dwilddog.video.native="$native" \
        -Dwilddog.video.cleaner="$cleaner" \
        -Dwilddog.test.url="$url" \
        -Dwilddog.test.gateway="$gateway" \
        -Dwilddog.test.tls.url="$tls_url" -Dwilddog.test.tls.ca="$tls/ca.pem" \
        -Dwilddog.video.header="$root/include/wilddog_video.h" \
        -Dwilddog.test.root="$root" \
        -Dwilddog.test.main.jar="$main_jar" \
        -cp "$main_jar:$coroutines_jar:$test_jar:$stdlib:$ktest:$coroutines" \
        com.wilddog.video.TestRunnerKt "$@"; then
        failed=1
    fi
done

# 6. Gradle, where it is installed: the JVM library as a user would build it.
if [[ "${WILDDOG_GRADLE:-1}" != 0 ]] && command -v gradle >/dev/null 2>&1; then
    echo "== gradle: build.gradle.kts (JVM library and coroutine layer)"
    (cd "$here" && gradle --no-daemon --quiet jar coroutinesJar) || failed=1
else
    echo "== gradle: not installed here; build.gradle.kts is not exercised"
fi
echo "== run-tests.sh took $((SECONDS - started)) s"
exit "$failed"
