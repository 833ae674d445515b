// Partitioned catalogue benchmark in headless Chromium (CPU backend): a synthetic catalogue of
// ITEMS items drawn from SOURCE_INDEX (default dist/catalogue; `deep-shopping partition
// --synthetic`), served on loopback over HTTP/1.1 and over HTTP/2 with TLS (as CDNs serve),
// with no added latency and with 50 ms added to every answer, against the whole dist/catalogue
// index, and from a host without range requests (read by its part files; `ranges` leaves
// them out). Prints, per setting: load time, the first photo's wall time to results (sent at
// once, and in a fresh page 2 s after loading, once the worker has warmed up), and over RUNS
// further photos the median wall time, the time reading the index, bytes, requests and rounds
// a query read, and the page bundle's wasm memory.
// Usage: node benches/partitioned.mjs [ITEMS] [RUNS] [ranges|parts] [SOURCE_INDEX]
// (after scripts/test.sh built dist/ and the CLI). A SOURCE_INDEX that is itself a
// partitioned index (`partition --synthetic` run apart, as for 10M items) is served as it is.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, IGNORE_CERTIFICATE_ERRORS, serve, launch, openPage, photoBase64, callWithPhoto, catalogueRows } from '../tests/e2e/harness.mjs';

const items = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 8);
// `ranges` leaves out the part files and the host without ranges (a million items' parts are
// 370,000 files).
const askedParts = process.argv[4] !== 'ranges';
// The index the catalogue is drawn from (the test index by default; `ds_dataset_csv` of the
// whole dataset gives the 4,551-item demo index that `cargo bench --bench ivf` draws from).
const source = process.argv[5] ?? join(DIST, 'catalogue');
const BIN = process.env.DS_BIN ?? join(homedir(), '.cache/deep-shopping/native/release/deep-shopping');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const sourceManifest = JSON.parse(await readFile(join(source, 'index.json'), 'utf8'));
const prebuilt = sourceManifest.format_version === 4;
// A prebuilt index is read by parts only where it was published with them.
const parts = askedParts && (!prebuilt || Boolean(sourceManifest.parts));
const dir = prebuilt ? source : await mkdtemp(join(tmpdir(), 'ds-bench-partitioned-'));
if (prebuilt) {
  console.log(`serving the partitioned index in ${source} as it is`);
} else {
  const t0 = Date.now();
  console.log(execFileSync(BIN, ['partition', '--index', source, '--out', dir, '--synthetic', String(items), ...(parts ? ['--parts'] : [])]).toString().trim()
    + ` (${((Date.now() - t0) / 1e3).toFixed(0)} s with sampling)`);
}
const rows = await catalogueRows();
const photos = await Promise.all(rows.slice(0, runs + 1).map((r) => photoBase64(r.id)));
const page = (index) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<script type="module" src="/widget.js"></script><deep-shopping-search index-url="${index}"></deep-shopping-search></body></html>`;

/** How long a shopper who loaded the widget takes to choose a photo, in this bench. */
const PAUSE_MS = 2000;

/** In a fresh browser: the first photo's wall time when it comes `pause` ms after loading. */
async function firstAfter(url, pause, args) {
  const browser = await launch({ webgpu: false, args });
  try {
    const { page: p } = await openPage(browser, url);
    await new Promise((ok) => setTimeout(ok, pause));
    const w = Date.now();
    await callWithPhoto(p, 'search', photos[0], { top: 12 });
    const wall = Date.now() - w;
    const info = await p.evaluate(() => window.deepShopping.info());
    return { wall, read: info.lastTimings.readMs, warmUp: info.warmUpMs };
  } finally {
    await browser.close();
  }
}

async function measure(url, label, args = []) {
  const browser = await launch({ webgpu: false, args });
  try {
    const t = Date.now();
    const { page: p } = await openPage(browser, url);
    const loadMs = Date.now() - t;
    const w0 = Date.now();
    await callWithPhoto(p, 'search', photos[0], { top: 12 });
    const firstMs = Date.now() - w0;
    const walls = []; const reads = []; const bytes = []; const requests = []; const rounds = [];
    for (const photo of photos.slice(1)) {
      const w = Date.now();
      await callWithPhoto(p, 'search', photo, { top: 12 });
      walls.push(Date.now() - w);
      const info = await p.evaluate(() => window.deepShopping.info());
      reads.push(info.lastTimings.readMs);
      if (info.partitioned) {
        bytes.push(info.partitioned.lastBytes); requests.push(info.partitioned.lastRequests); rounds.push(info.partitioned.lastRounds);
      }
    }
    const info = await p.evaluate(() => window.deepShopping.info());
    // A shopper who takes a few seconds to choose a photo: the worker has warmed up meanwhile.
    const paused = await firstAfter(url, PAUSE_MS, args);
    const read = info.partitioned
      ? `; a query read ${(median(bytes) / 1e3).toFixed(0)} KB in ${median(requests)} requests, ${median(rounds)} rounds (medians; at most ${Math.max(...rounds)})`
      : '';
    console.log(`${label}: ${info.items} items; load ${loadMs} ms; first photo ${firstMs} ms at once, `
      + `${paused.wall} ms after ${PAUSE_MS / 1e3} s (reading ${paused.read.toFixed(0)} ms; warm-up ${paused.warmUp?.toFixed(0)} ms); then median ${median(walls)} ms `
      + `(reading ${median(reads).toFixed(0)} ms)${read}; page wasm memory ${(info.pageMemoryBytes / 1e6).toFixed(1)} MB`);
  } finally {
    await browser.close();
  }
}

try {
  for (const delay of [0, 50]) {
    // HTTP/1.1, six requests at a time to a host, and HTTP/2 over TLS, as CDNs serve.
    for (const http2 of [false, true]) {
      const server = await serve(DIST, '/', { delay, http2, mounts: { '/big/': dir }, pages: { '/big.html': page('/big/index.json') } });
      const args = http2 ? [IGNORE_CERTIFICATE_ERRORS] : [];
      const via = http2 ? 'HTTP/2' : 'HTTP/1.1';
      try {
        await measure(server.url, `whole index, ${via}, +${delay} ms a request`, args);
        await measure(`${server.origin}/big.html`, `partitioned, ${via}, +${delay} ms a request`, args);
      } finally {
        await server.close();
      }
    }
    if (!parts) continue;
    const plain = await serve(DIST, '/', { delay, ranges: false, mounts: { '/big/': dir }, pages: { '/big.html': page('/big/index.json') } });
    try {
      await measure(`${plain.origin}/big.html`, `partitioned, by parts from a host without ranges, +${delay} ms a request`);
    } finally {
      await plain.close();
    }
  }
} finally {
  if (!prebuilt) await rm(dir, { recursive: true, force: true });
}
