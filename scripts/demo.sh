#!/usr/bin/env bash
# Sets up, builds the page and the catalogue index, and serves the demo on 127.0.0.1.
# Usage: scripts/demo.sh [--check] [IMAGES_DIR [CATALOGUE.csv]]
#   With no folder the catalogue is the clothing dataset in ../shared/datasets.
#   PORT (default 8080) picks the port.
#   --check builds and indexes as usual, then serves until one request for the page, the
#   widget loader, the model manifest and the index manifest has succeeded, and exits
#   (scripts/fresh-check.sh uses it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi

ds_phase "setup (scripts/setup.sh)"
bash scripts/setup.sh

ds_phase "native CLI (cargo build --release)"
cargo build --release --bin deep-shopping
ds_phase "page (trunk build --release)"
ds_build_page

images="${1:-}" csv="${2:-}"
if [ -z "$images" ]; then
  images="$DS_DATASET"
  csv="$(mktemp --suffix=.csv)"
  ds_dataset_csv "$csv"
fi
ds_phase "indexing the catalogue in $images"
"$DS_BIN" index --images "$images" ${csv:+--csv "$csv"} --out dist/catalogue

port="${PORT:-8080}"
if [ "$check" = 0 ]; then
  ds_phase_report "scripts/demo.sh"
  echo "== serving http://127.0.0.1:$port/ (Ctrl-C to stop)"
  exec python3 -m http.server --bind 127.0.0.1 --directory dist "$port"
fi

ds_phase "serving http://127.0.0.1:$port/ until the page loads once"
python3 -m http.server --bind 127.0.0.1 --directory dist "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for path in "" widget.js models/manifest.json catalogue/index.json; do
  ok=0
  for _ in $(seq 50); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/$path"; then
      ok=1
      break
    fi
    sleep 0.2
  done
  if [ "$ok" = 0 ]; then
    echo "error: the demo server did not serve /$path" >&2
    exit 1
  fi
  echo "served /$path"
done
ds_phase_report "scripts/demo.sh --check"
