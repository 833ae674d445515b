#!/usr/bin/env bash
# The whole check: formatting, clippy on both targets, native tests, the trunk release build,
# wasm tests in headless Chromium and the end-to-end browser tests against dist/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"
bash scripts/setup.sh
bash scripts/teachers.sh
step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native)"
cargo clippy --release --all-targets -- -D warnings
step "clippy (wasm32)"
CARGO_TARGET_DIR="$DS_TARGET_WASM" cargo clippy --release --target wasm32-unknown-unknown --lib --bins --tests -- -D warnings

step "native tests"
cargo test --release

step "trunk release build"
ds_build_page

step "test catalogue index (60 labelled photos)"
csv="$(mktemp --suffix=.csv)"
ds_dataset_csv "$csv" 60
cargo build --release --bin deep-shopping
"$DS_BIN" index --images "$DS_DATASET" --csv "$csv" --out dist/catalogue
cp "$csv" dist/catalogue/catalogue.csv

step "wasm tests in headless Chromium (wasm-bindgen-test)"
CARGO_TARGET_DIR="$DS_TARGET_WASM" WASM_BINDGEN_TEST_TIMEOUT=300 \
  cargo test --release --target wasm32-unknown-unknown --test web

step "end-to-end browser tests"
node --test --test-concurrency=1 tests/e2e/
