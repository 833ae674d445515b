// Deep Shopping widget loader: the one script a storefront includes. It loads the wasm bundle
// from this file's own folder, which then builds the first <deep-shopping-search> element of
// the page and exposes window.deepShopping. See README "Embedding the widget".
if (!window.deepShoppingBundleUrl) {
  // Where the bundle lives: the default home of models/ and catalogue/.
  window.deepShoppingBundleUrl = new URL('./', import.meta.url).href;
  try {
    const { default: init } = await import('./deep-shopping.js');
    await init();
  } catch (err) {
    // A bundle that cannot load says so where the widget would be, instead of a blank space.
    for (const el of document.querySelectorAll('deep-shopping-search')) {
      el.setAttribute('role', 'status');
      el.textContent = `Search by photo is unavailable: ${err?.message ?? err}`;
    }
    throw err;
  }
}
