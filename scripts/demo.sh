#!/usr/bin/env bash
# Sets up, builds the page and the catalogue index, and serves the demo on 127.0.0.1.
# Usage: scripts/demo.sh [--check] [IMAGES_DIR [CATALOGUE.csv]]
#   With no folder, the demo takes the path a store takes: a Google Merchant Center feed made
#   from the clothing dataset in ../shared/datasets is served with its photos by a second
#   loopback server (the demo store's "image host", STORE_PORT, default PORT + 1), and the
#   index is built from the feed's URL. With IMAGES_DIR (and optionally the simple CSV) the
#   index is built from that folder.
#   PORT (default 8080) picks the page's port.
#   --check builds and indexes as usual, then serves until one request for the page, the
#   widget loader, the model manifest, the index manifest and a product photo has succeeded,
#   and exits (scripts/fresh-check.sh uses it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$DS_ROOT"
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
port="${PORT:-8080}"
store_port="${STORE_PORT:-$((port + 1))}"

ds_phase "setup (scripts/setup.sh)"
bash scripts/setup.sh

ds_phase "native CLI (cargo build --release)"
cargo build --release --bin deep-shopping
ds_phase "page (trunk build --release)"
ds_build_page

# Waits until http://127.0.0.1:$1/$2 answers with success.
wait_for() {
  for _ in $(seq 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$1/$2"; then
      return 0
    fi
    sleep 0.2
  done
  echo "error: http://127.0.0.1:$1/$2 did not answer" >&2
  return 1
}

servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true' EXIT
images="${1:-}" csv="${2:-}"
if [ -z "$images" ]; then
  ds_phase "the demo store's feed and image host on 127.0.0.1:$store_port"
  store="$(mktemp -d)"
  ln -s "$DS_DATASET/images" "$store/images"
  ds_dataset_csv "$store/catalogue.csv"
  ds_dataset_feed "$store/catalogue.csv" "$store/feed.xml" \
    "http://127.0.0.1:$store_port" "http://127.0.0.1:$port"
  python3 -m http.server --bind 127.0.0.1 --directory "$store" "$store_port" >/dev/null 2>&1 &
  servers+=($!)
  wait_for "$store_port" feed.xml
  ds_phase "indexing the store's feed"
  # Exit status 2 (some items failed) still publishes the index.
  "$DS_BIN" index --feed "http://127.0.0.1:$store_port/feed.xml" --out dist/catalogue || [ $? = 2 ]
else
  ds_phase "indexing the catalogue in $images"
  "$DS_BIN" index --images "$images" ${csv:+--csv "$csv"} --out dist/catalogue || [ $? = 2 ]
fi

if [ "$check" = 0 ]; then
  ds_phase_report "scripts/demo.sh"
  echo "== serving http://127.0.0.1:$port/ (Ctrl-C to stop)"
  python3 -m http.server --bind 127.0.0.1 --directory dist "$port" &
  servers+=($!)
  wait "${servers[@]}"
  exit 0
fi

ds_phase "serving http://127.0.0.1:$port/ until the page loads once"
python3 -m http.server --bind 127.0.0.1 --directory dist "$port" >/dev/null 2>&1 &
servers+=($!)
for path in "" widget.js models/manifest.json catalogue/index.json product.html; do
  wait_for "$port" "$path"
  echo "served /$path"
done
if [ -z "$images" ]; then
  photo="$(sed -n '2s/,.*//p' "$store/catalogue.csv")"
  wait_for "$store_port" "images/$photo.jpg"
  echo "the store served images/$photo.jpg"
fi
ds_phase_report "scripts/demo.sh --check"
