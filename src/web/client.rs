//! The page's handle on the module Web Worker that runs the `deep-shopping` bundle: starts
//! it, loads the model into it, sends it photos and matches its answers to them, has it warm
//! up while no photo waits, and replaces it with a fresh one (in the background, between
//! photos) when a photo left it holding too much memory.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use js_sys::{Array, Function, Promise};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::js::{self, error_message, to_js};
use super::protocol::{Described, FromWorker, ToWorker, decode, encode};
use crate::preprocess::Crop;

/// The name of the model's bundle (its JS glue) in the bundle folder.
pub(super) const MODEL_BUNDLE: &str = "deep-shopping.js";

/// The backend a `loaded` answer names, and why WebGPU is not used.
pub(super) fn loaded(answer: FromWorker) -> Result<(&'static str, Option<String>), JsValue> {
    match answer {
        FromWorker::Loaded {
            backend,
            fallback_reason,
        } => Ok((
            if backend == "webgpu" { "webgpu" } else { "cpu" },
            fallback_reason,
        )),
        FromWorker::Error { message } => {
            Err(to_js(format!("the model could not be loaded: {message}")))
        }
        other => Err(to_js(format!("the model's bundle answered {other:?}"))),
    }
}

type Answer = Result<Described, String>;
type Pending = Rc<RefCell<HashMap<u32, oneshot::Sender<Answer>>>>;
type Handler = Closure<dyn FnMut(JsValue)>;

/// Wasm memory a worker may hold after a photo before it is replaced by a fresh one: wasm
/// memory never shrinks, so a large photo would otherwise keep the tab's memory for good.
/// The model and a phone photo of 12 megapixels fit under it.
const RESTART_BYTES: f64 = 96.0 * 1024.0 * 1024.0;

/// What a worker starts with: the bundle it runs and the model it loads.
struct Spec {
    bundle: String,
    manifest: Vec<u8>,
    weights: Vec<u8>,
    force_cpu: bool,
}

/// One running worker.
struct Running {
    worker: JsValue,
    pending: Pending,
    next_id: Cell<u32>,
    /// Replaced: ends once its last request is answered.
    retiring: Cell<bool>,
    /// How long its warm-up took, once it is done.
    warm_up_ms: Rc<Cell<Option<f64>>>,
    /// Keeps the message and error handlers alive.
    _handlers: [Handler; 2],
}

impl Running {
    /// Asks the worker to warm up, unless it has been given a photo.
    fn warm_up(&self) {
        if self.next_id.get() > 0 {
            return;
        }
        if let Err(err) = post(&self.worker, &ToWorker::WarmUp) {
            web_sys::console::warn_1(&err);
        }
    }

    /// Ends the worker once it is replaced and owes no answer.
    fn end_if_done(&self) {
        if self.retiring.get() && self.pending.borrow().is_empty() {
            js::call(&self.worker, "terminate", &[]).ok();
        }
    }
}

/// The page's handle on the worker, which it replaces with a fresh one (in the background,
/// between photos) when a photo has left the worker holding more than [`RESTART_BYTES`].
pub(crate) struct Client {
    running: Rc<RefCell<Rc<Running>>>,
    spec: Rc<Spec>,
    restarting: Rc<Cell<bool>>,
    restarts: Rc<Cell<u32>>,
    /// Whether a photo has come (then the first worker is not warmed up).
    asked: Cell<bool>,
}

/// Starts a fresh worker for `spec` and puts it in `slot`, ending the one it replaces once
/// that has answered its requests. On failure the old worker stays.
async fn replace(
    slot: Rc<RefCell<Rc<Running>>>,
    spec: Rc<Spec>,
    restarting: Rc<Cell<bool>>,
    restarts: Rc<Cell<u32>>,
) {
    match Running::start(&spec).await {
        Ok((fresh, _, _)) => {
            // Replaced between photos: warm before the next one comes.
            fresh.warm_up();
            let old = slot.replace(Rc::new(fresh));
            old.retiring.set(true);
            old.end_if_done();
            restarts.set(restarts.get() + 1);
        }
        Err(err) => web_sys::console::warn_1(
            &format!(
                "Deep Shopping: could not replace the worker ({}); keeping it",
                error_message(&err)
            )
            .into(),
        ),
    }
    restarting.set(false);
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

/// The next message the worker sends, its next error, or an error once `timeout_ms` pass
/// without either.
async fn next_message(worker: &JsValue, timeout_ms: u32) -> Result<FromWorker, JsValue> {
    let slots: Rc<RefCell<Option<(Function, Function)>>> = Rc::new(RefCell::new(None));
    let promise = {
        let slots = slots.clone();
        Promise::new(&mut move |resolve, reject| *slots.borrow_mut() = Some((resolve, reject)))
    };
    let (resolve, reject) = slots
        .borrow_mut()
        .take()
        .ok_or_else(|| to_js("promise executor did not run"))?;
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let data = js::get(&event, "data").unwrap_or(JsValue::UNDEFINED);
        resolve.call1(&JsValue::NULL, &data).ok();
    });
    let on_error = {
        let reject = reject.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            reject
                .call1(&JsValue::NULL, &to_js(error_event_text(&event)))
                .ok();
        })
    };
    // Dropped (and so cancelled) when this function returns.
    let _timeout = gloo::timers::callback::Timeout::new(timeout_ms, move || {
        let text = format!("the worker did not answer within {} s", timeout_ms / 1000);
        reject.call1(&JsValue::NULL, &to_js(text)).ok();
    });
    js::set(worker, "onmessage", on_message.as_ref())?;
    js::set(worker, "onerror", on_error.as_ref())?;
    let result = JsFuture::from(promise).await;
    js::set(worker, "onmessage", &JsValue::NULL)?;
    js::set(worker, "onerror", &JsValue::NULL)?;
    decode(result?)
}

/// Posts `message` to `worker`, transferring its byte buffers.
fn post(worker: &JsValue, message: &ToWorker) -> Result<(), JsValue> {
    let (value, transfer) = encode(message)?;
    js::call(worker, "postMessage", &[value, transfer.into()]).map(|_| ())
}

/// Settles the pending request a worker reply answers, or records its warm-up.
fn settle(pending: &Pending, warm_up_ms: &Cell<Option<f64>>, data: JsValue) {
    let (id, answer) = match decode::<FromWorker>(data) {
        Ok(FromWorker::Described { id, work }) => (id, Ok(work)),
        Ok(FromWorker::Failed { id, message }) => (id, Err(message)),
        Ok(FromWorker::WarmedUp { ms }) => {
            warm_up_ms.set(Some(ms));
            return;
        }
        Ok(FromWorker::Error { message }) => {
            web_sys::console::warn_1(&format!("Deep Shopping's worker: {message}").into());
            return;
        }
        Ok(other) => {
            web_sys::console::warn_1(&format!("unexpected worker message {other:?}").into());
            return;
        }
        Err(err) => {
            web_sys::console::error_1(&err);
            return;
        }
    };
    if let Some(sender) = pending.borrow_mut().remove(&id) {
        sender.send(answer).ok();
    }
}

/// Starts a module worker on the bundle at `bundle` (a folder URL).
fn spawn(bundle: &str) -> Result<JsValue, JsValue> {
    // A blob module that imports the bundle: a worker script must be same-origin, the modules
    // it imports need only CORS, so the bundle may live on another host.
    let glue = super::fetch::join(bundle, MODEL_BUNDLE)?;
    let source = format!(
        "import init from {};\nawait init();\n",
        serde_json::to_string(&glue).map_err(to_js)?
    );
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&Array::of1(&source.into()), &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let constructor: Function = js::get(&js_sys::global(), "Worker")?
        .dyn_into()
        .map_err(|_| to_js("this browser has no Web Workers"))?;
    let worker_options = js_sys::Object::new();
    js::set(&worker_options, "type", &"module".into())?;
    js::set(&worker_options, "name", &"deep-shopping".into())?;
    let worker = js_sys::Reflect::construct(
        &constructor,
        &Array::of2(&url.clone().into(), &worker_options),
    );
    web_sys::Url::revoke_object_url(&url).ok();
    worker
}

impl Client {
    /// Starts a worker on the bundle at `bundle` (a folder URL), loads the model into it and
    /// returns it with the backend it runs on and why WebGPU is not used, when it is not.
    pub(crate) async fn start(
        bundle: &str,
        manifest: &[u8],
        weights: &[u8],
        force_cpu: bool,
    ) -> Result<(Client, &'static str, Option<String>), JsValue> {
        let spec = Spec {
            bundle: bundle.to_string(),
            manifest: manifest.to_vec(),
            weights: weights.to_vec(),
            force_cpu,
        };
        let (running, backend, reason) = Running::start(&spec).await?;
        let client = Client {
            running: Rc::new(RefCell::new(Rc::new(running))),
            spec: Rc::new(spec),
            restarting: Rc::new(Cell::new(false)),
            restarts: Rc::new(Cell::new(0)),
            asked: Cell::new(false),
        };
        Ok((client, backend, reason))
    }

    /// Notes that a photo is on its way: the first worker does not warm up then.
    pub(crate) fn photo_coming(&self) {
        self.asked.set(true);
    }

    /// Has the worker warm up, unless a photo has come.
    pub(crate) fn warm_up(&self) {
        if !self.asked.get() {
            self.running.borrow().warm_up();
        }
    }

    /// How long the current worker's warm-up took, once it is done.
    pub(crate) fn warm_up_ms(&self) -> Option<f64> {
        self.running.borrow().warm_up_ms.get()
    }

    /// Times the worker was replaced to give its memory back.
    pub(crate) fn restarts(&self) -> u32 {
        self.restarts.get()
    }

    /// Prepares and describes `bytes` in the worker; then replaces the worker if the photo
    /// left it holding too much memory.
    pub(crate) async fn describe(
        &self,
        bytes: Vec<u8>,
        crop: Option<Crop>,
    ) -> Result<Described, JsError> {
        let running = self.running.borrow().clone();
        let result = running.describe(bytes, crop).await;
        running.end_if_done();
        let current = Rc::ptr_eq(&running, &self.running.borrow());
        if let Ok(work) = &result
            && work.memory_bytes > RESTART_BYTES
            && current
            && !self.restarting.replace(true)
        {
            wasm_bindgen_futures::spawn_local(replace(
                self.running.clone(),
                self.spec.clone(),
                self.restarting.clone(),
                self.restarts.clone(),
            ));
        }
        result
    }
}

impl Running {
    /// Starts a worker for `spec` and loads its model.
    async fn start(spec: &Spec) -> Result<(Running, &'static str, Option<String>), JsValue> {
        let (bundle, manifest, weights, force_cpu) = (
            &spec.bundle,
            spec.manifest.as_slice(),
            spec.weights.as_slice(),
            spec.force_cpu,
        );
        let worker = spawn(bundle)?;
        let started = async {
            match next_message(&worker, WORKER_STEP_TIMEOUT_MS).await? {
                FromWorker::Started => {}
                _ => return Err(to_js("the worker did not start")),
            }
            let load = ToWorker::Load {
                manifest: ByteBuf::from(manifest),
                weights: ByteBuf::from(weights),
                force_cpu,
            };
            post(&worker, &load)?;
            loaded(next_message(&worker, WORKER_STEP_TIMEOUT_MS).await?)
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
        let warm_up_ms = Rc::new(Cell::new(None));
        let on_message = {
            let (pending, warm_up_ms) = (pending.clone(), warm_up_ms.clone());
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let data = js::get(&event, "data").unwrap_or(JsValue::NULL);
                settle(&pending, &warm_up_ms, data);
            })
        };
        let on_error = {
            let pending = pending.clone();
            Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let text = error_event_text(&event);
                for (_, sender) in pending.borrow_mut().drain() {
                    sender.send(Err(text.clone())).ok();
                }
            })
        };
        js::set(&worker, "onmessage", on_message.as_ref())?;
        js::set(&worker, "onerror", on_error.as_ref())?;
        let running = Running {
            worker,
            pending,
            next_id: Cell::new(0),
            retiring: Cell::new(false),
            warm_up_ms,
            _handlers: [on_message, on_error],
        };
        Ok((running, backend, reason))
    }

    /// Prepares and describes `bytes` in the worker.
    async fn describe(&self, bytes: Vec<u8>, crop: Option<Crop>) -> Result<Described, JsError> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let (sender, receiver) = oneshot::channel();
        self.pending.borrow_mut().insert(id, sender);
        let request = ToWorker::Describe {
            id,
            bytes: ByteBuf::from(bytes),
            crop,
        };
        if let Err(err) = post(&self.worker, &request) {
            self.pending.borrow_mut().remove(&id);
            return Err(JsError::new(&error_message(&err)));
        }
        match receiver.await {
            Ok(Ok(work)) => Ok(work),
            Ok(Err(message)) => Err(JsError::new(&message)),
            Err(_) => Err(JsError::new("the worker dropped the request")),
        }
    }
}
