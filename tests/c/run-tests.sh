#!/usr/bin/env bash
# Runs the built C tests: `run-tests.sh asan valgrind` (either or both).
# Starts the servers they need, exports their URLs, stops them on exit.
#   WD_URL         a --dev server (dev:<uid> tokens)
#   WD_SECRET_URL  a server with --secret s3cret (and no dev tokens)
#   WD_SECRET_TOKEN a token for alice signed with that secret
set -u
cd "$(dirname "$0")"
source ./server.sh
trap wd_server_stop_all EXIT

wd_server_start WD_URL --dev || exit 1
wd_server_start WD_SECRET_URL --secret s3cret || exit 1
WD_SECRET_TOKEN=$("$WD_SIGNAL" token --uid alice --secret s3cret) || exit 1
export WD_SECRET_TOKEN

# For test_push:
#   WD_GATEWAY, WD_GATEWAY_LOG  the test push gateway and its log of pushes;
#                               it answers the key "dead-key" rejected
#   WD_PUSH_URL    a --dev server pushing through it
#   WD_DEADGW_URL  a --dev server whose push gateway is down
#   WD_NODE1_URL, WD_NODE2_URL  two --dev nodes routing through a Redis and
#                  pushing through the gateway (when redis-server is here)
wd_gateway_start WD_GATEWAY --reject dead-key || exit 1
wd_server_start WD_PUSH_URL --dev --push-gateway "$WD_GATEWAY" || exit 1
wd_server_start WD_DEADGW_URL --dev --push-gateway http://127.0.0.1:9 || exit 1
if command -v redis-server >/dev/null; then
    wd_redis_start WD_REDIS || exit 1
    for n in 1 2; do
        wd_server_start "WD_NODE${n}_URL" --dev --node "n$n" --broker "$WD_REDIS" \
            --push-gateway "$WD_GATEWAY" || exit 1
    done
elif [ -n "${CI:-}" ]; then
    echo "redis-server is missing: run scripts/setup-tools.sh" >&2
    exit 1
fi

# NAME@MODE runs NAME with WD_DISPATCH=MODE: its clients' callbacks then
# run in that dispatch mode ("io": on the client's I/O thread).
TESTS=(${WD_TESTS:-test_null test_args test_state test_callbacks test_conversation test_after_free
       test_push test_state@io test_callbacks@io test_conversation@io test_push@io})
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
VALGRIND=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
          --show-leak-kinds=definite,indirect --error-exitcode=1
          --suppressions=valgrind.supp)

failed=()
for mode in "$@"; do
    for t in "${TESTS[@]}"; do
        echo "=== $mode: $t"
        bin=${t%@*}
        dispatch=
        [[ $t == *@* ]] && dispatch=${t#*@}
        case $mode in
            asan) cmd=("build/asan/$bin") ;;
            valgrind) cmd=("${VALGRIND[@]}" "build/plain/$bin") ;;
            *) echo "unknown mode $mode" >&2; exit 2 ;;
        esac
        start=${EPOCHREALTIME/./}
        if WD_DISPATCH=$dispatch "${cmd[@]}"; then status=ok; else status=FAILED; failed+=("$mode:$t"); fi
        printf '=== %s: %s %s (%d ms)\n' "$mode" "$t" "$status" \
            $(( (${EPOCHREALTIME/./} - start) / 1000 ))
    done
done

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all C tests passed ($*)"
