// Storefront benchmark (CDP, headless Chromium): what the snippet costs a product page that
// never searches, and what a search costs, on a throttled phone-like profile (10 Mbit/s down,
// 40 ms RTT, 4x CPU slowdown), against dist/ served as a CDN would (gzip, ETag revalidation).
// For each page: bytes transferred (compressed, as on the wire) until the page is quiet, Total
// Blocking Time (long tasks on the main thread, each beyond 50 ms) and Largest Contentful
// Paint; then, on the snippet's page, the time from choosing a photo to its first result, the
// bytes fetched by then, and the bytes of a second visit; last, the heavy files' sizes under gzip
// and brotli.
// Usage: node benches/storefront.mjs   (after scripts/test.sh or scripts/demo.sh built dist/)
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import zlib, { brotliCompressSync, gzipSync } from 'node:zlib';
import { DIST, DATASET, serve, launch, catalogueRows } from '../tests/e2e/harness.mjs';

const PROFILE = { latency: 40, downloadThroughput: 10e6 / 8, uploadThroughput: 5e6 / 8 };
const CPU_SLOWDOWN = 4;

function page(snippet) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Linen shirt</title></head>
<body><h1>Linen shirt</h1>
<p>${'A light shirt of washed linen, cut loose, with a camp collar and two pockets. '.repeat(6)}</p>
${snippet}
</body></html>`;
}

/** The files a first search fetches beyond the manifests: the bundle, the weights, the index. */
async function heavyFiles() {
  const weights = JSON.parse(await readFile(join(DIST, 'models', 'manifest.json'), 'utf8')).weights.file;
  const index = JSON.parse(await readFile(join(DIST, 'catalogue', 'index.json'), 'utf8')).data.file;
  const bundle = (await readdir(DIST)).filter((f) => /^deep-shopping.*\.(js|wasm)$/.test(f)).map((f) => join(DIST, f));
  return [...bundle, join(DIST, 'models', weights), join(DIST, 'catalogue', index)];
}

/** Opens `url` in a throttled context; returns the page, its CDP session and a byte counter. */
async function throttled(browser, url, context) {
  context ??= await browser.newContext({ viewport: { width: 360, height: 780 } });
  const tab = await context.newPage();
  const cdp = await context.newCDPSession(tab);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, ...PROFILE });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
  // Every response of the page and its worker, as received (compressed body and headers).
  const bytes = { total: 0 };
  context.removeAllListeners('requestfinished');
  context.on('requestfinished', async (r) => {
    const s = await r.sizes().catch(() => null);
    if (s) bytes.total += s.responseBodySize + s.responseHeadersSize;
  });
  await tab.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); })
      .observe({ type: 'longtask', buffered: true });
    window.__lcp = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lcp = e.startTime; })
      .observe({ type: 'largest-contentful-paint', buffered: true });
  });
  await tab.goto(url, { waitUntil: 'load' });
  return { context, tab, cdp, bytes };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;

async function quiet(tab, ms = 4000) {
  await tab.waitForLoadState('networkidle');
  await tab.waitForTimeout(ms);
}

async function vitals(tab) {
  return tab.evaluate(() => ({
    tbt: window.__longTasks.reduce((s, t) => s + Math.max(0, t.duration - 50), 0),
    lcp: window.__lcp,
  }));
}

const server = await serve(DIST, '/', {
  cdn: true,
  pages: {
    '/plain.html': page(''),
    '/intent.html': page('<script type="module" src="/widget.js"></script>\n<deep-shopping-search></deep-shopping-search>'),
    '/eager.html': page('<script type="module" src="/widget.js"></script>\n<deep-shopping-search preload="eager"></deep-shopping-search>'),
    // The bundle loaded as widget.js loads it, with a mark between its phases.
    '/phases.html': page(`<deep-shopping-search></deep-shopping-search>
<script type="module">
window.deepShoppingBundleUrl = location.origin + '/';
performance.mark('import');
const bundle = await import('/deep-shopping-page.js');
performance.mark('init');
await bundle.default();
performance.mark('started');
await window.deepShopping.ready();
performance.mark('ready');
</script>`),
  },
});
const browser = await launch({ webgpu: false });
const rows = await catalogueRows();
try {
  const seen = {};
  for (const name of ['plain', 'intent', 'eager']) {
    const { context, tab, bytes } = await throttled(browser, `${server.origin}/${name}.html`);
    await quiet(tab, name === 'eager' ? 20000 : 4000);
    const v = await vitals(tab);
    seen[name] = { ...v, bytes: bytes.total };
    console.log(`${name.padEnd(6)}: ${kb(bytes.total)} transferred, TBT ${v.tbt.toFixed(0)} ms, LCP ${v.lcp.toFixed(0)} ms`);
    await context.close();
  }
  console.log(`the snippet on a page that never searches adds ${kb(seen.intent.bytes - seen.plain.bytes)} `
    + `and ${(seen.intent.tbt - seen.plain.tbt).toFixed(0)} ms of blocking time`);

  // Where the eager page's blocking time goes: the page bundle's JS glue; fetching, compiling
  // and instantiating its wasm up to start(); then loading the manifests, weights and index and
  // starting the worker on the model's bundle, up to ready().
  {
    const { context, tab } = await throttled(browser, `${server.origin}/phases.html`);
    await tab.waitForFunction(() => performance.getEntriesByName('ready').length > 0, null, { timeout: 300_000 });
    await quiet(tab, 1000);
    const phases = await tab.evaluate(() => {
      const at = (name) => performance.getEntriesByName(name)[0].startTime;
      const spans = [['bundle JS', 'import', 'init'], ['wasm fetch, compile, instantiate, start()', 'init', 'started'], ['manifests, weights, index, worker start', 'started', 'ready']];
      return spans.map(([name, from, to]) => {
        const [a, b] = [at(from), at(to)];
        const tasks = window.__longTasks.filter((t) => t.start >= a && t.start < b);
        return { name, ms: b - a, tbt: tasks.reduce((s, t) => s + Math.max(0, t.duration - 50), 0), longest: Math.max(0, ...tasks.map((t) => t.duration)) };
      });
    });
    for (const p of phases) {
      console.log(`  ${p.name}: ${(p.ms / 1000).toFixed(2)} s, blocking ${p.tbt.toFixed(0)} ms (longest task ${p.longest.toFixed(0)} ms)`);
    }
    await context.close();
  }

  // A search on the snippet's page: photo chosen, first result shown.
  const { context, tab, bytes } = await throttled(browser, `${server.origin}/intent.html`);
  await quiet(tab, 1000);
  const before = bytes.total;
  const t0 = Date.now();
  const [chooser] = await Promise.all([tab.waitForEvent('filechooser'), tab.click('button:text("Upload a photo")')]);
  const first = tab.evaluate(() => new Promise((ok) => window.addEventListener('deepshopping:results', () => ok(performance.now()), { once: true })));
  await chooser.setFiles(join(DATASET, 'images', `${rows[0].id}.jpg`));
  await first;
  const toResult = Date.now() - t0;
  await tab.waitForTimeout(500);
  console.log(`first search: ${(toResult / 1000).toFixed(1)} s from the tap to the first result, `
    + `${mb(bytes.total - before)} fetched by then (compressed, page and worker)`);
  await tab.close();
  // A second visit in the same browser profile.
  const again = await throttled(browser, `${server.origin}/intent.html`, context);
  await again.tab.evaluate(() => window.deepShopping.ready());
  await quiet(again.tab, 1000);
  console.log(`second visit, through ready(): ${kb(again.bytes.total)} transferred`);
  await context.close();
  // Chromium sends Accept-Encoding: br over HTTPS only, so the loopback server cannot show
  // brotli on the wire; the heavy files' sizes under each encoding are computed here instead.
  let [gz, br] = [0, 0];
  for (const file of await heavyFiles()) {
    const body = await readFile(file);
    const g = gzipSync(body, { level: 6 }).length;
    const b = brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } }).length;
    [gz, br] = [gz + g, br + b];
    console.log(`  ${relative(DIST, file)}: ${mb(body.length)} raw, ${mb(g)} gzip -6, ${mb(b)} brotli 11`);
  }
  console.log(`first search's files: ${mb(gz)} gzip, ${mb(br)} brotli (as CDNs send to browsers over HTTPS)`);
} finally {
  await browser.close();
  await server.close();
}
