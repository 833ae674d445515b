// Deep Shopping widget loader: the one script a storefront includes. It loads the wasm bundle
// from this file's own folder, which then builds the first <deep-shopping-search> element of
// the page and exposes window.deepShopping. See README "Embedding the widget".
import init from './deep-shopping.js';

if (!window.deepShoppingBundleUrl) {
  // Where the bundle lives: the default home of models/ and catalogue/.
  window.deepShoppingBundleUrl = new URL('./', import.meta.url).href;
  await init();
}
