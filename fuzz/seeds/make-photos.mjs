// Writes the photo target's seeds: small synthetic gradients (nothing from the dataset) drawn
// in Debian's Chromium and encoded by it as JPEG, WebP and PNG, each behind the 16-byte crop
// head fuzz/harness.rs reads. Run: node fuzz/seeds/make-photos.mjs
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const out = join(fileURLToPath(new URL('.', import.meta.url)), 'photo');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const page = await browser.newPage();
const images = await page.evaluate(async () => {
  const encode = async (w, h, type, quality) => {
    const canvas = new OffscreenCanvas(w, h);
    const g = canvas.getContext('2d');
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, '#c0392b');
    grad.addColorStop(1, '#2c3e50');
    g.fillStyle = grad;
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#f1c40f';
    g.fillRect(w / 4, h / 4, w / 2, h / 3);
    const blob = await canvas.convertToBlob({ type, quality });
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  };
  return {
    'wide.jpg': await encode(40, 24, 'image/jpeg', 0.7),
    'tall.jpg': await encode(20, 36, 'image/jpeg', 0.5),
    'square.webp': await encode(32, 32, 'image/webp', 0.6),
    'square.png': await encode(24, 24, 'image/png'),
  };
});
await browser.close();
const heads = { whole: new Uint8Array(16), crop: Uint8Array.from([1, 0, 0, 32, 0, 0, 0, 48, 0, 0, 0, 128, 0, 0, 0, 160]) };
for (const [name, bytes] of Object.entries(images)) {
  for (const [kind, head] of Object.entries(heads)) {
    await writeFile(join(out, `${kind}-${name}`), Buffer.concat([head, Buffer.from(bytes)]));
  }
}
