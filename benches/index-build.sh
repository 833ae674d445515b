#!/usr/bin/env bash
# Benchmark of `deep-shopping index --feed` on the clothing dataset's 4,551 labelled photos,
# served with a Merchant Center feed by Python's http.server on loopback (it answers
# If-Modified-Since with 304): a full build with empty caches, the same run again with
# nothing changed, and a run with 1% of the photos changed (every 100th item given another
# photo of the dataset). Prints each run's wall-clock time, peak memory and summary.
# Usage: bash benches/index-build.sh   (after scripts/test.sh or scripts/demo.sh built the CLI)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$DS_ROOT"
port="${STORE_PORT:-18181}"
tmp="$(mktemp -d)"
server=""
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT

store="$tmp/store"
mkdir -p "$store"
ln -s "$DS_DATASET/images" "$store/images"
ds_dataset_csv "$store/catalogue.csv"
ds_dataset_feed "$store/catalogue.csv" "$store/feed.xml" "http://127.0.0.1:$port" "http://127.0.0.1:8080"
items=$(($(wc -l < "$store/catalogue.csv") - 1))
python3 -m http.server --bind 127.0.0.1 --directory "$store" "$port" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/feed.xml" && break; sleep 0.2; done

run() {
  local name="$1"
  /usr/bin/time -f "%e %M" -o "$tmp/$name.time" "$DS_BIN" index --json \
    --feed "http://127.0.0.1:$port/feed.xml" --out "$tmp/index" --cache "$tmp/cache" \
    > "$tmp/$name.json" || [ $? = 2 ]
  # (time writes "Command exited with non-zero status" first when the run exits 2.)
  read -r seconds kb < <(tail -n 1 "$tmp/$name.time")
  python3 - "$tmp/$name.json" "$name" "$seconds" "$kb" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<10} {float(sys.argv[3]):7.1f} s  peak {int(sys.argv[4]) / 1024:6.0f} MB  "
      f"items {s['items']}: +{s['added']} ~{s['changed']} ={s['unchanged']} -{s['removed']} "
      f"failed {len(s['failed'])}; photos downloaded {s['downloaded']}, revalidated {s['revalidated']}; "
      f"described {s['described']}, from cache {s['cached']}")
EOF
}

echo "== $items items from http://127.0.0.1:$port/feed.xml ($(nproc) cores)"
run full
run unchanged
# 1%: every 100th item gets the photo of a dataset image that is not in the catalogue.
python3 - "$store/feed.xml" "$DS_DATASET" <<'EOF'
import csv, os, re, sys
feed, dataset = sys.argv[1], sys.argv[2]
spare = [r[0] for r in csv.reader(open(f"{dataset}/images.csv"))
         if r[2] in ("Not sure", "Other", "Skip") and os.path.isfile(f"{dataset}/images/{r[0]}.jpg")]
lines = open(feed).read().split("\n")
n = 0
for i, line in enumerate(lines):
    if line.startswith("<item>"):
        n += 1
        if n % 100 == 0:
            lines[i] = re.sub(r"/images/[^<]+\.jpg", f"/images/{spare[n // 100]}.jpg", line)
open(feed, "w").write("\n".join(lines))
EOF
run changed
python3 - "$tmp" <<'EOF'
import sys
t = {n: float(open(f"{sys.argv[1]}/{n}.time").read().split("\n")[-2].split()[0]) for n in ("full", "unchanged", "changed")}
print(f"unchanged / full: {100 * t['unchanged'] / t['full']:.1f}%   1% changed / full: {100 * t['changed'] / t['full']:.1f}%")
EOF
