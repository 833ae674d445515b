// End-to-end tests of a partitioned catalogue (index.json version 4, issue 23) read by the
// page in part with Range requests on loopback (CPU backend): results equal the whole index's
// when every cell is probed; the requests made are the design's (the manifest and top file at
// load, then per query one merged range for the probed cells, the candidates' records and the
// shown items' metadata; cells kept once read), counted by the server; a manifest republished
// mid-session does not mix generations; a damaged or missing file gives a clear message and
// the rest still works; a synthetic 100k-item catalogue is read in three rounds of a few
// requests and finds what the CLI's reader of the same files finds, and so it does from a host
// without range requests, through its part files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, DIST, DATASET, serve, launch, openPage, photoBase64, callWithPhoto, catalogueRows,
  cardIds, lastTimings, IGNORE_CERTIFICATE_ERRORS,
} from './harness.mjs';

const SHOTS = join(ROOT, 'test-output');
const BIN = process.env.DS_BIN ?? join(homedir(), '.cache/deep-shopping/native/release/deep-shopping');
let rows;
let tmp;

/** Publishes dist/catalogue partitioned into `cells` cells in `out` (the CLI's `partition`). */
function partition(out, cells) {
  execFileSync(BIN, ['partition', '--index', join(DIST, 'catalogue'), '--out', out, '--cells', String(cells)], { stdio: 'pipe' });
}

/** Runs the CLI's `search --json` on dataset photos `ids`; one result list per photo. */
function cliSearch(index, ids, extra = []) {
  const out = execFileSync(BIN, ['search', '--index', index, '--json', '--top', '10', ...extra,
    ...ids.map((id) => join(DATASET, 'images', `${id}.jpg`))], { cwd: ROOT, maxBuffer: 1 << 26 });
  return out.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** A storefront page whose widget reads the index at `index` with `attrs`. */
function storefront(index, attrs = '') {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>Shop</title></head><body>
<script type="module" src="/widget.js"></script>
<deep-shopping-search index-url="${index}" ${attrs}></deep-shopping-search></body></html>`;
}

/** The manifest of the partitioned index in `dir`. */
async function manifest(dir) {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
}

/** Where each cell's codes begin (in codes), from the top file's `starts` (safetensors). */
async function cellStarts(dir, m) {
  const top = await readFile(join(dir, m.top.file));
  const headerLen = Number(top.readBigUInt64LE(0));
  const header = JSON.parse(top.subarray(8, 8 + headerLen).toString('utf8'));
  const [a, b] = header.starts.data_offsets;
  const data = top.subarray(8 + headerLen + a, 8 + headerLen + b);
  return Array.from({ length: data.length / 4 }, (_, i) => data.readUInt32LE(i * 4));
}

/** The requests under `prefix` since `mark` (an index into `server.ranges`). */
function since(server, mark, prefix) {
  return server.ranges.slice(mark).filter((r) => r.path.startsWith(prefix));
}

/** Runs `deepShopping.search` on a dataset photo; resolves to { results } or { error }. */
function trySearch(page, b64, options) {
  return page.evaluate(async ([b64, options]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    try {
      return { results: await window.deepShopping.search(new Blob([bytes], { type: 'image/jpeg' }), options) };
    } catch (e) {
      return { error: String(e?.message ?? e) };
    }
  }, [b64, options]);
}

const info = (page) => page.evaluate(() => window.deepShopping.info());

before(async () => {
  rows = await catalogueRows();
  tmp = await mkdtemp(join(tmpdir(), 'ds-partitioned-'));
  await mkdir(SHOTS, { recursive: true });
});
after(() => rm(tmp, { recursive: true, force: true }));

test('a partitioned catalogue read by range finds what the whole index finds, with the requests the design says, one generation', { timeout: 600_000 }, async () => {
  const dir = join(tmp, 'p');
  partition(dir, 4);
  const first = await manifest(dir);
  assert.equal(first.format_version, 4);
  assert.equal(first.cells, 4);
  const server = await serve(DIST, '/', {
    mounts: { '/p/': dir },
    pages: { '/shop.html': storefront('/p/index.json') },
  });
  const browser = await launch({ webgpu: false });
  try {
    // The truth: the whole index's results on the bundled page.
    const whole = (await openPage(browser, server.url)).page;
    const queries = rows.slice(0, 3);
    const expected = [];
    for (const row of queries) expected.push(await callWithPhoto(whole, 'search', await photoBase64(row.id), { top: 8 }));
    await whole.close();

    const mark = server.ranges.length;
    const { page, errors } = await openPage(browser, `${server.origin}/shop.html`);
    let i0 = await info(page);
    assert.equal(i0.items, rows.length);
    assert.equal(i0.partitioned.queries, 0);
    // Loading reads the manifest and the top file, whole, and nothing else of the index.
    assert.deepEqual(
      since(server, mark, '/p/').map((r) => [r.path, r.range]),
      [['/p/index.json', null], [`/p/${first.top.file}`, null]],
    );

    const data = [first.lists.file, first.records.file, first.items.file].map((f) => `/p/${f}`);
    for (const [q, row] of queries.entries()) {
      const before = server.ranges.length;
      const results = await callWithPhoto(page, 'search', await photoBase64(row.id), { top: 8 });
      // Every cell probed (64 > 4) and every item a candidate (200 > 60): exact search.
      assert.deepEqual(results.map((r) => r.id), expected[q].map((r) => r.id));
      for (const [k, r] of results.entries()) {
        assert.ok(Math.abs(r.score - expected[q][k].score) < 1e-4, `${r.id}: ${r.score} vs ${expected[q][k].score}`);
        assert.match(r.image, /\/p\/images\//);
      }
      const read = since(server, before, '/p/').filter((r) => data.includes(r.path));
      const i = await info(page);
      // Three rounds after the embedding (cells, records, metadata); two once the cells are kept.
      assert.equal(i.partitioned.lastRounds, q === 0 ? 3 : 2, JSON.stringify(i.partitioned));
      // The server saw what the page says it read, every request a range.
      assert.equal(read.length, i.partitioned.lastRequests);
      assert.ok(read.every((r) => /^bytes=\d+-\d+$/.test(r.range)), JSON.stringify(read));
      const lists = read.filter((r) => r.path === data[0]).length;
      if (q === 0) {
        // The four cells lie next to each other: one range.
        assert.equal(lists, 1);
        assert.equal(i.partitioned.lastCachedCells, 0);
      } else {
        // Cells read once are kept.
        assert.equal(lists, 0);
        assert.equal(i.partitioned.lastCachedCells, 4);
      }
      assert.ok(read.filter((r) => r.path === data[1]).length >= 1);
      assert.ok(read.filter((r) => r.path === data[2]).length >= 1);
      // Nothing else of the index is read during a query (thumbnails aside).
      assert.deepEqual(
        since(server, before, '/p/').filter((r) => !data.includes(r.path) && !r.path.startsWith('/p/images/')),
        [],
      );
    }

    // The widget shows the results of an uploaded photo.
    await page.setInputFiles('#photo', join(DATASET, 'images', `${rows[0].id}.jpg`));
    await page.waitForFunction(() => /^Ready: the closest matches/.test(
      document.querySelector('deep-shopping-search').shadowRoot.querySelector('#status').textContent), null, { timeout: 120_000 });
    assert.equal((await cardIds(page))[0], rows[0].id);
    assert.match(await page.textContent('#status'), new RegExp(`among ${rows.length} products`));
    await page.screenshot({ path: join(SHOTS, 'partitioned-results.png'), fullPage: true });

    // The index is republished (3 cells now) while the page is open: the page keeps reading
    // the generation it started with, whose files the publication keeps.
    partition(dir, 3);
    const second = await manifest(dir);
    assert.notEqual(second.lists.file, first.lists.file);
    const before = server.ranges.length;
    const again = await callWithPhoto(page, 'search', await photoBase64(queries[1].id), { top: 8 });
    assert.deepEqual(again.map((r) => r.id), expected[1].map((r) => r.id));
    const named = since(server, before, '/p/').map((r) => r.path).filter((p) => !p.startsWith('/p/images/'));
    assert.ok(named.length > 0);
    const newFiles = [second.top.file, second.lists.file, second.records.file, second.items.file, 'index.json'].map((f) => `/p/${f}`);
    assert.deepEqual(named.filter((p) => newFiles.includes(p)), [], 'no file of the new generation');
    assert.deepEqual(errors, []);

    // A reload starts on the new generation.
    const reloaded = server.ranges.length;
    await page.reload();
    await page.waitForFunction(() => window.deepShopping?.info, null, { timeout: 120_000 });
    await page.evaluate(() => window.deepShopping.ready());
    const fresh = await callWithPhoto(page, 'search', await photoBase64(queries[1].id), { top: 8 });
    assert.deepEqual(fresh.map((r) => r.id), expected[1].map((r) => r.id));
    const paths = since(server, reloaded, '/p/').map((r) => r.path);
    assert.ok(paths.includes(`/p/${second.top.file}`) && paths.includes(`/p/${second.lists.file}`), JSON.stringify(paths));
    assert.ok(!paths.includes(`/p/${first.lists.file}`));
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a damaged cell, a missing file or a host that hangs gives a clear message and the rest still works', { timeout: 600_000 }, async () => {
  const good = join(tmp, 'good');
  partition(good, 4);
  const m = await manifest(good);
  const bad = join(tmp, 'bad');
  const gone = join(tmp, 'gone');
  await cp(good, bad, { recursive: true });
  await cp(good, gone, { recursive: true });
  await rm(join(gone, m.records.file));
  const tamper = {};
  const server = await serve(DIST, '/', {
    tamper,
    mounts: { '/good/': good, '/bad/': bad, '/gone/': gone },
    pages: {
      '/good.html': storefront('/good/index.json', 'probe-cells="1"'),
      '/bad.html': storefront('/bad/index.json', 'probe-cells="1"'),
      '/gone.html': storefront('/gone/index.json'),
    },
  });
  const browser = await launch({ webgpu: false });
  try {
    // Probing one cell, find two photos whose nearest cells differ.
    const { page } = await openPage(browser, `${server.origin}/good.html`);
    const cellOf = new Map();
    for (const row of rows.slice(0, 20)) {
      await callWithPhoto(page, 'search', await photoBase64(row.id), { top: 3 });
      const cells = (await info(page)).partitioned.lastCells;
      assert.equal(cells.length, 1);
      cellOf.set(row.id, cells[0]);
    }
    const a = rows.find((r) => cellOf.has(r.id));
    const b = rows.find((r) => cellOf.has(r.id) && cellOf.get(r.id) !== cellOf.get(a.id));
    assert.ok(b, `20 photos all nearest to cell ${cellOf.get(a.id)}`);
    const goodA = await callWithPhoto(page, 'search', await photoBase64(a.id), { top: 5 });

    // A host that hangs: the query gives up after 15 s without an answer and says so, as does
    // a page whose manifest never comes; once the host answers, the query works.
    tamper.hang = new RegExp(`^/good/(${m.records.file}|index\\.json)$`);
    const fresh = await browser.newPage();
    await fresh.goto(`${server.origin}/good.html`);
    await fresh.waitForFunction(() => window.deepShopping !== undefined, null, { timeout: 120_000 });
    const [hung, unloaded] = await Promise.all([
      trySearch(page, await photoBase64(b.id), { top: 5 }),
      fresh.evaluate(() => window.deepShopping.ready().then(() => 'loaded', (e) => String(e?.message ?? e))),
    ]);
    assert.match(hung.error ?? '', new RegExp(`cannot read ${m.records.file}: the host did not answer for 15 s`), JSON.stringify(hung));
    assert.match(unloaded, /good\/index\.json: the host did not answer for 15 s/);
    tamper.hang = null;
    const goodB = await trySearch(page, await photoBase64(b.id), { top: 5 });
    assert.equal(goodB.results?.length, 5, JSON.stringify(goodB));
    await fresh.close();
    await page.close();

    // Damage one byte of b's cell.
    const starts = await cellStarts(bad, m);
    const cell = cellOf.get(b.id);
    const lists = await readFile(join(bad, m.lists.file));
    lists[starts[cell] * m.code_len] ^= 0xff;
    await writeFile(join(bad, m.lists.file), lists);

    const damaged = (await openPage(browser, `${server.origin}/bad.html`)).page;
    const okA = await trySearch(damaged, await photoBase64(a.id), { top: 5 });
    assert.deepEqual(okA.results?.map((r) => r.id), goodA.map((r) => r.id), JSON.stringify(okA));
    const failed = await trySearch(damaged, await photoBase64(b.id), { top: 5 });
    assert.match(failed.error ?? '', new RegExp(`checksum mismatch for ${m.lists.file} \\(cell ${cell}\\)`));
    // The rest still works, and the damaged cell was not kept.
    const stillA = await trySearch(damaged, await photoBase64(a.id), { top: 5 });
    assert.deepEqual(stillA.results?.map((r) => r.id), goodA.map((r) => r.id));
    assert.match((await trySearch(damaged, await photoBase64(b.id), { top: 5 })).error ?? '', /checksum mismatch/);
    // In the widget, the shopper is told in plain words.
    const timings = await lastTimings(damaged);
    await damaged.setInputFiles('#photo', join(DATASET, 'images', `${b.id}.jpg`));
    await damaged.waitForFunction(() => /Could not search/.test(
      document.querySelector('deep-shopping-search').shadowRoot.querySelector('#status').textContent), null, { timeout: 120_000 });
    assert.deepEqual(await lastTimings(damaged), timings);
    // The results of the photo before go: they are not this photo's.
    assert.deepEqual(await cardIds(damaged), []);
    await damaged.screenshot({ path: join(SHOTS, 'partitioned-damaged.png'), fullPage: true });

    // A file gone from the host (a page older than two publications) says to reload.
    const old = (await openPage(browser, `${server.origin}/gone.html`)).page;
    const missing = await trySearch(old, await photoBase64(a.id), { top: 5 });
    assert.match(missing.error ?? '', new RegExp(`cannot read ${m.records.file}: it is gone .*reload the page`));
  } finally {
    await browser.close();
    await server.close();
  }
});

test('from a host without ranges the parts are read, and an answer far longer than asked, or without end, is refused', { timeout: 600_000 }, async () => {
  const dir = join(tmp, 'plain');
  execFileSync(BIN, ['partition', '--index', join(DIST, 'catalogue'), '--out', dir, '--cells', '4', '--parts'], { stdio: 'pipe' });
  const m = await manifest(dir);
  assert.deepEqual(m.parts, { records: 8, item_bytes: 2048 });
  const [a, b] = [rows[0], rows[7]];
  const native = cliSearch(dir, [a.id, b.id]);
  const tamper = {};
  const server = await serve(DIST, '/', {
    mounts: { '/plain/': dir },
    pages: { '/plain.html': storefront('/plain/index.json') },
    ranges: false,
    tamper,
  });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, `${server.origin}/plain.html`);
    const first = await trySearch(page, await photoBase64(a.id), { top: 10 });
    assert.deepEqual(first.results?.map((r) => r.id), native[0].results.map((r) => r.id), JSON.stringify(first));
    // A host that pads the records' parts with a megabyte: refused by their declared length.
    const records = m.records.file.replace(/\.bin$/, '/');
    tamper.pad = new RegExp(`^/plain/${records}`);
    const padded = await trySearch(page, await photoBase64(b.id), { top: 10 });
    assert.match(padded.error ?? '', /sends \d+ bytes where \d+ were asked for/, JSON.stringify(padded));
    // One that sends them with no length and never ends: refused once it sent more than asked.
    tamper.pad = null;
    tamper.endless = new RegExp(`^/plain/${records}`);
    const endless = await trySearch(page, await photoBase64(b.id), { top: 10 });
    assert.match(endless.error ?? '', /sends more than the \d+ bytes asked for/, JSON.stringify(endless));
    tamper.endless = null;
    // Once the host behaves, the same photo is found.
    const again = await trySearch(page, await photoBase64(b.id), { top: 10 });
    assert.deepEqual(again.results?.map((r) => r.id), native[1].results.map((r) => r.id), JSON.stringify(again));
    assert.deepEqual(errors, []);
    // A manifest that never ends: the page stops at 1 MB and says so.
    tamper.endless = /^\/plain\/index\.json$/;
    const other = await browser.newPage();
    await other.goto(`${server.origin}/plain.html`);
    await other.waitForFunction(() => window.deepShopping !== undefined, null, { timeout: 120_000 });
    const unloaded = await other.evaluate(() => window.deepShopping.ready().then(() => 'loaded', (e) => String(e?.message ?? e)));
    assert.match(unloaded, /index\.json: the host sends more than the 1048576 bytes asked for/);
    // The page stopped reading: the server wrote far less than its 1 GB before giving up.
    await new Promise((ok) => setTimeout(ok, 500));
    assert.ok(server.endlessBytes() < 256 << 20, `${server.endlessBytes()} bytes written`);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a 100k-item catalogue is read in three rounds of few requests and finds what the native reader finds', { timeout: 900_000 }, async () => {
  const dir = join(tmp, 'big');
  execFileSync(BIN, ['partition', '--index', join(DIST, 'catalogue'), '--out', dir, '--synthetic', '100000', '--parts'], { stdio: 'pipe' });
  const m = await manifest(dir);
  assert.equal(m.count, 100_000);
  assert.equal(m.cells, 1000);
  const queries = rows.slice(0, 3).map((r) => r.id);
  const native = cliSearch(dir, queries);
  // The truth: every cell probed, every item ranked exactly.
  const exact = cliSearch(dir, queries, ['--cells', '1000', '--candidates', '100000']);
  const server = await serve(DIST, '/', {
    mounts: { '/big/': dir },
    pages: { '/big.html': storefront('/big/index.json') },
  });
  const browser = await launch({ webgpu: false });
  const data = [m.lists.file, m.records.file, m.items.file].map((f) => `/big/${f}`);
  let recall = 0;
  let first;
  try {
    for (const [q, id] of queries.entries()) {
      // A fresh page each time: what one query read does not join the next one's ranking.
      const mark = server.ranges.length;
      const { page, errors } = await openPage(browser, `${server.origin}/big.html`);
      const loaded = since(server, mark, '/big/');
      // Loading reads the manifest and the top file (a new page is a new browser profile).
      assert.deepEqual(loaded.map((r) => [r.path, r.range]), [['/big/index.json', null], [`/big/${m.top.file}`, null]]);
      const info0 = await info(page);
      assert.equal(info0.items, 100_000);
      const before = server.ranges.length;
      const results = await callWithPhoto(page, 'search', await photoBase64(id), { top: 10 });
      const want = native[q].results;
      assert.deepEqual(results.map((r) => r.id), want.map((r) => r.id));
      for (const [k, r] of results.entries()) {
        assert.ok(Math.abs(r.score - want[k].score) < 1e-3, `${r.id}: ${r.score} vs ${want[k].score}`);
      }
      const truth = new Set(exact[q].results.map((r) => r.id));
      recall += results.filter((r) => truth.has(r.id)).length / truth.size / queries.length;
      const i = (await info(page)).partitioned;
      const read = since(server, before, '/big/').filter((r) => !r.path.startsWith('/big/images/'));
      assert.ok(read.every((r) => data.includes(r.path) && /^bytes=\d+-\d+$/.test(r.range)), JSON.stringify(read));
      assert.equal(read.length, i.lastRequests);
      assert.equal(i.lastRounds, 3);
      const count = (f) => read.filter((r) => r.path === f).length;
      if (q === 0) first = { ids: results.map((r) => r.id), bytes: i.lastBytes, requests: read.map((r) => [r.path, r.range]) };
      // 64 cells probed (merged where adjacent), 200 candidates' records (merged within 4 KB),
      // the shown items' metadata and a few more.
      assert.ok(count(data[0]) >= 1 && count(data[0]) <= 64, `${count(data[0])} cell requests`);
      assert.ok(count(data[1]) >= 1 && count(data[1]) <= 100, `${count(data[1])} record requests`);
      assert.ok(count(data[2]) >= 1 && count(data[2]) <= 22, `${count(data[2])} metadata requests`);
      console.log(`# 100k query ${q}: ${i.lastRequests} requests (${count(data[0])} cells, ${count(data[1])} records, ${count(data[2])} metadata), ${(i.lastBytes / 1e3).toFixed(0)} KB, cells cached ${(i.cachedBytes / 1e3).toFixed(0)} KB`);
      assert.deepEqual(errors, []);
      await page.close();
    }
    console.log(`# 100k recall@10 against exact search over all 100,000 items: ${recall.toFixed(3)}`);

    // Over HTTP/2 (TLS), as CDNs serve: the same results from the same ranges.
    const h2 = await serve(DIST, '/', {
      mounts: { '/big/': dir },
      pages: { '/big.html': storefront('/big/index.json') },
      http2: true,
    });
    const tls = await launch({ webgpu: false, args: [IGNORE_CERTIFICATE_ERRORS] });
    try {
      const { page, errors } = await openPage(tls, `${h2.origin}/big.html`);
      const before = h2.ranges.length;
      const results = await callWithPhoto(page, 'search', await photoBase64(queries[0]), { top: 10 });
      assert.deepEqual(results.map((r) => r.id), first.ids);
      const i = (await info(page)).partitioned;
      assert.equal(i.lastRounds, 3);
      assert.equal(i.lastBytes, first.bytes);
      const read = since(h2, before, '/big/').filter((r) => !r.path.startsWith('/big/images/'));
      assert.equal(read.length, i.lastRequests);
      const sorted = (rs) => rs.map((r) => `${r[0]} ${r[1]}`).sort();
      assert.deepEqual(sorted(read.map((r) => [r.path, r.range])), sorted(first.requests));
      console.log(`# 100k query 0 over HTTP/2: ${read.length} requests, ${(i.lastBytes / 1e3).toFixed(0)} KB`);
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await tls.close();
      await h2.close();
    }

    // A host without range requests (it sends whole files): the page reads the part files
    // holding what it would have read by range, and finds the same.
    const plain = await serve(DIST, '/', {
      mounts: { '/big/': dir },
      pages: { '/big.html': storefront('/big/index.json') },
      ranges: false,
    });
    try {
      const { page, errors } = await openPage(browser, `${plain.origin}/big.html`);
      const partsOf = data.map((f) => f.replace(/\.(bin|json)$/, '/'));
      for (const [q, id] of queries.slice(0, 2).entries()) {
        const before = plain.ranges.length;
        const results = await callWithPhoto(page, 'search', await photoBase64(id), { top: 10 });
        assert.deepEqual(results.map((r) => r.id), native[q].results.map((r) => r.id));
        const i = (await info(page)).partitioned;
        const read = since(plain, before, '/big/').filter((r) => !r.path.startsWith('/big/images/'));
        const parts = read.filter((r) => partsOf.some((p) => r.path.startsWith(p)) && r.range === null);
        const refused = read.filter((r) => r.path === data[0] && r.range !== null);
        // Ranges are asked for once, of the lists file (the first round), then parts only.
        assert.equal(parts.length + refused.length, read.length, JSON.stringify(read));
        assert.equal(parts.length, i.lastRequests);
        assert.ok(i.lastRounds >= 2 && i.lastRounds <= 3, `${i.lastRounds} rounds`);
        if (q === 0) assert.ok(refused.length >= 1 && refused.length <= 64, `${refused.length} refused`);
        else assert.equal(refused.length, 0);
        const count = (k) => parts.filter((r) => r.path.startsWith(partsOf[k])).length;
        // The probed cells' parts (those not cached from the first query), one file each.
        assert.ok(count(0) >= (q === 0 ? 1 : 0) && count(0) <= 64, `${count(0)} cell parts`);
        console.log(`# 100k by parts, query ${q}: ${i.lastRequests} requests (${count(0)} cells, ${count(1)} records, ${count(2)} metadata), ${(i.lastBytes / 1e3).toFixed(0)} KB${q === 0 ? `, after ${refused.length} range requests answered whole` : ''}`);
      }
      assert.deepEqual(errors, []);
      await page.screenshot({ path: join(SHOTS, 'partitioned-by-parts.png') });
      await page.close();
    } finally {
      await plain.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test('an index updated by a delta is read with its removed set, in the same rounds, and ranks as the new whole index', { timeout: 600_000 }, async () => {
  const dir = join(tmp, 'delta');
  partition(dir, 4);
  const base = await manifest(dir);
  // The catalogue changes: one item gone, one retitled, one new (a dataset photo the
  // catalogue did not hold).
  const csv = (await readFile(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8')).trim().split('\n');
  const [header, ...lines] = csv;
  const gone = rows[1].id;
  const retitled = rows[2].id;
  const held = new Set(rows.map((r) => r.id));
  const datasetCsv = (await readFile(join(DATASET, 'images.csv'), 'utf8')).trim().split('\n').slice(1);
  const [added, , label] = datasetCsv.map((l) => l.split(',')).find(([id, , l]) => id && !held.has(id) && l !== 'Not sure') ?? [];
  assert.ok(added, 'a dataset photo outside the catalogue');
  const changed = lines
    .filter((l) => !l.startsWith(`${gone},`))
    .map((l) => (l.startsWith(`${retitled},`) ? l.replace(`,${rows[2].title},`, `,${rows[2].title} (new season),`) : l));
  const template = lines[0].split(',');
  changed.push([added, `images/${added}.jpg`, 'New arrival', label, ...template.slice(4, 8), `product.html?id=${added}`].join(','));
  const changedCsv = join(tmp, 'changed.csv');
  await writeFile(changedCsv, `${[header, ...changed].join('\n')}\n`);
  const whole = join(tmp, 'changed');
  execFileSync(BIN, ['index', '--images', DATASET, '--csv', changedCsv, '--out', whole], { cwd: ROOT, stdio: 'pipe' });
  const said = execFileSync(BIN, ['partition', '--index', whole, '--out', dir], { cwd: ROOT }).toString('utf8');
  assert.match(said, /updated .*1 added, 1 changed, 1 removed/, said);
  const m = await manifest(dir);
  assert.equal(m.deltas.length, 1);
  assert.equal(m.deltas[0].count, 2);
  assert.equal(m.removed, 2);
  // The base's files are the ones published before.
  assert.deepEqual([m.lists.file, m.records.file, m.items.file], [base.lists.file, base.records.file, base.items.file]);

  // The truth: the CLI's exact search over the new whole index.
  const queries = [added, retitled, gone, rows[0].id];
  const truth = cliSearch(whole, queries);
  const server = await serve(DIST, '/', {
    mounts: { '/d/': dir },
    pages: { '/d.html': storefront('/d/index.json') },
  });
  const browser = await launch({ webgpu: false });
  try {
    const { page, errors } = await openPage(browser, `${server.origin}/d.html`);
    assert.equal((await info(page)).items, changed.length);
    const deltaFiles = [m.deltas[0].lists.file, m.deltas[0].records.file, m.deltas[0].items.file].map((f) => `/d/${f}`);
    for (const [q, id] of queries.entries()) {
      const before = server.ranges.length;
      const results = await callWithPhoto(page, 'search', await photoBase64(id), { top: 10 });
      // Every cell probed in both segments, every item a candidate: the new whole index's results.
      assert.deepEqual(results.map((r) => r.id), truth[q].results.map((r) => r.id), `query ${id}`);
      for (const [k, r] of results.entries()) {
        assert.ok(Math.abs(r.score - truth[q].results[k].score) < 1e-3, `${r.id}: ${r.score} vs ${truth[q].results[k].score}`);
      }
      assert.ok(!results.some((r) => r.id === gone), 'the removed item is not shown');
      const i = (await info(page)).partitioned;
      if (q === 0) {
        // The delta's cells are read in the same round as the base's: three rounds, and the
        // delta's lists file among the first.
        assert.equal(i.lastRounds, 3, JSON.stringify(i));
        const read = since(server, before, '/d/').map((r) => r.path);
        assert.ok(read.includes(deltaFiles[0]) && read.includes(`/d/${base.lists.file}`), JSON.stringify(read));
        assert.equal(results[0].id, added);
        assert.equal(results[0].title, 'New arrival');
      }
      if (id === retitled) {
        assert.equal(results.find((r) => r.id === retitled)?.title, `${rows[2].title} (new season)`);
      }
    }
    // The widget shows the new item first for its photo.
    await page.setInputFiles('#photo', join(DATASET, 'images', `${added}.jpg`));
    await page.waitForFunction(() => /^Ready: the closest matches/.test(
      document.querySelector('deep-shopping-search').shadowRoot.querySelector('#status').textContent), null, { timeout: 120_000 });
    assert.equal((await cardIds(page))[0], added);
    await page.screenshot({ path: join(SHOTS, 'partitioned-delta.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
