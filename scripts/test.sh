#!/usr/bin/env bash
# The whole check: formatting, clippy on both targets, native tests, the trunk release build,
# wasm tests in headless Chromium and the end-to-end browser tests against dist/. Prints the
# wall-clock time of each phase at the end.
#
# Each target's dependencies compile once per run: `cargo test --release` builds the CLI binary
# with the same features as `cargo build` (Cargo.toml unifies them), and the wasm tests reuse
# the trunk build's dependencies. Clippy only type-checks (no code generation).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"

ds_phase "setup (scripts/setup.sh)"
bash scripts/setup.sh
ds_phase "distillation teachers (scripts/teachers.sh)"
bash scripts/teachers.sh

ds_phase "cargo fmt --check"
cargo fmt --all --check

ds_phase "clippy (native)"
cargo clippy --release --all-targets -- -D warnings
ds_phase "clippy (wasm32)"
# Both bundles: the model's (default features) and the page's (no burn).
CARGO_TARGET_DIR="$DS_TARGET_WASM" cargo clippy --release --target wasm32-unknown-unknown --lib --bins --tests -- -D warnings
CARGO_TARGET_DIR="$DS_TARGET_WASM" cargo clippy --release --target wasm32-unknown-unknown --no-default-features --features page --lib --bins -- -D warnings

ds_phase "native tests"
cargo test --release

ds_phase "native CLI binary (reuses the test build)"
# `cargo test` built the binary the integration tests run; a `cargo build` that compiles
# anything means the two resolve different features and burn would compile twice.
build_log="$(cargo build --release --bin deep-shopping 2>&1)" || { echo "$build_log"; exit 1; }
if grep -q '^ *Compiling' <<<"$build_log"; then
  echo "$build_log"
  echo "error: cargo build recompiled crates after cargo test: the two resolve different features (see Cargo.toml)" >&2
  exit 1
fi

ds_phase "trunk release build"
ds_build_page

ds_phase "test catalogue index (60 labelled photos)"
csv="$(mktemp --suffix=.csv)"
ds_dataset_csv "$csv" 60
"$DS_BIN" index --images "$DS_DATASET" --csv "$csv" --out dist/catalogue
cp "$csv" dist/catalogue/catalogue.csv

ds_phase "wasm tests in headless Chromium (wasm-bindgen-test)"
CARGO_TARGET_DIR="$DS_TARGET_WASM" WASM_BINDGEN_TEST_TIMEOUT=300 \
  cargo test --release --target wasm32-unknown-unknown --test web

ds_phase "end-to-end browser tests"
node --test --test-concurrency=1 tests/e2e/

ds_phase_report "scripts/test.sh"
