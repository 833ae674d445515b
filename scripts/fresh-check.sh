#!/usr/bin/env bash
# A clean-machine check: clones this repository's HEAD into a temporary folder (with the shared
# datasets beside it) and runs the README's two commands there with an empty DS_CACHE, then
# prints each phase's wall-clock time: first `bash scripts/test.sh` (cold), then
# `bash scripts/demo.sh --check` (builds, indexes the whole dataset, serves the page once, exits).
# Usage: scripts/fresh-check.sh [--cold-tools] [--keep]
#   --cold-tools  also an empty CARGO_HOME and teacher folder, as on a new machine: every crate
#                 is downloaded again, trunk and wasm-bindgen-cli are built again, the teachers
#                 fetched again (apt and npm packages already installed stay installed).
#   --keep        leave the temporary folder (its path is printed) instead of removing it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cold_tools=0 keep=0
for arg in "$@"; do
  case "$arg" in
    --cold-tools) cold_tools=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: scripts/fresh-check.sh [--cold-tools] [--keep]" >&2; exit 2 ;;
  esac
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/deep-shopping-fresh.XXXXXX")"
if [ "$keep" = 0 ]; then
  trap 'rm -rf "$tmp"' EXIT
fi
echo "== fresh check in $tmp"
git clone -q "$DS_ROOT" "$tmp/deep-shopping"
ln -s "$(cd "$DS_ROOT/.." && pwd)/shared" "$tmp/shared"
export DS_CACHE="$tmp/cache"
unset DS_TARGET_NATIVE DS_TARGET_WASM DS_DATASET CARGO_TARGET_DIR DS_BIN
if [ "$cold_tools" = 1 ]; then
  # rustup's toolchain stays; CARGO_HOME (the registry and what `cargo install` put there)
  # starts with nothing but links to rustup's proxies, and the old one leaves PATH.
  rustup_bin="$(dirname "$(command -v rustup)")"
  export CARGO_HOME="$tmp/cargo-home" DS_TEACHERS="$tmp/teacher"
  mkdir -p "$CARGO_HOME/bin"
  for tool in cargo rustc rustup rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
    ln -s "$rustup_bin/$tool" "$CARGO_HOME/bin/$tool"
  done
  PATH="$(tr ':' '\n' <<<"$PATH" | grep -vxF "$rustup_bin" | paste -sd:)"
  export PATH
fi
cd "$tmp/deep-shopping"

started=$SECONDS
bash scripts/test.sh 2>&1 | tee "$tmp/test.log"
test_s=$((SECONDS - started))
started=$SECONDS
PORT="${PORT:-18080}" bash scripts/demo.sh --check 2>&1 | tee "$tmp/demo.log"
demo_s=$((SECONDS - started))

printf '\n== fresh check of %s (%s)\n' "$(git -C "$tmp/deep-shopping" rev-parse --short HEAD)" \
  "$([ "$cold_tools" = 1 ] && echo "empty DS_CACHE and CARGO_HOME" || echo "empty DS_CACHE")"
sed -n '/== scripts\/test.sh: phase times/,$p' "$tmp/test.log"
sed -n '/== scripts\/demo.sh --check: phase times/,$p' "$tmp/demo.log"
printf '\n%6d s  bash scripts/test.sh\n%6d s  bash scripts/demo.sh --check\n' "$test_s" "$demo_s"
