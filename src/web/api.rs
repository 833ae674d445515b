//! `window.deepShopping`, the JS API for storefront developers and tests: `ready()`,
//! `backend()`, `info()`, `search(blob | [blob...], {top, colourWeight, categoryWeight, crop, filters})`,
//! `addPhoto(blob | [blob...], opts)`, `moreLikeLiked(opts)`, `rerank(opts)`, `embed(blob)`,
//! `classify(blob)`, `feedback(id, vote)`, `resetFeedback()`, `exportFeedback()`.
//! A thin layer over the app and its session: arguments in, the session's results out. Every
//! change of the results dispatches `deepshopping:results` on `window` ([`announce`]).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::app::{App, current};
use super::js::to_value;
use super::remote::Reads;
use super::session::{Label, Results, SearchOptions, Timings, Work};
use crate::index::Description;
use crate::preprocess::Crop;

/// Tells listeners of `deepshopping:results` on `window` about new results.
pub(crate) fn announce(results: &Results) {
    let detail = to_value(&results.cards).unwrap_or(JsValue::NULL);
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("deepshopping:results", &init)
    {
        gloo::utils::window().dispatch_event(&event).ok();
    }
}

fn blob_arg(value: JsValue) -> Result<web_sys::Blob, JsValue> {
    value
        .dyn_into::<web_sys::Blob>()
        .map_err(|_| JsError::new("expected a Blob or File").into())
}

/// The options passed, or `None` for the widget's own.
fn options_arg(options: JsValue) -> Result<Option<SearchOptions>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    serde_wasm_bindgen::from_value(options)
        .map(Some)
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

/// The cards of `results`, or the error `none` (`None`: `null`) when there is no query.
fn cards(results: Option<Results>, none: Option<&str>) -> Result<JsValue, JsValue> {
    match (results, none) {
        (Some(results), _) => to_value(&results.cards),
        (None, Some(none)) => Err(JsError::new(none).into()),
        (None, None) => Ok(JsValue::NULL),
    }
}

/// Ranks the current query with `options`, which shows and announces the results, and
/// returns the cards to the caller: at once for a whole catalogue, as a promise for a
/// partitioned one (which may read more of it first).
fn ranked(
    app: Rc<App>,
    options: Option<SearchOptions>,
    none: Option<&'static str>,
) -> Result<JsValue, JsValue> {
    if app.remote.is_none() {
        return cards(app.session.rank(options.as_ref()), none);
    }
    Ok(future_to_promise(async move { cards(app.rank(options.as_ref()).await?, none) }).into())
}

async fn search_photos(blobs: JsValue, options: JsValue, add: bool) -> Result<JsValue, JsValue> {
    let blobs = blobs_arg(blobs)?;
    let options = options_arg(options)?;
    let app = current()?;
    let crop = options.as_ref().and_then(|o| o.crop);
    app.set_photos(&blobs, crop, add).await?;
    cards(
        app.rank(options.as_ref()).await?,
        Some("no photo to search"),
    )
}

fn more_like_liked_js(options: JsValue) -> Result<JsValue, JsValue> {
    let options = options_arg(options)?;
    let app = current()?;
    app.session
        .query_from_likes()
        .ok_or_else(|| JsError::new("nothing is liked yet"))?;
    ranked(app, options, Some("nothing is liked yet"))
}

fn rerank_js(options: JsValue) -> Result<JsValue, JsValue> {
    let options = options_arg(options)?;
    let app = current()?;
    ranked(app, options, Some("no photo has been searched yet"))
}

fn feedback_js(id: JsValue, vote_value: JsValue) -> Result<JsValue, JsValue> {
    let app = current()?;
    let id = id
        .as_string()
        .ok_or_else(|| JsError::new("feedback(id, vote): id must be a string"))?;
    let v = vote_value
        .as_f64()
        .filter(|v| [-1.0, 0.0, 1.0].contains(v))
        .ok_or_else(|| JsError::new("feedback(id, vote): vote must be 1, -1 or 0"))?;
    if !app.session.index().items.iter().any(|i| i.id == id) {
        return Err(JsError::new(&format!("no item {id:?} in the catalogue")).into());
    }
    app.vote(&id, v as i32);
    ranked(app, None, None)
}

fn reset_feedback_js() -> Result<JsValue, JsValue> {
    let app = current()?;
    app.reset_feedback();
    let partitioned = app.remote.is_some();
    let ranked = ranked(app, None, None)?;
    Ok(if partitioned {
        ranked
    } else {
        JsValue::UNDEFINED
    })
}

fn export_feedback_js() -> Result<JsValue, JsValue> {
    to_value(&current()?.session.feedback())
}

/// What `embed()` returns: the photo's description and the model's labels.
#[derive(Serialize)]
struct Embedded<'a> {
    #[serde(flatten)]
    description: &'a Description,
    labels: &'a [String],
}

async fn embed_js(blob: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let app = current()?;
    let query = app.set_photos(&[blob], None, false).await?;
    to_value(&Embedded {
        description: &query.description,
        labels: &app.manifest.labels,
    })
}

async fn classify_js(blob: JsValue) -> Result<JsValue, JsValue> {
    let blob = blob_arg(blob)?;
    let app = current()?;
    if !app.manifest.trained {
        return Err(
            JsError::new("the loaded model is untrained; it has no meaningful categories").into(),
        );
    }
    let query = app.set_photos(&[blob], None, false).await?;
    let labels: &[Label] = &query.category;
    to_value(&labels)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    backend: &'static str,
    fallback_reason: Option<String>,
    items: usize,
    /// What a partitioned catalogue's queries have read (`null` for a whole catalogue).
    partitioned: Option<Reads>,
    /// Bytes of the page bundle's wasm memory (the catalogue, what was read of it, the
    /// session), the model's aside.
    page_memory_bytes: f64,
    trained: bool,
    model: crate::model::ResNetConfig,
    model_sha256: String,
    /// Where photos are embedded: `"worker"` or `"page"`.
    thread: &'static str,
    /// Why the model runs on the page although workers are on, when it does.
    worker_error: Option<String>,
    /// When the last photo was prepared and embedded.
    last_work: Option<Work>,
    /// Times the worker was replaced by a fresh one to give its memory back.
    worker_restarts: u32,
    /// How long the worker took to run the model once on a synthetic photo after loading
    /// (`null` until it has; it does not where a photo came first, or where the model runs
    /// on the page).
    warm_up_ms: Option<f64>,
    last_timings: Option<Timings>,
    /// Photos combined in the current query.
    photos: usize,
    /// The part of the photo the current query searched; `null` for all of it.
    crop: Option<Crop>,
}

fn info_js() -> Result<JsValue, JsValue> {
    let app = current()?;
    let session = &app.session;
    to_value(&Info {
        backend: app.backend,
        fallback_reason: app.fallback_reason.clone(),
        items: session.count(),
        partitioned: app.remote.as_ref().map(|r| r.reads()),
        page_memory_bytes: super::js::memory_bytes(),
        trained: app.manifest.trained,
        model: app.manifest.model.clone(),
        model_sha256: app.manifest.weights.sha256.clone(),
        thread: app.engine.thread(),
        worker_error: app.worker_error.clone(),
        last_work: session.last_work(),
        worker_restarts: app.engine.restarts(),
        warm_up_ms: app.engine.warm_up_ms(),
        last_timings: session.last_timings(),
        photos: session.photo_count(),
        crop: session.query().and_then(|q| q.crop),
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

/// Sets `api[name]` to `f`, which lives as long as the page.
fn method<F: ?Sized + wasm_bindgen::closure::WasmClosure>(api: &Object, name: &str, f: Closure<F>) {
    if let Err(err) = Reflect::set(api, &name.into(), f.as_ref()) {
        web_sys::console::error_1(&err);
    }
    f.forget();
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
    method(
        &api,
        "ready",
        Closure::<dyn Fn() -> Promise>::new(move || promise.clone()),
    );
    method(
        &api,
        "backend",
        Closure::<dyn Fn() -> JsValue>::new(|| {
            current().map_or(JsValue::NULL, |a| JsValue::from_str(a.backend))
        }),
    );
    method(
        &api,
        "info",
        Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(info_js),
    );
    method(
        &api,
        "search",
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|blobs, options| {
            future_to_promise(search_photos(blobs, options, false))
        }),
    );
    method(
        &api,
        "addPhoto",
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|blobs, options| {
            future_to_promise(search_photos(blobs, options, true))
        }),
    );
    method(
        &api,
        "moreLikeLiked",
        Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(more_like_liked_js),
    );
    method(
        &api,
        "rerank",
        Closure::<dyn Fn(JsValue) -> Result<JsValue, JsValue>>::new(rerank_js),
    );
    method(
        &api,
        "embed",
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(embed_js(blob))),
    );
    method(
        &api,
        "classify",
        Closure::<dyn Fn(JsValue) -> Promise>::new(|blob| future_to_promise(classify_js(blob))),
    );
    method(
        &api,
        "feedback",
        Closure::<dyn Fn(JsValue, JsValue) -> Result<JsValue, JsValue>>::new(feedback_js),
    );
    method(
        &api,
        "resetFeedback",
        Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(reset_feedback_js),
    );
    method(
        &api,
        "exportFeedback",
        Closure::<dyn Fn() -> Result<JsValue, JsValue>>::new(export_feedback_js),
    );
    if let Err(err) = Reflect::set(&gloo::utils::window(), &"deepShopping".into(), &api) {
        web_sys::console::error_1(&err);
    }
    Ready { resolve, reject }
}
