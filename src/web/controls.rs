//! The widget's controls and what they do once loaded (the entry point is `entry`'s): loading
//! progress, searching a photo, the crop box, the refine chips and the filter drawer (category,
//! colour, price, colour weight, likes), more results, and feedback reset and export. Every
//! ranking control re-ranks the current query at once, without describing the photo again;
//! the results reach the page through the session's listeners (`view`). What the shopper
//! reads is in plain words; backend and timings only with the `debug` attribute.

use std::collections::BTreeSet;
use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Element, HtmlInputElement, HtmlProgressElement, HtmlSelectElement};

use super::app::{App, current};
use super::js::{self, error_message};
use super::session::{Results, SearchOptions};
use super::widget::{by_id, element, set_state, set_text, set_visible};
use super::{camera, crop, view, widget};
use crate::index::Filters;
use crate::preprocess::Crop;

/// Shows `text` in the status line.
pub(super) fn set_status(text: &str) {
    set_text("status", text);
}

/// The widget's `<input>` with `id`.
pub(super) fn input(id: &str) -> Option<HtmlInputElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

fn select(id: &str) -> Option<HtmlSelectElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

/// Says that the search is getting ready (the model and the catalogue download).
pub(crate) fn loading() {
    set_state("loading");
    set_visible("loading", true);
    set_status("Getting the photo search ready…");
}

/// Shows download progress: `done` of `total` bytes; once all is there, that the search is
/// being prepared.
pub(crate) fn progress(done: u64, total: u64) {
    if let Some(bar) = by_id("progress").and_then(|e| e.dyn_into::<HtmlProgressElement>().ok()) {
        bar.set_max(total.max(1) as f64);
        bar.set_value(done as f64);
    }
    set_text(
        "progress-text",
        &format!(
            "Downloading {:.1} of {:.1} MB, once: it is kept for your next visit.",
            done as f64 / 1e6,
            total as f64 / 1e6
        ),
    );
    if done >= total && widget::state().as_deref() == Some("loading") {
        set_state("preparing");
        set_status("Preparing the search…");
    }
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

/// Ranks the current query again with the controls' options, and says what came of it.
fn rerank(app: &App) {
    app.session.set_options(options());
    refresh(app, true);
}

/// Ranks the current query again (on a partitioned catalogue once what it needs is read),
/// and with `say` says what came of it.
fn refresh(app: &App, say: bool) {
    let said = move |app: &App, results: Option<Results>| match results {
        Some(r) if say => set_status(&if r.cards.is_empty() {
            "No products match these filters.".to_string()
        } else {
            ready_text(app)
        }),
        _ => {}
    };
    let Some(app) = current().ok().filter(|a| a.remote.is_some()) else {
        return said(app, app.session.rank(None));
    };
    wasm_bindgen_futures::spawn_local(async move {
        let err = match app.rank(None).await {
            Ok(results) => return said(&app, results),
            Err(err) => error_message(&err.into()),
        };
        view::cleared();
        set_state("error");
        web_sys::console::warn_1(&format!("Deep Shopping: {err}").into());
        set_status(if err.contains("reload the page") {
            "Could not search: the catalogue changed since this page opened. Reload the page."
        } else {
            "Could not search: part of the catalogue could not be read. Try again later."
        });
    });
}

/// Calls `handler` on each `event` of the widget element `id`.
pub(super) fn on(id: &str, event: &'static str, handler: impl FnMut(&web_sys::Event) + 'static) {
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
    set_state("ready");
    set_status("Ready: take or upload a photo of a garment.");
    set_visible("loading", false);
    set_visible("untrained", !app.manifest.trained);
    // The filters offer what the shopper can find: items out of stock are left out of both.
    let (categories, colours) = app.session.facets();
    fill_select("filter-category", &categories);
    fill_select("filter-colour", &colours);
    app.session.set_options(options());

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
    wire_refine();
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
            app.vote(&id, v);
            refresh(app, false);
        })
    }
}

/// Sets the filter `<select>` `id` to `value` (empty: no filter); false when it offers no
/// such value.
fn set_filter(id: &str, value: &str) -> bool {
    let Some(s) = select(id) else { return false };
    s.set_value(value);
    s.value() == value
}

/// Clears every filter (category, colour, price).
fn clear_filters() {
    set_filter("filter-category", "");
    set_filter("filter-colour", "");
    for id in ["price-min", "price-max"] {
        if let Some(i) = input(id) {
            i.set_value("");
        }
    }
}

/// Opens or closes the filter drawer.
fn open_drawer(open: bool) {
    set_visible("drawer", open);
    if let Some(b) = by_id("filters-open") {
        b.set_attribute("aria-expanded", if open { "true" } else { "false" })
            .ok();
    }
}

/// The refine chips (one listener for both rows: a chip sets its filter, a pressed one clears
/// it), the drawer's buttons, and "Clear filters" in the drawer and in the empty state.
fn wire_refine() {
    on("refine", "click", |event| {
        let Some(chip) = closest(event, "button[data-filter]") else {
            return;
        };
        let (Some(filter), Some(value)) = (
            chip.get_attribute("data-filter"),
            chip.get_attribute("data-value"),
        ) else {
            return;
        };
        let pressed = chip.get_attribute("aria-pressed").as_deref() == Some("true");
        let value = if pressed { "" } else { value.as_str() };
        if set_filter(&filter, value) {
            with_app(|app| {
                app.session.first_page();
                rerank(app);
            });
            // The row is drawn again: the focus goes to the chip that is now pressed.
            let selector = format!("button[data-filter=\"{filter}\"][aria-pressed=\"true\"]");
            if let Some(el) = by_id("refine")
                .and_then(|r| r.query_selector(&selector).ok().flatten())
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                el.focus().ok();
            }
        }
    });
    on("filters-open", "click", |_| {
        let open = by_id("drawer").is_some_and(|d| d.has_attribute("hidden"));
        open_drawer(open);
        if open {
            widget::focus("filter-category");
        }
    });
    on("drawer-close", "click", |_| {
        open_drawer(false);
        widget::focus("filters-open");
    });
    for id in ["clear-filters", "empty-clear"] {
        on(id, "click", |_| {
            clear_filters();
            with_app(|app| {
                app.session.first_page();
                rerank(app);
            });
        });
    }
}

fn ready_text(app: &App) -> String {
    let n = app.session.photo_count();
    let combined = if n > 1 {
        format!(" to your {n} photos")
    } else {
        String::new()
    };
    format!(
        "Ready: the closest matches{combined} among {} products.",
        app.session.count()
    )
}

/// Says that a photo could not be searched, in words a shopper can act on.
fn search_failed(message: &str) {
    view::idle();
    set_state("error");
    web_sys::console::warn_1(&format!("Deep Shopping: search failed: {message}").into());
    set_status(&format!(
        "Could not search this photo: {message}. Try another photo (JPEG, PNG or WebP)."
    ));
}

/// Describes `photos` and searches them: a new query (the first photo goes under the crop
/// box), or added to the current one.
pub(super) fn search_blobs(photos: Vec<Blob>, add: bool) {
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
        view::searching();
        set_status("Searching for similar products…");
        let mut described = Vec::new();
        for photo in &photos {
            match app.describe(photo, None).await {
                Ok(p) => described.push(p),
                Err(err) if current() => {
                    if !add {
                        // The shopper starts again from the entry point (the results of the
                        // photo before stay).
                        crop::hide();
                    }
                    search_failed(&error_message(&err.into()));
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
        } else {
            view::idle();
            set_status(&ready_text(&app));
        }
    });
}

/// Searches `photo` again with `crop` in place of the query's first photo.
async fn search_cropped(photo: &Blob, crop: Option<Crop>) {
    let Ok(app) = current() else { return };
    let search = app.session.next_search();
    view::searching();
    set_status("Searching the box you drew…");
    let described = app.describe(photo, crop).await;
    if !app.session.is_newest(search) {
        return;
    }
    match described {
        Ok(p) => {
            if app.session.replace_first_photo(p).is_some() {
                rerank(&app);
            } else {
                view::idle();
                set_status(&ready_text(&app));
            }
        }
        Err(err) => search_failed(&error_message(&err.into())),
    }
}

fn export_feedback(app: &App) {
    let json = serde_json::to_string_pretty(&app.session.feedback()).unwrap_or_default();
    widget::download(&json, "application/json", "deep-shopping-feedback.json");
}

/// Shows a loading failure.
pub(crate) fn failed(message: &str) {
    web_sys::console::error_1(&format!("Deep Shopping could not start: {message}").into());
    set_visible("loading", false);
    set_state("failed");
    set_status(&format!(
        "Search by photo could not start: {message}. Check your connection, then reload the page."
    ));
}
