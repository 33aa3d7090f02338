#!/usr/bin/env bash
# Generates the C API reference from the doc comments of
# include/wilddog_video.h with doxygen, into target/api-docs/ (not
# committed): open target/api-docs/html/index.html.
#
# Installs doxygen from Debian if it is missing (as root). The Doxyfile is
# generated here; the header's `/** … */` comments come from the Rust doc
# comments in src/ffi through cbindgen.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v doxygen >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "doxygen is missing; install it (Debian: apt-get install doxygen)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq doxygen >/dev/null
fi

pkgid=$(cargo pkgid -p wilddog-video)
version=${pkgid##*[#@]}
out=target/api-docs
rm -rf "$out"
mkdir -p "$out"

# The main page: the header's overview comment plus the guides.
cat >"$out/mainpage.md" <<MD
# wilddog_video C API ${version} {#mainpage}

The whole API is one header, \`wilddog_video.h\` (see **Files** above for
every function, type and enum, each with its NULL, ownership and thread
rules). Start with \`wd_client_new\`, \`wd_client_invite\` and
\`wd_client_set_invite_callback\`.

Guides in the repository's \`docs/\`: getting-started-c.md,
getting-started-cpp.md, getting-started-kotlin.md, threading-and-ownership.md,
errors.md, abi-policy.md, operations.md, PROTOCOL.md.
MD

cat >"$out/Doxyfile" <<DOX
PROJECT_NAME           = "wilddog_video"
PROJECT_NUMBER         = ${version}
PROJECT_BRIEF          = "Conversation invites as a native SDK with a C ABI"
OUTPUT_DIRECTORY       = ${out}
INPUT                  = include/wilddog_video.h ${out}/mainpage.md
USE_MDFILE_AS_MAINPAGE = ${out}/mainpage.md
FILE_PATTERNS          = *.h *.md
OPTIMIZE_OUTPUT_FOR_C  = YES
EXTRACT_ALL            = YES
JAVADOC_AUTOBRIEF      = YES
MARKDOWN_SUPPORT       = YES
TYPEDEF_HIDES_STRUCT   = NO
ENABLE_PREPROCESSING   = YES
MACRO_EXPANSION        = NO
HAVE_DOT               = NO
CLASS_GRAPH            = NO
GENERATE_HTML          = YES
GENERATE_LATEX         = NO
GENERATE_XML           = NO
SOURCE_BROWSER         = YES
QUIET                  = YES
WARN_IF_UNDOCUMENTED   = YES
WARN_LOGFILE           = ${out}/warnings.log
DOX

doxygen "$out/Doxyfile"
echo "API reference: $out/html/index.html ($(wc -l <"$out/warnings.log") doxygen warning lines in $out/warnings.log)"
