// End-to-end tests of the embeddable <deep-shopping-search> widget (CPU backend): the snippet
// on another storefront page with the bundle under a sub-path, the results / theme / assets
// attributes, the live camera (Chromium's fake camera) and the crop box dragged with the mouse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, DATASET, DIST, FAKE_CAMERA, serve, launch, openPage, catalogueRows, cardIds,
  lastTimings, waitForNewResults, callWithPhoto, photoBase64, upload } from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
const ACCENT = 'rgb(0, 128, 96)';
let rows;

/** Another shop's page: its own styles, the snippet, and the element with `attrs`. */
function storefront(bundle, attrs) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Another shop</title>
<style>
  body { font-family: serif; margin: 0 auto; max-width: 1100px; padding: 8px; background: #fff; }
  /* Page styles must not leak into the widget; its custom properties may be set. */
  button { background: rgb(255, 0, 0) !important; }
  deep-shopping-search { --ds-accent: ${ACCENT}; }
</style></head>
<body><h1>Another shop: search by photo</h1>
<script type="module" src="${bundle}widget.js"></script>
<deep-shopping-search ${attrs}></deep-shopping-search>
</body></html>`;
}

/** Evaluates `fn(root, arg)` with the widget's shadow root. */
function inWidget(page, fn, arg) {
  return page.evaluate(([source, arg]) => {
    const root = document.querySelector('deep-shopping-search').shadowRoot;
    return new Function('root', 'arg', `return (${source})(root, arg);`)(root, arg);
  }, [fn.toString(), arg]);
}

before(async () => {
  rows = await catalogueRows();
  await mkdir(SHOTS, { recursive: true });
});

test('the snippet works on another page with the bundle under a sub-path; results and theme attributes', { timeout: 300_000 }, async () => {
  const server = await serve(DIST, '/shop/deep/', {
    pages: {
      '/store/': storefront('/shop/deep/', 'results="5" theme="dark"'),
      '/store/assets.html': storefront('/cdn/bundle/', 'assets="/shop/deep/"'),
      '/store/urls.html': storefront('/shop/deep/', 'model-url="/cdn/bundle/models/manifest.json" index-url="../cdn/bundle/catalogue/index.json"'),
      '/store/broken.html': storefront('/broken/', 'results="5"'),
    },
    // A folder with the loader but no bundle: a broken upload of the widget.
    mounts: { '/cdn/bundle/': DIST, '/broken/': join(ROOT, 'static') },
  });
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await openPage(context, `${server.origin}/store/`);
    // Bundle, model and catalogue all come from the bundle's folder, not the page's.
    const others = server.requests.filter((r) => r !== '/store/' && !r.startsWith('/shop/deep/'));
    assert.deepEqual(others, []);
    for (const file of ['widget.js', 'deep-shopping-page.js', 'deep-shopping-page_bg.wasm', 'deep-shopping.js', 'deep-shopping_bg.wasm', 'models/manifest.json', 'catalogue/index.json']) {
      assert.ok(server.requests.includes(`/shop/deep/${file}`), `${file} not requested`);
    }
    assert.equal((await page.evaluate(() => window.deepShopping.info())).items, rows.length);

    // results="5": five per page, five more on demand.
    await upload(page, rows[0].id);
    assert.equal((await cardIds(page)).length, 5);
    assert.equal((await cardIds(page))[0], rows[0].id);
    assert.match(await page.getAttribute('#results li.card img', 'src'), /\/shop\/deep\/catalogue\/images\//);
    await page.click('#more');
    assert.equal((await cardIds(page)).length, 10);

    // theme="dark" and the page's --ds-accent apply; the page's button rule does not leak in.
    const look = await inWidget(page, (root) => {
      const host = root.host;
      return {
        background: getComputedStyle(host).backgroundColor,
        text: getComputedStyle(host).color,
        camera: getComputedStyle(root.querySelector('#more')).backgroundColor,
        like: getComputedStyle(root.querySelector('.vote.like')).borderColor,
        accent: getComputedStyle(host).getPropertyValue('--ds-accent').trim(),
      };
    });
    assert.equal(look.background, 'rgb(22, 24, 29)');
    assert.equal(look.text, 'rgb(236, 239, 244)');
    assert.equal(look.accent, ACCENT);
    assert.notEqual(look.camera, 'rgb(255, 0, 0)');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'widget-storefront-1280.png'), fullPage: false });

    // Usable at 360 px: nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 780 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 360, `page is ${overflow} px wide at 360 px`);
    await page.screenshot({ path: join(SHOTS, 'widget-storefront-360.png'), fullPage: true });
    assert.deepEqual(errors, []);

    // assets="…": the bundle from one folder, models and catalogue from another; the default
    // of 12 results per page.
    await page.close();
    const before = server.requests.length;
    const other = await openPage(context, `${server.origin}/store/assets.html`);
    const seen = server.requests.slice(before);
    assert.ok(seen.includes('/cdn/bundle/deep-shopping-page_bg.wasm'), seen.join(' '));
    assert.ok(seen.includes('/cdn/bundle/deep-shopping_bg.wasm'), seen.join(' '));
    assert.ok(seen.includes('/shop/deep/models/manifest.json'), seen.join(' '));
    assert.ok(seen.includes('/shop/deep/catalogue/index.json'), seen.join(' '));
    assert.ok(!seen.some((r) => r.startsWith('/cdn/bundle/models') || r.startsWith('/cdn/bundle/catalogue/index')), seen.join(' '));
    await upload(other.page, rows[1].id);
    assert.equal((await cardIds(other.page)).length, 12);
    // The light theme (the default) takes the page's own background.
    assert.equal(await inWidget(other.page, (root) => getComputedStyle(root.host).backgroundColor), 'rgba(0, 0, 0, 0)');
    assert.deepEqual(other.errors, []);

    // model-url and index-url (absolute, and relative to the page) point at single manifests.
    await other.page.close();
    const mark = server.requests.length;
    const urls = await openPage(context, `${server.origin}/store/urls.html`);
    const asked = server.requests.slice(mark);
    assert.ok(asked.includes('/shop/deep/deep-shopping_bg.wasm'), asked.join(' '));
    assert.ok(asked.includes('/cdn/bundle/models/manifest.json'), asked.join(' '));
    assert.ok(asked.includes('/cdn/bundle/catalogue/index.json'), asked.join(' '));
    assert.ok(!asked.some((r) => r.startsWith('/shop/deep/models') || r.startsWith('/shop/deep/catalogue/index')), asked.join(' '));
    assert.deepEqual(urls.errors, []);
    await urls.page.close();

    // A loader without its bundle says so in the element, once the shopper reaches for it.
    const broken = await context.newPage();
    const failures = [];
    broken.on('pageerror', (e) => failures.push(String(e)));
    await broken.goto(`${server.origin}/store/broken.html`);
    await broken.hover('deep-shopping-search');
    await broken.waitForSelector('deep-shopping-search:text("Search by photo is unavailable")');
    assert.equal(await broken.getAttribute('deep-shopping-search', 'role'), 'status');
    assert.equal(failures.length, 1, failures.join(' | '));
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the camera: preview, shutter, results, stream stopped; a refused permission is explained', { timeout: 300_000 }, async () => {
  const server = await serve();
  const browser = await launch({ webgpu: false, args: FAKE_CAMERA });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await openPage(context, server.url);
    assert.ok(await page.isVisible('#camera'));
    assert.equal(await page.getAttribute('#photo-camera', 'capture'), 'environment');
    // "Upload a photo" opens the gallery picker (no capture); the camera button, the camera.
    assert.equal(await page.getAttribute('#photo', 'capture'), null);
    await page.click('#camera');
    await page.waitForFunction(() => {
      const video = document.querySelector('deep-shopping-search').shadowRoot.querySelector('#camera-video');
      return video.videoWidth > 0 && video.readyState >= 2;
    }, null, { timeout: 60_000 });
    assert.ok(await page.isVisible('#camera-video'));
    // Keep a handle on the track to see it stopped afterwards.
    await inWidget(page, (root) => { window.cameraTrack = root.querySelector('#camera-video').srcObject.getVideoTracks()[0]; });
    const before = await lastTimings(page);
    await page.click('#shutter');
    await waitForNewResults(page, before);
    assert.ok((await cardIds(page)).length > 0);
    assert.equal(await page.evaluate(() => window.cameraTrack.readyState), 'ended');
    assert.ok(await page.isHidden('#camera-panel'));
    assert.equal(await inWidget(page, (root) => root.querySelector('#camera-video').srcObject), null);
    // The taken photo is the one under the crop box.
    assert.ok(await page.isVisible('#crop-panel'));
    assert.ok(await inWidget(page, (root) => root.querySelector('#crop-image').naturalWidth) > 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }

  // Without the fake permission prompt, headless Chromium refuses the camera.
  const refusing = await launch({ webgpu: false, args: ['--use-fake-device-for-media-stream'] });
  try {
    const context = await refusing.newContext();
    const { page } = await openPage(context, server.url);
    await page.click('#camera');
    await page.waitForSelector('#status:text("Camera permission was denied")');
    assert.ok(await page.isHidden('#camera-panel'));
    assert.ok(await page.isEnabled('#photo'));
    // A browser without a camera API: "Take a photo" opens the picker's camera instead.
    await page.evaluate(() => { Object.defineProperty(navigator, 'mediaDevices', { value: undefined }); });
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#camera')]);
    assert.equal(await chooser.element().getAttribute('id'), 'photo-camera');
  } finally {
    await refusing.close();
    await server.close();
  }
});

test('the crop box: dragging a corner and the box re-runs the search on the crop', { timeout: 300_000 }, async () => {
  const server = await serve();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page, errors } = await openPage(context, server.url);
    await upload(page, rows[0].id);
    const whole = await cardIds(page);
    assert.equal((await page.evaluate(() => window.deepShopping.info())).crop, null);
    assert.equal(await page.textContent('#crop-readout'), 'Whole photo');
    assert.ok((await page.getAttribute('#crop-image', 'alt')).length > 0);

    // Drag the bottom-right corner to the middle of the photo.
    await page.locator('#crop-box').scrollIntoViewIfNeeded();
    const box = await page.locator('#crop-box').boundingBox();
    let before = await lastTimings(page);
    await page.mouse.move(box.x + box.width - 1, box.y + box.height - 1);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.45, { steps: 8 });
    await page.mouse.up();
    await waitForNewResults(page, before);
    const corner = (await page.evaluate(() => window.deepShopping.info())).crop;
    assert.ok(Math.abs(corner.x) < 0.01 && Math.abs(corner.y) < 0.01, JSON.stringify(corner));
    assert.ok(Math.abs(corner.width - 0.5) < 0.02 && Math.abs(corner.height - 0.45) < 0.02, JSON.stringify(corner));
    assert.match(await page.textContent('#crop-readout'), /Crop: 5\d% × 4\d% of the photo, from 0% left, 0% top/);
    const cropped = await cardIds(page);
    assert.notDeepEqual(cropped, whole);
    // The same crop through the JS API gives the same results.
    const viaApi = await callWithPhoto(page, 'search', await photoBase64(rows[0].id), { crop: corner, top: 12 });
    assert.deepEqual(viaApi.map((r) => r.id), cropped);

    // Drag the box itself a quarter of the photo to the right and down.
    before = await lastTimings(page);
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.45, { steps: 8 });
    await page.mouse.up();
    await waitForNewResults(page, before);
    const moved = (await page.evaluate(() => window.deepShopping.info())).crop;
    assert.ok(Math.abs(moved.x - 0.25) < 0.02 && Math.abs(moved.y - 0.25) < 0.02, JSON.stringify(moved));
    assert.ok(Math.abs(moved.width - corner.width) < 1e-6 && Math.abs(moved.height - corner.height) < 1e-6);
    assert.notDeepEqual(await cardIds(page), cropped);
    await page.screenshot({ path: join(SHOTS, 'crop-1280.png') });

    // "Use the whole photo" brings back the first results.
    before = await lastTimings(page);
    await page.click('#crop-reset');
    await waitForNewResults(page, before);
    assert.deepEqual(await cardIds(page), whole);
    assert.equal((await page.evaluate(() => window.deepShopping.info())).crop, null);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('on a touch screen, dragging the crop box corner with a finger crops the search', { timeout: 300_000 }, async () => {
  const server = await serve();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 360, height: 780 }, hasTouch: true, isMobile: true });
    const { page, errors } = await openPage(context, server.url);
    await upload(page, rows[3].id);
    const whole = await cardIds(page);
    // Results first: the photo is a strip and the first result starts on the first screen.
    assert.ok((await page.locator('#crop-image').boundingBox()).height <= 96);
    const first = await page.locator('#results li.card').first().boundingBox();
    assert.ok(first.y + 60 < 780, `the first result starts at ${first.y} px`);
    await page.screenshot({ path: join(SHOTS, 'results-first-360.png') });
    // A tap on the strip shows the photo large, with its box's handles.
    await page.tap('#crop-stage');
    assert.equal(await page.getAttribute('#crop-toggle', 'aria-expanded'), 'true');
    assert.ok((await page.locator('#crop-image').boundingBox()).height > 200);
    await page.locator('#crop-box').scrollIntoViewIfNeeded();
    const box = await page.locator('#crop-box').boundingBox();
    // A finger on the top-left handle, dragged a third of the way in (Chrome DevTools touch).
    const cdp = await context.newCDPSession(page);
    const touch = (type, x, y) => cdp.send('Input.dispatchTouchEvent', {
      type, touchPoints: type === 'touchEnd' ? [] : [{ x, y, id: 1 }],
    });
    const before = await lastTimings(page);
    await touch('touchStart', box.x + 1, box.y + 1);
    for (let i = 1; i <= 8; i++) await touch('touchMove', box.x + 1 + (box.width / 3) * (i / 8), box.y + 1 + (box.height / 3) * (i / 8));
    await touch('touchEnd');
    await waitForNewResults(page, before);
    const crop = (await page.evaluate(() => window.deepShopping.info())).crop;
    assert.ok(Math.abs(crop.x - 1 / 3) < 0.03 && Math.abs(crop.y - 1 / 3) < 0.03, JSON.stringify(crop));
    assert.ok(Math.abs(crop.x + crop.width - 1) < 1e-4 && Math.abs(crop.y + crop.height - 1) < 1e-4, JSON.stringify(crop));
    assert.notDeepEqual(await cardIds(page), whole);
    await page.screenshot({ path: join(SHOTS, 'crop-touch-360.png') });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a 12-megapixel photo is searched (reduced before the resize) and finds its item', { timeout: 300_000 }, async () => {
  const server = await serve();
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, server.url);
    const b64 = await photoBase64(rows[4].id);
    const results = await page.evaluate(async (b64) => {
      const small = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
      const bitmap = await createImageBitmap(small);
      // The same photo at 4000 px on its longer side (about 12 MP), as a phone takes it.
      const scale = 4000 / Math.max(bitmap.width, bitmap.height);
      const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
      canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const large = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
      const found = await window.deepShopping.search(large, { top: 3 });
      return { size: [canvas.width, canvas.height], bytes: large.size, found: found.map((r) => r.id) };
    }, b64);
    assert.ok(results.size[0] * results.size[1] > 11e6, JSON.stringify(results.size));
    assert.equal(results.found[0], rows[4].id);
    const t = (await page.evaluate(() => window.deepShopping.info())).lastTimings;
    console.log(`${results.size.join('x')} JPEG (${(results.bytes / 1e6).toFixed(1)} MB): prepare ${t.prepareMs.toFixed(0)} ms, embed ${t.embedMs.toFixed(0)} ms`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
