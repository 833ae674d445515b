#!/usr/bin/env bash
# Fuzzes the parsers with cargo-fuzz (libFuzzer): the index container and manifest, the model
# manifest and weights, the feed readers, and preprocess::prepare with random crops
# (fuzz/harness.rs). Each target starts from fuzz/seeds/<target> and the corpus kept in
# fuzz/corpus/<target>, runs SECONDS, then the corpus is minimised in place (commit it).
# A crash input lands in fuzz/artifacts/<target>/: fix the cause, then move the input to
# fuzz/regressions/<target>/, which tests/it/fuzzed.rs runs on every test run.
#
#   bash scripts/fuzz.sh [SECONDS per target, default 60] [TARGET ...]
#
# Needs the nightly toolchain (libFuzzer's coverage flags); no sanitizer: the crate has no
# unsafe code on these paths, and panics, hangs (-timeout) and memory (-rss_limit_mb) are what
# is looked for. Builds into $DS_CACHE/fuzz, a third build of the crate, which is why CI runs
# the corpora through tests/it/fuzzed.rs instead of fuzzing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(index model feeds photo)

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  CARGO_TARGET_DIR="$DS_CACHE/tools" cargo install cargo-fuzz --version 0.13.2
fi
export CARGO_TARGET_DIR="$DS_CACHE/fuzz"

for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/regressions/$target"
  echo "== $target: $seconds s"
  # -rss_limit_mb: the native bound a photo must stay under (README, "Limits") with room for
  # libFuzzer's own corpus; -timeout: no single input may take 10 s.
  log="$DS_CACHE/fuzz-$target.log"
  status=0
  cargo +nightly fuzz run --sanitizer none "$target" \
    "fuzz/corpus/$target" "fuzz/seeds/$target" "fuzz/regressions/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len=262144 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|ERROR|panicked|SUMMARY|Test unit written' "$log" || true
  [ "$status" -eq 0 ] || { echo "fuzz target $target failed: see $log" >&2; exit 1; }
  # Keep the smallest corpus with the same coverage.
  cargo +nightly fuzz cmin --sanitizer none "$target" "fuzz/corpus/$target" -- -rss_limit_mb=1024 -timeout=10 \
    >"$DS_CACHE/fuzz-$target-cmin.log" 2>&1 || { echo "cmin of $target failed: see $DS_CACHE/fuzz-$target-cmin.log" >&2; exit 1; }
done
