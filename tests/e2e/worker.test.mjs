// The model runs in a Web Worker: while a photo is prepared and embedded, the page's main
// thread keeps running tasks (a chain of zero-delay timers) and has no long task; with
// worker="off" the same search blocks the main thread for the whole embedding.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST, serve, launch, openPage, catalogueRows, photoBase64 } from './harness.mjs';

let server;
let browser;
let rows;

before(async () => {
  const html = await readFile(join(DIST, 'index.html'), 'utf8');
  const off = html.replace('<deep-shopping-search ', '<deep-shopping-search worker="off" ');
  assert.notEqual(off, html);
  server = await serve(DIST, '/', { pages: { '/worker-off.html': off } });
  rows = await catalogueRows();
  browser = await launch({ webgpu: false });
});
after(async () => {
  await browser.close();
  await server.close();
});

/**
 * Searches `b64` while a chain of zero-delay timers runs on the main thread and long tasks are
 * observed; returns the timer ticks and long tasks (epoch ms) and `info().lastWork`.
 */
function searchWatchingMainThread(page, b64) {
  return page.evaluate(async (b64) => {
    const epoch = (t) => performance.timeOrigin + t;
    const blob = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
    const longTasks = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push({ start: epoch(e.startTime), end: epoch(e.startTime + e.duration) });
    });
    observer.observe({ type: 'longtask' });
    const ticks = [];
    let running = true;
    const tick = () => {
      ticks.push(epoch(performance.now()));
      if (running) setTimeout(tick, 0);
    };
    tick();
    const results = await window.deepShopping.search(blob, { top: 12 });
    running = false;
    await new Promise((ok) => setTimeout(ok, 0));
    for (const e of observer.takeRecords()) longTasks.push({ start: epoch(e.startTime), end: epoch(e.startTime + e.duration) });
    observer.disconnect();
    return { ticks, longTasks, work: window.deepShopping.info().lastWork, first: results[0].id };
  }, b64);
}

test('a search leaves the main thread free: it runs tasks and has no long task while the worker embeds', { timeout: 300_000 }, async () => {
  const photo = await photoBase64(rows[0].id);
  const { page, errors } = await openPage(browser, server.url);
  const info = await page.evaluate(() => window.deepShopping.info());
  assert.equal(info.thread, 'worker');
  assert.equal(info.workerError, null);
  // With no photo given, the worker runs the model once on a synthetic one after loading.
  await page.waitForFunction(() => window.deepShopping.info().warmUpMs > 0, null, { timeout: 60_000 });
  await searchWatchingMainThread(page, photo); // warm-up of the page's code

  const run = await searchWatchingMainThread(page, photo);
  assert.equal(run.first, rows[0].id);
  assert.equal(run.work.thread, 'worker');
  const during = run.ticks.filter((t) => t > run.work.startedAt && t < run.work.endedAt);
  console.log(`worker: embedding took ${(run.work.endedAt - run.work.startedAt).toFixed(0)} ms; `
    + `${during.length} main-thread timer tasks ran meanwhile; ${run.longTasks.length} long tasks in all`);
  assert.ok(during.length > 0, 'no main-thread task ran while the worker embedded');
  const blocking = run.longTasks.filter((l) => l.start < run.work.endedAt && l.end > run.work.startedAt);
  assert.deepEqual(blocking, [], 'a long task blocked the main thread during the embedding');
  assert.deepEqual(errors, []);
  await page.close();

  // The control: on the page's own thread the embedding blocks every timer task.
  const local = await openPage(browser, `${server.origin}/worker-off.html`);
  assert.equal((await local.page.evaluate(() => window.deepShopping.info())).thread, 'page');
  await searchWatchingMainThread(local.page, photo);
  const blocked = await searchWatchingMainThread(local.page, photo);
  assert.equal(blocked.first, rows[0].id);
  assert.equal(blocked.work.thread, 'page');
  const meanwhile = blocked.ticks.filter((t) => t > blocked.work.startedAt && t < blocked.work.endedAt);
  console.log(`page: embedding took ${(blocked.work.endedAt - blocked.work.startedAt).toFixed(0)} ms; `
    + `${meanwhile.length} timer tasks ran meanwhile`);
  assert.equal(meanwhile.length, 0);
  // On the page's thread nothing is warmed up (it would hold the page up).
  assert.equal((await local.page.evaluate(() => window.deepShopping.info())).warmUpMs, null);
  assert.deepEqual(local.errors, []);
});

/** Searches a `w` x `h` JPEG drawn in the page (a gradient); returns `info()` after it. */
function searchDrawn(page, w, h) {
  return page.evaluate(async ([w, h]) => {
    const canvas = new OffscreenCanvas(w, h);
    const g = canvas.getContext('2d');
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, '#a33');
    grad.addColorStop(1, '#33a');
    g.fillStyle = grad;
    g.fillRect(0, 0, w, h);
    await window.deepShopping.search(await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.8 }), { top: 5 });
    return window.deepShopping.info();
  }, [w, h]);
}

test('a large photo\'s memory is given back: the worker that decoded it is replaced by a fresh one', { timeout: 300_000 }, async () => {
  const { page, errors } = await openPage(browser, server.url);
  const MiB = 2 ** 20;
  const photo = await photoBase64(rows[0].id);
  await searchWatchingMainThread(page, photo);
  const normal = (await page.evaluate(() => window.deepShopping.info())).lastWork.memoryBytes;
  // A 12-megapixel phone photo stays under the 96 MiB the worker may keep.
  const phone = await searchDrawn(page, 4032, 3024);
  // 36 megapixels (108 MB decoded, near the 40-megapixel limit): over it.
  const large = await searchDrawn(page, 6000, 6000);
  console.log(`worker memory after a photo: dataset ${(normal / MiB).toFixed(0)} MiB, 12 MP ${(phone.lastWork.memoryBytes / MiB).toFixed(0)} MiB, `
    + `36 MP ${(large.lastWork.memoryBytes / MiB).toFixed(0)} MiB`);
  assert.ok(phone.lastWork.memoryBytes < 96 * MiB);
  assert.equal(phone.workerRestarts, 0);
  assert.ok(large.lastWork.memoryBytes > 96 * MiB && large.lastWork.memoryBytes < 256 * MiB);
  // The fresh worker starts in the background; the next search runs in it, with the memory
  // of a fresh start, and finds the same photo first.
  await page.waitForFunction(() => window.deepShopping.info().workerRestarts === 1, null, { timeout: 60_000 });
  // The fresh worker warms up before the next photo comes.
  await page.waitForFunction(() => window.deepShopping.info().warmUpMs > 0, null, { timeout: 60_000 });
  const again = await searchWatchingMainThread(page, photo);
  assert.equal(again.first, rows[0].id);
  assert.equal(again.work.thread, 'worker');
  assert.ok(again.work.memoryBytes <= normal + 8 * MiB, `${again.work.memoryBytes} after the restart, ${normal} before`);
  assert.deepEqual(errors, []);
});
