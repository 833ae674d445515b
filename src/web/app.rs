//! The loaded widget: the engine that describes photos, the session, and what the page knows
//! of how it runs (backend, thread). Loading (`load`) fetches the manifests, the weights and
//! the index, starts the worker, and opens the session; the methods here are what the widget's
//! controls and the JS API do, each the same way.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::storage::{LocalStorage, Storage};
use wasm_bindgen::JsError;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::client::Client;
use super::engine::{Engine, OnPage};
use super::js::{epoch_ms, error_message, to_js};
use super::remote::Remote;
use super::session::{Catalogue, Photo, Query, Results, SearchOptions, Session, Work};
use super::{fetch, widget};
use crate::assets::{MAX_MANIFEST_BYTES, ModelManifest};
use crate::index::ivf::{PartitionedManifest, is_partitioned};
use crate::index::{CatalogueIndex, Feedback, IndexManifest};
use crate::preprocess::{Crop, Limits};

/// Everything a search needs, once loaded.
pub(crate) struct App {
    /// Where photos are described: a worker, or this thread.
    pub engine: Engine,
    /// The loaded model's manifest.
    pub manifest: ModelManifest,
    /// Why the model runs on this thread although workers are on, when it does.
    pub worker_error: Option<String>,
    /// `"webgpu"` or `"cpu"`.
    pub backend: &'static str,
    /// Why WebGPU is not used, when it is not.
    pub fallback_reason: Option<String>,
    /// The shopper's session.
    pub session: Session,
    /// A partitioned catalogue, read in part as queries need it (`None`: the whole
    /// catalogue is in the session).
    pub remote: Option<Remote>,
    /// The `target` of product page links, if any.
    pub link_target: Option<String>,
}

thread_local! {
    static APP: RefCell<Option<Rc<App>>> = const { RefCell::new(None) };
}

/// The loaded app, or an error saying it is still loading.
pub(crate) fn current() -> Result<Rc<App>, JsError> {
    APP.with(|a| a.borrow().clone())
        .ok_or_else(|| JsError::new("Deep Shopping is still loading; await deepShopping.ready()"))
}

/// Makes `app` the loaded app.
pub(crate) fn install(app: App) -> Rc<App> {
    let app = Rc::new(app);
    APP.with(|a| *a.borrow_mut() = Some(app.clone()));
    app
}

/// Download progress: bytes received and expected.
pub(crate) type OnProgress = dyn Fn(u64, u64);

/// Loads the model and the catalogue named by the widget's configuration and opens the
/// session, reporting download progress to `progress`.
pub(crate) async fn load(
    config: &widget::Config,
    progress: Rc<OnProgress>,
) -> Result<App, JsValue> {
    let manifest_bytes = fetch::bytes(
        &config.model_url,
        fetch::Size::AtMost(MAX_MANIFEST_BYTES as u64),
        None,
    )
    .await?;
    let manifest = ModelManifest::from_json(&manifest_bytes).map_err(to_js)?;
    let index_manifest_bytes = fetch::bytes(
        &config.index_url,
        fetch::Size::AtMost(MAX_MANIFEST_BYTES as u64),
        None,
    )
    .await?;
    let index = if is_partitioned(&index_manifest_bytes) {
        Index::Partitioned(PartitionedManifest::from_json(&index_manifest_bytes).map_err(to_js)?)
    } else {
        Index::Whole(IndexManifest::from_json(&index_manifest_bytes).map_err(to_js)?)
    };
    let index_bytes = match &index {
        Index::Whole(m) => m.data.bytes,
        Index::Partitioned(m) => m.top.bytes,
    };
    let total = manifest.weights.bytes + index_bytes;
    let received = Cell::new(0u64);
    progress(0, total);
    let on_bytes = |n: u64| {
        received.set(received.get() + n);
        progress(received.get(), total);
    };

    let weights_url = fetch::join(&config.model_url, &manifest.weights.file)?;
    let weights = fetch::cached(&weights_url, &manifest.weights, Some(&on_bytes)).await?;
    let (index, remote, catalogue_sha256) = match index {
        Index::Whole(index_manifest) => {
            let data_url = fetch::join(&config.index_url, &index_manifest.data.file)?;
            let data = fetch::cached(&data_url, &index_manifest.data, Some(&on_bytes)).await?;
            let index = CatalogueIndex::load(
                &index_manifest,
                &data,
                &manifest.weights.sha256,
                manifest.model.embedding_dim,
            )
            .map_err(to_js)?;
            (index, None, index_manifest.data.sha256)
        }
        Index::Partitioned(m) => {
            m.check_model(&manifest.weights.sha256).map_err(to_js)?;
            if m.dim != manifest.model.embedding_dim {
                return Err(to_js(format!(
                    "the catalogue holds {}-value embeddings; the model makes {}",
                    m.dim, manifest.model.embedding_dim
                )));
            }
            let sha = m.top.sha256.clone();
            let remote = Remote::open(&config.index_url, m, config.probe, Some(&on_bytes)).await?;
            let empty = remote
                .published
                .catalogue(std::iter::empty())
                .map_err(to_js)?;
            (empty, Some(remote), sha)
        }
    };
    let force_cpu = forced_cpu();
    let mut worker_error = None;
    let bundle = widget::bundle_folder();
    let started = if config.worker {
        match Client::start(&bundle, &manifest_bytes, &weights, force_cpu).await {
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
            let (page, backend, reason) =
                OnPage::start(&bundle, &manifest_bytes, &weights, force_cpu).await?;
            (Engine::Page(page), backend, reason)
        }
    };
    let feedback = stored_feedback(&catalogue_sha256, &manifest.weights.sha256);
    let index_url = config.index_url.clone();
    let count = remote
        .as_ref()
        .map_or(index.len(), |r| r.published.live_items());
    let facets = remote.as_ref().map(|r| r.published.manifest.facets.clone());
    let catalogue = Catalogue {
        count,
        facets,
        labels: manifest.labels.clone(),
        trained: manifest.trained,
        image_url: Box::new(move |image| {
            fetch::join(&index_url, image).unwrap_or_else(|_| image.to_string())
        }),
        page_size: config.results,
        clock: Box::new(epoch_ms),
        show_out_of_stock: config.show_out_of_stock,
        variants: config.variants,
    };
    Ok(App {
        engine,
        manifest,
        worker_error,
        backend,
        fallback_reason,
        session: Session::new(catalogue, index, feedback),
        remote,
        link_target: config.link_target.clone(),
    })
}

/// The catalogue's manifest: a whole index's or a partitioned one's.
enum Index {
    Whole(IndexManifest),
    Partitioned(PartitionedManifest),
}

/// Whether the page's address asks for the CPU backend (`?backend=cpu`).
fn forced_cpu() -> bool {
    gloo::utils::window()
        .location()
        .search()
        .ok()
        .and_then(|s| web_sys::UrlSearchParams::new_with_str(&s).ok())
        .and_then(|p| p.get("backend"))
        .is_some_and(|b| b == "cpu")
}

/// Where the shopper's feedback on a catalogue is kept.
fn storage_key(catalogue: &str) -> String {
    format!("deep-shopping/feedback/{catalogue}")
}

/// The feedback stored for this catalogue, or none yet.
fn stored_feedback(catalogue: &str, model: &str) -> Feedback {
    LocalStorage::get::<Feedback>(storage_key(catalogue))
        .ok()
        .filter(|f| f.catalogue == catalogue)
        .unwrap_or_else(|| Feedback::new(catalogue, model))
}

async fn blob_bytes(blob: &web_sys::Blob) -> Result<Vec<u8>, JsError> {
    let limit = Limits::default().max_file_bytes;
    if blob.size() > limit as f64 {
        return Err(JsError::new(&format!(
            "photo is {:.1} MB; the limit is {} MB",
            blob.size() / 1e6,
            limit >> 20
        )));
    }
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|e| JsError::new(&format!("cannot read the photo: {e:?}")))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

impl App {
    /// Prepares and describes one photo (in the worker, or on this thread), recording when
    /// and where the work ran.
    pub(crate) async fn describe(
        &self,
        blob: &web_sys::Blob,
        crop: Option<Crop>,
    ) -> Result<Rc<Photo>, JsError> {
        self.engine.photo_coming();
        let bytes = blob_bytes(blob).await?;
        let work = self.engine.describe(bytes, crop).await?;
        self.session.set_work(Work {
            started_at: work.started_at,
            ended_at: work.ended_at,
            thread: self.engine.thread(),
            memory_bytes: work.memory_bytes,
        });
        Ok(Rc::new(Photo {
            description: work.description,
            crop,
            prepare_ms: work.prepare_ms,
            embed_ms: work.embed_ms,
        }))
    }

    /// Describes `blobs` (all with `crop`) and makes them the query, or with `add` adds them
    /// to it. Returns the query.
    pub(crate) async fn set_photos(
        &self,
        blobs: &[web_sys::Blob],
        crop: Option<Crop>,
        add: bool,
    ) -> Result<Rc<Query>, JsError> {
        let mut photos = Vec::with_capacity(blobs.len());
        for blob in blobs {
            photos.push(self.describe(blob, crop).await?);
        }
        self.session
            .set_photos(photos, add)
            .ok_or_else(|| JsError::new("no photo to search"))
    }

    /// Ranks the current query with `options` (`None`: the controls'), as
    /// [`Session::rank`]; on a partitioned catalogue it first reads what the query needs.
    /// `None` before any query.
    pub(crate) async fn rank(
        &self,
        options: Option<&SearchOptions>,
    ) -> Result<Option<Results>, JsError> {
        let mut read_ms = 0.0;
        if let Some(remote) = &self.remote {
            let Some(lookup) = self.session.lookup(options) else {
                return Ok(None);
            };
            let started = epoch_ms();
            let found = remote
                .search(
                    lookup.description.query(),
                    lookup.blend,
                    lookup.top,
                    self.session.variants(),
                    self.session.orderable_only(),
                    |item| self.session.keeps_for(&lookup.filters, item),
                )
                .await
                .map_err(|e| JsError::new(&format!("cannot search the catalogue: {e}")))?;
            self.session
                .add_read(found, &remote.published)
                .map_err(|e| JsError::new(&e.to_string()))?;
            read_ms = epoch_ms() - started;
        }
        Ok(self.session.rank_after_read(options, read_ms))
    }

    /// Records a vote and stores the feedback; the caller ranks again.
    pub(crate) fn vote(&self, id: &str, vote: i32) {
        self.session.vote(id, vote);
        self.save_feedback();
    }

    /// Forgets every vote and stores that.
    pub(crate) fn reset_feedback(&self) {
        self.session.reset_feedback();
        self.save_feedback();
    }

    fn save_feedback(&self) {
        let feedback = self.session.feedback();
        if let Err(err) = LocalStorage::set(storage_key(&feedback.catalogue), &feedback) {
            web_sys::console::warn_1(&format!("feedback not saved: {err}").into());
        }
    }
}
