// End-to-end tests of results a shopper can act on (CPU backend): every card is a link to its
// product page (Enter and middle-click work, `link-target` sets where it opens), prices are
// written by Intl.NumberFormat in the page's language and the item's currency, a sale shows
// the regular price struck out, `deepshopping:select` fires before the navigation and can
// cancel it, and items out of stock are left out unless `show-out-of-stock` asks for them.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DIST, DATASET, serve, launch, openPage, catalogueRows, cardIds, lastTimings, waitForNewResults, upload } from './harness.mjs';

let rows;

/** A storefront page in `lang` with the widget and `attrs`. */
function storefront(lang, attrs = '') {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Shop</title></head><body>
<script type="module" src="/widget.js"></script>
<deep-shopping-search results="60" ${attrs}></deep-shopping-search></body></html>`;
}

/** The cards shown: id, link, target, price text and whether it reads as a sale. */
function cards(page) {
  return page.$$eval('#results li.card', (els) => els.map((li) => {
    const a = li.querySelector('a.product');
    return {
      id: li.dataset.id,
      href: a?.href ?? null,
      target: a?.getAttribute('target') ?? null,
      price: li.querySelector('.price')?.textContent ?? null,
      sale: li.querySelector('.price ins')?.textContent ?? null,
      was: li.querySelector('.price del')?.textContent ?? null,
      brand: li.querySelector('.brand')?.textContent ?? null,
    };
  }));
}

before(async () => {
  rows = await catalogueRows();
});

test('cards link to product pages; prices follow the page language; sales and stock', { timeout: 300_000 }, async () => {
  const server = await serve(DIST, '/', {
    pages: {
      '/en.html': storefront('en-US'),
      '/de.html': storefront('de-DE', 'link-target="_blank"'),
      '/all.html': storefront('en-US', 'show-out-of-stock'),
    },
  });
  const browser = await launch({ webgpu: false });
  try {
    const csv = (await import('node:fs')).readFileSync(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8')
      .trim().split('\n').slice(1).map((l) => l.split(','));
    const byId = Object.fromEntries(csv.map((c) => [c[0], { price: c[4], sale: c[5], stock: c[6], brand: c[7] }]));
    const outOfStock = csv.filter((c) => c[6] === 'out_of_stock').map((c) => c[0]);
    assert.ok(outOfStock.length >= 5);

    for (const [path, lang] of [['/en.html', 'en-US'], ['/de.html', 'de-DE']]) {
      const { page, errors } = await openPage(browser, `${server.origin}${path}`);
      await upload(page, rows[0].id);
      const shown = await cards(page);
      // Out of stock items are left out; everything else is shown (60 per page).
      assert.equal(shown.length, rows.length - outOfStock.length);
      assert.ok(shown.every((c) => !outOfStock.includes(c.id)));
      for (const c of shown) {
        assert.equal(c.href, `${server.origin}/product.html?id=${c.id}`);
        assert.equal(c.target, lang === 'de-DE' ? '_blank' : null);
        assert.equal(c.brand, byId[c.id].brand);
        const amount = (text) => Number(text.split(' ')[0]);
        const want = await page.evaluate(([l, a]) => new Intl.NumberFormat(l, { style: 'currency', currency: 'EUR' }).format(a), [lang, amount(byId[c.id].sale || byId[c.id].price)]);
        if (byId[c.id].sale) {
          assert.equal(c.sale, want, `${c.id} sale price`);
          const was = await page.evaluate(([l, a]) => new Intl.NumberFormat(l, { style: 'currency', currency: 'EUR' }).format(a), [lang, amount(byId[c.id].price)]);
          assert.equal(c.was, was);
        } else {
          assert.equal(c.price, want, `${c.id} price`);
          assert.equal(c.sale, null);
        }
      }
      // The two languages write the same price differently (26.90 EUR: "€26.90", "26,90 €").
      assert.ok(shown.some((c) => (lang === 'de-DE' ? /\d,\d\d\s€/ : /€\d+\.\d\d/).test(c.price)), lang);
      assert.ok(shown.some((c) => c.was !== null), 'some cards show a sale');
      assert.deepEqual(errors, []);
      await page.close();
    }

    // show-out-of-stock shows them all.
    const { page } = await openPage(browser, `${server.origin}/all.html`);
    await upload(page, rows[0].id);
    assert.equal((await cardIds(page)).length, rows.length);
    await page.close();
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a card opens its page with Enter and a middle click; deepshopping:select fires first and can keep the shopper on the page', { timeout: 300_000 }, async () => {
  const server = await serve(DIST, '/', { pages: { '/shop.html': storefront('en-US') } });
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const { page } = await openPage(context, `${server.origin}/shop.html`);
    await upload(page, rows[1].id);
    await page.evaluate(() => {
      window.selected = [];
      window.addEventListener('deepshopping:select', (e) => window.selected.push(e.detail));
    });
    const first = (await cardIds(page))[0];
    const info = await page.evaluate(() => window.deepShopping.info());

    // A middle click opens the product page in a new tab, and tells the store.
    const [tab] = await Promise.all([
      context.waitForEvent('page'),
      page.click(`#results li.card[data-id="${first}"] a.product`, { button: 'middle' }),
    ]);
    await tab.waitForLoadState();
    assert.equal(tab.url(), `${server.origin}/product.html?id=${first}`);
    await tab.close();
    let selected = await page.evaluate(() => window.selected);
    assert.equal(selected.length, 1);
    assert.equal(selected[0].id, first);
    assert.equal(selected[0].rank, 1);
    assert.ok(selected[0].match > 0 && selected[0].match <= 1);
    assert.ok(Number.isInteger(selected[0].queryId) && selected[0].queryId >= 1);
    assert.equal(info.photos, 1);

    // A store that cancels the event keeps the shopper here (a single-page storefront).
    await page.evaluate(() => window.addEventListener('deepshopping:select', (e) => e.preventDefault(), { once: true }));
    const url = page.url();
    await page.click(`#results li.card[data-id="${first}"] a.product`);
    await page.waitForTimeout(500);
    assert.equal(page.url(), url);
    selected = await page.evaluate(() => window.selected);
    assert.equal(selected.length, 2);

    // Enter on the focused link follows it.
    await page.focus(`#results li.card[data-id="${first}"] a.product`);
    await Promise.all([page.waitForURL(`${server.origin}/product.html?id=${first}`), page.keyboard.press('Enter')]);
    assert.equal(await page.textContent('h1'), 'Product page');
  } finally {
    await browser.close();
    await server.close();
  }
});
