//! The widget's behaviour: loading progress, the backend in use, photo upload (file, camera,
//! drop, paste) with a crop box, result cards with reasons and like / dislike buttons, colour
//! weight, filters, more results, and feedback reset and export. Every ranking control
//! re-ranks the current query at once, without re-embedding.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;

use gloo::events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Element, HtmlInputElement, HtmlProgressElement, HtmlSelectElement};

use super::App;
use super::api::{
    Outcome, SearchOptions, embed_photo, last_query, photo_count, publish, query_from_likes,
    rank_cards, replace_first_photo, set_query,
};
use super::widget::{DEFAULT_RESULTS, by_id};
use crate::index::Filters;
use crate::preprocess::Crop;

thread_local! {
    /// Results per page (the widget's `results` attribute).
    static PAGE: Cell<usize> = const { Cell::new(DEFAULT_RESULTS) };
    /// Results shown now: a whole number of pages.
    static SHOWN: Cell<usize> = const { Cell::new(DEFAULT_RESULTS) };
    /// Number of the newest search that replaces the query's photo (a new photo or a crop).
    static NEWEST: Cell<u64> = const { Cell::new(0) };
    /// Photos dropped or pasted while the page was still loading, searched once it is ready.
    static PENDING: RefCell<Vec<Blob>> = const { RefCell::new(Vec::new()) };
}

/// Numbers a search that replaces the query's photo; only the newest one shows its results,
/// so a slow older search never overwrites a newer photo or crop.
fn next_search() -> u64 {
    NEWEST.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

fn is_newest(search: u64) -> bool {
    NEWEST.with(Cell::get) == search
}

fn page_size() -> usize {
    PAGE.with(Cell::get)
}

/// Sets the number of results per page.
pub(crate) fn set_page_size(n: usize) {
    PAGE.with(|p| p.set(n));
    SHOWN.with(|s| s.set(n));
}

/// Shows `text` in the status line.
pub(crate) fn set_status(text: &str) {
    set_text("status", text);
}

fn set_text(id: &str, text: &str) {
    if let Some(el) = by_id(id) {
        el.set_text_content(Some(text));
    }
}

fn element(tag: &str, class: &str, text: Option<&str>) -> Option<Element> {
    let el = gloo::utils::document().create_element(tag).ok()?;
    if !class.is_empty() {
        el.set_class_name(class);
    }
    if text.is_some() {
        el.set_text_content(text);
    }
    Some(el)
}

fn input(id: &str) -> Option<HtmlInputElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

fn select(id: &str) -> Option<HtmlSelectElement> {
    by_id(id).and_then(|e| e.dyn_into().ok())
}

/// Download progress shown in `#progress`.
pub(crate) struct Progress {
    done: Cell<u64>,
    total: Cell<u64>,
}

impl Progress {
    pub(crate) fn new() -> Rc<Self> {
        set_text("status", "Downloading the model and the catalogue…");
        Rc::new(Self {
            done: Cell::new(0),
            total: Cell::new(0),
        })
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.total.set(total);
        self.render();
    }

    pub(crate) fn add(&self, bytes: u64) {
        self.done.set(self.done.get() + bytes);
        self.render();
    }

    fn render(&self) {
        if let Some(bar) = by_id("progress").and_then(|e| e.dyn_into::<HtmlProgressElement>().ok())
        {
            bar.set_max(self.total.get().max(1) as f64);
            bar.set_value(self.done.get() as f64);
        }
        set_text(
            "progress-text",
            &format!(
                "{:.1} / {:.1} MB",
                self.done.get() as f64 / 1e6,
                self.total.get() as f64 / 1e6
            ),
        );
    }
}

/// The ranking options the page's controls describe.
pub(crate) fn options() -> SearchOptions {
    let text = |id: &str| select(id).map(|s| s.value()).filter(|v| !v.is_empty());
    let number = |id: &str| input(id).and_then(|i| i.value().parse::<f64>().ok());
    SearchOptions {
        top: Some(SHOWN.with(Cell::get)),
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

fn rerank() {
    if let (Ok(app), Some(query)) = (super::app(), last_query()) {
        publish(&rank_cards(&app, query, &options()));
    }
}

fn on(id: &str, event: &'static str, handler: impl FnMut(&web_sys::Event) + 'static) {
    if let Some(el) = by_id(id) {
        EventListener::new(&el, event, handler).forget();
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
    set_text(
        "status",
        &format!("Ready: {} catalogue items.", app.index.len()),
    );
    if let Some(el) = by_id("loading") {
        el.set_attribute("hidden", "").ok();
    }
    if let Some(el) = by_id("untrained") {
        if app.manifest.trained {
            el.set_attribute("hidden", "").ok();
        } else {
            el.remove_attribute("hidden").ok();
        }
    }
    let categories = app
        .index
        .items
        .iter()
        .filter_map(|i| i.category.clone())
        .collect();
    fill_select("filter-category", &categories);
    let colours = app
        .index
        .items
        .iter()
        .flat_map(|i| i.colours.iter().map(|c| c.name.clone()))
        .collect();
    fill_select("filter-colour", &colours);

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
    super::camera::wire();
    super::crop::wire();
    on("more-like-likes", "click", |_| {
        let Ok(app) = super::app() else { return };
        match query_from_likes(&app) {
            Some(query) => {
                SHOWN.with(|s| s.set(page_size()));
                publish(&rank_cards(&app, query, &options()));
            }
            None => set_text("status", "Like a product first, then ask for more like it."),
        }
    });
    for (id, event) in [
        ("colour-weight", "input"),
        ("filter-category", "change"),
        ("filter-colour", "change"),
        ("price-min", "input"),
        ("price-max", "input"),
    ] {
        on(id, event, |_| rerank());
    }
    on("more", "click", |_| {
        SHOWN.with(|s| s.set(s.get() + page_size()));
        rerank();
    });
    on("reset-feedback", "click", |_| {
        if let Ok(app) = super::app() {
            super::api::reset_feedback(&app);
            rerank();
        }
    });
    on("export-feedback", "click", |_| export_feedback());
    // One listener for every card's like / dislike buttons.
    on("results", "click", |event| {
        let Some(button) = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|e| e.closest("button[data-vote]").ok().flatten())
        else {
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
        let Ok(app) = super::app() else { return };
        // Pressing a pressed button withdraws the vote.
        let current = app.feedback.borrow().vote_of(&id);
        let v = if current == v { 0 } else { v };
        if let Some(outcome) = super::api::vote(&app, &id, v, &options()) {
            publish(&outcome);
        }
    });
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
                if super::app().is_ok() {
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
    let n = photo_count();
    let combined = if n > 1 {
        format!(" Combining {n} photos.")
    } else {
        String::new()
    };
    format!("Ready: {} catalogue items.{combined}", app.index.len())
}

/// Embeds `photos` and searches them: a new query (the first photo goes under the crop box),
/// or added to the current one.
pub(crate) fn search_blobs(photos: Vec<Blob>, add: bool) {
    let Some(first) = photos.first() else {
        return;
    };
    // Added photos join whatever the query is when they are ready; a new photo replaces it.
    let search = (!add).then(next_search);
    let current = move || search.is_none_or(is_newest);
    if !add {
        // A new photo from anywhere closes the camera (and turns its light off).
        super::camera::stop();
        super::crop::show(first);
    }
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(app) = super::app() else { return };
        set_status("Searching…");
        let mut embedded = Vec::new();
        for photo in &photos {
            match embed_photo(&app, photo, None).await {
                Ok(q) => embedded.push(q),
                Err(err) if current() => {
                    let message = super::error_message(&err.into());
                    set_status(&format!("Could not search: {message}"));
                    return;
                }
                Err(_) => return,
            }
        }
        if !current() {
            return;
        }
        SHOWN.with(|s| s.set(page_size()));
        if let Some(query) = set_query(&app, embedded, add) {
            publish(&rank_cards(&app, query, &options()));
        }
        set_status(&ready_text(&app));
    });
}

/// Searches `photo` again with `crop` in place of the query's first photo.
pub(crate) async fn search_cropped(photo: &Blob, crop: Option<Crop>) {
    let Ok(app) = super::app() else { return };
    let search = next_search();
    set_status("Searching the cropped photo…");
    let embedded = embed_photo(&app, photo, crop).await;
    if !is_newest(search) {
        return;
    }
    match embedded {
        Ok(q) => {
            if let Some(query) = replace_first_photo(&app, q) {
                publish(&rank_cards(&app, query, &options()));
            }
            set_status(&ready_text(&app));
        }
        Err(err) => {
            let message = super::error_message(&err.into());
            set_status(&format!("Could not search: {message}"));
        }
    }
}

fn export_feedback() {
    let Ok(app) = super::app() else { return };
    let json = serde_json::to_string_pretty(&*app.feedback.borrow()).unwrap_or_default();
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
    set_text("status", &format!("Could not start: {message}"));
    if let Some(el) = by_id("status") {
        el.class_list().add_1("error").ok();
    }
}

fn chips(swatches: &[crate::colour::Swatch]) -> Option<Element> {
    let chips = element("span", "chips", None)?;
    for swatch in swatches {
        if let Some(chip) = element("span", "chip", Some(&swatch.name)) {
            let [r, g, b] = swatch.rgb;
            chip.set_attribute("style", &format!("--chip: rgb({r},{g},{b})"))
                .ok();
            chips.append_child(&chip).ok();
        }
    }
    Some(chips)
}

fn vote_button(id: &str, vote: i32, pressed: bool, title: &str) -> Option<Element> {
    let (text, label) = if vote > 0 {
        ("♥ Like", "Like")
    } else {
        ("✕ Not for me", "Dislike")
    };
    let b = element(
        "button",
        if vote > 0 {
            "vote like"
        } else {
            "vote dislike"
        },
        Some(text),
    )?;
    b.set_attribute("type", "button").ok();
    b.set_attribute("data-id", id).ok();
    b.set_attribute("data-vote", &vote.to_string()).ok();
    b.set_attribute("aria-pressed", if pressed { "true" } else { "false" })
        .ok();
    b.set_attribute("aria-label", &format!("{label} {title}"))
        .ok();
    Some(b)
}

/// A like / dislike button that had the keyboard focus: its item, vote and card position.
struct FocusedVote {
    id: String,
    vote: String,
    position: usize,
}

/// The result cards now shown.
fn cards_of(results: &Element) -> Vec<JsValue> {
    super::js::call(results, "querySelectorAll", &["li.card".into()])
        .map(|list| js_sys::Array::from(&list).to_vec())
        .unwrap_or_default()
}

/// The vote button in `results` that has the focus, if one has.
fn focused_vote(results: &Element) -> Option<FocusedVote> {
    let button = super::widget::active_element()?
        .closest("button[data-vote]")
        .ok()
        .flatten()?;
    let card = button.closest("li.card").ok().flatten()?;
    if !results.contains(Some(&card)) {
        return None;
    }
    let card: JsValue = card.into();
    let position = cards_of(results).iter().position(|c| *c == card)?;
    Some(FocusedVote {
        id: button.get_attribute("data-id")?,
        vote: button.get_attribute("data-vote")?,
        position,
    })
}

/// Gives the focus back after re-rendering: to the same button, or (when its item left the
/// results) to the same button of the card now in its place.
fn refocus_vote(results: &Element, was: &FocusedVote) {
    let same = results
        .query_selector(&format!(
            "li.card[data-id=\"{}\"] button[data-vote=\"{}\"]",
            css_escape(&was.id),
            was.vote
        ))
        .ok()
        .flatten();
    let target = same.or_else(|| {
        let cards = cards_of(results);
        let card = cards.get(was.position.min(cards.len().checked_sub(1)?))?;
        card.dyn_ref::<Element>()?
            .query_selector(&format!("button[data-vote=\"{}\"]", was.vote))
            .ok()
            .flatten()
    });
    if let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
        el.focus().ok();
    }
}

/// `text` as a CSS string body: backslashes and double quotes escaped.
fn css_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders result cards, the query's colours and category, and timings.
pub(crate) fn show(outcome: &Outcome) {
    let Some(results) = by_id("results") else {
        return;
    };
    let keep_focus = focused_vote(&results);
    results.set_inner_html("");
    for card in &outcome.cards {
        let Some(li) = element("li", "card", None) else {
            continue;
        };
        li.set_attribute("data-id", &card.id).ok();
        if let Some(img) = element("img", "", None) {
            img.set_attribute("src", &card.image).ok();
            img.set_attribute("alt", &card.title).ok();
            img.set_attribute("loading", "lazy").ok();
            li.append_child(&img).ok();
        }
        if let Some(title) = element("h3", "", Some(&card.title)) {
            li.append_child(&title).ok();
        }
        let price = card.price.map(|p| format!(" · {p:.2}")).unwrap_or_default();
        let meta = format!(
            "{}{price} · {:.0}% match",
            card.category.as_deref().unwrap_or("uncategorised"),
            card.share * 100.0
        );
        if let Some(p) = element("p", "meta", Some(&meta)) {
            li.append_child(&p).ok();
        }
        if let Some(p) = element("p", "reason", Some(&card.reason)) {
            li.append_child(&p).ok();
        }
        if let Some(c) = chips(&card.colours) {
            li.append_child(&c).ok();
        }
        if let Some(votes) = element("p", "votes", None) {
            for v in [1, -1] {
                if let Some(b) = vote_button(&card.id, v, card.vote == v, &card.title) {
                    votes.append_child(&b).ok();
                }
            }
            li.append_child(&votes).ok();
        }
        results.append_child(&li).ok();
    }
    if let Some(focus) = keep_focus {
        refocus_vote(&results, &focus);
    }
    if let Some(more) = by_id("more") {
        if outcome.more {
            more.remove_attribute("hidden").ok();
        } else {
            more.set_attribute("hidden", "").ok();
        }
    }
    if let Some(el) = by_id("query-colours") {
        el.set_inner_html("");
        if let Some(label) = element("span", "", Some("Your photo's colours: ")) {
            el.append_child(&label).ok();
        }
        if let Some(c) = chips(&outcome.query.colours) {
            el.append_child(&c).ok();
        }
    }
    match outcome.query.category.first() {
        Some(top) => {
            let others: Vec<String> = outcome.query.category[1..]
                .iter()
                .map(|l| format!("{} {:.0}%", l.label, l.score * 100.0))
                .collect();
            set_text(
                "prediction",
                &format!(
                    "Looks like: {} ({:.0}% confident; then {})",
                    top.label,
                    top.score * 100.0,
                    others.join(", ")
                ),
            );
        }
        None => set_text("prediction", ""),
    }
    let t = outcome.timings;
    set_text(
        "timings",
        &format!(
            "prepare {:.0} ms · embed {:.0} ms · rank {:.1} ms · total {:.0} ms",
            t.prepare_ms, t.embed_ms, t.rank_ms, t.total_ms
        ),
    );
}
