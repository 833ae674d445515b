// Accessibility checked by axe-core (npm) in Chromium on each state of the widget: the entry
// point before the bundle loads, loading, ready, results, the camera view and an error; at 360
// and 1280 px. Every state must have zero violations (WCAG 2.1 A and AA rules).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, DIST, FAKE_CAMERA, serve, launch, catalogueRows, waitReady, upload, holdBack } from './harness.mjs';

const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');
let server;
let browser;
let rows;

before(async () => {
  rows = await catalogueRows();
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

for (const width of [360, 1280]) {
  test(`axe-core finds no violation in any state of the widget at ${width} px`, { timeout: 300_000 }, async () => {
    const context = await browser.newContext({ viewport: { width, height: width === 360 ? 780 : 900 } });
    try {
      const page = await context.newPage();
      // The weights are held back so that the loading state stays on screen to be checked.
      const release = await holdBack(page, '**/*.safetensors');
      await page.goto(server.url);
      await page.waitForSelector('button:text("Upload a photo")');
      const states = {};
      states.entry = await violations(page);
      await page.hover('deep-shopping-search');
      await page.waitForSelector('#status');
      states.loading = await violations(page);
      release();
      await waitReady(page);
      states.ready = await violations(page);
      await upload(page, rows[0].id);
      states.results = await violations(page);
      await page.click('#camera');
      await page.waitForSelector('#camera-video', { state: 'visible' });
      states.camera = await violations(page);
      await page.click('#camera-close');
      // A file that is not a photo: the widget says so.
      const status = await page.textContent('#status');
      await page.setInputFiles('#photo', { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a photo') });
      await page.waitForFunction((s) => {
        const el = document.querySelector('deep-shopping-search').shadowRoot.querySelector('#status');
        return el.textContent !== s;
      }, status);
      states.error = await violations(page);
      assert.deepEqual(states, { entry: [], loading: [], ready: [], results: [], camera: [], error: [] });
    } finally {
      await context.close();
    }
  });
}
