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

# Writes the default catalogue CSV (labelled clothing photos, real classes only) to $1, at most
# $2 rows (0: all). The dataset has no shop data, so the script makes some up, the same every
# time: a price, a sale price on every 7th item, every 10th out of stock, three brands and a
# product page `product.html?id=ID` beside the page.
ds_dataset_csv() {
  local out="$1" limit="${2:-0}"
  awk -F, -v limit="$limit" '
    BEGIN { split("Northwind,Alder & Ash,Kestrel", brands, ",") }
    NR == 1 { next }
    $3 == "Not sure" || $3 == "Other" || $3 == "Skip" { next }
    { n++; if (limit > 0 && n > limit) exit
      price = 19 + (n * 7) % 80
      sale = (n % 7 == 0) ? sprintf("%d.50 EUR", price - 6) : ""
      stock = (n % 10 == 9) ? "out_of_stock" : "in_stock"
      printf "%s,images/%s.jpg,%s %d,%s,%d.90 EUR,%s,%s,%s,product.html?id=%s\n",
        $1, $1, $3, n, $3, price, sale, stock, brands[n % 3 + 1], $1 }
  ' "$DS_DATASET/images.csv" \
    | { echo "id,image,title,category,price,sale_price,availability,brand,link"; cat; } > "$out"
}

# Writes a Google Merchant Center feed (RSS 2.0) of the catalogue CSV $1 (as ds_dataset_csv
# writes it) to $2: photos at $3/images/ID.jpg (the store's image host), product pages at
# $4/product.html?id=ID.
ds_dataset_feed() {
  local csv="$1" out="$2" images="$3" pages="$4"
  awk -F, -v images="$images" -v pages="$pages" '
    function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); return s }
    BEGIN {
      print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      print "<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\"><channel>"
      print "<title>Northwind Threads (demo)</title><link>" pages "/</link>"
    }
    NR == 1 { next }
    {
      printf "<item><g:id>%s</g:id><title>%s</title><link>%s/product.html?id=%s</link>", $1, esc($3), pages, $1
      printf "<g:image_link>%s/images/%s.jpg</g:image_link><g:price>%s</g:price>", images, $1, $5
      if ($6 != "") printf "<g:sale_price>%s</g:sale_price>", $6
      printf "<g:availability>%s</g:availability><g:brand>%s</g:brand>", $7, esc($8)
      printf "<g:product_type>Apparel &gt; %s</g:product_type></item>\n", esc($4)
    }
    END { print "</channel></rss>" }
  ' "$csv" > "$out"
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
