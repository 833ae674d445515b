//! The messages between the page and the worker, one serde enum per direction, tagged by
//! `type`, so both sides are checked by the compiler. Byte fields travel as `Uint8Array`s
//! whose buffers are transferred, not copied.
//!
//! The worker says `started` once its wasm runs; the page sends `load` and gets `loaded` or
//! `error`; then each `describe` is answered by `described` or `failed`, with its `id`.

use js_sys::{Array, Uint8Array};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use wasm_bindgen::{JsCast, JsValue};

use super::js;
use crate::index::Description;
use crate::preprocess::Crop;

/// What the page asks of the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum ToWorker {
    /// Load this model (manifest JSON and weights) on WebGPU or, with `force_cpu` or without
    /// an adapter, on the CPU.
    #[serde(rename_all = "camelCase")]
    Load {
        manifest: ByteBuf,
        weights: ByteBuf,
        force_cpu: bool,
    },
    /// Describe this photo (its encoded bytes) with this crop.
    Describe {
        id: u32,
        bytes: ByteBuf,
        crop: Option<Crop>,
    },
    /// Run the model once on a synthetic photo, while no photo waits, so that the next real
    /// one runs warm code (see `Embedder::warm_up`).
    WarmUp,
}

/// What the worker tells the page.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum FromWorker {
    /// The worker's wasm runs.
    Started,
    /// The model is loaded on `backend` (`"webgpu"` or `"cpu"`), with the reason WebGPU is
    /// not used, when it is not.
    #[serde(rename_all = "camelCase")]
    Loaded {
        backend: String,
        fallback_reason: Option<String>,
    },
    /// The model could not be loaded.
    Error { message: String },
    /// The photo of request `id`, described.
    Described { id: u32, work: Described },
    /// The photo of request `id` could not be described.
    Failed { id: u32, message: String },
    /// The model ran on the synthetic photo in `ms` milliseconds.
    WarmedUp { ms: f64 },
}

/// A description with the times the work took.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Described {
    /// What the model and the colour analysis say.
    pub description: Description,
    /// Milliseconds spent decoding and preparing the photo (and its colours).
    pub prepare_ms: f64,
    /// Milliseconds spent in the model.
    pub embed_ms: f64,
    /// When the work started, in milliseconds since the Unix epoch.
    pub started_at: f64,
    /// When the work ended, in milliseconds since the Unix epoch.
    pub ended_at: f64,
    /// Bytes of wasm memory the thread that did the work holds after it (wasm memory grows
    /// and never shrinks).
    pub memory_bytes: f64,
}

/// `message` as a JS object, with the buffers of its byte fields to transfer.
pub(crate) fn encode<T: Serialize>(message: &T) -> Result<(JsValue, Array), JsValue> {
    let value = message
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|e| js::to_js(format!("cannot encode a worker message: {e}")))?;
    let transfer = Array::new();
    for field in ["manifest", "weights", "bytes"] {
        if let Ok(bytes) = js::get(&value, field)?.dyn_into::<Uint8Array>() {
            transfer.push(&bytes.buffer());
        }
    }
    Ok((value, transfer))
}

/// A message received from the other side.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(data: JsValue) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(data)
        .map_err(|e| js::to_js(format!("unexpected worker message: {e}")))
}
