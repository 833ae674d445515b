// End-to-end tests of the trunk-built page in headless Chromium: loading, the CPU fallback,
// real photos ranked through window.deepShopping and the upload control, and WebGPU giving
// the same embedding as the CPU backend.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, DATASET, serve, launch, openPage, photoBase64, callWithPhoto, catalogueRows,
  lastTimings, waitForNewResults,
} from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
let server;
let rows;

before(async () => {
  server = await serve();
  rows = await catalogueRows();
  await mkdir(SHOTS, { recursive: true });
});
after(() => server.close());

test('without WebGPU the page falls back to the CPU and ranks real photos', { timeout: 600_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, server.url);
    assert.equal(await page.evaluate(() => window.deepShopping.backend()), 'cpu');
    const info = await page.evaluate(() => window.deepShopping.info());
    assert.match(info.fallbackReason, /no WebGPU adapter/);
    assert.equal(info.items, rows.length);
    // Developer text stays out of the shopper's sight without the `debug` attribute.
    await page.waitForSelector('#backend:text("CPU")', { state: 'attached' });
    assert.equal(await page.isVisible('#backend'), false);

    // A catalogue photo returns itself first, with scores in descending order.
    for (const row of rows.slice(0, 3)) {
      const results = await callWithPhoto(page, 'search', await photoBase64(row.id), { top: 5, colourWeight: 0.3 });
      assert.equal(results.length, 5);
      assert.equal(results[0].id, row.id);
      assert.equal(results[0].category, row.category);
      assert.ok(results[0].score > 0.95, `self score ${results[0].score}`);
      for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score);
      for (const r of results) assert.match(r.image, /^http:\/\/127\.0\.0\.1:\d+\/catalogue\/images\//);
      // The look adds category agreement (default weight 1); categoryWeight 0 leaves the embedding alone.
      for (const r of results) {
        assert.ok(r.categoryMatch > 0 && r.categoryMatch <= 1, `categoryMatch ${r.categoryMatch}`);
        const want = 0.7 * (r.visual + r.categoryMatch) + 0.3 * r.colour;
        assert.ok(Math.abs(r.score - want) < 1e-4, `score ${r.score} vs ${want}`);
        // The match is the score over the best any item could reach for this photo: 0..1,
        // the same factor for every result of one search.
        assert.ok(r.match >= 0 && r.match <= 1, `match ${r.match}`);
        assert.ok(Math.abs(r.match / r.score - results[0].match / results[0].score) < 1e-4);
      }
      assert.ok(results[0].match > 0.8, `self match ${results[0].match}`);
      const plain = await callWithPhoto(page, 'search', await photoBase64(row.id), { top: 5, colourWeight: 0.3, categoryWeight: 0 });
      for (const r of plain) assert.ok(Math.abs(r.score - (0.7 * r.visual + 0.3 * r.colour)) < 1e-4);
    }

    // A photo that is not in the catalogue still gets ranked results.
    const outside = rows.length + 5;
    const csvStem = (await import('node:fs')).readFileSync(join(DATASET, 'images.csv'), 'utf8')
      .trim().split('\n')[outside].split(',')[0];
    const others = await callWithPhoto(page, 'search', await photoBase64(csvStem), { top: 3 });
    assert.equal(others.length, 3);
    assert.ok(!rows.slice(0, 3).some((r) => r.id === csvStem));

    // Bad input is a clear error, not a hang.
    const bad = await page.evaluate(async () => {
      try { await window.deepShopping.search(new Blob([new Uint8Array([1, 2, 3])]), {}); return 'no error'; }
      catch (e) { return String(e.message ?? e); }
    });
    assert.match(bad, /cannot read image/);

    // The upload control shows cards with images, titles and timings.
    const before = await lastTimings(page);
    await page.setInputFiles('#photo', join(DATASET, 'images', `${rows[1].id}.jpg`));
    await waitForNewResults(page, before);
    const cards = await page.$$eval('#results li.card', (els) => els.map((e) => e.querySelector('h3').textContent));
    assert.equal(cards[0], rows[1].title);
    // Each card shows its match as a percentage of at most 100.
    const matches = await page.$$eval('#results li.card p.meta', (els) => els.map((e) => e.textContent));
    for (const m of matches) {
      const pct = Number(m.match(/(\d+)% match$/)?.[1]);
      assert.ok(pct >= 0 && pct <= 100, m);
    }
    assert.match(await page.textContent('#timings'), /embed \d+ ms/);
    // The category head: shown on the page and through classify() when the model is trained,
    // refused with a clear error when it is not.
    const photo = await photoBase64(rows[1].id);
    if (info.trained) {
      const top = await callWithPhoto(page, 'classify', photo);
      assert.equal(top.length, 3);
      assert.ok(top[0].score >= top[1].score && top[1].score >= top[2].score);
      assert.match(await page.textContent('#prediction'), new RegExp(`Looks like: ${top[0].label} \\(\\d+% confident`));
      assert.equal(await page.isHidden('#untrained'), true);
    } else {
      const refused = await page.evaluate(async (b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        try { await window.deepShopping.classify(new Blob([bytes])); return 'no error'; }
        catch (e) { return String(e.message ?? e); }
      }, photo);
      assert.match(refused, /untrained/);
      assert.equal(await page.isVisible('#untrained'), true);
    }
    await page.screenshot({ path: join(SHOTS, 'cpu-results.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('WebGPU and the CPU backend give the same embedding', { timeout: 900_000 }, async () => {
  const browser = await launch({ webgpu: true });
  try {
    const photo = await photoBase64(rows[0].id);
    const gpu = await openPage(browser, server.url);
    assert.equal(await gpu.page.evaluate(() => window.deepShopping.backend()), 'webgpu');
    const onGpu = await callWithPhoto(gpu.page, 'embed', photo);
    const results = await callWithPhoto(gpu.page, 'search', photo, { top: 3 });
    assert.equal(results[0].id, rows[0].id);
    await gpu.page.screenshot({ path: join(SHOTS, 'webgpu-loaded.png') });

    const cpu = await openPage(browser, `${server.url}?backend=cpu`);
    assert.equal(await cpu.page.evaluate(() => window.deepShopping.backend()), 'cpu');
    const onCpu = await callWithPhoto(cpu.page, 'embed', photo);

    // Stated tolerance: every component within 1e-3, cosine above 0.9999.
    assert.equal(onGpu.embedding.length, onCpu.embedding.length);
    let dot = 0;
    let maxDiff = 0;
    onGpu.embedding.forEach((g, i) => {
      dot += g * onCpu.embedding[i];
      maxDiff = Math.max(maxDiff, Math.abs(g - onCpu.embedding[i]));
    });
    console.log(`webgpu vs cpu: max |diff| ${maxDiff.toExponential(2)}, cosine ${dot.toFixed(6)}`);
    assert.ok(maxDiff < 1e-3, `max difference ${maxDiff}`);
    assert.ok(dot > 0.9999, `cosine ${dot}`);
    onGpu.probabilities.forEach((p, i) => assert.ok(Math.abs(p - onCpu.probabilities[i]) < 1e-3));
    assert.deepEqual(gpu.errors, []);
    assert.deepEqual(cpu.errors, []);
  } finally {
    await browser.close();
  }
});

test('a reload downloads neither the weights nor the index again (Cache API)', { timeout: 300_000 }, async () => {
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    const { page, errors } = await openPage(context, server.url);
    const big = (r) => r.endsWith('.safetensors');
    const first = server.requests.filter(big).length;
    assert.ok(first >= 2, `first load fetched ${first} large files`);
    await page.reload();
    await page.waitForFunction(() => window.deepShopping !== undefined);
    await page.evaluate(() => window.deepShopping.ready());
    assert.equal(server.requests.filter(big).length, first, 'the reload fetched a large file again');
    const cached = await page.evaluate(async () => (await (await caches.open('deep-shopping-assets')).keys()).map((r) => r.url));
    assert.equal(cached.length, 2);
    assert.ok(cached.every((u) => /\.safetensors\?sha256=[0-9a-f]{64}$/.test(u)), cached.join(' '));
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
