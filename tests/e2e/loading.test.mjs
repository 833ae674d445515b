// Storefront-friendly loading: widget.js draws the entry point at once and loads the bundle
// only on the shopper's intent (preload="intent", the default), when the page is idle
// (preload="idle") or at once (preload="eager"); a photo chosen in the entry point before the
// bundle has loaded is searched once it has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, DATASET, DIST, serve, launch, catalogueRows, waitReady, holdBack } from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
let server;
let browser;
let rows;

/** A product page of another shop with the snippet (`attrs` on the element). */
function storefront(attrs) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>A product page</title></head>
<body><h1>Linen shirt</h1><p>A product page that may never search by photo.</p>
<script type="module" src="/widget.js"></script>
<deep-shopping-search ${attrs}></deep-shopping-search>
</body></html>`;
}

before(async () => {
  await mkdir(SHOTS, { recursive: true });
  rows = await catalogueRows();
  server = await serve(DIST, '/', {
    pages: {
      '/intent.html': storefront('results="4"'),
      '/idle.html': storefront('preload="idle"'),
      '/eager.html': storefront('preload="eager"'),
    },
  });
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Opens `path` recording every URL fetched (page and worker), without waiting for ready(). */
async function open(path, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const urls = [];
  context.on('request', (r) => urls.push(new URL(r.url()).pathname));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.origin}${path}`);
  await page.waitForSelector('button:text("Upload a photo")');
  return { context, page, urls, errors };
}

const heavy = (urls) => urls.filter((u) => /deep-shopping(-page)?(_bg\.wasm|\.js)$|\.safetensors$|manifest\.json$|index\.json$/.test(u));

test('with preload="intent" a page that never searches fetches widget.js only; the entry point is there at once', { timeout: 120_000 }, async () => {
  const { context, page, urls, errors } = await open('/intent.html', { width: 360, height: 780 });
  try {
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1500);
    assert.deepEqual(urls, ['/intent.html', '/widget.js']);
    // Real buttons, one tab stop each; the file inputs behind them are hidden.
    const names = await page.$$eval('deep-shopping-search >> button', (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(names, ['Take a photo', 'Upload a photo']);
    await page.screenshot({ path: join(SHOTS, 'entry-360.png') });
    assert.equal(await page.evaluate(() => window.deepShopping.backend()), null);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a tap on the entry point loads the bundle; a photo chosen before or after it has loaded is searched', { timeout: 300_000 }, async () => {
  // Both orders, made deterministic: the bundle's wasm is held back until the photo is chosen,
  // or the photo is chosen only once the bundle is ready (the picker was opened before).
  for (const order of ['before', 'after']) {
    const { context, page, urls, errors } = await open('/intent.html');
    try {
      assert.deepEqual(heavy(urls), []);
      const release = order === 'before' ? await holdBack(page, '**/deep-shopping-page_bg.wasm') : () => {};
      // The tap opens the file picker at once, from the tap itself.
      const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('button:text("Upload a photo")')]);
      if (!urls.includes('/deep-shopping-page.js')) await page.waitForRequest(/deep-shopping-page\.js$/);
      if (order === 'after') await waitReady(page);
      const results = page.evaluate(() => new Promise((ok) => window.addEventListener('deepshopping:results', (e) => ok(e.detail), { once: true })));
      await chooser.setFiles(join(DATASET, 'images', `${rows[2].id}.jpg`));
      release();
      const shown = await results;
      assert.equal(shown[0].id, rows[2].id, order);
      await waitReady(page);
      assert.equal((await page.evaluate(() => window.deepShopping.info())).items, rows.length);
      assert.ok(heavy(urls).includes('/deep-shopping-page_bg.wasm'));
      await page.waitForSelector('#results li.card');
      assert.deepEqual(errors, [], order);
    } finally {
      await context.close();
    }
  }
});

test('a call to the JS API loads the bundle (the page\'s; the worker loads the model\'s); preload="eager" loads at once, "idle" once the page is idle', { timeout: 300_000 }, async () => {
  for (const path of ['/eager.html', '/idle.html']) {
    const { context, page, urls, errors } = await open(path);
    try {
      await page.waitForRequest(/deep-shopping-page_bg\.wasm$/, { timeout: 30_000 }).catch(() => {});
      assert.ok(heavy(urls).includes('/deep-shopping-page_bg.wasm'), `${path}: ${urls}`);
      await waitReady(page);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  }
  const { context, page, urls } = await open('/intent.html');
  try {
    assert.deepEqual(heavy(urls), []);
    await waitReady(page);
    assert.equal((await page.evaluate(() => window.deepShopping.info())).thread, 'worker');
    // The split: the page's thread fetched and compiled only its own bundle; the model's
    // bundle (burn) was fetched by the worker, whose requests are not in the page's timeline.
    const own = await page.evaluate(() => performance.getEntriesByType('resource')
      .map((e) => ({ name: new URL(e.name).pathname, bytes: e.encodedBodySize })));
    const wasm = own.filter((e) => e.name.endsWith('.wasm'));
    assert.deepEqual(wasm.map((e) => e.name), ['/deep-shopping-page_bg.wasm'], JSON.stringify(own));
    assert.ok(urls.includes('/deep-shopping_bg.wasm'), `the worker did not load the model's bundle: ${urls}`);
    const sizes = await page.evaluate(async () => Promise.all(['deep-shopping-page_bg.wasm', 'deep-shopping_bg.wasm']
      .map(async (f) => (await (await fetch(f)).arrayBuffer()).byteLength)));
    console.log(`wasm bytes: page ${sizes[0]}, model ${sizes[1]}`);
    assert.ok(sizes[0] * 4 < sizes[1], `the page's bundle is ${sizes[0]} bytes, the model's ${sizes[1]}`);
  } finally {
    await context.close();
  }
});
