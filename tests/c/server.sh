# Shell helpers to run a wd-signal server for the C tests, the examples and
# the Kotlin and Swift tests.
# Source this file (bash), then:
#
#   wd_server_start VAR [wd-signal options...]
#       starts `wd-signal --listen 127.0.0.1:0 OPTIONS` in the background,
#       waits (at most WD_SERVER_WAIT seconds, default 10) for its line
#       `listening on ws://127.0.0.1:PORT` (wss:// with --tls-cert/--tls-key)
#       and stores the URL in $VAR and
#       the pid in ${VAR}_PID. Returns non-zero if the server did not come up.
#   wd_gateway_start VAR [push_gateway.py options...]
#       starts the test push gateway (tests/support/push_gateway.py: the
#       Matrix push gateway API on loopback, recording every push) the same
#       way, stores its URL (http://127.0.0.1:PORT, for
#       `wd-signal --push-gateway "$VAR"`) in $VAR, its pid in ${VAR}_PID
#       and the file it writes one line per push to
#       (PUSHKEY<TAB>TYPE<TAB>CONTENT_JSON) in ${VAR}_LOG. Options such as
#       `--reject KEY` or `--delay-ms N` pass through; `GET $VAR/pushes`
#       lists the pushes and `POST $VAR/control` changes its answers.
#   wd_redis_start VAR
#       starts a redis-server without persistence on a free loopback port,
#       waits until it accepts connections, and stores its URL
#       (redis://127.0.0.1:PORT, for `wd-signal --broker "$VAR"`) in $VAR
#       and its pid in ${VAR}_PID.
#   wd_server_logs
#       prints the servers' and gateways' logs (their stderr), e.g. after a
#       failure.
#   wd_server_stop_all
#       stops every server and gateway started this way (SIGTERM, then
#       waits for it). Install it as a trap:  trap wd_server_stop_all EXIT
#
# WD_SIGNAL is the server binary (default: target/debug/wd-signal under the
# repository root, found from this file's location); WD_PYTHON the Python
# that runs the gateway (default: python3).

WD_ROOT=${WD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WD_SIGNAL=${WD_SIGNAL:-$WD_ROOT/target/debug/wd-signal}
WD_PYTHON=${WD_PYTHON:-python3}
WD_SERVER_PIDS=()
WD_SERVER_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wd-signal.XXXXXX")

wd_server_start() {
    local var=$1; shift
    local fifo="$WD_SERVER_TMP/$var.out" line fd
    mkfifo "$fifo"
    # Its log (stderr) goes to a file, shown by wd_server_logs.
    "$WD_SIGNAL" --listen 127.0.0.1:0 "$@" >"$fifo" 2>"$WD_SERVER_TMP/$var.log" &
    local pid=$!
    WD_SERVER_PIDS+=("$pid")
    # Opened read-write so the open never blocks; the descriptor stays open
    # for the server's lifetime so it never writes to a closed pipe.
    exec {fd}<>"$fifo"
    if ! read -r -t "${WD_SERVER_WAIT:-10}" -u "$fd" line; then
        echo "wd-signal ($*) did not report its address in time" >&2
        cat "$WD_SERVER_TMP/$var.log" >&2
        return 1
    fi
    case $line in
        "listening on ws://"* | "listening on wss://"*) ;;
        *) echo "wd-signal: unexpected first line: $line" >&2; return 1 ;;
    esac
    printf -v "$var" '%s' "${line#listening on }"
    printf -v "${var}_PID" '%s' "$pid"
    export "${var?}"
}

wd_gateway_start() {
    local var=$1; shift
    local fifo="$WD_SERVER_TMP/$var.out" pushes="$WD_SERVER_TMP/$var.pushes" line fd
    mkfifo "$fifo"
    : >"$pushes"
    "$WD_PYTHON" "$WD_ROOT/tests/support/push_gateway.py" --port 0 --log "$pushes" "$@" \
        >"$fifo" 2>"$WD_SERVER_TMP/$var.log" &
    local pid=$!
    WD_SERVER_PIDS+=("$pid")
    exec {fd}<>"$fifo"
    if ! read -r -t "${WD_SERVER_WAIT:-10}" -u "$fd" line; then
        echo "push gateway ($*) did not report its address in time" >&2
        cat "$WD_SERVER_TMP/$var.log" >&2
        return 1
    fi
    case $line in
        "listening on http://"*) ;;
        *) echo "push gateway: unexpected first line: $line" >&2; return 1 ;;
    esac
    printf -v "$var" '%s' "${line#listening on }"
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_LOG" '%s' "$pushes"
    export "${var?}" "${var}_LOG"
}

wd_redis_start() {
    local var=$1 port fifo="$WD_SERVER_TMP/$1.out" line fd
    port=$("$WD_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
    mkfifo "$fifo"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --loglevel notice >"$fifo" 2>"$WD_SERVER_TMP/$var.log" &
    local pid=$!
    WD_SERVER_PIDS+=("$pid")
    exec {fd}<>"$fifo"
    while read -r -t "${WD_SERVER_WAIT:-10}" -u "$fd" line; do
        case $line in
            *"Ready to accept connections"*)
                printf -v "$var" 'redis://127.0.0.1:%s' "$port"
                printf -v "${var}_PID" '%s' "$pid"
                export "${var?}"
                return 0 ;;
        esac
    done
    echo "redis-server did not get ready on port $port" >&2
    return 1
}

wd_server_logs() {
    local f
    for f in "$WD_SERVER_TMP"/*.log; do
        [ -e "$f" ] && { echo "--- $f"; cat "$f"; }
    done
}

wd_server_stop_all() {
    local pid
    for pid in "${WD_SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    WD_SERVER_PIDS=()
    rm -rf "$WD_SERVER_TMP"
}
