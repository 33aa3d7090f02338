#!/usr/bin/env bash
# Offline builds: points cargo at a vendored copy of every crate the
# project needs, for this checkout only.
#
#   scripts/vendor.sh path/to/crates.tar.xz   unpack it under target/vendor/
#   scripts/vendor.sh path/to/vendor-dir       use an unpacked one in place
#   scripts/vendor.sh --off                    back to the registry
#
# (`make vendor VENDOR=...` and `make unvendor` call it.) The archive holds
# one folder per crate and version, each with cargo's checksum file: cargo's
# directory source replacement. It is unpacked under target/ (never into the
# tracked tree) and a git-ignored `.cargo/config.toml` at the checkout's
# root replaces crates.io with it and turns the network off. Cargo reads
# that file from every directory below the root, so the workspace, fuzz/
# and the tools that `make test` installs with `cargo install --locked`
# from here (cbindgen, cargo-fuzz) all build from the vendored sources.
# The lock files are used as committed: a crate or version missing from
# the vendored set is an error, never a silent re-resolution.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
config=.cargo/config.toml
marker="# written by scripts/vendor.sh"

if [ "${1:-}" = "--off" ]; then
  if [ -f "$config" ] && head -n 1 "$config" | grep -qxF "$marker"; then
    rm -f "$config"
    rmdir .cargo 2>/dev/null || true
    echo "vendor: $config removed; cargo uses the registry again"
  else
    echo "vendor: no $config of ours to remove"
  fi
  exit 0
fi

src=${1:?usage: scripts/vendor.sh path/to/crates.tar.xz | path/to/vendor-dir | --off}
if [ -d "$src" ]; then
  dir=$(cd "$src" && pwd)
elif [ -f "$src" ]; then
  archive=$(cd "$(dirname "$src")" && pwd)/$(basename "$src")
  dir=$root/target/vendor
  stamp=$root/target/vendor.stamp
  # The archive's size, time and path: unpack again only when it changed.
  want=$(stat -c '%s %Y' "$archive")" $archive"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d "$dir" ]; then
    echo "vendor: unpacking $archive into target/vendor"
    rm -rf "$dir" "$stamp" "$root/target/vendor.tmp"
    mkdir -p "$root/target/vendor.tmp"
    tar -xf "$archive" -C "$root/target/vendor.tmp"
    # The archive holds one top folder (vendor/); accept a flat one too.
    if [ -d "$root/target/vendor.tmp/vendor" ]; then
      mv "$root/target/vendor.tmp/vendor" "$dir"
      rmdir "$root/target/vendor.tmp"
    else
      mv "$root/target/vendor.tmp" "$dir"
    fi
    echo "$want" >"$stamp"
  fi
else
  echo "vendor: $src is neither an archive nor a folder" >&2
  exit 1
fi

count=$(find "$dir" -mindepth 2 -maxdepth 2 -name .cargo-checksum.json | wc -l)
if [ "$count" -eq 0 ]; then
  echo "vendor: $dir holds no vendored crate (no */.cargo-checksum.json)" >&2
  exit 1
fi

if [ -f "$config" ] && ! head -n 1 "$config" | grep -qxF "$marker"; then
  echo "vendor: $config exists and was not written by this script; not overwriting it" >&2
  exit 1
fi
mkdir -p .cargo
cat >"$config" <<TOML
$marker
# Offline build from vendored crates; \`make unvendor\` removes this file.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "$dir"

[net]
offline = true
TOML
echo "vendor: cargo builds this checkout from $dir ($count crates), offline"
