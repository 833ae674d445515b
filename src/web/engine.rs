//! Where photos are prepared and embedded: in a module Web Worker running the same wasm bundle
//! (the default, so the page never freezes while the model runs), or on the page's own thread
//! (the widget's `worker="off"`, or when a worker cannot start). Both run [`features`], the
//! one path from photo bytes to embedding, category probabilities and colours.
//!
//! The protocol, as plain objects: the worker says `{type: "started"}` once its wasm runs;
//! the page sends `{type: "load", manifest, weights, forceCpu}` (weights transferred) and gets
//! `{type: "loaded", backend, fallbackReason}` or `{type: "error", message}`; then each
//! `{type: "embed", id, bytes, crop}` (bytes transferred) is answered by
//! `{type: "embedded", id, features}` or `{type: "failed", id, message}`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::js;
use crate::colour::{self, Swatch};
use crate::embed::Embedder;
use crate::preprocess::{Crop, Limits, prepare};

/// What the model and the colour analysis say about one photo.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Features {
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// Category probabilities, in the manifest's label order.
    pub probabilities: Vec<f32>,
    /// Colour histogram of the prepared square.
    pub histogram: Vec<f32>,
    /// Dominant colours of the prepared square.
    pub colours: Vec<Swatch>,
    /// Milliseconds spent decoding and preparing the photo (and its colours).
    pub prepare_ms: f64,
    /// Milliseconds spent in the model.
    pub embed_ms: f64,
    /// When the work started, in milliseconds since the Unix epoch.
    pub started_at: f64,
    /// When the work ended, in milliseconds since the Unix epoch.
    pub ended_at: f64,
}

/// Milliseconds since the Unix epoch, precise to fractions of a millisecond, on the page or
/// in a worker.
pub(crate) fn epoch_ms() -> f64 {
    let performance = js::get(&js_sys::global(), "performance").unwrap_or(JsValue::UNDEFINED);
    match (
        js::number(&performance, "timeOrigin"),
        js::call(&performance, "now", &[])
            .ok()
            .and_then(|n| n.as_f64()),
    ) {
        (Some(origin), Some(now)) => origin + now,
        _ => js_sys::Date::now(),
    }
}

/// Prepares `bytes` (with `crop`) and embeds it: the one path, in a worker or on the page.
pub(crate) async fn features(
    embedder: &Embedder,
    bytes: &[u8],
    crop: Option<Crop>,
) -> Result<Features, JsError> {
    let t0 = epoch_ms();
    let prepared = prepare(bytes, crop, embedder.input_size(), &Limits::default())?;
    let colours = colour::features(&prepared.square);
    let t1 = epoch_ms();
    let out = embedder
        .embed(&[prepared.input])
        .await?
        .pop()
        .ok_or_else(|| JsError::new("the model returned no embedding"))?;
    let t2 = epoch_ms();
    Ok(Features {
        embedding: out.embedding,
        probabilities: out.probabilities,
        histogram: colours.histogram,
        colours: colours.dominant,
        prepare_ms: t1 - t0,
        embed_ms: t2 - t1,
        started_at: t0,
        ended_at: t2,
    })
}

/// The embedder the page uses.
pub(crate) enum Engine {
    /// On the page's own thread.
    Local(Box<Embedder>),
    /// In a Web Worker.
    Worker(Client),
}

impl Engine {
    /// Prepares and embeds a photo.
    pub(crate) async fn features(
        &self,
        bytes: Vec<u8>,
        crop: Option<Crop>,
    ) -> Result<Features, JsError> {
        match self {
            Engine::Local(embedder) => features(embedder, &bytes, crop).await,
            Engine::Worker(client) => client
                .features(bytes, crop)
                .await
                .map_err(|e| JsError::new(&super::error_message(&e))),
        }
    }

    /// `"worker"` or `"page"`.
    pub(crate) fn thread(&self) -> &'static str {
        match self {
            Engine::Local(_) => "page",
            Engine::Worker(_) => "worker",
        }
    }
}

fn message(kind: &str) -> Result<js_sys::Object, JsValue> {
    let m = js_sys::Object::new();
    js::set(&m, "type", &kind.into())?;
    Ok(m)
}

fn kind_of(data: &JsValue) -> String {
    js::string(data, "type").unwrap_or_default()
}

// ---- the worker's side -------------------------------------------------------------------

thread_local! {
    static EMBEDDER: RefCell<Option<Rc<Embedder>>> = const { RefCell::new(None) };
}

/// Whether this code runs in a worker (no `document`).
pub(crate) fn in_worker() -> bool {
    js::get(&js_sys::global(), "document").is_ok_and(|d| d.is_undefined())
}

fn post(reply: &JsValue, transfer: Option<&Array>) {
    let global = js_sys::global();
    let args = match transfer {
        Some(t) => vec![reply.clone(), t.into()],
        None => vec![reply.clone()],
    };
    if let Err(err) = js::call(&global, "postMessage", &args) {
        web_sys::console::error_1(&err);
    }
}

fn bytes_of(data: &JsValue, name: &str) -> Result<Vec<u8>, JsValue> {
    let value = js::get(data, name)?;
    if value.is_undefined() || value.is_null() {
        return Err(super::to_js(format!("the message has no {name}")));
    }
    Ok(Uint8Array::new(&value).to_vec())
}

async fn load(data: &JsValue) -> Result<JsValue, JsValue> {
    let manifest = bytes_of(data, "manifest")?;
    let weights = bytes_of(data, "weights")?;
    let force_cpu = js::get(data, "forceCpu")?.is_truthy();
    let (device, backend, reason) = super::backend::pick(force_cpu).await;
    let embedder = Embedder::load(&manifest, &weights, device).map_err(super::to_js)?;
    EMBEDDER.with(|e| *e.borrow_mut() = Some(Rc::new(embedder)));
    let reply = message("loaded")?;
    js::set(&reply, "backend", &backend.into())?;
    js::set(
        &reply,
        "fallbackReason",
        &reason.map_or(JsValue::NULL, JsValue::from),
    )?;
    Ok(reply.into())
}

async fn embed(data: &JsValue) -> Result<JsValue, JsValue> {
    let bytes = bytes_of(data, "bytes")?;
    let crop = js::get(data, "crop")?;
    let crop: Option<Crop> = if crop.is_null() || crop.is_undefined() {
        None
    } else {
        Some(serde_wasm_bindgen::from_value(crop).map_err(super::to_js)?)
    };
    let embedder = EMBEDDER
        .with(|e| e.borrow().clone())
        .ok_or_else(|| super::to_js("the worker has no model loaded"))?;
    let features = features(&embedder, &bytes, crop).await?;
    let reply = message("embedded")?;
    js::set(&reply, "features", &super::api::to_value(&features)?)?;
    Ok(reply.into())
}

async fn handle(data: JsValue) {
    let id = js::get(&data, "id").unwrap_or(JsValue::UNDEFINED);
    let (result, failure) = match kind_of(&data).as_str() {
        "load" => (load(&data).await, "error"),
        "embed" => (embed(&data).await, "failed"),
        other => (
            Err(super::to_js(format!("unknown message type {other:?}"))),
            "error",
        ),
    };
    let reply = result.and_then(|reply| {
        js::set(&reply, "id", &id)?;
        Ok(reply)
    });
    match reply {
        Ok(reply) => post(&reply, None),
        Err(err) => {
            let Ok(reply) = message(failure) else { return };
            js::set(&reply, "id", &id).ok();
            js::set(&reply, "message", &super::error_message(&err).into()).ok();
            post(&reply, None);
        }
    }
}

/// Runs in the worker: answers the page's messages.
pub(crate) fn serve() {
    let handler = Closure::<dyn FnMut(JsValue)>::new(|event: JsValue| {
        let data = js::get(&event, "data").unwrap_or(JsValue::UNDEFINED);
        wasm_bindgen_futures::spawn_local(handle(data));
    });
    if let Err(err) = js::set(&js_sys::global(), "onmessage", handler.as_ref()) {
        web_sys::console::error_1(&err);
    }
    handler.forget();
    if let Ok(started) = message("started") {
        post(&started.into(), None);
    }
}

// ---- the page's side ---------------------------------------------------------------------

type Pending = Rc<RefCell<HashMap<u32, (Function, Function)>>>;
type Handler = Closure<dyn FnMut(JsValue)>;

/// The page's handle on the worker.
pub(crate) struct Client {
    worker: JsValue,
    pending: Pending,
    next_id: Cell<u32>,
    /// Keeps the message and error handlers alive.
    _handlers: [Handler; 2],
}

/// The text of a worker `error` event.
fn error_event_text(event: &JsValue) -> String {
    js::string(event, "message")
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the worker failed to load".into())
}

/// How long the worker may take to start, and then to load the model, before the page gives
/// up on it and runs the model itself.
const WORKER_STEP_TIMEOUT_MS: u32 = 90_000;

/// The next message (its `data`) the worker sends, its next error, or an error once
/// `timeout_ms` pass without either.
async fn next_message(worker: &JsValue, timeout_ms: u32) -> Result<JsValue, JsValue> {
    let slots: Rc<RefCell<Option<(Function, Function)>>> = Rc::new(RefCell::new(None));
    let promise = {
        let slots = slots.clone();
        Promise::new(&mut move |resolve, reject| *slots.borrow_mut() = Some((resolve, reject)))
    };
    let (resolve, reject) = slots
        .borrow_mut()
        .take()
        .ok_or_else(|| super::to_js("promise executor did not run"))?;
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let data = js::get(&event, "data").unwrap_or(JsValue::UNDEFINED);
        resolve.call1(&JsValue::NULL, &data).ok();
    });
    let on_error = {
        let reject = reject.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let text = error_event_text(&event);
            reject
                .call1(&JsValue::NULL, &JsError::new(&text).into())
                .ok();
        })
    };
    // Dropped (and so cancelled) when this function returns.
    let _timeout = gloo::timers::callback::Timeout::new(timeout_ms, move || {
        let text = format!("the worker did not answer within {} s", timeout_ms / 1000);
        reject
            .call1(&JsValue::NULL, &JsError::new(&text).into())
            .ok();
    });
    js::set(worker, "onmessage", on_message.as_ref())?;
    js::set(worker, "onerror", on_error.as_ref())?;
    let result = JsFuture::from(promise).await;
    js::set(worker, "onmessage", &JsValue::NULL)?;
    js::set(worker, "onerror", &JsValue::NULL)?;
    result
}

/// Settles the pending request a worker reply answers.
fn settle(pending: &Pending, data: &JsValue) {
    let Some(id) = js::number(data, "id") else {
        return;
    };
    let Some((resolve, reject)) = pending.borrow_mut().remove(&(id as u32)) else {
        return;
    };
    let outcome = match kind_of(data).as_str() {
        "embedded" => resolve.call1(
            &JsValue::NULL,
            &js::get(data, "features").unwrap_or(JsValue::NULL),
        ),
        _ => {
            let text = js::string(data, "message").unwrap_or_else(|| "the worker failed".into());
            reject.call1(&JsValue::NULL, &JsError::new(&text).into())
        }
    };
    if let Err(err) = outcome {
        web_sys::console::error_1(&err);
    }
}

impl Client {
    /// Starts a module worker on the bundle at `bundle` (a folder URL), loads the model into it
    /// and returns it with the backend it runs on and why WebGPU is not used, when it is not.
    pub(crate) async fn start(
        bundle: &str,
        manifest: &[u8],
        weights: &[u8],
        force_cpu: bool,
    ) -> Result<(Client, &'static str, Option<String>), JsValue> {
        // A blob module that imports the bundle: a worker script must be same-origin, the
        // modules it imports need only CORS, so the bundle may live on another host.
        let glue = super::fetch::join(bundle, "deep-shopping.js")?;
        let source = format!(
            "import init from {};\nawait init();\n",
            serde_json::to_string(&glue).map_err(super::to_js)?
        );
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/javascript");
        let blob = web_sys::Blob::new_with_str_sequence_and_options(
            &Array::of1(&source.into()),
            &options,
        )?;
        let url = web_sys::Url::create_object_url_with_blob(&blob)?;
        let constructor: Function = js::get(&js_sys::global(), "Worker")?
            .dyn_into()
            .map_err(|_| super::to_js("this browser has no Web Workers"))?;
        let worker_options = js_sys::Object::new();
        js::set(&worker_options, "type", &"module".into())?;
        js::set(&worker_options, "name", &"deep-shopping".into())?;
        let worker = js_sys::Reflect::construct(
            &constructor,
            &Array::of2(&url.clone().into(), &worker_options),
        );
        web_sys::Url::revoke_object_url(&url).ok();
        let worker = worker?;
        let started = async {
            let first = next_message(&worker, WORKER_STEP_TIMEOUT_MS).await?;
            if kind_of(&first) != "started" {
                return Err(super::to_js("the worker did not start"));
            }
            let load = message("load")?;
            js::set(&load, "manifest", &Uint8Array::from(manifest).into())?;
            let weights = Uint8Array::from(weights);
            js::set(&load, "weights", &weights)?;
            js::set(&load, "forceCpu", &force_cpu.into())?;
            js::call(
                &worker,
                "postMessage",
                &[load.into(), Array::of1(&weights.buffer()).into()],
            )?;
            let loaded = next_message(&worker, WORKER_STEP_TIMEOUT_MS).await?;
            if kind_of(&loaded) != "loaded" {
                let text = js::string(&loaded, "message").unwrap_or_default();
                return Err(super::to_js(format!(
                    "the worker could not load the model: {text}"
                )));
            }
            let backend = match js::string(&loaded, "backend").as_deref() {
                Some("webgpu") => "webgpu",
                _ => "cpu",
            };
            let reason = js::string(&loaded, "fallbackReason");
            Ok((backend, reason))
        }
        .await;
        let (backend, reason) = match started {
            Ok(ok) => ok,
            Err(err) => {
                js::call(&worker, "terminate", &[]).ok();
                return Err(err);
            }
        };
        let pending: Pending = Rc::new(RefCell::new(HashMap::new()));
        let on_message = {
            let pending = pending.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                settle(&pending, &js::get(&event, "data").unwrap_or(JsValue::NULL));
            })
        };
        let on_error = {
            let pending = pending.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let text = error_event_text(&event);
                for (_, (_, reject)) in pending.borrow_mut().drain() {
                    reject
                        .call1(&JsValue::NULL, &JsError::new(&text).into())
                        .ok();
                }
            })
        };
        js::set(&worker, "onmessage", on_message.as_ref())?;
        js::set(&worker, "onerror", on_error.as_ref())?;
        let client = Client {
            worker,
            pending,
            next_id: Cell::new(0),
            _handlers: [on_message, on_error],
        };
        Ok((client, backend, reason))
    }

    /// Prepares and embeds `bytes` in the worker.
    async fn features(&self, bytes: Vec<u8>, crop: Option<Crop>) -> Result<Features, JsValue> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let promise = {
            let pending = self.pending.clone();
            Promise::new(&mut move |resolve, reject| {
                pending.borrow_mut().insert(id, (resolve, reject));
            })
        };
        let request = message("embed")?;
        js::set(&request, "id", &id.into())?;
        let data = Uint8Array::from(bytes.as_slice());
        js::set(&request, "bytes", &data)?;
        js::set(
            &request,
            "crop",
            &match crop {
                Some(c) => super::api::to_value(&c)?,
                None => JsValue::NULL,
            },
        )?;
        if let Err(err) = js::call(
            &self.worker,
            "postMessage",
            &[request.into(), Array::of1(&data.buffer()).into()],
        ) {
            self.pending.borrow_mut().remove(&id);
            return Err(err);
        }
        let reply = JsFuture::from(promise).await?;
        serde_wasm_bindgen::from_value(reply).map_err(super::to_js)
    }
}
