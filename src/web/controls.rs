//! The widget's controls and what they do: loading progress, the backend in use, photo
//! upload (file, camera, drop, paste) with a crop box, colour weight, filters, more results,
//! likes, and feedback reset and export. Every ranking control re-ranks the current query at
//! once, without describing the photo again; the results reach the page through the
//! session's listeners (`view`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Element, HtmlInputElement, HtmlProgressElement, HtmlSelectElement};

use super::app::{App, current};
use super::js::{self, error_message};
use super::session::SearchOptions;
use super::widget::{by_id, element, set_text, set_visible};
use super::{camera, crop, widget};
use crate::index::Filters;
use crate::preprocess::Crop;

thread_local! {
    /// Photos dropped or pasted while the page was still loading, searched once it is ready.
    static PENDING: RefCell<Vec<Blob>> = const { RefCell::new(Vec::new()) };
}

/// Shows `text` in the status line.
fn set_status(text: &str) {
    set_text("status", text);
}

fn input(id: &str) -> Option<HtmlInputElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

fn select(id: &str) -> Option<HtmlSelectElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

/// Says that the model and the catalogue are downloading.
pub(crate) fn loading() {
    set_status("Downloading the model and the catalogue…");
}

/// Shows download progress: `done` of `total` bytes.
pub(crate) fn progress(done: u64, total: u64) {
    if let Some(bar) = by_id("progress").and_then(|e| e.dyn_into::<HtmlProgressElement>().ok()) {
        bar.set_max(total.max(1) as f64);
        bar.set_value(done as f64);
    }
    set_text(
        "progress-text",
        &format!("{:.1} / {:.1} MB", done as f64 / 1e6, total as f64 / 1e6),
    );
}

/// The ranking options the controls describe (the number of results aside: the session
/// keeps that).
fn options() -> SearchOptions {
    let text = |id: &str| select(id).map(|s| s.value()).filter(|v| !v.is_empty());
    let number = |id: &str| input(id).and_then(|i| i.value().parse::<f64>().ok());
    SearchOptions {
        top: None,
        colour_weight: input("colour-weight").and_then(|i| i.value().parse().ok()),
        category_weight: None,
        crop: None,
        filters: Filters {
            category: text("filter-category"),
            colour: text("filter-colour"),
            min_price: number("price-min"),
            max_price: number("price-max"),
        },
    }
}

fn fill_select(id: &str, values: &BTreeSet<String>) {
    let Some(s) = select(id) else { return };
    for v in values {
        if let Some(option) = element("option", "", Some(v)) {
            option.set_attribute("value", v).ok();
            s.append_child(&option).ok();
        }
    }
}

/// Ranks the current query again with the controls' options.
fn rerank(app: &App) {
    app.session.set_options(options());
    app.session.rank(None);
}

fn on(id: &str, event: &'static str, handler: impl FnMut(&web_sys::Event) + 'static) {
    if let Some(el) = by_id(id) {
        EventListener::new(&el, event, handler).forget();
    }
}

/// Runs `f` with the loaded app, if it is loaded.
fn with_app(f: impl Fn(&App)) {
    if let Ok(app) = current() {
        f(&app);
    }
}

/// Shows the ready state and wires the controls.
pub(crate) fn loaded(app: &App) {
    let backend = match (&app.backend, &app.fallback_reason) {
        (&"webgpu", _) => "WebGPU".to_string(),
        (_, Some(why)) => format!("CPU ({why})"),
        _ => "CPU".to_string(),
    };
    set_text("backend", &backend);
    web_sys::console::info_1(&format!("Deep Shopping: model on {backend}").into());
    set_status(&format!(
        "Ready: {} catalogue items.",
        app.session.index().len()
    ));
    set_visible("loading", false);
    set_visible("untrained", !app.manifest.trained);
    // The filters offer what the shopper can find: items out of stock are left out of both.
    let shown: Vec<&crate::index::Item> = app
        .session
        .index()
        .items
        .iter()
        .filter(|i| app.session.shows(i))
        .collect();
    let categories = shown.iter().filter_map(|i| i.category.clone()).collect();
    fill_select("filter-category", &categories);
    let colours = shown
        .iter()
        .flat_map(|i| i.colours.iter().map(|c| c.name.clone()))
        .collect();
    fill_select("filter-colour", &colours);
    app.session.set_options(options());

    for (id, add) in [("photo", false), ("add-photo", true)] {
        let Some(control) = input(id) else { continue };
        control.set_disabled(false);
        let target = control.clone();
        EventListener::new(&control, "change", move |_| {
            let photos: Vec<Blob> = target
                .files()
                .map(|l| {
                    (0..l.length())
                        .filter_map(|i| l.get(i))
                        .map(Blob::from)
                        .collect()
                })
                .unwrap_or_default();
            search_blobs(photos, add);
        })
        .forget();
    }
    camera::wire(
        Rc::new(|photo| search_blobs(vec![photo], false)),
        Rc::new(set_status),
    );
    crop::wire(Rc::new(|photo, crop| {
        Box::pin(async move { search_cropped(&photo, crop).await })
    }));
    on("more-like-likes", "click", |_| {
        with_app(|app| match app.session.query_from_likes() {
            Some(_) => {
                app.session.first_page();
                rerank(app);
            }
            None => set_status("Like a product first, then ask for more like it."),
        })
    });
    for (id, event) in [
        ("colour-weight", "input"),
        ("filter-category", "change"),
        ("filter-colour", "change"),
        ("price-min", "input"),
        ("price-max", "input"),
    ] {
        on(id, event, |_| with_app(rerank));
    }
    on("more", "click", |_| {
        with_app(|app| {
            app.session.next_page();
            rerank(app);
        })
    });
    on("reset-feedback", "click", |_| {
        with_app(|app| {
            app.reset_feedback();
            rerank(app);
        })
    });
    on("export-feedback", "click", |_| with_app(export_feedback));
    // One listener for every card's product link and like / dislike buttons.
    let cards = EventListenerOptions::enable_prevent_default();
    if let Some(results) = by_id("results") {
        EventListener::new_with_options(&results, "auxclick", cards, |event| {
            // A middle click opens the product page in a new tab: a choice as well.
            if js::number(event, "button") == Some(1.0) {
                choose(event);
            }
        })
        .forget();
        EventListener::new_with_options(&results, "click", cards, on_card_click).forget();
    }
}

/// The card element `event` happened in that matches `selector`.
fn closest(event: &web_sys::Event, selector: &str) -> Option<Element> {
    event
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .and_then(|e| e.closest(selector).ok().flatten())
}

/// Tells the store that the shopper chose a result, before the browser follows its link:
/// `deepshopping:select` on the widget's element (it bubbles to `document` and `window`),
/// with the item's id, its rank, its match and the query's id. A listener that cancels it
/// keeps the shopper on the page (a single-page storefront navigating itself).
fn choose(event: &web_sys::Event) {
    let Some(product) = closest(event, "a.product") else {
        return;
    };
    let detail = js_sys::Object::new();
    let number = |name: &str| {
        product
            .get_attribute(name)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(JsValue::NULL, JsValue::from)
    };
    let fields = [
        (
            "id",
            product
                .get_attribute("data-id")
                .map_or(JsValue::NULL, JsValue::from),
        ),
        ("rank", number("data-rank")),
        ("match", number("data-match")),
        ("queryId", number("data-query")),
        (
            "link",
            product
                .get_attribute("href")
                .map_or(JsValue::NULL, JsValue::from),
        ),
    ];
    for (name, value) in fields {
        js::set(&detail, name, &value).ok();
    }
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_composed(true);
    let Ok(chosen) = web_sys::CustomEvent::new_with_event_init_dict("deepshopping:select", &init)
    else {
        return;
    };
    let proceed = match widget::host() {
        Some(host) => host.dispatch_event(&chosen),
        None => gloo::utils::window().dispatch_event(&chosen),
    };
    if proceed == Ok(false) {
        event.prevent_default();
    }
}

/// A click in the results: a product link (see [`choose`]) or a like / dislike button.
fn on_card_click(event: &web_sys::Event) {
    if closest(event, "a.product").is_some() {
        choose(event);
        return;
    }
    {
        let Some(button) = closest(event, "button[data-vote]") else {
            return;
        };
        let (Some(id), Some(v)) = (
            button.get_attribute("data-id"),
            button
                .get_attribute("data-vote")
                .and_then(|v| v.parse::<i32>().ok()),
        ) else {
            return;
        };
        with_app(|app| {
            // Pressing a pressed button withdraws the vote.
            let v = if app.session.vote_of(&id) == v { 0 } else { v };
            app.session.set_options(options());
            app.vote(&id, v, None);
        })
    }
}

/// Drag and drop a photo anywhere on the page, or paste one from the clipboard. Wired at
/// start, before anything has downloaded, so a photo dropped while the model and the
/// catalogue are still loading is kept for [`search_pending`] instead of the browser opening
/// it in place of the page.
pub(crate) fn wire_drops() {
    let document = gloo::utils::document();
    EventListener::new_with_options(
        &document,
        "dragover",
        gloo::events::EventListenerOptions::enable_prevent_default(),
        |event| event.prevent_default(),
    )
    .forget();
    for (event, field) in [("drop", "dataTransfer"), ("paste", "clipboardData")] {
        EventListener::new_with_options(
            &document,
            event,
            gloo::events::EventListenerOptions::enable_prevent_default(),
            move |event| {
                let files = files_of(event, field);
                if files.is_empty() {
                    return;
                }
                event.prevent_default();
                let photos: Vec<Blob> = files.into_iter().map(Blob::from).collect();
                if current().is_ok() {
                    search_blobs(photos, false);
                } else {
                    PENDING.with(|p| *p.borrow_mut() = photos);
                    set_status("Your photo will be searched as soon as the catalogue has loaded.");
                }
            },
        )
        .forget();
    }
}

/// Searches the photos dropped or pasted while the page was loading, if any.
pub(crate) fn search_pending() {
    let photos = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    search_blobs(photos, false);
}

/// Image files carried by a drop or paste event (`event[field].files`).
fn files_of(event: &web_sys::Event, field: &str) -> Vec<web_sys::File> {
    let list = js_sys::Reflect::get(event, &field.into())
        .and_then(|t| js_sys::Reflect::get(&t, &"files".into()))
        .ok()
        .and_then(|f| f.dyn_into::<web_sys::FileList>().ok());
    let Some(list) = list else { return Vec::new() };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .filter(|f| f.type_().starts_with("image/"))
        .collect()
}

fn ready_text(app: &App) -> String {
    let n = app.session.photo_count();
    let combined = if n > 1 {
        format!(" Combining {n} photos.")
    } else {
        String::new()
    };
    format!(
        "Ready: {} catalogue items.{combined}",
        app.session.index().len()
    )
}

/// Describes `photos` and searches them: a new query (the first photo goes under the crop
/// box), or added to the current one.
fn search_blobs(photos: Vec<Blob>, add: bool) {
    let Some(first) = photos.first() else {
        return;
    };
    let Ok(app) = current() else { return };
    // Added photos join whatever the query is when they are ready; a new photo replaces it.
    let search = (!add).then(|| app.session.next_search());
    if !add {
        // A new photo from anywhere closes the camera (and turns its light off).
        camera::stop();
        crop::show(first);
    }
    wasm_bindgen_futures::spawn_local(async move {
        let current = || search.is_none_or(|s| app.session.is_newest(s));
        set_status("Searching…");
        let mut described = Vec::new();
        for photo in &photos {
            match app.describe(photo, None).await {
                Ok(p) => described.push(p),
                Err(err) if current() => {
                    let message = error_message(&err.into());
                    set_status(&format!("Could not search: {message}"));
                    return;
                }
                Err(_) => return,
            }
        }
        if !current() {
            return;
        }
        app.session.first_page();
        if app.session.set_photos(described, add).is_some() {
            rerank(&app);
        }
        set_status(&ready_text(&app));
    });
}

/// Searches `photo` again with `crop` in place of the query's first photo.
async fn search_cropped(photo: &Blob, crop: Option<Crop>) {
    let Ok(app) = current() else { return };
    let search = app.session.next_search();
    set_status("Searching the cropped photo…");
    let described = app.describe(photo, crop).await;
    if !app.session.is_newest(search) {
        return;
    }
    match described {
        Ok(p) => {
            if app.session.replace_first_photo(p).is_some() {
                rerank(&app);
            }
            set_status(&ready_text(&app));
        }
        Err(err) => {
            let message = error_message(&err.into());
            set_status(&format!("Could not search: {message}"));
        }
    }
}

fn export_feedback(app: &App) {
    let json = serde_json::to_string_pretty(&app.session.feedback()).unwrap_or_default();
    let parts = js_sys::Array::of1(&json.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
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
        a.set_download("deep-shopping-feedback.json");
        a.click();
    }
    web_sys::Url::revoke_object_url(&url).ok();
}

/// Shows a loading failure.
pub(crate) fn failed(message: &str) {
    web_sys::console::error_1(&format!("Deep Shopping could not start: {message}").into());
    set_status(&format!("Could not start: {message}"));
    if let Some(el) = by_id("status") {
        el.class_list().add_1("error").ok();
    }
}
