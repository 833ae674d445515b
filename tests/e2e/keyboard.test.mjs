// A keyboard-only walk through the demo storefront at 360 px (CPU backend, Chromium's fake
// camera): Tab reaches every control of the widget, each has a name, images have alt text,
// and upload, camera, crop, likes, filters, colour weight and more results work from the keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, DATASET, FAKE_CAMERA, serve, launch, openPage, catalogueRows, cardIds, lastTimings,
  waitForNewResults,
} from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
let server;
let browser;
let rows;

before(async () => {
  server = await serve();
  rows = await catalogueRows();
  browser = await launch({ webgpu: false, args: FAKE_CAMERA });
  await mkdir(SHOTS, { recursive: true });
});
after(async () => {
  await browser.close();
  await server.close();
});

/** The focused element, looking inside shadow roots: id, class, name and whether it is named. */
function focused(page) {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (!el || el === document.body) return null;
    const labelled = (el.labels?.length ?? 0) > 0;
    const name = el.getAttribute('aria-label') || (labelled ? el.labels[0].textContent : '') || el.textContent.trim();
    return { id: el.id, cls: el.className, tag: el.tagName.toLowerCase(), name, inWidget: el.getRootNode() !== document };
  });
}

/** Presses Tab until `match(focused)` holds; fails after `limit` presses. */
async function tabTo(page, match, limit = 80) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (f && match(f)) return f;
  }
  assert.fail(`Tab never reached the control (${match})`);
}

const byId = (id) => (f) => f.id === id;

test('every control is reached with Tab and works from the keyboard at 360 px', { timeout: 600_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
  const { page, errors } = await openPage(context, server.url);

  // One full round of Tab before any photo: every widget control, in order, each named.
  const order = [];
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (!f) continue;
    if (f.inWidget) {
      assert.ok(f.name.length > 0, `unnamed control ${JSON.stringify(f)}`);
      if (order.includes(f.id)) break;
      order.push(f.id);
    }
  }
  // Before a photo, the entry point's two buttons are all there is (the file inputs behind
  // them are hidden); filters come with results.
  assert.deepEqual(order, ['camera', 'upload']);

  // Upload: Space on "Upload a photo" opens the chooser. (Waiting for the chooser starts
  // first, so Playwright intercepts choosers well before the key is pressed.)
  const chooserOpened = page.waitForEvent('filechooser', { timeout: 120_000 });
  await page.keyboard.press('Shift+Tab');
  const photo = await tabTo(page, byId('upload'));
  assert.equal(photo.name, 'Upload a photo');
  let before = await lastTimings(page);
  await page.keyboard.press('Space');
  const chooser = await chooserOpened;
  await chooser.setFiles(join(DATASET, 'images', `${rows[2].id}.jpg`));
  await waitForNewResults(page, before);
  const whole = await cardIds(page);
  assert.equal(whole[0], rows[2].id);

  // With results, one round of Tab: the entry's buttons, the photo strip ("Use the whole
  // photo" only once there is a box to undo), the drawer's button, the chips, then the cards.
  const after = [];
  await page.evaluate(() => window.scrollTo(0, 0));
  await tabTo(page, byId('camera'));
  for (let i = 0; i < 40; i++) {
    const f = await focused(page);
    if (f?.inWidget) {
      assert.ok(f.name.length > 0, `unnamed control ${JSON.stringify(f)}`);
      after.push(f.id || f.cls);
      if (f.cls.includes('product')) break;
    }
    await page.keyboard.press('Tab');
  }
  const chips = after.filter((c) => c === 'chip');
  assert.ok(chips.length >= 2, JSON.stringify(after));
  assert.deepEqual(after.filter((c) => c !== 'chip'),
    ['camera', 'upload', 'crop-box', 'crop-toggle', 'add', 'filters-open', 'product']);
  // Back to where the walk was.
  await page.evaluate(() => document.querySelector('deep-shopping-search').shadowRoot.querySelector('#upload').focus());

  // Crop: arrows move the box, Shift + arrows resize it; the search re-runs on the crop.
  const cropBox = await tabTo(page, byId('crop-box'));
  assert.match(cropBox.name, /Crop box: Whole photo/);
  for (let i = 0; i < 10; i++) await page.keyboard.press('Shift+ArrowLeft');
  for (let i = 0; i < 10; i++) await page.keyboard.press('Shift+ArrowUp');
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowRight');
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => {
    const crop = window.deepShopping.info().crop;
    const status = document.querySelector('deep-shopping-search').shadowRoot.querySelector('#status').textContent;
    const near = (a, b) => Math.abs(a - b) < 1e-3;
    return crop && near(crop.x, 0.1) && near(crop.y, 0.1) && near(crop.width, 0.8) && near(crop.height, 0.8)
      && status.startsWith('Ready');
  }, null, { timeout: 120_000 });
  assert.equal(await page.textContent('#crop-readout'), 'Crop: 80% × 80% of the photo, from 10% left, 10% top');
  assert.match((await focused(page)).name, /Crop box: Crop: 80% × 80%/);

  // The whole photo again, from its button.
  await tabTo(page, byId('crop-reset'));
  before = await lastTimings(page);
  await page.keyboard.press('Enter');
  await waitForNewResults(page, before);
  assert.deepEqual(await cardIds(page), whole);

  // "Filters" opens the drawer with the focus on its first control.
  await page.evaluate(() => window.scrollTo(0, 0));
  await tabTo(page, byId('filters-open'));
  await page.keyboard.press('Enter');
  assert.equal((await focused(page)).id, 'filter-category');
  assert.equal(await page.getAttribute('#filters-open', 'aria-expanded'), 'true');
  await page.screenshot({ path: join(SHOTS, 'drawer-keyboard-360.png') });

  // Category filter: arrow keys choose a category; every card then has it.
  await page.keyboard.press('ArrowDown');
  const category = await page.inputValue('#filter-category');
  assert.notEqual(category, '');
  const metas = await page.$$eval('#results li.card .meta', (els) => els.map((e) => e.textContent));
  assert.ok(metas.length > 0);
  for (const meta of metas) assert.ok(meta.startsWith(category), meta);
  await page.keyboard.press('Home');
  assert.equal(await page.inputValue('#filter-category'), '');

  // Colour weight: End sets it to colour only, which re-ranks at once.
  await tabTo(page, byId('colour-weight'));
  await page.keyboard.press('End');
  assert.equal(await page.inputValue('#colour-weight'), '1');
  assert.notDeepEqual(await cardIds(page), whole);
  await page.keyboard.press('Home');
  await page.keyboard.press('PageUp');
  assert.equal(await page.inputValue('#colour-weight'), '0.1');

  // "Show results" closes the drawer and gives the focus back to its button.
  await tabTo(page, byId('drawer-close'));
  await page.keyboard.press('Enter');
  assert.ok(await page.isHidden('#drawer'));
  assert.equal((await focused(page)).id, 'filters-open');

  // Like the second result with Enter: it is pressed, and the focus stays on it.
  const second = (await cardIds(page))[1];
  await tabTo(page, (f) => f.cls.includes('like') && f.name.startsWith('Like'));
  await tabTo(page, (f) => f.cls.includes('like') && f.name.startsWith('Like'));
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute(`#results li.card[data-id="${second}"] button.like`, 'aria-pressed'), 'true');
  const stay = await focused(page);
  assert.ok(stay.cls.includes('like') && stay.name.startsWith('Like'), JSON.stringify(stay));
  // Space withdraws the like again.
  await page.keyboard.press('Space');
  assert.equal(await page.getAttribute(`#results li.card[data-id="${second}"] button.like`, 'aria-pressed'), 'false');

  // More results.
  await tabTo(page, byId('more'));
  await page.keyboard.press('Enter');
  assert.equal((await cardIds(page)).length, 24);

  // Every image in the widget has alt text; nothing is wider than the screen.
  const alts = await page.$$eval('#results img, #crop-image', (imgs) => imgs.map((i) => i.getAttribute('alt') ?? ''));
  assert.ok(alts.length > 1 && alts.every((a) => a.trim().length > 0), JSON.stringify(alts));
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 360);
  await page.screenshot({ path: join(SHOTS, 'keyboard-360.png'), fullPage: false });

  // Camera: Enter opens it with the focus on the shutter; Enter takes the photo.
  await page.keyboard.press('Shift+Tab');
  await page.evaluate(() => window.scrollTo(0, 0));
  await tabTo(page, byId('camera'));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => {
    const root = document.querySelector('deep-shopping-search').shadowRoot;
    return root.activeElement?.id === 'shutter' && root.querySelector('#camera-video').videoWidth > 0;
  }, null, { timeout: 60_000 });
  before = await lastTimings(page);
  await page.keyboard.press('Enter');
  await waitForNewResults(page, before);
  assert.ok(await page.isHidden('#camera-panel'));
  // The focus moves on to the crop box over the new photo; the camera can be opened and
  // closed again from the keyboard.
  assert.equal((await focused(page)).id, 'crop-box');
  await page.keyboard.press('Shift+ArrowLeft');
  await page.waitForFunction(() => window.deepShopping.info().crop?.width < 1, null, { timeout: 120_000 });
  await page.keyboard.press('Shift+Tab');
  await tabTo(page, byId('camera'));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('deep-shopping-search').shadowRoot.activeElement?.id === 'shutter');
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'camera-close');
  await page.keyboard.press('Enter');
  assert.ok(await page.isHidden('#camera-panel'));
  assert.equal((await focused(page)).id, 'camera');
  assert.deepEqual(errors, []);
  await context.close();
});
