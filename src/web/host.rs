//! The model's side, the start of the `deep-shopping` bundle: in a module Web Worker it
//! answers the page's messages (the default, so the page never freezes while the model runs);
//! on a page it does nothing until the page's bundle calls [`handle_message`] (the widget's
//! `worker="off"`, or when a worker cannot start). Both run [`describe`], the one path from
//! photo bytes to a description, and answer in `protocol`'s messages.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::backend;
use super::js::{self, epoch_ms, error_message};
use super::protocol::{Described, FromWorker, ToWorker, decode, encode};
use crate::embed::Embedder;
use crate::preprocess::Crop;

thread_local! {
    static EMBEDDER: RefCell<Option<Rc<Embedder>>> = const { RefCell::new(None) };
}

/// Entry point of the `deep-shopping` bundle: in a worker, serves description requests; on a
/// page, waits for [`handle_message`].
pub fn start() {
    console_error_panic_hook::set_once();
    if js::in_worker() {
        serve();
    }
}

/// Describes `bytes` (with `crop`) with `embedder`, timing the preparation and the model.
async fn describe(
    embedder: &Embedder,
    bytes: &[u8],
    crop: Option<Crop>,
) -> Result<Described, JsError> {
    let t0 = epoch_ms();
    let photo = embedder.prepare(bytes, crop)?;
    let t1 = epoch_ms();
    let description = embedder
        .describe_prepared(vec![photo])
        .await?
        .pop()
        .ok_or_else(|| JsError::new("the model returned no output"))?;
    let t2 = epoch_ms();
    Ok(Described {
        description,
        prepare_ms: t1 - t0,
        embed_ms: t2 - t1,
        started_at: t0,
        ended_at: t2,
        memory_bytes: js::memory_bytes(),
    })
}

/// Posts `message` to the page, transferring its byte buffers.
fn reply(message: &FromWorker) {
    let posted = encode(message).and_then(|(value, transfer)| {
        js::call(&js_sys::global(), "postMessage", &[value, transfer.into()])
    });
    if let Err(err) = posted {
        web_sys::console::error_1(&err);
    }
}

async fn load(manifest: &[u8], weights: &[u8], force_cpu: bool) -> FromWorker {
    let (device, backend, reason) = backend::pick(force_cpu).await;
    match Embedder::load(manifest, weights, device) {
        Ok(embedder) => {
            EMBEDDER.with(|e| *e.borrow_mut() = Some(Rc::new(embedder)));
            FromWorker::Loaded {
                backend: backend.to_string(),
                fallback_reason: reason,
            }
        }
        Err(err) => FromWorker::Error {
            message: err.to_string(),
        },
    }
}

async fn describe_request(id: u32, bytes: &[u8], crop: Option<Crop>) -> FromWorker {
    let Some(embedder) = EMBEDDER.with(|e| e.borrow().clone()) else {
        return FromWorker::Failed {
            id,
            message: "the model is not loaded".into(),
        };
    };
    match describe(&embedder, bytes, crop).await {
        Ok(work) => FromWorker::Described { id, work },
        Err(err) => FromWorker::Failed {
            id,
            message: error_message(&err.into()),
        },
    }
}

/// Runs the loaded model once on a synthetic photo: a freshly loaded bundle runs its code
/// several times slower the first time (the engine compiles and optimises it as it first
/// runs, on the device's cores, slowing whatever else runs then), and a shopper takes longer
/// to choose a photo than this takes.
async fn warm_up() -> FromWorker {
    let Some(embedder) = EMBEDDER.with(|e| e.borrow().clone()) else {
        return FromWorker::Error {
            message: "the model is not loaded".into(),
        };
    };
    let t0 = epoch_ms();
    match embedder.warm_up().await {
        Ok(()) => FromWorker::WarmedUp {
            ms: epoch_ms() - t0,
        },
        Err(err) => FromWorker::Error {
            message: format!("warming up the model failed: {err}"),
        },
    }
}

/// The answer to one message from the page.
async fn handle(data: JsValue) -> FromWorker {
    match decode::<ToWorker>(data) {
        Ok(ToWorker::Load {
            manifest,
            weights,
            force_cpu,
        }) => load(&manifest, &weights, force_cpu).await,
        Ok(ToWorker::Describe { id, bytes, crop }) => describe_request(id, &bytes, crop).await,
        Ok(ToWorker::WarmUp) => warm_up().await,
        Err(err) => FromWorker::Error {
            message: error_message(&err),
        },
    }
}

/// On a page: answers one message of the page's bundle (`load` or `describe`) with the
/// message a worker would post.
#[wasm_bindgen(js_name = handleMessage)]
pub async fn handle_message(data: JsValue) -> Result<JsValue, JsValue> {
    encode(&handle(data).await).map(|(value, _)| value)
}

/// In a worker: answers the page's messages.
fn serve() {
    let handler = Closure::<dyn FnMut(JsValue)>::new(|event: JsValue| {
        let data = js::get(&event, "data").unwrap_or(JsValue::UNDEFINED);
        wasm_bindgen_futures::spawn_local(async move { reply(&handle(data).await) });
    });
    if let Err(err) = js::set(&js_sys::global(), "onmessage", handler.as_ref()) {
        web_sys::console::error_1(&err);
    }
    handler.forget();
    reply(&FromWorker::Started);
}
