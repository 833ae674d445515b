//! `window.deepShopping`, the JS API for storefront developers and tests:
//! `ready()`, `backend()`, `info()`, `search(blob, {top, colourWeight})`, `embed(blob)`,
//! `classify(blob)`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::{App, app};
use crate::colour::{self, Swatch};
use crate::index::{Query, rank};
use crate::preprocess::{Crop, Limits, prepare};

/// Options of `search`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchOptions {
    /// Number of results (default 12).
    pub top: Option<usize>,
    /// Colour weight, 0..1 (default 0.3).
    pub colour_weight: Option<f32>,
    /// Crop box as fractions of the upright photo.
    pub crop: Option<Crop>,
}

/// One result card.
#[derive(Debug, Serialize)]
pub(crate) struct Card {
    pub id: String,
    pub score: f32,
    pub visual: f32,
    pub colour: f32,
    pub category: Option<String>,
    pub title: String,
    pub image: String,
    pub price: Option<f64>,
    pub colours: Vec<Swatch>,
}

/// Milliseconds spent in each step of the last search.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timings {
    pub prepare_ms: f64,
    pub embed_ms: f64,
    pub rank_ms: f64,
    pub total_ms: f64,
}

/// What a search returns.
pub(crate) struct Outcome {
    pub cards: Vec<Card>,
    pub timings: Timings,
    pub embedding: Vec<f32>,
    pub probabilities: Vec<f32>,
    pub query_colours: Vec<Swatch>,
    /// The three most probable categories (empty for an untrained model).
    pub category: Vec<Label>,
}

/// A predicted category.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Label {
    pub label: String,
    pub score: f32,
}

thread_local! {
    static LAST_TIMINGS: RefCell<Option<Timings>> = const { RefCell::new(None) };
}

fn now() -> f64 {
    gloo::utils::window().performance().map_or(0.0, |p| p.now())
}

const MAX_UPLOAD: f64 = 40.0 * 1024.0 * 1024.0;

async fn blob_bytes(blob: &web_sys::Blob) -> Result<Vec<u8>, JsError> {
    if blob.size() > MAX_UPLOAD {
        return Err(JsError::new(&format!(
            "photo is {:.1} MB; the limit is 40 MB",
            blob.size() / 1e6
        )));
    }
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|e| JsError::new(&format!("cannot read the photo: {e:?}")))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Prepares, embeds and ranks one photo.
pub(crate) async fn search(
    app: &App,
    blob: &web_sys::Blob,
    options: &SearchOptions,
) -> Result<Outcome, JsError> {
    let bytes = blob_bytes(blob).await?;
    let t0 = now();
    let prepared = prepare(
        &bytes,
        options.crop,
        app.embedder.input_size(),
        &Limits::default(),
    )?;
    let colours = colour::features(&prepared.square);
    let t1 = now();
    let out = app
        .embedder
        .embed(&[prepared.input])
        .await?
        .pop()
        .ok_or_else(|| JsError::new("the model returned no embedding"))?;
    let t2 = now();
    let hits = rank(
        &app.index,
        Query {
            embedding: &out.embedding,
            histogram: &colours.histogram,
        },
        options.colour_weight.unwrap_or(0.3),
        options.top.unwrap_or(12),
    );
    let cards = hits
        .iter()
        .map(|h| {
            let item = &app.index.items[h.index];
            Card {
                id: item.id.clone(),
                score: h.score,
                visual: h.visual,
                colour: h.colour,
                category: item.category.clone(),
                title: item.title.clone(),
                image: super::fetch::join(&app.index_url, &item.image)
                    .unwrap_or_else(|_| item.image.clone()),
                price: item.price,
                colours: item.colours.clone(),
            }
        })
        .collect();
    let t3 = now();
    let timings = Timings {
        prepare_ms: t1 - t0,
        embed_ms: t2 - t1,
        rank_ms: t3 - t2,
        total_ms: t3 - t0,
    };
    LAST_TIMINGS.with(|t| *t.borrow_mut() = Some(timings));
    Ok(Outcome {
        cards,
        timings,
        embedding: out.embedding,
        category: if app.embedder.manifest().trained {
            app.embedder
                .top_labels(&out.probabilities, 3)
                .into_iter()
                .map(|(label, score)| Label { label, score })
                .collect()
        } else {
            Vec::new()
        },
        probabilities: out.probabilities,
        query_colours: colours.dominant,
    })
}

fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()).into())
}

fn blob_arg(value: JsValue) -> Result<web_sys::Blob, JsValue> {
    value
        .dyn_into::<web_sys::Blob>()
        .map_err(|_| JsError::new("expected a Blob or File").into())
}

async fn search_js(blob: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let options: SearchOptions = if options.is_undefined() || options.is_null() {
        SearchOptions::default()
    } else {
        serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("bad search options: {e}")))?
    };
    let app = app()?;
    let outcome = search(&app, &blob, &options).await?;
    super::page::show(&outcome);
    to_value(&outcome.cards)
}

#[derive(Serialize)]
struct EmbedResult {
    embedding: Vec<f32>,
    probabilities: Vec<f32>,
    labels: Vec<String>,
    colours: Vec<Swatch>,
}

async fn embed_js(blob: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let app = app()?;
    let outcome = search(
        &app,
        &blob,
        &SearchOptions {
            top: Some(0),
            ..Default::default()
        },
    )
    .await?;
    to_value(&EmbedResult {
        embedding: outcome.embedding,
        probabilities: outcome.probabilities,
        labels: app.embedder.manifest().labels.clone(),
        colours: outcome.query_colours,
    })
}

async fn classify_js(blob: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let app = app()?;
    if !app.embedder.manifest().trained {
        return Err(
            JsError::new("the loaded model is untrained; it has no meaningful categories").into(),
        );
    }
    let outcome = search(
        &app,
        &blob,
        &SearchOptions {
            top: Some(0),
            ..Default::default()
        },
    )
    .await?;
    to_value(&outcome.category)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    backend: &'static str,
    fallback_reason: Option<String>,
    items: usize,
    trained: bool,
    model: crate::model::ResNetConfig,
    model_sha256: String,
    last_timings: Option<Timings>,
}

fn info_js() -> Result<JsValue, JsValue> {
    let app = app()?;
    to_value(&Info {
        backend: app.backend,
        fallback_reason: app.fallback_reason.clone(),
        items: app.index.len(),
        trained: app.embedder.manifest().trained,
        model: app.embedder.manifest().model.clone(),
        model_sha256: app.embedder.model_sha256().to_string(),
        last_timings: LAST_TIMINGS.with(|t| *t.borrow()),
    })
}

/// Settles the promise returned by `deepShopping.ready()`.
pub(crate) struct Ready {
    resolve: Function,
    reject: Function,
}

impl Ready {
    pub(crate) fn resolve(&self) {
        if let Err(err) = self.resolve.call0(&JsValue::NULL) {
            web_sys::console::error_1(&err);
        }
    }

    pub(crate) fn reject(&self, err: JsValue) {
        if let Err(err) = self.reject.call1(&JsValue::NULL, &err) {
            web_sys::console::error_1(&err);
        }
    }
}

fn set(target: &Object, name: &str, value: &JsValue) {
    if let Err(err) = Reflect::set(target, &name.into(), value) {
        web_sys::console::error_1(&err);
    }
}

/// Creates `window.deepShopping`; the returned handle settles `ready()`.
pub(crate) fn install() -> Ready {
    let slots: Rc<RefCell<Option<(Function, Function)>>> = Rc::new(RefCell::new(None));
    let promise = {
        let slots = slots.clone();
        Promise::new(&mut move |resolve, reject| {
            *slots.borrow_mut() = Some((resolve, reject));
        })
    };
    let (resolve, reject) = slots
        .borrow_mut()
        .take()
        .unwrap_or_else(|| (Function::new_no_args(""), Function::new_no_args("")));
    let api = Object::new();
    let ready = Closure::<dyn Fn() -> Promise>::new(move || promise.clone());
    let backend = Closure::<dyn Fn() -> JsValue>::new(|| {
        app().map_or(JsValue::NULL, |a| JsValue::from_str(a.backend))
    });
    let info = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(info_js);
    let search = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|blob, options| {
        future_to_promise(search_js(blob, options))
    });
    let embed =
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(embed_js(blob)));
    let classify =
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(classify_js(blob)));
    set(&api, "ready", ready.as_ref());
    set(&api, "backend", backend.as_ref());
    set(&api, "info", info.as_ref());
    set(&api, "search", search.as_ref());
    set(&api, "embed", embed.as_ref());
    set(&api, "classify", classify.as_ref());
    // The API lives as long as the page.
    ready.forget();
    backend.forget();
    info.forget();
    search.forget();
    embed.forget();
    classify.forget();
    set(&gloo::utils::window(), "deepShopping", &api);
    Ready { resolve, reject }
}
