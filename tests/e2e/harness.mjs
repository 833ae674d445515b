// Shared helpers for the browser tests and the page benchmark: a static server for dist/ on
// loopback and Debian's Chromium driven by playwright-core.
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { open, readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const DIST = process.env.DS_DIST ?? join(ROOT, 'dist');
export const DATASET = process.env.DS_DATASET ?? join(ROOT, '../shared/datasets/clothing-dataset');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.jpg': 'image/jpeg', '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

/**
 * Serves files on 127.0.0.1: `dir` under `prefix`, plus `pages` (path -> HTML) and `mounts`
 * (further prefix -> folder), with `headers` on every answer; with `cdn`, files are sent
 * gzip-compressed and revalidated by ETag, as a CDN would. A request with a single
 * `Range: bytes=a-b` is answered 206 with those bytes (416 past the end), as hosts and CDNs
 * do (unless `ranges` is false: then the whole file is sent with 200, as a host without range
 * support does); with `delay`, every answer waits that many milliseconds (a far host); while
 * `tamper.pad` (a RegExp, read at each request) matches a path, a whole file is sent with a
 * megabyte of zeros after it and that length declared (a host sending far more than asked);
 * while `tamper.endless` matches, a whole file is sent with no length declared and zeros after
 * it until the client stops reading (a host that never ends its answer; the server gives up
 * after 1 GB, and `endlessBytes` counts what it wrote); while `tamper.hang` matches, a request
 * is never answered (a host that hangs). A POST is recorded with its body in `posts` and answered 204. Each request's path is
 * in `requests`, and with its Range header (or null) in `ranges`. With `http2`, it serves
 * HTTP/2 over TLS, as CDNs do (a self-signed certificate for 127.0.0.1 made with openssl: launch
 * the browser with `IGNORE_CERTIFICATE_ERRORS`), and HTTP/1.1 to clients without HTTP/2.
 * Resolves to { url, origin, close, requests, ranges, posts, endlessBytes() }.
 */
export async function serve(dir = DIST, prefix = '/', { pages = {}, mounts = {}, headers = {}, cdn = false, delay = 0, ranges: servesRanges = true, tamper = {}, http2 = false } = {}) {
  const requests = [];
  const ranges = [];
  const posts = [];
  let endlessBytes = 0;
  const hung = [];
  const roots = Object.entries({ ...mounts, [prefix]: dir }).sort((a, b) => b[0].length - a[0].length);
  const handler = async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    ranges.push({ path, range: req.headers.range ?? null });
    if (delay > 0) await new Promise((ok) => setTimeout(ok, delay));
    if (tamper.hang?.test(path)) { hung.push(res); return; }
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (req.method === 'POST') {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      posts.push({ path, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
      return;
    }
    if (pages[path] !== undefined) {
      res.writeHead(200, { 'content-type': TYPES['.html'] }).end(pages[path]);
      return;
    }
    const root = roots.find(([p]) => path.startsWith(p));
    if (!root) { res.writeHead(404).end(); return; }
    let file = normalize(join(root[1], path.slice(root[0].length)));
    if (!file.startsWith(root[1])) { res.writeHead(403).end(); return; }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const head = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' };
      const range = servesRanges && /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (range) {
        // Only the range is read: a range of a large file costs what a CDN's would.
        const [start, end] = [Number(range[1]), Number(range[2])];
        const { size } = await stat(file);
        if (start > end || end >= size) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        const handle = await open(file);
        try {
          const part = Buffer.alloc(end + 1 - start);
          await handle.read(part, 0, part.length, start);
          res.writeHead(206, { ...head, 'content-range': `bytes ${start}-${end}/${size}` });
          res.end(part);
        } finally {
          await handle.close();
        }
        return;
      }
      const body = await readFile(file);
      if (cdn) {
        // As a CDN serves the bundle: gzip, and revalidation by ETag (a 304 sends no body).
        const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
        Object.assign(head, { etag, 'cache-control': 'no-cache', vary: 'accept-encoding' });
        if (req.headers['if-none-match'] === etag) { res.writeHead(304, head).end(); return; }
        if (/\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
          res.writeHead(200, { ...head, 'content-encoding': 'gzip' }).end(gzipped(file, body));
          return;
        }
      }
      if (tamper.pad?.test(path)) {
        const padded = Buffer.concat([body, Buffer.alloc(1 << 20)]);
        res.writeHead(200, { ...head, 'content-length': padded.length });
        res.end(padded);
        return;
      }
      if (tamper.endless?.test(path)) {
        res.writeHead(200, head);
        res.write(body);
        const zeros = Buffer.alloc(64 << 10);
        let sent = 0;
        // Written as the client reads (a paused write resumes on 'drain'), up to 1 GB.
        const more = () => {
          while (!res.destroyed && sent < 1 << 30) {
            sent += zeros.length;
            endlessBytes += zeros.length;
            if (!res.write(zeros)) { res.once('drain', more); return; }
          }
          res.end();
        };
        more();
        return;
      }
      res.writeHead(200, head);
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  };
  const server = http2 ? createSecureServer({ ...selfSigned(), allowHTTP1: true }, handler) : createServer(handler);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  const origin = `${http2 ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url: `${origin}${prefix}`,
    origin,
    requests,
    ranges,
    posts,
    endlessBytes: () => endlessBytes,
    close: () => new Promise((ok) => {
      for (const res of hung) res.destroy();
      server.close(ok);
    }),
  };
}

/** Chromium's flag to accept `serve({ http2: true })`'s self-signed certificate. */
export const IGNORE_CERTIFICATE_ERRORS = '--ignore-certificate-errors';

let certificate;
/** A self-signed key and certificate for 127.0.0.1, made once per process with openssl. */
function selfSigned() {
  if (!certificate) {
    const dir = mkdtempSync(join(tmpdir(), 'ds-cert-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
      certificate = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return certificate;
}

const gzipCache = new Map();
function gzipped(file, body) {
  if (!gzipCache.has(file)) gzipCache.set(file, gzipSync(body, { level: 6 }));
  return gzipCache.get(file);
}

const FLAGS = [
  '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
];

/** Chromium's fake camera (a moving test pattern), allowed without a prompt. */
export const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/**
 * Headless Chromium (a fresh temporary profile each time); `webgpu` adds the WebGPU flag,
 * `args` further flags.
 */
export function launch({ webgpu, args = [] }) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [...FLAGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...args],
  });
}

/** Cards shown by the page's widget (inside its shadow root), as their item ids. */
export function cardIds(page) {
  return page.$$eval('#results li.card', (els) => els.map((e) => e.dataset.id));
}

/**
 * Waits until the widget shows results of a search newer than `before` (the `lastTimings` of
 * `deepShopping.info()` taken before the search started).
 */
export function waitForNewResults(page, before) {
  return page.waitForFunction((b) => {
    const t = window.deepShopping.info().lastTimings;
    const root = document.querySelector('deep-shopping-search')?.shadowRoot;
    return t && JSON.stringify(t) !== JSON.stringify(b)
      && root?.querySelectorAll('#results li.card').length > 0
      && /^Ready/.test(root.querySelector('#status').textContent);
  }, before, { timeout: 120_000 });
}

/** Uploads a dataset photo through the widget's file input and waits for its results. */
export async function upload(page, stem) {
  const before = await lastTimings(page);
  // A browser fires no change event for the same file twice: clear the control first.
  await page.setInputFiles('#photo', []);
  await page.setInputFiles('#photo', join(DATASET, 'images', `${stem}.jpg`));
  await waitForNewResults(page, before);
}

/** Opens the widget's filter drawer ("Filters"), if it is closed. */
export async function openFilters(page) {
  if (await page.isHidden('#drawer')) await page.click('#filters-open');
}

/** Holds back `page`'s requests matching `pattern` until the returned function is called. */
export async function holdBack(page, pattern) {
  let release;
  const held = new Promise((ok) => { release = ok; });
  await page.route(pattern, async (route) => { await held; await route.continue(); });
  return release;
}

/** `deepShopping.info().lastTimings` now. */
export function lastTimings(page) {
  return page.evaluate(() => window.deepShopping.info().lastTimings);
}

/** Opens the page (in a browser or a context) and waits until `deepShopping.ready()` settles. */
export async function openPage(browser, url) {
  const page = await browser.newPage(browser.newContext ? { viewport: { width: 1280, height: 900 } } : undefined);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`); });
  await page.goto(url);
  await waitReady(page);
  return { page, errors };
}

/** Waits until the page's `deepShopping.ready()` settles (after a load or reload). */
export async function waitReady(page) {
  await page.waitForFunction(() => window.deepShopping !== undefined, null, { timeout: 120_000 });
  await page.evaluate(() => window.deepShopping.ready());
}

/** The bytes of a dataset photo, base64-encoded for page.evaluate. */
export async function photoBase64(stem) {
  return (await readFile(join(DATASET, 'images', `${stem}.jpg`))).toString('base64');
}

/** Runs `deepShopping[method](blob, options)` in the page with a photo given as base64. */
export function callWithPhoto(page, method, b64, options) {
  return page.evaluate(async ([method, b64, options]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const blob = new Blob([bytes], { type: 'image/jpeg' });
    return window.deepShopping[method](blob, options);
  }, [method, b64, options]);
}

/** Catalogue rows of the test index (dist/catalogue/catalogue.csv, written by scripts/test.sh). */
export async function catalogueRows() {
  const text = await readFile(join(DIST, 'catalogue', 'catalogue.csv'), 'utf8');
  return text.trim().split('\n').slice(1).map((line) => {
    const [id, image, title, category] = line.split(',');
    return { id, image, title, category };
  });
}
