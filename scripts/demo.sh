#!/usr/bin/env bash
# Sets up, builds the page and the catalogue index, and serves the demo on 127.0.0.1.
# Usage: scripts/demo.sh [IMAGES_DIR [CATALOGUE.csv]]
#   With no argument the catalogue is the clothing dataset in ../shared/datasets.
#   PORT (default 8080) picks the port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"
bash scripts/setup.sh

echo "== building the native CLI"
cargo build --release --bin deep-shopping
echo "== building the page (trunk --release)"
ds_build_page

images="${1:-}" csv="${2:-}"
if [ -z "$images" ]; then
  images="$DS_DATASET"
  csv="$(mktemp --suffix=.csv)"
  ds_dataset_csv "$csv"
fi
echo "== indexing the catalogue in $images"
"$DS_BIN" index --images "$images" ${csv:+--csv "$csv"} --out dist/catalogue

port="${PORT:-8080}"
echo "== serving http://127.0.0.1:$port/ (Ctrl-C to stop)"
exec python3 -m http.server --bind 127.0.0.1 --directory dist "$port"
