//! The browser side: builds the `<deep-shopping-search>` widget, loads the model and the
//! catalogue, starts the worker that embeds photos (WebGPU or the CPU backend), exposes
//! `window.deepShopping` and drives the widget. In the worker, the same bundle serves
//! embedding requests.

mod api;
mod backend;
mod camera;
mod crop;
mod engine;
mod fetch;
mod js;
mod page;
mod widget;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::assets::ModelManifest;
use crate::embed::Embedder;
use crate::index::CatalogueIndex;
use engine::Engine;

/// Everything a search needs, once loaded.
pub(crate) struct App {
    /// Where photos are embedded: a worker, or this thread.
    engine: Engine,
    /// The loaded model's manifest.
    manifest: ModelManifest,
    /// Why the model runs on this thread although workers are on, when it does.
    worker_error: Option<String>,
    index: CatalogueIndex,
    /// `"webgpu"` or `"cpu"`.
    backend: &'static str,
    /// Why WebGPU is not used, when it is not.
    fallback_reason: Option<String>,
    /// Absolute URL of the index manifest; item images resolve against it.
    index_url: String,
    /// The shopper's likes and dislikes on this catalogue, kept in localStorage.
    feedback: RefCell<crate::index::Feedback>,
}

thread_local! {
    static APP: RefCell<Option<Rc<App>>> = const { RefCell::new(None) };
}

pub(crate) fn app() -> Result<Rc<App>, JsError> {
    APP.with(|a| a.borrow().clone())
        .ok_or_else(|| JsError::new("Deep Shopping is still loading; await deepShopping.ready()"))
}

/// Entry point of the wasm build: in a worker, serves embedding requests; on a page, installs
/// the JS API, builds the widget and starts loading.
pub fn start() {
    console_error_panic_hook::set_once();
    if engine::in_worker() {
        engine::serve();
        return;
    }
    let ready = api::install();
    if let Err(err) = widget::mount() {
        web_sys::console::error_2(&"Deep Shopping: cannot build the widget".into(), &err);
    }
    page::wire_drops();
    wasm_bindgen_futures::spawn_local(async move {
        match boot().await {
            Ok(app) => {
                page::loaded(&app);
                APP.with(|a| *a.borrow_mut() = Some(Rc::new(app)));
                ready.resolve();
                page::search_pending();
            }
            Err(err) => {
                page::failed(&error_message(&err));
                ready.reject(err);
            }
        }
    });
}

async fn boot() -> Result<App, JsValue> {
    let widget::Config {
        model_url,
        index_url,
        results,
        worker,
    } = widget::config();
    page::set_page_size(results);
    let progress = page::Progress::new();
    let manifest_bytes = fetch::bytes(&model_url, None).await?;
    let manifest = crate::assets::ModelManifest::from_json(&manifest_bytes).map_err(to_js)?;
    let index_manifest_bytes = fetch::bytes(&index_url, None).await?;
    let index_manifest =
        crate::index::IndexManifest::from_json(&index_manifest_bytes).map_err(to_js)?;
    progress.set_total(manifest.weights.bytes + index_manifest.data.bytes);

    let weights_url = fetch::join(&model_url, &manifest.weights.file)?;
    let weights = fetch::cached(&weights_url, &manifest.weights.sha256, Some(&progress)).await?;
    let data_url = fetch::join(&index_url, &index_manifest.data.file)?;
    let data = fetch::cached(&data_url, &index_manifest.data.sha256, Some(&progress)).await?;

    let index =
        CatalogueIndex::load(&index_manifest, &data, &manifest.weights.sha256).map_err(to_js)?;
    let force_cpu = backend::forced_cpu();
    let mut worker_error = None;
    let started = if worker {
        let bundle = widget::bundle_folder();
        match engine::Client::start(&bundle, &manifest_bytes, &weights, force_cpu).await {
            Ok(started) => Some(started),
            Err(err) => {
                let why = error_message(&err);
                web_sys::console::warn_1(
                    &format!("Deep Shopping: no worker ({why}); the model runs on the page").into(),
                );
                worker_error = Some(why);
                None
            }
        }
    } else {
        None
    };
    let (engine, backend, fallback_reason) = match started {
        Some((client, backend, reason)) => (Engine::Worker(client), backend, reason),
        None => {
            let (device, backend, reason) = backend::pick(force_cpu).await;
            let embedder = Embedder::load(&manifest_bytes, &weights, device).map_err(to_js)?;
            (Engine::Local(Box::new(embedder)), backend, reason)
        }
    };
    let feedback = api::stored_feedback(&index_manifest.data.sha256, &manifest.weights.sha256);
    Ok(App {
        engine,
        manifest,
        worker_error,
        index,
        backend,
        fallback_reason,
        index_url,
        feedback: RefCell::new(feedback),
    })
}

/// The text of a JS error value: a string, an `Error`'s message, or its debug form.
pub(crate) fn error_message(err: &JsValue) -> String {
    err.as_string()
        .or_else(|| {
            js_sys::Reflect::get(err, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{err:?}"))
}

pub(crate) fn to_js(err: impl std::fmt::Display) -> JsValue {
    JsError::new(&err.to_string()).into()
}
