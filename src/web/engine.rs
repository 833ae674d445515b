//! Where the page has photos described: in a module Web Worker running the `deep-shopping`
//! bundle (the default, so the page never freezes while the model runs), or by that bundle
//! loaded on the page's own thread (the widget's `worker="off"`, or when a worker cannot
//! start). The page's own bundle holds no model; both ways speak `protocol`'s messages to the
//! bundle's `host`.

use std::cell::Cell;

use js_sys::{Function, Promise};
use serde_bytes::ByteBuf;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::client::Client;
use super::client::{MODEL_BUNDLE, loaded};
use super::js::{self, error_message, to_js};
use super::protocol::{Described, FromWorker, ToWorker, decode, encode};
use crate::preprocess::Crop;

/// The describer the page uses.
pub(crate) enum Engine {
    /// The model's bundle on the page's own thread.
    Page(OnPage),
    /// In a Web Worker.
    Worker(Client),
}

impl Engine {
    /// Prepares and describes a photo.
    pub(crate) async fn describe(
        &self,
        bytes: Vec<u8>,
        crop: Option<Crop>,
    ) -> Result<Described, JsError> {
        match self {
            Engine::Page(page) => page.describe(bytes, crop).await,
            Engine::Worker(client) => client.describe(bytes, crop).await,
        }
    }

    /// `"worker"` or `"page"`.
    pub(crate) fn thread(&self) -> &'static str {
        match self {
            Engine::Page(_) => "page",
            Engine::Worker(_) => "worker",
        }
    }

    /// Tells the engine a photo is on its way (read from its file), so that it does not
    /// start a warm-up that the photo would wait for.
    pub(crate) fn photo_coming(&self) {
        if let Engine::Worker(client) = self {
            client.photo_coming();
        }
    }

    /// Has the worker run the model once on a synthetic photo, unless a photo has come
    /// already (see [`ToWorker::WarmUp`]); on the page's thread, where it would hold the
    /// page up, nothing.
    pub(crate) fn warm_up(&self) {
        if let Engine::Worker(client) = self {
            client.warm_up();
        }
    }

    /// How long the current worker's warm-up took, once it is done.
    pub(crate) fn warm_up_ms(&self) -> Option<f64> {
        match self {
            Engine::Page(_) => None,
            Engine::Worker(client) => client.warm_up_ms(),
        }
    }

    /// Times the worker was replaced to give its memory back.
    pub(crate) fn restarts(&self) -> u32 {
        match self {
            Engine::Page(_) => 0,
            Engine::Worker(client) => client.restarts(),
        }
    }
}

// ---- on the page's thread ----------------------------------------------------------------

#[wasm_bindgen(inline_js = "export function importModule(url) { return import(url); }")]
extern "C" {
    /// `import(url)`: a module loaded at run time (the page's bundle never evaluates code).
    #[wasm_bindgen(catch, js_name = importModule)]
    fn import_module(url: &str) -> Result<Promise, JsValue>;
}

/// The model's bundle loaded on the page: its `handleMessage` export answers each message.
pub(crate) struct OnPage {
    handle: Function,
    next_id: Cell<u32>,
}

impl OnPage {
    /// Loads the model's bundle from `bundle` (a folder URL) on this thread and the model into
    /// it; returns it with the backend it runs on and why WebGPU is not used, when it is not.
    pub(crate) async fn start(
        bundle: &str,
        manifest: &[u8],
        weights: &[u8],
        force_cpu: bool,
    ) -> Result<(OnPage, &'static str, Option<String>), JsValue> {
        let glue = super::fetch::join(bundle, MODEL_BUNDLE)?;
        let module = JsFuture::from(import_module(&glue)?).await?;
        js::call_async(&module, "default", &[]).await?;
        let handle: Function = js::get(&module, "handleMessage")?
            .dyn_into()
            .map_err(|_| to_js(format!("{glue} has no handleMessage")))?;
        let page = OnPage {
            handle,
            next_id: Cell::new(0),
        };
        let answer = page
            .ask(&ToWorker::Load {
                manifest: ByteBuf::from(manifest),
                weights: ByteBuf::from(weights),
                force_cpu,
            })
            .await?;
        let (backend, reason) = loaded(answer)?;
        Ok((page, backend, reason))
    }

    /// Sends `message` to the bundle and awaits its answer.
    async fn ask(&self, message: &ToWorker) -> Result<FromWorker, JsValue> {
        let (value, _) = encode(message)?;
        let promise: Promise = self
            .handle
            .call1(&JsValue::NULL, &value)?
            .dyn_into()
            .map_err(|_| to_js("handleMessage did not return a promise"))?;
        decode(JsFuture::from(promise).await?)
    }

    async fn describe(&self, bytes: Vec<u8>, crop: Option<Crop>) -> Result<Described, JsError> {
        let id = self.next_id.get().wrapping_add(1);
        self.next_id.set(id);
        let request = ToWorker::Describe {
            id,
            bytes: ByteBuf::from(bytes),
            crop,
        };
        match self.ask(&request).await {
            Ok(FromWorker::Described { work, .. }) => Ok(work),
            Ok(FromWorker::Failed { message, .. }) => Err(JsError::new(&message)),
            Ok(other) => Err(JsError::new(&format!(
                "the model's bundle answered {other:?}"
            ))),
            Err(err) => Err(JsError::new(&error_message(&err))),
        }
    }
}
