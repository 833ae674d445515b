//! The demo page: progress while loading, the backend in use, photo upload and result cards.

use std::cell::Cell;
use std::rc::Rc;

use gloo::events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlInputElement, HtmlProgressElement};

use super::App;
use super::api::{Outcome, SearchOptions, search};

fn by_id(id: &str) -> Option<Element> {
    gloo::utils::document().get_element_by_id(id)
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

/// Shows the ready state and wires the upload control.
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
        if app.embedder.manifest().trained {
            el.set_attribute("hidden", "").ok();
        } else {
            el.remove_attribute("hidden").ok();
        }
    }
    let Some(input) = by_id("photo").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) else {
        return;
    };
    input.set_disabled(false);
    let target = input.clone();
    EventListener::new(&input, "change", move |_| {
        let Some(file) = target.files().and_then(|f| f.get(0)) else {
            return;
        };
        wasm_bindgen_futures::spawn_local(async move {
            let Ok(app) = super::app() else { return };
            set_text("status", "Searching…");
            let options = SearchOptions {
                colour_weight: colour_weight(),
                ..Default::default()
            };
            match search(&app, &file, &options).await {
                Ok(outcome) => {
                    show(&outcome);
                    set_text(
                        "status",
                        &format!("Ready: {} catalogue items.", app.index.len()),
                    );
                }
                Err(err) => {
                    let value: wasm_bindgen::JsValue = err.into();
                    let message = js_sys::Reflect::get(&value, &"message".into())
                        .ok()
                        .and_then(|m| m.as_string())
                        .unwrap_or_else(|| "search failed".into());
                    set_text("status", &format!("Could not search: {message}"));
                }
            }
        });
    })
    .forget();
}

fn colour_weight() -> Option<f32> {
    by_id("colour-weight")
        .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
        .and_then(|i| i.value().parse().ok())
}

/// Shows a loading failure.
pub(crate) fn failed(message: &str) {
    set_text("status", &format!("Could not start: {message}"));
    if let Some(el) = by_id("status") {
        el.class_list().add_1("error").ok();
    }
}

/// Renders result cards and timings.
pub(crate) fn show(outcome: &Outcome) {
    let Some(results) = by_id("results") else {
        return;
    };
    results.set_inner_html("");
    for card in &outcome.cards {
        let Some(li) = element("li", "card", None) else {
            continue;
        };
        if let Some(img) = element("img", "", None) {
            img.set_attribute("src", &card.image).ok();
            img.set_attribute("alt", &card.title).ok();
            img.set_attribute("loading", "lazy").ok();
            li.append_child(&img).ok();
        }
        if let Some(title) = element("h3", "", Some(&card.title)) {
            li.append_child(&title).ok();
        }
        let meta = format!(
            "{} · score {:.3}",
            card.category.as_deref().unwrap_or("uncategorised"),
            card.score
        );
        if let Some(p) = element("p", "meta", Some(&meta)) {
            li.append_child(&p).ok();
        }
        if let Some(chips) = element("p", "chips", None) {
            for swatch in &card.colours {
                if let Some(chip) = element("span", "chip", Some(&swatch.name)) {
                    let [r, g, b] = swatch.rgb;
                    chip.set_attribute("style", &format!("--chip: rgb({r},{g},{b})"))
                        .ok();
                    chips.append_child(&chip).ok();
                }
            }
            li.append_child(&chips).ok();
        }
        results.append_child(&li).ok();
    }
    match outcome.category.first() {
        Some(top) => {
            let others: Vec<String> = outcome.category[1..]
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
