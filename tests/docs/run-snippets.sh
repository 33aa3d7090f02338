#!/usr/bin/env bash
# Compiles and runs every C and C++ snippet of the README and docs/*.md:
# each ```c / ```cpp fenced block. A block with its own `main` is a whole
# program; any other block is a fragment, compiled as the body of a main
# that includes <stdio.h> and <wilddog_video.h>. C builds with
# -std=c11 -Wall -Wextra -Werror -pedantic (as the examples), C++ with
# -std=c++17 and examples/cpp on the include path. Each program runs
# against a --dev wd-signal started for the run, pushing through the test
# push gateway (its URL is argv[1]);
# C programs run under valgrind, so a snippet that reads uninitialised
# memory or leaks fails. Prints "N passed, M failed"; exits non-zero on any
# failure. Needs target/debug (make builds it first). The ```kotlin blocks
# of docs/getting-started-kotlin.md are compiled and run by the Kotlin tests
# (bindings/kotlin/run-tests.sh, through tests/docs/kotlin-snippets.py).
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
source tests/c/server.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/wd-snippets.XXXXXX")
trap 'wd_server_stop_all; rm -rf "$work"' EXIT

# A dev server that pushes (through the test gateway), for docs/push.md.
wd_gateway_start WD_GATEWAY || exit 1
wd_server_start WD_URL --dev --push-gateway "$WD_GATEWAY" || exit 1
libdir=$root/target/debug
VALGRIND=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect
          --show-leak-kinds=definite,indirect --error-exitcode=1
          --suppressions=tests/c/valgrind.supp)

# Splits the fenced c/cpp blocks of each file into $work/NAME-N.{c,cpp}.
python3 - "$work" README.md docs/*.md <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[1])
for name in sys.argv[2:]:
    text = pathlib.Path(name).read_text()
    blocks = re.findall(r"^```(c|cpp)\n(.*?)^```$", text, re.S | re.M)
    for i, (lang, body) in enumerate(blocks, 1):
        stem = name.replace("/", "_").removesuffix(".md")
        if "int main(" not in body:
            body = ("#include <stdio.h>\n#include <wilddog_video.h>\n"
                    "int main(void) {\n" + body + "    return 0;\n}\n")
        (out / f"{stem}-{i}.{lang}").write_text(body)
PY

passed=0
failed=0
for src in "$work"/*.c "$work"/*.cpp; do
    [ -e "$src" ] || continue
    name=$(basename "$src")
    bin=${src%.*}
    case $src in
        *.c) build=(cc -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude "$src" -o "$bin"
                    -L"$libdir" -Wl,-rpath,"$libdir" -lwilddog_video -lpthread)
             run=("${VALGRIND[@]}" "$bin" "$WD_URL") ;;
        *.cpp) build=(c++ -std=c++17 -Wall -Wextra -Werror -pedantic -g -Iinclude -Iexamples/cpp
                      "$src" -o "$bin" -L"$libdir" -Wl,-rpath,"$libdir" -lwilddog_video -lpthread)
               run=("$bin" "$WD_URL") ;;
    esac
    if ! "${build[@]}" >"$work/$name.log" 2>&1; then
        echo "FAIL $name: does not compile" >&2
        cat "$work/$name.log" >&2
        failed=$((failed + 1))
        continue
    fi
    if timeout 60 "${run[@]}" >"$work/$name.out" 2>&1; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: exit $?" >&2
        cat "$work/$name.out" >&2
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
