// The widget on a storefront with a strict Content-Security-Policy (the one README "Strict
// CSP" states), and the privacy promise: during a search no request carries the photo or
// anything computed from it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, DATASET, DIST, serve, launch, openPage, lastTimings, waitForNewResults, upload, cardIds } from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
// README, "Strict CSP": exactly what the widget needs when it is served from the page's origin.
const CSP = [
  "default-src 'none'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "style-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  'report-uri /csp-report',
].join('; ');

let browser;
before(async () => {
  await mkdir(SHOTS, { recursive: true });
  browser = await launch({ webgpu: false });
});
after(async () => { await browser?.close(); });

/** Records every violation a page of `context` sees in `window.__violations`. */
async function watchViolations(context) {
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
    }, true);
  });
}

test('under a strict CSP (no unsafe-inline styles or scripts) the widget is styled, searches in its worker and reports no violation', { timeout: 300_000 }, async () => {
  const server = await serve(DIST, '/', { headers: { 'content-security-policy': CSP } });
  const console = [];
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.on('console', (m) => console.push(m.text()));
  try {
    await watchViolations(context);
    const { page, errors } = await openPage(context, server.url);
    const info = await page.evaluate(() => window.deepShopping.info());
    assert.equal(info.thread, 'worker', JSON.stringify(info));

    const stem = (await readFile(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8')).split('\n')[1].split(',')[0];
    await upload(page, stem);
    const look = await page.evaluate(() => {
      const root = document.querySelector('deep-shopping-search').shadowRoot;
      const stage = root.querySelector('#crop-stage').getBoundingClientRect();
      const box = root.querySelector('#crop-box').getBoundingClientRect();
      const chip = root.querySelector('.card .chip');
      return {
        sheets: root.adoptedStyleSheets.length,
        position: getComputedStyle(root.querySelector('#crop-box')).position,
        grid: getComputedStyle(root.querySelector('#results')).display,
        stage: [stage.left, stage.top, stage.width, stage.height],
        box: [box.left, box.top, box.width, box.height],
        chip: chip && getComputedStyle(chip, '::before').backgroundColor,
      };
    });
    // The stylesheet applies, the crop box covers the whole photo, the colour chips show
    // their colour: all set through CSSOM, which the policy allows.
    assert.equal(look.sheets, 1);
    assert.equal(look.position, 'absolute');
    assert.equal(look.grid, 'grid');
    look.stage.forEach((v, i) => assert.ok(Math.abs(v - look.box[i]) <= 1, `crop box ${look.box} on ${look.stage}`));
    assert.ok(look.stage[2] > 100 && look.stage[3] > 100, `photo ${look.stage}`);
    assert.match(look.chip ?? '', /^rgb\(/);
    assert.notEqual(look.chip, 'rgba(0, 0, 0, 0)');
    await page.screenshot({ path: join(SHOTS, 'strict-csp.png') });

    // Reports are sent after the fact: give them time to arrive.
    await page.waitForTimeout(1000);
    const violations = await page.evaluate(() => window.__violations);
    assert.deepEqual(violations, []);
    assert.deepEqual(server.posts, []);
    assert.deepEqual(console.filter((t) => /Content Security Policy/i.test(t)), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.close();
  }
});

test('a search sends nothing of the photo: only GETs of published files, none of them new', { timeout: 300_000 }, async () => {
  const server = await serve(DIST, '/');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const requests = [];
  // The context sees the page's requests and its worker's.
  context.on('request', (r) => requests.push(r));
  try {
    const { page, errors } = await openPage(context, server.url);
    const rows = (await readFile(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8')).trim().split('\n').slice(1);
    const stem = rows[3].split(',')[0];
    const photo = await readFile(join(DATASET, 'images', `${stem}.jpg`));
    const loaded = requests.length;
    await upload(page, stem);
    // A like re-ranks on the device too.
    const beforeLike = await lastTimings(page);
    await page.click('#results li.card .vote.like');
    await page.waitForFunction((b) => JSON.stringify(window.deepShopping.info().lastTimings) !== JSON.stringify(b), beforeLike);
    const during = requests.slice(loaded);
    const index = JSON.parse(await readFile(join(DIST, 'catalogue', 'index.json'), 'utf8'));
    // The thumbnails it publishes, in the list its manifest names.
    const listed = JSON.parse(await readFile(join(DIST, 'catalogue', index.thumbnails.file), 'utf8'));
    assert.ok(listed.length > 0 && index.images === undefined);
    const thumbnails = new Set(listed.map((i) => new URL(`catalogue/${i}`, server.url).href));
    for (const r of during) {
      assert.equal(r.method(), 'GET', `${r.method()} ${r.url()}`);
      assert.equal(r.postData(), null, r.url());
      // Whatever the page fetched while searching is a thumbnail the index publishes (or the
      // photo's own blob: URL, which never leaves the browser).
      const url = r.url();
      assert.ok(thumbnails.has(url) || url.startsWith('blob:'), `searching fetched ${url}`);
      const headers = Object.values(await r.allHeaders()).join('\n');
      assert.ok(!headers.includes(photo.subarray(0, 64).toString('base64')), url);
    }
    assert.ok(during.some((r) => thumbnails.has(r.url())), 'the results showed no thumbnail');
    // The server saw nothing but GETs of files it has.
    assert.deepEqual(server.posts, []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.close();
  }
});

test('where the policy allows no blob: worker, the model\'s bundle runs on the page and the search still works', { timeout: 300_000 }, async () => {
  const noBlob = CSP.replace("worker-src 'self' blob:", "worker-src 'self'");
  const server = await serve(DIST, '/', { headers: { 'content-security-policy': noBlob } });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    await watchViolations(context);
    const { page } = await openPage(context, server.url);
    const info = await page.evaluate(() => window.deepShopping.info());
    // The page's bundle holds no model: it loaded the model's bundle on its own thread.
    assert.equal(info.thread, 'page', JSON.stringify(info));
    assert.ok(info.workerError, JSON.stringify(info));
    const own = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname));
    assert.ok(own.includes('/deep-shopping-page_bg.wasm') && own.includes('/deep-shopping_bg.wasm'), own.join(' '));
    const stem = (await readFile(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8')).split('\n')[1].split(',')[0];
    await upload(page, stem);
    // The photo is in the catalogue: it is its own best match.
    assert.equal((await cardIds(page))[0], stem);
    assert.equal((await page.evaluate(() => window.deepShopping.info())).lastWork.thread, 'page');
    // The one violation is the worker the policy refused.
    const violations = await page.evaluate(() => window.__violations);
    assert.ok(violations.length >= 1 && violations.every((v) => v.startsWith('worker-src')), violations.join('\n'));
  } finally {
    await context.close();
    await server.close();
  }
});
