#!/usr/bin/env bash
# Installs everything the project needs from the package registries, skipping what is already
# there at the right version: Chromium, chromedriver, pip and unzip (apt), the wasm32 target
# (rustup), trunk and wasm-bindgen-cli (cargo), wasm-opt and playwright-core (npm, locked).
# No registry ships trunk or wasm-bindgen-cli prebuilt (npm's wasm-pack and cargo-binstall
# download them from GitHub, which this network refuses), so both are built from crates.io,
# with a lighter release profile than their own (see `install_tool`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"

say() { printf '\n== %s\n' "$*"; }
# cargo install with the tool's release profile lightened: trunk's own (fat LTO, one codegen
# unit) made its install take most of a cold run's setup, for a tool that then spends
# milliseconds of each build in its own code. Measured on 2 cores: trunk 287 s, wasm-bindgen-cli
# 112 s (README, "Build and test times").
install_tool() {
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_TARGET_DIR="$DS_CACHE/tools" cargo install "$@"
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Chromium for the browser tests, Fashion-MNIST for the trainer's second benchmark, DejaVu for
# the report's plots, GNU time for the peak memory tests/it/hostile.rs measures.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
  || [ ! -d /usr/share/datasets/fashion-mnist ] || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] \
  || [ ! -x /usr/bin/time ]; then
  say "installing chromium, chromium-driver, dataset-fashion-mnist, fonts-dejavu-core, time (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    chromium chromium-driver dataset-fashion-mnist fonts-dejavu-core time >/dev/null
fi

# pip and unzip fetch the distillation teachers (scripts/teachers.sh).
if ! command -v unzip >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  say "installing python3-pip, unzip (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip unzip >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null || true)" != "trunk $TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION"
  # Without the crates.io update check (TRUNK_SKIP_VERSION_CHECK is set anyway).
  install_tool --locked trunk --version "$TRUNK_VERSION" --no-default-features --features rustls
fi

if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Without --locked: one of its locked dependency versions is not in the registry mirror.
  install_tool wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force \
    --bin wasm-bindgen --bin wasm-bindgen-test-runner
fi

# node_modules/.ds-package-lock.json: the lock file the last `npm ci` installed.
if ! cmp -s package-lock.json node_modules/.ds-package-lock.json 2>/dev/null; then
  say "installing npm tools (binaryen 132 for wasm-opt, playwright-core)"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.ds-package-lock.json
fi

# trunk only takes tools whose version strings match Trunk.toml.
grep -q "wasm_bindgen = \"$WASM_BINDGEN_VERSION\"" Trunk.toml || {
  echo "Trunk.toml pins another wasm-bindgen than Cargo.lock ($WASM_BINDGEN_VERSION)" >&2
  exit 1
}
echo "setup: trunk $(trunk --version | cut -d' ' -f2), wasm-bindgen $WASM_BINDGEN_VERSION, $(wasm-opt --version), $(chromium --version)"
