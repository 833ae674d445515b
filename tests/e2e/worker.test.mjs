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
  await searchWatchingMainThread(page, photo); // warm-up

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
  assert.deepEqual(local.errors, []);
});
