// Deep Shopping widget loader: the one script a storefront includes (a few KB). It draws the
// entry point of the first <deep-shopping-search> at once (drop zone, "Take a photo",
// "Upload a photo") and loads the page's bundle (deep-shopping-page.js: the widget and the
// ranking, no model) from this file's folder only when its `preload` attribute says: `intent`
// (the default: the shopper focuses, hovers, touches or taps the entry, drags or pastes a
// photo onto the page, or a script calls window.deepShopping), `idle` (once the page has
// loaded and is idle) or `eager` (at once). The bundle then builds the full widget in place,
// takes over window.deepShopping, starts the worker on the model's bundle (deep-shopping.js)
// and searches a photo chosen or dropped meanwhile. See README "Embedding the widget".
if (!window.deepShoppingBundleUrl) {
  // Where the bundle lives: the default home of models/ and catalogue/.
  window.deepShoppingBundleUrl = new URL('./', import.meta.url).href;
  const host = document.querySelector('deep-shopping-search');
  const listeners = [];
  const on = (target, type, fn, options) => {
    target.addEventListener(type, fn, options);
    listeners.push(() => target.removeEventListener(type, fn, options));
  };
  let kept = [];
  let loading;

  // Loads the bundle once; then hands it the photos the shopper gave the entry point.
  const load = () => (loading ??= (async () => {
    try {
      const { default: init } = await import('./deep-shopping-page.js');
      await init();
      // The bundle listens for drops and pastes itself now.
      for (const off of listeners) off();
    } catch (err) {
      // A bundle that cannot load says so where the widget would be.
      for (const el of document.querySelectorAll('deep-shopping-search')) {
        const text = `Search by photo is unavailable: ${err?.message ?? err}`;
        el.setAttribute('role', 'status');
        // The element's own text, shown through a slot where the entry point was drawn.
        el.shadowRoot?.replaceChildren(document.createElement('slot'));
        el.textContent = text;
      }
      // Reported once as the page's error; every caller's promise rejects with it.
      setTimeout(() => { throw err; });
      throw err;
    }
  })());

  // Hands the photos kept by the entry point to the loaded bundle, as a drop: the bundle keeps
  // a photo dropped before it is ready and searches it once it is. Called after every keep, so a
  // photo chosen after the bundle has loaded (from a picker opened before) is searched too.
  const deliver = () => {
    if (!kept.length) return;
    const transfer = new DataTransfer();
    for (const file of kept) transfer.items.add(file);
    kept = [];
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  };

  // window.deepShopping until the bundle replaces it: a call loads the bundle first.
  const later = (name) => async (...args) => {
    await load();
    return window.deepShopping[name](...args);
  };
  window.deepShopping = {
    ready: later('ready'),
    search: later('search'),
    addPhoto: later('addPhoto'),
    embed: later('embed'),
    classify: later('classify'),
    moreLikeLiked: later('moreLikeLiked'),
    rerank: later('rerank'),
    feedback: later('feedback'),
    resetFeedback: later('resetFeedback'),
    exportFeedback: later('exportFeedback'),
    backend: () => null,
    info: () => { throw new Error('Deep Shopping has not loaded yet: await deepShopping.ready()'); },
  };

  const images = (list) => Array.from(list ?? []).filter((f) => f.type.startsWith('image/'));
  const keep = (files) => {
    if (!files.length) return;
    kept = files;
    const note = host?.shadowRoot?.querySelector('.note');
    if (note) note.textContent = 'Loading the search… your photo will be searched in a moment.';
    load().then(deliver, () => {});
  };
  // A photo dropped or pasted anywhere on the page, before the bundle listens itself.
  on(document, 'dragover', (e) => { if (e.dataTransfer?.types?.includes('Files')) e.preventDefault(); });
  on(document, 'dragenter', (e) => { if (e.dataTransfer?.types?.includes('Files')) load().catch(() => {}); });
  for (const [type, field] of [['drop', 'dataTransfer'], ['paste', 'clipboardData']]) {
    on(document, type, (e) => {
      const files = images(e[field]?.files);
      if (!files.length) return;
      e.preventDefault();
      keep(files);
    });
  }

  if (host) {
    const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
    const css = `
      :host { display: block; font: 1rem/1.4 var(--ds-font, system-ui, sans-serif); color: var(--ds-text, #1d1d1f); }
      .entry { border: 2px dashed var(--ds-border, #c9c9cf); border-radius: var(--ds-radius, 12px); background: var(--ds-surface, #fff);
        padding: 1.25rem 1rem; text-align: center; display: grid; gap: .6rem; justify-items: center; }
      .title { font-weight: 600; font-size: 1.1rem; margin: 0; }
      .row { display: flex; flex-wrap: wrap; gap: .5rem; justify-content: center; }
      button { font: inherit; min-height: 44px; padding: .5rem 1.1rem; border-radius: 999px; cursor: pointer;
        border: 1px solid var(--ds-accent, #8a4b2a); background: var(--ds-accent, #8a4b2a); color: var(--ds-accent-text, #fff); }
      button.secondary { background: transparent; color: var(--ds-accent, #8a4b2a); }
      button:focus-visible { outline: 3px solid var(--ds-accent, #8a4b2a); outline-offset: 2px; }
      .note { margin: 0; color: var(--ds-muted, #5f5f66); font-size: .9rem; }`;
    const entry = document.createElement('div');
    entry.className = 'entry';
    entry.setAttribute('role', 'group');
    entry.setAttribute('aria-label', 'Search by photo');
    entry.innerHTML = `<p class="title">Find it by photo</p>
      <div class="row"><button type="button" class="camera">Take a photo</button>
      <button type="button" class="upload secondary">Upload a photo</button></div>
      <p class="note">or drop or paste a photo here</p>
      <input class="camera" type="file" accept="image/*" capture="environment" hidden>
      <input class="upload" type="file" accept="image/*" hidden>`;
    // Constructed styles: allowed by a strict Content-Security-Policy (README, "Strict CSP").
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
      root.replaceChildren(entry);
    } else {
      const style = document.createElement('style');
      style.textContent = css;
      root.replaceChildren(style, entry);
    }
    for (const kind of ['camera', 'upload']) {
      const input = entry.querySelector(`input.${kind}`);
      // The picker opens at once, from the tap itself; the bundle loads meanwhile.
      entry.querySelector(`button.${kind}`).addEventListener('click', () => { load().catch(() => {}); input.click(); });
      input.addEventListener('change', () => keep(images(input.files)));
    }
    for (const type of ['pointerenter', 'focusin', 'touchstart']) on(host, type, () => load().catch(() => {}), { passive: true });
  }

  const preload = host?.getAttribute('preload') ?? 'intent';
  if (preload === 'eager') {
    load().catch(() => {});
  } else if (preload === 'idle') {
    const idle = () => (window.requestIdleCallback ?? ((f) => setTimeout(f, 1)))(() => load().catch(() => {}));
    if (document.readyState === 'complete') idle(); else window.addEventListener('load', idle, { once: true });
  }
}
