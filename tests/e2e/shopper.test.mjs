// End-to-end tests of the shopper controls on the demo page (CPU backend): colour weight,
// filters, more results, likes and dislikes that re-rank and survive a reload, feedback
// reset and export, results events, a photo dropped while the page is still loading, and
// screenshots at 360 px and 1280 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ROOT, DATASET, serve, launch, openPage, waitReady, catalogueRows, photoBase64, callWithPhoto,
  cardIds, lastTimings, waitForNewResults, upload, holdBack, openFilters } from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
let server;
let browser;
let rows;

before(async () => {
  server = await serve();
  rows = await catalogueRows();
  browser = await launch({ webgpu: false });
  await mkdir(SHOTS, { recursive: true });
});
after(async () => {
  await browser.close();
  await server.close();
});

test('colour weight, filters and more results re-rank instantly', { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, errors } = await openPage(context, server.url);
  await upload(page, rows[0].id);
  const looks = await cardIds(page);
  assert.equal(looks.length, 12);
  assert.equal(looks[0], rows[0].id);
  assert.ok(!(await page.isHidden('#more')));
  assert.ok((await page.textContent('#results li.card .reason')).length > 0);

  // Chips: the predicted category and the photo's own colours, each a one-tap filter; a
  // second tap clears it.
  assert.match(await page.textContent('#prediction'), /^Looks like: \w/);
  for (const row of ['category', 'colour']) {
    const chip = `#${row}-chips button.chip[data-value]:not([data-value=""])`;
    assert.ok((await page.$$(chip)).length >= 1, `no ${row} chip`);
    const value = await page.getAttribute(chip, 'data-value');
    await page.click(chip);
    const pressed = `#${row}-chips button.chip[data-value="${value}"]`;
    assert.equal(await page.getAttribute(pressed, 'aria-pressed'), 'true');
    assert.equal(await page.inputValue(`#filter-${row}`), value);
    const cards = await page.$$eval('#results li.card', (els) => els.map((e) => e.textContent));
    assert.ok(cards.length > 0);
    if (row === 'category') for (const c of cards) assert.ok(c.includes(value), `${c} is not ${value}`);
    await page.click(pressed);
    assert.equal(await page.getAttribute(pressed, 'aria-pressed'), 'false');
    assert.deepEqual(await cardIds(page), looks);
  }

  // The rest is in the drawer.
  assert.ok(await page.isHidden('#drawer'));
  await page.click('#filters-open');
  assert.ok(await page.isVisible('#drawer'));

  // Colour only: a different order, computed without a new embedding.
  const embeds = await page.evaluate(() => window.deepShopping.info().lastTimings.embedMs);
  await page.fill('#colour-weight', '1');
  await page.dispatchEvent('#colour-weight', 'input');
  const byColour = await cardIds(page);
  assert.notDeepEqual(byColour, looks);
  assert.equal(await page.evaluate(() => window.deepShopping.info().lastTimings.embedMs), embeds);
  await page.fill('#colour-weight', '0.3');
  await page.dispatchEvent('#colour-weight', 'input');

  // Category filter: every card has the chosen category.
  const category = rows[0].category;
  await page.selectOption('#filter-category', category);
  const filtered = await page.$$eval('#results li.card .meta', (els) => els.map((e) => e.textContent));
  assert.ok(filtered.length > 0);
  for (const meta of filtered) assert.ok(meta.startsWith(category), meta);
  await page.selectOption('#filter-category', '');

  // Colour filter: every card carries that colour chip.
  const colour = (await page.$$eval('#filter-colour option', (os) => os.map((o) => o.value)))[1];
  await page.selectOption('#filter-colour', colour);
  const chips = await page.$$eval('#results li.card', (els) => els.map((e) => [...e.querySelectorAll('.chip')].map((c) => c.textContent)));
  assert.ok(chips.length > 0);
  for (const c of chips) assert.ok(c.includes(colour), `${c} lacks ${colour}`);
  await page.selectOption('#filter-colour', '');

  // Price filter: every card shown costs at most the maximum (its sale price where it has
  // one), and fewer cards are shown; a range no price falls in leaves nothing.
  const unfiltered = (await cardIds(page)).length;
  const prices = (els) => els.map((e) => Number(e.querySelector('.price ins, .price').textContent.replace(/[^0-9.]/g, '')));
  await page.fill('#price-max', '40');
  await page.dispatchEvent('#price-max', 'input');
  const cheap = await page.$$eval('#results li.card', prices);
  assert.ok(cheap.length > 0 && cheap.every((p) => p <= 40), `${cheap}`);
  assert.equal(await page.textContent('#filters-open'), 'Filters (1 on)');
  await page.fill('#price-min', '1000');
  await page.dispatchEvent('#price-min', 'input');
  assert.equal((await cardIds(page)).length, 0);
  // Nothing left: the widget says what to change, and "Clear filters" brings the results back.
  assert.ok(await page.isVisible('#empty'));
  assert.equal(await page.getAttribute('.ds', 'data-state'), 'empty');
  assert.equal(await page.textContent('#status'), 'No products match these filters.');
  await page.click('#empty-clear');
  assert.equal(await page.inputValue('#price-min'), '');
  assert.equal(await page.inputValue('#price-max'), '');
  assert.ok(await page.isHidden('#empty'));
  assert.equal((await cardIds(page)).length, unfiltered);
  assert.match(await page.textContent('#status'), /^Ready: /);

  // A crop (through the API) searches only that part of the photo.
  const photo = await photoBase64(rows[0].id);
  const whole = (await callWithPhoto(page, 'search', photo, { top: 12 })).map((r) => r.id);
  const corner = (await callWithPhoto(page, 'search', photo, { top: 12, crop: { x: 0, y: 0, width: 0.4, height: 0.4 } })).map((r) => r.id);
  assert.notDeepEqual(corner, whole);
  const badCrop = await page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    try { await window.deepShopping.search(new Blob([bytes]), { crop: { x: 0.8, y: 0, width: 0.5, height: 0.5 } }); return 'no error'; }
    catch (e) { return String(e.message ?? e); }
  }, photo);
  assert.match(badCrop, /crop box/);
  await upload(page, rows[0].id);

  // More results on demand.
  await page.click('#more');
  assert.equal((await cardIds(page)).length, 24);
  await page.screenshot({ path: join(SHOTS, 'page-1280.png'), fullPage: false });
  assert.deepEqual(errors, []);
  await context.close();
});

test('likes and dislikes re-rank at once, persist across reloads, reset and export', { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 780 }, acceptDownloads: true });
  const { page, errors } = await openPage(context, server.url);
  await page.evaluate(() => {
    window.resultEvents = 0;
    window.addEventListener('deepshopping:results', () => { window.resultEvents += 1; });
  });
  await upload(page, rows[1].id);
  const start = await cardIds(page);
  const liked = start[5];
  const disliked = start[1];

  await page.click(`#results li.card[data-id="${liked}"] button.like`);
  const afterLike = await cardIds(page);
  assert.ok(afterLike.indexOf(liked) < 5, `liked item moved from 5 to ${afterLike.indexOf(liked)}`);
  assert.equal(await page.getAttribute(`#results li.card[data-id="${liked}"] button.like`, 'aria-pressed'), 'true');

  await page.click(`#results li.card[data-id="${disliked}"] button.dislike`);
  assert.ok(!(await cardIds(page)).includes(disliked), 'a disliked item leaves the results');
  assert.ok(await page.evaluate(() => window.resultEvents) >= 3);
  await page.screenshot({ path: join(SHOTS, 'page-360.png'), fullPage: true });

  // Export: the documented JSON format, also as a downloaded file.
  const exported = await page.evaluate(() => window.deepShopping.exportFeedback());
  assert.equal(exported.format, 'deep-shopping-feedback/1');
  assert.deepEqual(exported.liked, [liked]);
  assert.deepEqual(exported.disliked, [disliked]);
  await openFilters(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-feedback')]);
  const file = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.deepEqual(file, exported);

  // A reload keeps the feedback: the same search gives the same re-ranked results.
  await page.reload();
  await waitReady(page);
  await upload(page, rows[1].id);
  assert.deepEqual(await cardIds(page), await cardIds(page));
  const reloaded = await cardIds(page);
  assert.ok(!reloaded.includes(disliked));
  assert.equal(await page.getAttribute(`#results li.card[data-id="${liked}"] button.like`, 'aria-pressed'), 'true');

  // Reset brings the original ranking back, and survives a reload too.
  await openFilters(page);
  await page.click('#reset-feedback');
  assert.deepEqual(await cardIds(page), start);
  await page.reload();
  await waitReady(page);
  assert.deepEqual((await page.evaluate(() => window.deepShopping.exportFeedback())).liked, []);

  // The API refuses bad votes clearly.
  const bad = await page.evaluate(() => {
    try { window.deepShopping.feedback('no-such-item', 1); return 'no error'; }
    catch (e) { return String(e.message ?? e); }
  });
  assert.match(bad, /no item/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('the page works from a sub-path, with several photos combined and "more like my likes"', { timeout: 300_000 }, async () => {
  const sub = await serve(undefined, '/shop/visual-search/');
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const { page, errors } = await openPage(context, sub.url);
    assert.ok(sub.requests.every((r) => r.startsWith('/shop/visual-search/')), sub.requests.join(' '));
    const [a, b] = [await photoBase64(rows[0].id), await photoBase64(rows[2].id)];
    const one = await callWithPhoto(page, 'search', a, { top: 5 });
    assert.equal(one[0].id, rows[0].id);
    assert.match(one[0].image, /\/shop\/visual-search\/catalogue\/images\//);

    // Two photos at once: results for their combination, unlike either photo alone; each
    // photo's own item scores lower against the mix than against itself.
    const alone = (await callWithPhoto(page, 'search', b, { top: 60, colourWeight: 0 }));
    const selfA = (await callWithPhoto(page, 'search', a, { top: 60, colourWeight: 0 }));
    const both = await page.evaluate(async ([a, b]) => {
      const blob = (s) => new Blob([Uint8Array.from(atob(s), (c) => c.charCodeAt(0))]);
      return window.deepShopping.search([blob(a), blob(b)], { top: 60, colourWeight: 0 });
    }, [a, b]);
    assert.equal(await page.evaluate(() => window.deepShopping.info().photos), 2);
    const ids = (rs) => rs.slice(0, 5).map((r) => r.id);
    assert.notDeepEqual(ids(both), ids(alone));
    assert.notDeepEqual(ids(both), ids(selfA));
    const score = (rs, id) => rs.find((r) => r.id === id).score;
    assert.ok(score(both, rows[0].id) < score(selfA, rows[0].id));
    assert.ok(score(both, rows[2].id) < score(alone, rows[2].id));
    // And the mix is closer to A's item than photo B alone is, and to B's than A alone is.
    assert.ok(score(both, rows[0].id) > score(alone, rows[0].id));
    assert.ok(score(both, rows[2].id) > score(selfA, rows[2].id));
    // Adding a photo to the current search: the same combination.
    await callWithPhoto(page, 'search', a, { top: 5, colourWeight: 0 });
    const added = (await callWithPhoto(page, 'addPhoto', b, { top: 60, colourWeight: 0 })).map((r) => r.id);
    assert.deepEqual(added, both.map((r) => r.id));

    // "More like my likes": liked items lead the results.
    await page.evaluate((id) => window.deepShopping.feedback(id, 1), rows[3].id);
    const likes = await page.evaluate(() => window.deepShopping.moreLikeLiked({ top: 3 }));
    assert.equal(likes[0].id, rows[3].id);

    // A photo dropped on the page is searched, and so is a pasted one.
    const deliver = (b64, kind) => page.evaluate(async ([b64, kind]) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], `${kind}.jpg`, { type: 'image/jpeg' }));
      const done = new Promise((ok) => window.addEventListener('deepshopping:results', (e) => ok(e.detail), { once: true }));
      const event = kind === 'drop'
        ? new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true })
        : new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true });
      (kind === 'drop' ? document.body : document).dispatchEvent(event);
      return done;
    }, [b64, kind]);
    const dropped = await deliver(b, 'drop');
    assert.equal(dropped[0].id, rows[2].id);
    const pasted = await deliver(a, 'paste');
    assert.equal(pasted[0].id, rows[0].id);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await sub.close();
  }
});

test('a photo dropped while the page is still loading is searched once it is ready, and the page stays', { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    // Hold back the weights and the index data (a fresh context has neither cached) until the
    // photo has been dropped.
    const release = await holdBack(page, '**/*.safetensors');
    await page.goto(server.url);
    await page.waitForFunction(() => window.deepShopping !== undefined, null, { timeout: 120_000 });
    const url = page.url();
    const b64 = await photoBase64(rows[4].id);
    await page.evaluate((b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'early.jpg', { type: 'image/jpeg' }));
      window.earlyResults = new Promise((ok) => window.addEventListener('deepshopping:results', (e) => ok(e.detail), { once: true }));
      const drop = new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true });
      window.dropKept = !document.body.dispatchEvent(drop);
    }, b64);
    // The drop was taken (default prevented: the browser does not open the photo) and kept.
    assert.equal(await page.evaluate(() => window.dropKept), true);
    await page.waitForSelector('#status:text("searched as soon as the search is ready")');
    // Still loading: info() refuses until ready() settles.
    assert.equal(await page.evaluate(() => window.deepShopping.info().items).catch(() => 'loading'), 'loading');
    release();
    await waitReady(page);
    const results = await page.evaluate(() => window.earlyResults);
    assert.equal(results[0].id, rows[4].id);
    assert.equal(page.url(), url);
    await page.waitForSelector('#results li.card');
    assert.match(await page.textContent('#status'), /^Ready: /);
  } finally {
    await context.close();
  }
});
