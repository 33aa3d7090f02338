#!/usr/bin/env bash
# Installs a cargo tool at a pinned version, --locked to its own published
# lock file:  scripts/cargo-install.sh NAME VERSION
#
# `cargo install` ignores the checkout's .cargo/config.toml (it reads only
# the user's), so in an offline checkout (scripts/vendor.sh) that file is
# passed to it explicitly: the tool then builds from the vendored sources.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:?usage: scripts/cargo-install.sh NAME VERSION}
version=${2:?usage: scripts/cargo-install.sh NAME VERSION}
config=()
if [ -f .cargo/config.toml ]; then
  config=(--config "$(pwd)/.cargo/config.toml")
fi
echo "installing $name $version (cargo install --locked)"
cargo install "${config[@]}" --quiet --locked "$name" --version "$version"
