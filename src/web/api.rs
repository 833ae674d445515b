//! `window.deepShopping`, the JS API for storefront developers and tests: `ready()`,
//! `backend()`, `info()`, `search(blob | [blob...], {top, colourWeight, categoryWeight, crop, filters})`,
//! `addPhoto(blob | [blob...], opts)`, `moreLikeLiked(opts)`, `rerank(opts)`, `embed(blob)`,
//! `classify(blob)`, `feedback(id, vote)`, `resetFeedback()`, `exportFeedback()`.
//! Every change of the results dispatches `deepshopping:results` on `window`.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::storage::{LocalStorage, Storage};
use js_sys::{Function, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::{App, app};
use crate::colour::Swatch;
use crate::index::{Feedback, Filters, Query, Weights, mean, rank_where, reason, unit};
use crate::preprocess::Crop;

/// Options of `search` and `rerank`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchOptions {
    /// Number of results (default 12).
    pub top: Option<usize>,
    /// Colour weight, 0..1 (default 0.3).
    pub colour_weight: Option<f32>,
    /// Weight of category agreement in the look, 0..4 (default 1).
    pub category_weight: Option<f32>,
    /// Crop box as fractions of the upright photo.
    pub crop: Option<Crop>,
    /// Category, colour and price filters.
    #[serde(default)]
    pub filters: Filters,
}

/// One result card.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Card {
    pub id: String,
    pub score: f32,
    /// The score as a share of the best any item could reach for this photo, 0..1 (shown as
    /// the match).
    #[serde(rename = "match")]
    pub share: f32,
    pub visual: f32,
    pub colour: f32,
    /// Agreement of the predicted categories of the query and the item, 0..1.
    #[serde(rename = "categoryMatch")]
    pub category_match: f32,
    pub category: Option<String>,
    pub title: String,
    pub image: String,
    pub price: Option<f64>,
    pub colours: Vec<Swatch>,
    /// Why it matched, in a few words.
    pub reason: String,
    /// The shopper's vote: 1 liked, -1 disliked, 0 none.
    pub vote: i32,
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

/// A predicted category.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Label {
    pub label: String,
    pub score: f32,
}

/// What the model says about the query photo.
#[derive(Debug, Clone)]
pub(crate) struct QueryPhoto {
    pub embedding: Vec<f32>,
    pub probabilities: Vec<f32>,
    pub histogram: Vec<f32>,
    pub colours: Vec<Swatch>,
    /// The three most probable categories (empty for an untrained model).
    pub category: Vec<Label>,
    pub prepare_ms: f64,
    pub embed_ms: f64,
    /// The part of the photo searched (`None`: all of it, or several photos).
    pub crop: Option<Crop>,
}

/// Results shown for the current query.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub cards: Vec<Card>,
    pub timings: Timings,
    pub query: Rc<QueryPhoto>,
    /// Whether more results exist beyond `cards`.
    pub more: bool,
}

/// When the last photo was prepared and embedded, and on which thread.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Work {
    /// Start, in milliseconds since the Unix epoch.
    pub started_at: f64,
    /// End, in milliseconds since the Unix epoch.
    pub ended_at: f64,
    /// `"worker"` or `"page"`.
    pub thread: &'static str,
}

thread_local! {
    static LAST_WORK: std::cell::Cell<Option<Work>> = const { std::cell::Cell::new(None) };
    static LAST_TIMINGS: RefCell<Option<Timings>> = const { RefCell::new(None) };
    static LAST_QUERY: RefCell<Option<Rc<QueryPhoto>>> = const { RefCell::new(None) };
    static PHOTOS: RefCell<Vec<Rc<QueryPhoto>>> = const { RefCell::new(Vec::new()) };
}

fn now() -> f64 {
    super::engine::epoch_ms()
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

/// Prepares and embeds one photo (in the worker, or on this thread).
pub(crate) async fn embed_photo(
    app: &App,
    blob: &web_sys::Blob,
    crop: Option<Crop>,
) -> Result<Rc<QueryPhoto>, JsError> {
    let bytes = blob_bytes(blob).await?;
    let f = app.engine.features(bytes, crop).await?;
    LAST_WORK.with(|w| {
        w.set(Some(Work {
            started_at: f.started_at,
            ended_at: f.ended_at,
            thread: app.engine.thread(),
        }))
    });
    let category = if app.manifest.trained {
        labels(app, &f.probabilities)
    } else {
        Vec::new()
    };
    Ok(Rc::new(QueryPhoto {
        embedding: f.embedding,
        probabilities: f.probabilities,
        histogram: f.histogram,
        colours: f.colours,
        category,
        prepare_ms: f.prepare_ms,
        embed_ms: f.embed_ms,
        crop,
    }))
}

/// Makes `photos` (or, with `add`, the current photos and `photos`) the query: one photo as
/// it is, several as their combination (unit mean embedding, mean histogram, mean category
/// probabilities). Returns the combined query.
pub(crate) fn set_query(
    app: &App,
    photos: Vec<Rc<QueryPhoto>>,
    add: bool,
) -> Option<Rc<QueryPhoto>> {
    let all = PHOTOS.with(|p| {
        let mut p = p.borrow_mut();
        if !add {
            p.clear();
        }
        p.extend(photos);
        p.clone()
    });
    let query = match all.as_slice() {
        [] => return None,
        [one] => one.clone(),
        many => {
            let rows = |f: fn(&QueryPhoto) -> &Vec<f32>| -> Vec<Vec<f32>> {
                many.iter().map(|q| f(q).clone()).collect()
            };
            let probabilities = mean(&rows(|q| &q.probabilities)).unwrap_or_default();
            let category = if many[0].category.is_empty() {
                Vec::new()
            } else {
                labels(app, &probabilities)
            };
            Rc::new(QueryPhoto {
                embedding: unit(&mean(&rows(|q| &q.embedding)).unwrap_or_default()),
                histogram: mean(&rows(|q| &q.histogram)).unwrap_or_default(),
                probabilities,
                colours: many
                    .iter()
                    .flat_map(|q| q.colours.iter().take(1).cloned())
                    .collect(),
                category,
                prepare_ms: many.iter().map(|q| q.prepare_ms).sum(),
                embed_ms: many.iter().map(|q| q.embed_ms).sum(),
                crop: None,
            })
        }
    };
    LAST_QUERY.with(|q| *q.borrow_mut() = Some(query.clone()));
    Some(query)
}

/// Puts `photo` in place of the current query's first photo (the one under the crop box),
/// keeping any added photos. Returns the new query.
pub(crate) fn replace_first_photo(app: &App, photo: Rc<QueryPhoto>) -> Option<Rc<QueryPhoto>> {
    let others: Vec<_> = PHOTOS.with(|p| p.borrow().iter().skip(1).cloned().collect());
    set_query(app, std::iter::once(photo).chain(others).collect(), false)
}

/// Number of photos in the current query.
pub(crate) fn photo_count() -> usize {
    PHOTOS.with(|p| p.borrow().len())
}

/// Makes the liked items the query ("more like these"); `None` without likes.
pub(crate) fn query_from_likes(app: &App) -> Option<Rc<QueryPhoto>> {
    let liked = app.feedback.borrow().liked_query(&app.index)?;
    let colours = app
        .feedback
        .borrow()
        .liked
        .iter()
        .filter_map(|id| app.index.items.iter().find(|i| &i.id == id))
        .filter_map(|i| i.colours.first().cloned())
        .collect();
    let query = Rc::new(QueryPhoto {
        embedding: liked.embedding,
        histogram: liked.histogram,
        probabilities: liked.probabilities,
        colours,
        category: Vec::new(),
        prepare_ms: 0.0,
        embed_ms: 0.0,
        crop: None,
    });
    PHOTOS.with(|p| p.borrow_mut().clear());
    LAST_QUERY.with(|q| *q.borrow_mut() = Some(query.clone()));
    Some(query)
}

fn labels(app: &App, probabilities: &[f32]) -> Vec<Label> {
    crate::embed::top_labels(&app.manifest.labels, probabilities, 3)
        .into_iter()
        .map(|(label, score)| Label { label, score })
        .collect()
}

/// The current query, if a photo has been searched.
pub(crate) fn last_query() -> Option<Rc<QueryPhoto>> {
    LAST_QUERY.with(|q| q.borrow().clone())
}

/// Ranks the catalogue for `query` with the shopper's feedback, filters and colour weight.
/// Disliked items are left out.
pub(crate) fn rank_cards(app: &App, query: Rc<QueryPhoto>, options: &SearchOptions) -> Outcome {
    let t0 = now();
    let feedback = app.feedback.borrow();
    let embedding = feedback.adjust(&app.index, &query.embedding);
    let top = options.top.unwrap_or(12);
    let hits = rank_where(
        &app.index,
        Query {
            embedding: &embedding,
            histogram: &query.histogram,
            probabilities: &query.probabilities,
        },
        Weights {
            colour: options.colour_weight.unwrap_or(Weights::DEFAULT.colour),
            category: options.category_weight.unwrap_or(Weights::DEFAULT.category),
        },
        top + 1,
        |item| options.filters.matches(item) && feedback.vote_of(&item.id) >= 0,
    );
    let more = hits.len() > top;
    let predicted = query.category.first().map(|l| l.label.as_str());
    let cards = hits
        .iter()
        .take(top)
        .map(|h| {
            let item = &app.index.items[h.index];
            Card {
                id: item.id.clone(),
                score: h.score,
                share: h.share,
                visual: h.visual,
                colour: h.colour,
                category_match: h.category,
                category: item.category.clone(),
                title: item.title.clone(),
                image: super::fetch::join(&app.index_url, &item.image)
                    .unwrap_or_else(|_| item.image.clone()),
                price: item.price,
                colours: item.colours.clone(),
                reason: reason(h, item, predicted),
                vote: feedback.vote_of(&item.id),
            }
        })
        .collect();
    let rank_ms = now() - t0;
    let timings = Timings {
        prepare_ms: query.prepare_ms,
        embed_ms: query.embed_ms,
        rank_ms,
        total_ms: query.prepare_ms + query.embed_ms + rank_ms,
    };
    LAST_TIMINGS.with(|t| *t.borrow_mut() = Some(timings));
    Outcome {
        cards,
        timings,
        query,
        more,
    }
}

/// Shows `outcome` on the page and tells listeners.
pub(crate) fn publish(outcome: &Outcome) {
    super::page::show(outcome);
    let detail = to_value(&outcome.cards).unwrap_or(JsValue::NULL);
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("deepshopping:results", &init)
    {
        gloo::utils::window().dispatch_event(&event).ok();
    }
}

fn storage_key(app: &App) -> String {
    format!("deep-shopping/feedback/{}", app.feedback.borrow().catalogue)
}

/// The feedback stored for this catalogue, or none yet.
pub(crate) fn stored_feedback(catalogue: &str, model: &str) -> Feedback {
    LocalStorage::get::<Feedback>(format!("deep-shopping/feedback/{catalogue}"))
        .ok()
        .filter(|f| f.catalogue == catalogue)
        .unwrap_or_else(|| Feedback::new(catalogue, model))
}

/// Records a vote, stores it and re-ranks the current query with `options`.
pub(crate) fn vote(app: &App, id: &str, vote: i32, options: &SearchOptions) -> Option<Outcome> {
    app.feedback.borrow_mut().vote(id, vote);
    save_feedback(app);
    last_query().map(|q| rank_cards(app, q, options))
}

/// Forgets every vote.
pub(crate) fn reset_feedback(app: &App) {
    let fresh = {
        let f = app.feedback.borrow();
        Feedback::new(&f.catalogue, &f.model)
    };
    *app.feedback.borrow_mut() = fresh;
    save_feedback(app);
}

fn save_feedback(app: &App) {
    if let Err(err) = LocalStorage::set(storage_key(app), &*app.feedback.borrow()) {
        web_sys::console::warn_1(&format!("feedback not saved: {err}").into());
    }
}

/// `value` as a plain JS object (maps as objects).
pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()).into())
}

fn blob_arg(value: JsValue) -> Result<web_sys::Blob, JsValue> {
    value
        .dyn_into::<web_sys::Blob>()
        .map_err(|_| JsError::new("expected a Blob or File").into())
}

fn options_arg(options: JsValue) -> Result<SearchOptions, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(super::page::options());
    }
    serde_wasm_bindgen::from_value(options)
        .map_err(|e| JsError::new(&format!("bad search options: {e}")).into())
}

/// One blob, or an array of blobs.
fn blobs_arg(value: JsValue) -> Result<Vec<web_sys::Blob>, JsValue> {
    if js_sys::Array::is_array(&value) {
        let blobs = js_sys::Array::from(&value)
            .iter()
            .map(blob_arg)
            .collect::<Result<Vec<_>, _>>()?;
        if blobs.is_empty() {
            return Err(JsError::new("expected at least one photo").into());
        }
        Ok(blobs)
    } else {
        Ok(vec![blob_arg(value)?])
    }
}

/// Ranks `query`, shows and announces the results, and returns the cards to the caller.
fn show_ranked(
    app: &App,
    query: Rc<QueryPhoto>,
    options: &SearchOptions,
) -> Result<JsValue, JsValue> {
    let outcome = rank_cards(app, query, options);
    publish(&outcome);
    to_value(&outcome.cards)
}

async fn search_photos(blobs: JsValue, options: JsValue, add: bool) -> Result<JsValue, JsValue> {
    let blobs = blobs_arg(blobs)?;
    let options = options_arg(options)?;
    let app = app()?;
    let mut photos = Vec::with_capacity(blobs.len());
    for blob in &blobs {
        photos.push(embed_photo(&app, blob, options.crop).await?);
    }
    let query = set_query(&app, photos, add).ok_or_else(|| JsError::new("no photo to search"))?;
    show_ranked(&app, query, &options)
}

fn more_like_liked_js(options: JsValue) -> Result<JsValue, JsValue> {
    let options = options_arg(options)?;
    let app = app()?;
    let query = query_from_likes(&app).ok_or_else(|| JsError::new("nothing is liked yet"))?;
    show_ranked(&app, query, &options)
}

fn rerank_js(options: JsValue) -> Result<JsValue, JsValue> {
    let options = options_arg(options)?;
    let app = app()?;
    let query = last_query().ok_or_else(|| JsError::new("no photo has been searched yet"))?;
    show_ranked(&app, query, &options)
}

fn feedback_js(id: JsValue, vote_value: JsValue) -> Result<JsValue, JsValue> {
    let app = app()?;
    let id = id
        .as_string()
        .ok_or_else(|| JsError::new("feedback(id, vote): id must be a string"))?;
    let v = vote_value
        .as_f64()
        .filter(|v| [-1.0, 0.0, 1.0].contains(v))
        .ok_or_else(|| JsError::new("feedback(id, vote): vote must be 1, -1 or 0"))?;
    if !app.index.items.iter().any(|i| i.id == id) {
        return Err(JsError::new(&format!("no item {id:?} in the catalogue")).into());
    }
    match vote(&app, &id, v as i32, &super::page::options()) {
        Some(outcome) => {
            publish(&outcome);
            to_value(&outcome.cards)
        }
        None => Ok(JsValue::NULL),
    }
}

fn reset_feedback_js() -> Result<JsValue, JsValue> {
    let app = app()?;
    reset_feedback(&app);
    if let Some(q) = last_query() {
        publish(&rank_cards(&app, q, &super::page::options()));
    }
    Ok(JsValue::UNDEFINED)
}

fn export_feedback_js() -> Result<JsValue, JsValue> {
    let app = app()?;
    to_value(&*app.feedback.borrow())
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
    let q = embed_photo(&app, &blob, None).await?;
    set_query(&app, vec![q.clone()], false);
    to_value(&EmbedResult {
        embedding: q.embedding.clone(),
        probabilities: q.probabilities.clone(),
        labels: app.manifest.labels.clone(),
        colours: q.colours.clone(),
    })
}

async fn classify_js(blob: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let app = app()?;
    if !app.manifest.trained {
        return Err(
            JsError::new("the loaded model is untrained; it has no meaningful categories").into(),
        );
    }
    let q = embed_photo(&app, &blob, None).await?;
    set_query(&app, vec![q.clone()], false);
    to_value(&q.category)
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
    /// Where photos are embedded: `"worker"` or `"page"`.
    thread: &'static str,
    /// Why the model runs on the page although workers are on, when it does.
    worker_error: Option<String>,
    /// When the last photo was prepared and embedded.
    last_work: Option<Work>,
    last_timings: Option<Timings>,
    /// Photos combined in the current query.
    photos: usize,
    /// The part of the photo the current query searched; `null` for all of it.
    crop: Option<Crop>,
}

fn info_js() -> Result<JsValue, JsValue> {
    let app = app()?;
    to_value(&Info {
        backend: app.backend,
        fallback_reason: app.fallback_reason.clone(),
        items: app.index.len(),
        trained: app.manifest.trained,
        model: app.manifest.model.clone(),
        model_sha256: app.manifest.weights.sha256.clone(),
        thread: app.engine.thread(),
        worker_error: app.worker_error.clone(),
        last_work: LAST_WORK.with(std::cell::Cell::get),
        last_timings: LAST_TIMINGS.with(|t| *t.borrow()),
        photos: photo_count(),
        crop: last_query().and_then(|q| q.crop),
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
    let search = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|blobs, options| {
        future_to_promise(search_photos(blobs, options, false))
    });
    let add_photo = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|blobs, options| {
        future_to_promise(search_photos(blobs, options, true))
    });
    let more_like = Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(more_like_liked_js);
    let rerank = Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(rerank_js);
    let embed =
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(embed_js(blob)));
    let classify =
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(classify_js(blob)));
    let feedback =
        Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(feedback_js);
    let reset = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(reset_feedback_js);
    let export = Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(export_feedback_js);
    set(&api, "ready", ready.as_ref());
    set(&api, "backend", backend.as_ref());
    set(&api, "info", info.as_ref());
    set(&api, "search", search.as_ref());
    set(&api, "rerank", rerank.as_ref());
    set(&api, "addPhoto", add_photo.as_ref());
    set(&api, "moreLikeLiked", more_like.as_ref());
    set(&api, "embed", embed.as_ref());
    set(&api, "classify", classify.as_ref());
    set(&api, "feedback", feedback.as_ref());
    set(&api, "resetFeedback", reset.as_ref());
    set(&api, "exportFeedback", export.as_ref());
    // The API lives as long as the page.
    ready.forget();
    backend.forget();
    info.forget();
    search.forget();
    rerank.forget();
    add_photo.forget();
    more_like.forget();
    embed.forget();
    classify.forget();
    feedback.forget();
    reset.forget();
    export.forget();
    set(&gloo::utils::window(), "deepShopping", &api);
    Ready { resolve, reject }
}
