// Page benchmark: bundle sizes, load time and photo-to-results times on both backends in
// headless Chromium, against the trunk-built dist/ with its catalogue; on the CPU backend also
// with the model on the page's thread (worker="off") instead of the Web Worker.
// Usage: node benches/page.mjs [runs]   (after scripts/test.sh or scripts/demo.sh built dist/)
import { readdir, readFile, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DIST, serve, launch, openPage, photoBase64, callWithPhoto, catalogueRows } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function sizes() {
  const files = await readdir(DIST);
  const manifest = JSON.parse(await readFile(join(DIST, 'models', 'manifest.json'), 'utf8'));
  const index = JSON.parse(await readFile(join(DIST, 'catalogue', 'index.json'), 'utf8'));
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  // The page's bundle and the model's (the worker's).
  for (const wasm of files.filter((f) => f.endsWith('.wasm'))) {
    const bytes = await readFile(join(DIST, wasm));
    console.log(`wasm ${wasm}: ${mb(bytes.length)} raw, ${mb(gzipSync(bytes, { level: 9 }).length)} gzip`);
  }
  console.log(`weights: ${mb((await stat(join(DIST, 'models', manifest.weights.file))).size)}`);
  console.log(`index: ${mb(index.data.bytes)} for ${index.count} items`);
}

async function backend(webgpu, url, photos, label = '') {
  const browser = await launch({ webgpu });
  try {
    const t0 = Date.now();
    const { page } = await openPage(browser, url);
    const loadMs = Date.now() - t0;
    const name = await page.evaluate(() => window.deepShopping.backend());
    await callWithPhoto(page, 'search', photos[0], { top: 12 }); // warm-up: shader compilation, caches
    const totals = [];
    const embeds = [];
    const walls = [];
    for (let i = 0; i < runs; i++) {
      const photo = photos[i % photos.length];
      const w0 = Date.now();
      await callWithPhoto(page, 'search', photo, { top: 12 });
      walls.push(Date.now() - w0);
      const { lastTimings } = await page.evaluate(() => window.deepShopping.info());
      totals.push(lastTimings.totalMs);
      embeds.push(lastTimings.embedMs);
    }
    console.log(`${name}${label}: load ${loadMs} ms; photo to results median ${median(totals).toFixed(0)} ms `
      + `(embed ${median(embeds).toFixed(0)} ms; wall incl. transfer ${median(walls)} ms) over ${runs} runs`);
  } finally {
    await browser.close();
  }
}

await sizes();
const html = await readFile(join(DIST, 'index.html'), 'utf8');
const server = await serve(DIST, '/', {
  pages: { '/worker-off.html': html.replace('<deep-shopping-search ', '<deep-shopping-search worker="off" ') },
});
const rows = await catalogueRows();
const photos = await Promise.all(rows.slice(0, 5).map((r) => photoBase64(r.id)));
try {
  await backend(false, server.url, photos, ' (worker)');
  await backend(false, `${server.origin}/worker-off.html`, photos, ' (page thread)');
  await backend(true, server.url, photos, ' (worker)');
} finally {
  await server.close();
}
