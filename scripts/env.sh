# Shared settings for the project's scripts; sourced, not run.
# Build outputs live outside the clone by default so that later runs (and CI on the same
# machine) reuse them; override with DS_CACHE.
DS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DS_CACHE="${DS_CACHE:-$HOME/.cache/deep-shopping}"
export DS_ROOT DS_CACHE
# One target folder per target triple, so native and wasm builds never wait on each other's lock.
export DS_TARGET_NATIVE="${DS_TARGET_NATIVE:-$DS_CACHE/native}"
export DS_TARGET_WASM="${DS_TARGET_WASM:-$DS_CACHE/wasm}"
export CARGO_TARGET_DIR="$DS_TARGET_NATIVE"
# cargo install puts trunk and wasm-bindgen-cli in $CARGO_HOME/bin (scripts/fresh-check.sh may
# point CARGO_HOME at an empty folder to measure a machine with no tools installed).
# scripts/tools holds a caching front for npm's wasm-opt (see the script), found before it.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$DS_ROOT/scripts/tools:$DS_ROOT/node_modules/.bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
# The default catalogue: the clothing dataset beside the project.
export DS_DATASET="${DS_DATASET:-$DS_ROOT/../shared/datasets/clothing-dataset}"
# The distillation teachers (scripts/teachers.sh fetches them; the configs name this folder).
export DS_TEACHERS="${DS_TEACHERS:-$HOME/.cache/deep-shopping/teacher}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# The native binary, built in release mode (dependencies and tests share that profile).
DS_BIN="$DS_TARGET_NATIVE/release/deep-shopping"
export DS_BIN

# Builds the wasm page into dist/ with trunk (release profile, same as wasm tests).
ds_build_page() {
  (cd "$DS_ROOT" && CARGO_TARGET_DIR="$DS_TARGET_WASM" trunk build --release)
}

# Writes the default catalogue CSV (labelled clothing photos, real classes only) to $1.
ds_dataset_csv() {
  local out="$1" limit="${2:-0}"
  awk -F, -v limit="$limit" '
    NR == 1 { next }
    $3 == "Not sure" || $3 == "Other" || $3 == "Skip" { next }
    { n++; if (limit > 0 && n > limit) exit
      printf "%s,images/%s.jpg,%s %d,%s\n", $1, $1, $3, n, $3 }
  ' "$DS_DATASET/images.csv" | { echo "id,image,title,category"; cat; } > "$out"
}

# Phase timing: `ds_phase NAME` ends the running phase and starts NAME; `ds_phase_report TITLE`
# ends the last one and prints every phase's wall-clock seconds.
DS_PHASES=()
DS_PHASE_NAME=""
ds_phase_end() {
  if [ -n "$DS_PHASE_NAME" ]; then
    DS_PHASES+=("$(printf '%6d s  %s' $((SECONDS - DS_PHASE_START)) "$DS_PHASE_NAME")")
    DS_PHASE_NAME=""
  fi
}
ds_phase() {
  ds_phase_end
  DS_PHASE_NAME="$1"
  DS_PHASE_START=$SECONDS
  printf '\n== %s\n' "$1"
}
ds_phase_report() {
  ds_phase_end
  printf '\n== %s: phase times\n' "$1"
  printf '%s\n' "${DS_PHASES[@]}"
  printf '%6d s  total\n' "$SECONDS"
}
