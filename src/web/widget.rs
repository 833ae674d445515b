//! The `<deep-shopping-search>` element a storefront places in its page. At start the first
//! such element gets an open shadow root holding the widget's controls, results and styles
//! (the storefront's CSS does not reach in; `--ds-*` custom properties set on the element
//! do). Its attributes configure the widget:
//!
//! - `assets`: base URL of the `models/` and `catalogue/` folders (relative to the page);
//!   default: the folder the bundle was loaded from.
//! - `model-url`, `index-url`: the model or index manifest elsewhere (relative to the page).
//! - `results`: results per page, 1 to 100 (default 12).
//! - `theme`: `light` (default) or `dark`.
//! - `worker`: `off` runs the model on the page's thread instead of a Web Worker.
//! - `link-target`: where a result's product page opens (`_blank`, say); default: in place.
//! - `show-out-of-stock`: present, items out of stock are shown too (they are left out).
//! - `variants`: `all` shows every variant of a product; default: the one that matched best.
//! - `debug`: present, the status line also shows the backend and each search's timings
//!   (always in `deepShopping.info()` and, for the backend, the console).
//!
//! Without the element the JS API still works, with the same defaults.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use super::js;
use super::session::DEFAULT_RESULTS;
use crate::index::Variants;
use crate::index::ivf::Probe;

/// The element's tag name.
pub(crate) const TAG: &str = "deep-shopping-search";
/// Most results per page a `results` attribute may ask for.
const MAX_RESULTS: usize = 100;

const TEMPLATE: &str = include_str!("widget.html");
const STYLE: &str = include_str!("widget.css");

thread_local! {
    /// The widget's root element inside the shadow root, once mounted.
    static ROOT: RefCell<Option<Element>> = const { RefCell::new(None) };
}

/// Settings read from the element's attributes.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Absolute URL of the model manifest.
    pub model_url: String,
    /// Absolute URL of the index manifest.
    pub index_url: String,
    /// Results per page.
    pub results: usize,
    /// Cells probed and candidates ranked exactly per query of a partitioned catalogue.
    pub probe: Probe,
    /// Whether the model runs in a Web Worker.
    pub worker: bool,
    /// The `target` of product page links, if any.
    pub link_target: Option<String>,
    /// Whether items out of stock are shown.
    pub show_out_of_stock: bool,
    /// Which variants of a product are shown.
    pub variants: Variants,
}

/// The first `<deep-shopping-search>` in the document.
pub(crate) fn host() -> Option<Element> {
    gloo::utils::document().query_selector(TAG).ok().flatten()
}

/// The folder the bundle was loaded from: `window.deepShoppingBundleUrl`, set by `widget.js`,
/// or else the page's own base URL.
pub(crate) fn bundle_folder() -> String {
    let window: JsValue = gloo::utils::window().into();
    js::string(&window, "deepShoppingBundleUrl").unwrap_or_else(|| super::fetch::absolute("./"))
}

fn with_slash(url: String) -> String {
    if url.ends_with('/') { url } else { url + "/" }
}

/// Reads the configuration from the element (defaults without it).
pub(crate) fn config() -> Config {
    let attr = |name: &str| host().and_then(|h| h.get_attribute(name));
    let assets = attr("assets")
        .map(|a| with_slash(super::fetch::absolute(&a)))
        .unwrap_or_else(|| with_slash(bundle_folder()));
    let under_assets = |path: &str| {
        super::fetch::join(&assets, path).unwrap_or_else(|_| format!("{assets}{path}"))
    };
    let model_url = attr("model-url")
        .map(|u| super::fetch::absolute(&u))
        .unwrap_or_else(|| under_assets("models/manifest.json"));
    let index_url = attr("index-url")
        .map(|u| super::fetch::absolute(&u))
        .unwrap_or_else(|| under_assets("catalogue/index.json"));
    // A whole number from `attr` in `range`, else `default` (and a warning).
    let number = |name: &str, range: std::ops::RangeInclusive<usize>, default: usize| {
        let Some(text) = attr(name) else {
            return default;
        };
        match text.trim().parse::<usize>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                web_sys::console::warn_1(
                    &format!(
                        "<{TAG}> {name}={text:?} is not a number from {} to {}; using {default}",
                        range.start(),
                        range.end()
                    )
                    .into(),
                );
                default
            }
        }
    };
    let results = number("results", 1..=MAX_RESULTS, DEFAULT_RESULTS);
    let probe = Probe {
        cells: number("probe-cells", 1..=4096, Probe::DEFAULT.cells),
        candidates: number("probe-candidates", 1..=10_000, Probe::DEFAULT.candidates),
    };
    let worker = attr("worker").is_none_or(|w| w.trim() != "off");
    let link_target = attr("link-target")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let variants = match attr("variants").as_deref().map(str::trim) {
        Some("all") => Variants::All,
        _ => Variants::Best,
    };
    Config {
        model_url,
        index_url,
        results,
        probe,
        worker,
        link_target,
        show_out_of_stock: attr("show-out-of-stock").is_some(),
        variants,
    }
}

/// Builds the widget into the first `<deep-shopping-search>`; false when there is none.
pub(crate) fn mount() -> Result<bool, JsValue> {
    let Some(host) = host() else {
        return Ok(false);
    };
    let options = js_sys::Object::new();
    js::set(&options, "mode", &"open".into())?;
    let shadow = match js::get(&host, "shadowRoot")? {
        existing if existing.is_object() => existing,
        _ => js::call(&host, "attachShadow", &[options.into()])?,
    };
    let document = gloo::utils::document();
    let style = adopt_style(&shadow)?;
    let template = document.create_element("template")?;
    template.set_inner_html(TEMPLATE);
    let content = js::get(&template, "content")?;
    let root = js::call(&content, "querySelector", &[".ds".into()])?
        .dyn_into::<Element>()
        .map_err(|_| js::to_js("the widget template has no .ds root"))?;
    let children: Vec<JsValue> = style.into_iter().chain([root.clone().into()]).collect();
    js::call(&shadow, "replaceChildren", &children)?;
    ROOT.with(|r| *r.borrow_mut() = Some(root));
    // Backend and timings are for developers: shown with the `debug` attribute only.
    set_visible("debug", host.has_attribute("debug"));
    Ok(true)
}

/// Gives `shadow` the widget's styles as a constructed stylesheet, which a storefront's
/// Content-Security-Policy allows without `style-src 'unsafe-inline'` (README, "Strict
/// CSP"). Browsers without constructed stylesheets get a `<style>` element instead, returned
/// for the caller to add.
fn adopt_style(shadow: &JsValue) -> Result<Option<JsValue>, JsValue> {
    if js::get(shadow, "adoptedStyleSheets").is_ok_and(|a| a.is_object())
        && let Ok(sheet) = web_sys::CssStyleSheet::new()
    {
        sheet.replace_sync(STYLE)?;
        js::set(shadow, "adoptedStyleSheets", &js_sys::Array::of1(&sheet))?;
        return Ok(None);
    }
    let style = gloo::utils::document().create_element("style")?;
    style.set_text_content(Some(STYLE));
    Ok(Some(style.into()))
}

/// Sets the inline style `property` of `el` through CSSOM, which a Content-Security-Policy
/// allows (a `style` attribute it would block).
pub(crate) fn set_style(el: &Element, property: &str, value: &str) {
    if let Some(el) = el.dyn_ref::<web_sys::HtmlElement>() {
        el.style().set_property(property, value).ok();
    }
}

/// The widget element with `id`, when the widget is mounted.
pub(crate) fn by_id(id: &str) -> Option<Element> {
    ROOT.with(|r| {
        r.borrow()
            .as_ref()
            .and_then(|root| root.query_selector(&format!("#{id}")).ok().flatten())
    })
}

/// The element inside the widget that has the keyboard focus, if one has.
pub(crate) fn active_element() -> Option<Element> {
    let root = ROOT.with(|r| r.borrow().clone())?;
    let shadow = js::call(&root, "getRootNode", &[]).ok()?;
    js::get(&shadow, "activeElement")
        .ok()?
        .dyn_into::<Element>()
        .ok()
}

/// Says which state the widget is in, as `data-state` on its root (the styles and the tests
/// read it): `loading`, `preparing`, `ready`, `searching`, `results`, `empty`, `error` or
/// `failed`.
pub(crate) fn set_state(state: &str) {
    ROOT.with(|r| {
        if let Some(root) = r.borrow().as_ref() {
            root.set_attribute("data-state", state).ok();
        }
    });
}

/// The widget's state, as [`set_state`] set it.
pub(crate) fn state() -> Option<String> {
    ROOT.with(|r| r.borrow().as_ref()?.get_attribute("data-state"))
}

/// Sets or clears the flag `data-{name}` on the widget's root (`photo`: a photo is shown;
/// `expanded`: the photo is shown large on a narrow screen).
pub(crate) fn set_flag(name: &str, on: bool) {
    ROOT.with(|r| {
        if let Some(root) = r.borrow().as_ref() {
            let attribute = format!("data-{name}");
            if on {
                root.set_attribute(&attribute, "").ok();
            } else {
                root.remove_attribute(&attribute).ok();
            }
        }
    });
}

/// Whether the flag `data-{name}` is set on the widget's root.
pub(crate) fn flag(name: &str) -> bool {
    ROOT.with(|r| {
        r.borrow()
            .as_ref()
            .is_some_and(|root| root.has_attribute(&format!("data-{name}")))
    })
}

/// Sets the text of the widget element `id`.
pub(crate) fn set_text(id: &str, text: &str) {
    if let Some(el) = by_id(id) {
        el.set_text_content(Some(text));
    }
}

/// Shows or hides the widget element `id`.
pub(crate) fn set_visible(id: &str, visible: bool) {
    if let Some(el) = by_id(id) {
        if visible {
            el.remove_attribute("hidden").ok();
        } else {
            el.set_attribute("hidden", "").ok();
        }
    }
}

/// A new `tag` element with `class` (none if empty) and `text`.
pub(crate) fn element(tag: &str, class: &str, text: Option<&str>) -> Option<Element> {
    let el = gloo::utils::document().create_element(tag).ok()?;
    if !class.is_empty() {
        el.set_class_name(class);
    }
    if text.is_some() {
        el.set_text_content(text);
    }
    Some(el)
}

/// Moves the keyboard focus to the widget element `id`.
pub(crate) fn focus(id: &str) {
    if let Some(el) = by_id(id).and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        el.focus().ok();
    }
}

/// Offers `text` (of MIME type `kind`) to the shopper as a download named `name`.
pub(crate) fn download(text: &str, kind: &str, name: &str) {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(kind);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(a) =
        element("a", "", None).and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    web_sys::Url::revoke_object_url(&url).ok();
}
