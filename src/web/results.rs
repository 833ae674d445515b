//! What a session's searches are made of and give: the ranking options, the photos and the
//! query described from them, the results with their timings, and when and where a photo was
//! described. Plain data; the session owns and changes it.

use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::index::{Card, Description, Filters};
use crate::preprocess::Crop;

/// Results per page without a `results` attribute, and per search without a `top` option.
pub(crate) const DEFAULT_RESULTS: usize = 12;

/// Options of a ranking (`search`, `rerank` and the widget's controls).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchOptions {
    /// Number of results (default [`DEFAULT_RESULTS`]).
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

/// One photo of the query, described.
#[derive(Debug, Clone)]
pub(crate) struct Photo {
    /// What the model and the colour analysis say about it.
    pub description: Description,
    /// The part of the photo described (`None`: all of it).
    pub crop: Option<Crop>,
    /// Milliseconds spent decoding and preparing it (and its colours).
    pub prepare_ms: f64,
    /// Milliseconds spent in the model.
    pub embed_ms: f64,
}

/// A predicted category.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Label {
    pub label: String,
    pub score: f32,
}

/// What is searched: one photo, several combined, or the liked items.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// Numbers the queries of the session (1, 2, ...), for the store's analytics.
    pub id: u64,
    pub description: Description,
    /// The three most probable categories (empty for an untrained model or the likes).
    pub category: Vec<Label>,
    /// The part of the photo searched (`None`: all of it, several photos, or the likes).
    pub crop: Option<Crop>,
    pub prepare_ms: f64,
    pub embed_ms: f64,
}

/// Milliseconds spent in each step of the last search.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Timings {
    pub prepare_ms: f64,
    pub embed_ms: f64,
    /// Reading a partitioned catalogue's parts for the ranking (0 for a whole one).
    pub read_ms: f64,
    pub rank_ms: f64,
    pub total_ms: f64,
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
    /// Bytes of wasm memory that thread holds after the work.
    pub memory_bytes: f64,
}

/// Results shown for the current query.
#[derive(Debug, Clone)]
pub(crate) struct Results {
    pub cards: Vec<Card>,
    pub timings: Timings,
    pub query: Rc<Query>,
    /// Whether more results exist beyond `cards`.
    pub more: bool,
    /// The filters the results were ranked with.
    pub filters: Filters,
}
