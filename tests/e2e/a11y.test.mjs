// Accessibility checked by axe-core (npm) in Chromium on each state of the widget: the entry
// point before the bundle loads, loading, ready, results, the filter drawer, no results, the
// camera view and an error; at 360, 768 and 1280 px. Every state must have zero violations
// (WCAG 2.1 A and AA rules). A screenshot of each state (and of a search running,
// with its skeleton cards) goes to test-output/state-<state>-<width>.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, DIST, FAKE_CAMERA, serve, launch, catalogueRows, waitReady, upload, holdBack } from './harness.mjs';

const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
const SHOTS = join(ROOT, 'test-output');
let server;
let browser;
let rows;

before(async () => {
  rows = await catalogueRows();
  await mkdir(SHOTS, { recursive: true });
  server = await serve(DIST, '/');
  browser = await launch({ webgpu: false, args: FAKE_CAMERA });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** axe-core's violations on the page now, as "rule: target" lines. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${JSON.stringify(n.target)} ${n.failureSummary?.split('\n')[1] ?? ''}`));
  });
}

/** Writes the screenshot of `state` at `width` px, what the shopper sees on the screen now
 * (test-output/state-<state>-<width>.png). */
function shot(page, state, width) {
  return page.screenshot({ path: join(SHOTS, `state-${state}-${width}.png`) });
}

for (const width of [360, 768, 1280]) {
  test(`axe-core finds no violation in any state of the widget at ${width} px; a screenshot of each`, { timeout: 300_000 }, async () => {
    const context = await browser.newContext({ viewport: { width, height: width === 360 ? 780 : 900 } });
    try {
      const page = await context.newPage();
      const state = (name) => page.waitForSelector(`.ds[data-state="${name}"]`, { timeout: 120_000 });
      // The weights are held back so that the loading state stays on screen to be checked.
      const release = await holdBack(page, '**/*.safetensors');
      await page.goto(server.url);
      await page.waitForSelector('button:text("Upload a photo")');
      const states = {};
      states.entry = await violations(page);
      await shot(page, 'entry', width);
      await page.hover('deep-shopping-search');
      await page.waitForSelector('#progress-text:text("Downloading")');
      states.loading = await violations(page);
      await shot(page, 'loading', width);
      release();
      await waitReady(page);
      states.ready = await violations(page);
      await shot(page, 'ready', width);
      // Searching: skeleton cards while the photo is described (the wait starts first).
      const searching = state('searching');
      const done = upload(page, rows[0].id);
      await searching;
      await shot(page, 'searching', width);
      await done;
      states.results = await violations(page);
      await shot(page, 'results', width);
      await page.click('#filters-open');
      states.drawer = await violations(page);
      await shot(page, 'drawer', width);
      await page.fill('#price-min', '100000');
      await page.dispatchEvent('#price-min', 'input');
      await state('empty');
      states.empty = await violations(page);
      await shot(page, 'empty', width);
      await page.click('#empty-clear');
      await state('results');
      await page.click('#drawer-close');
      await page.click('#camera');
      await page.waitForSelector('#camera-video', { state: 'visible' });
      await page.waitForFunction(() => document.querySelector('deep-shopping-search').shadowRoot.querySelector('#camera-video').videoWidth > 0);
      states.camera = await violations(page);
      await shot(page, 'camera', width);
      await page.click('#camera-close');
      // A file that is not a photo: the widget says so.
      await page.setInputFiles('#photo', { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a photo') });
      await state('error');
      states.error = await violations(page);
      await shot(page, 'error', width);
      assert.match(await page.textContent('#status'), /^Could not search this photo: .*Try another photo/);
      assert.deepEqual(states, { entry: [], loading: [], ready: [], results: [], drawer: [], empty: [], camera: [], error: [] });
    } finally {
      await context.close();
    }
  });
}
