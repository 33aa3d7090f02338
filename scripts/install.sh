#!/usr/bin/env bash
# Builds wilddog-video and wd-signal in release mode and installs them under
# a prefix, the way C and C++ users expect (cargo-c's layout):
#
#   PREFIX/lib/libwilddog_video.so.X.Y.Z     soname libwilddog_video.so.X
#   PREFIX/lib/libwilddog_video.so.X  -> libwilddog_video.so.X.Y.Z
#   PREFIX/lib/libwilddog_video.so    -> libwilddog_video.so.X
#   PREFIX/lib/libwilddog_video.a
#   PREFIX/include/wilddog_video.h
#   PREFIX/lib/pkgconfig/wilddog_video.pc
#   PREFIX/lib/cmake/WilddogVideo/WilddogVideoConfig.cmake
#   PREFIX/lib/cmake/WilddogVideo/WilddogVideoConfigVersion.cmake
#   PREFIX/bin/wd-signal
#
# Usage: scripts/install.sh PREFIX     (make install PREFIX=... calls it)
# DESTDIR, if set, is prepended to every installed path (for packaging);
# the files still name PREFIX. CARGO overrides the cargo binary. The
# version comes from Cargo.toml, the one source of truth.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${1:?usage: scripts/install.sh PREFIX}
case $PREFIX in
  /*) ;;
  *) PREFIX=$(mkdir -p "$PREFIX" && cd "$PREFIX" && pwd) ;;
esac
DEST="${DESTDIR:-}$PREFIX"
CARGO=${CARGO:-cargo}

# "path+file:///…#wilddog-video@0.1.0" or "…#0.1.0"
pkgid=$($CARGO pkgid -p wilddog-video)
VERSION=${pkgid##*[#@]}
MAJOR=${VERSION%%.*}
case $VERSION in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "install: cannot read the version from cargo pkgid: $pkgid" >&2; exit 1 ;;
esac

$CARGO build --locked --release -p wilddog-video -p wd-signal
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
OUT=${TARGET_DIR:-target}/release

# What a program linking the static library needs besides it, as rustc
# says for a staticlib of this toolchain (std's needs; the SDK's
# dependencies add none).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
: >"$probe/probe.rs"
NATIVE_LIBS=$(rustc --crate-type staticlib --crate-name probe --print native-static-libs \
  "$probe/probe.rs" -o "$probe/libprobe.a" 2>&1 | sed -n 's/.*native-static-libs: //p')
if [ -z "$NATIVE_LIBS" ]; then
  echo "install: rustc did not print native-static-libs" >&2
  exit 1
fi

SONAME=libwilddog_video.so.$MAJOR
REAL=libwilddog_video.so.$VERSION
install -d "$DEST/lib/pkgconfig" "$DEST/lib/cmake/WilddogVideo" "$DEST/include" "$DEST/bin"
install -m 0755 "$OUT/libwilddog_video.so" "$DEST/lib/$REAL"
ln -sfn "$REAL" "$DEST/lib/$SONAME"
ln -sfn "$SONAME" "$DEST/lib/libwilddog_video.so"
install -m 0644 "$OUT/libwilddog_video.a" "$DEST/lib/libwilddog_video.a"
install -m 0644 include/wilddog_video.h "$DEST/include/wilddog_video.h"
install -m 0755 "$OUT/wd-signal" "$DEST/bin/wd-signal"

cat >"$DEST/lib/pkgconfig/wilddog_video.pc" <<PC
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: wilddog_video
Description: Conversation invites (ring, accept, reject, cancel) as a native SDK with a C ABI
Version: $VERSION
Libs: -L\${libdir} -lwilddog_video
Libs.private: $NATIVE_LIBS
Cflags: -I\${includedir}
PC

# CMake wants library names without -l.
cmake_libs=$(for l in $NATIVE_LIBS; do printf '%s;' "${l#-l}"; done)
cmake_libs=${cmake_libs%;}

cat >"$DEST/lib/cmake/WilddogVideo/WilddogVideoConfig.cmake" <<CMAKE
# CMake package of wilddog_video $VERSION, written by scripts/install.sh.
#
#   find_package(WilddogVideo 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE WilddogVideo::wilddog_video)         # shared
#   target_link_libraries(app PRIVATE WilddogVideo::wilddog_video_static)  # static
#
# Relocatable: paths are found from this file's location.

get_filename_component(_wd_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET WilddogVideo::wilddog_video)
  add_library(WilddogVideo::wilddog_video SHARED IMPORTED)
  set_target_properties(WilddogVideo::wilddog_video PROPERTIES
    IMPORTED_LOCATION "\${_wd_prefix}/lib/$REAL"
    IMPORTED_SONAME "$SONAME"
    INTERFACE_INCLUDE_DIRECTORIES "\${_wd_prefix}/include")
endif()

if(NOT TARGET WilddogVideo::wilddog_video_static)
  add_library(WilddogVideo::wilddog_video_static STATIC IMPORTED)
  set_target_properties(WilddogVideo::wilddog_video_static PROPERTIES
    IMPORTED_LOCATION "\${_wd_prefix}/lib/libwilddog_video.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "\${_wd_prefix}/include"
    INTERFACE_LINK_LIBRARIES "$cmake_libs")
endif()

set(WilddogVideo_VERSION "$VERSION")
set(WilddogVideo_INCLUDE_DIRS "\${_wd_prefix}/include")
set(WilddogVideo_LIBRARIES WilddogVideo::wilddog_video)
unset(_wd_prefix)
CMAKE

cat >"$DEST/lib/cmake/WilddogVideo/WilddogVideoConfigVersion.cmake" <<CMAKE
# Version check of the WilddogVideo package, written by scripts/install.sh.
# Compatible: the same major version (the soname's, the ABI version; see
# docs/abi-policy.md), at least the requested version, and a 64-bit build.
set(PACKAGE_VERSION "$VERSION")
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "$VERSION (64bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
  return()
endif()
if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_FIND_VERSION_MAJOR STREQUAL "$MAJOR"
       AND NOT PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
CMAKE

echo "installed wilddog_video $VERSION and wd-signal under ${DEST}"
