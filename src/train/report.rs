//! The evaluation report: its figures (report.json) and its Markdown text (report.md).

use serde::Serialize;

use super::config::{DatasetKind, TrainConfig};
use crate::model::ResNetConfig;

/// Which photos are the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuerySplit {
    /// The test split; the catalogue is the training and validation photos.
    Test,
    /// The validation split, for choosing settings without touching the test split; the
    /// catalogue is the training photos.
    Validation,
}

/// The exported model folder a report was made from.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFolder {
    /// The folder, as given (relative to the working folder, or under `~`; see `portable`).
    pub path: String,
    /// sha256 of its weights file.
    pub weights_sha256: String,
}

/// Headline figures of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Category top-1 accuracy.
    pub top1: f64,
    /// Category top-3 accuracy.
    pub top3: f64,
    /// Share of the 10 nearest catalogue photos with the query's class, averaged.
    pub precision_at_10: f64,
    /// Mean average precision of the whole ranking (relevant = same class).
    pub map: f64,
    /// P@10 as the product ranks: a catalogue index of these photos (int8 embeddings,
    /// category probabilities) ranked by look with the report's category weight, no colour.
    pub ranked_precision_at_10: f64,
    /// mAP of that ranking.
    pub ranked_map: f64,
}

/// Per-class figures of the int8 model.
#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    /// Class name.
    pub label: String,
    /// Test photos of the class.
    pub test_photos: usize,
    /// Training photos of the class.
    pub train_photos: usize,
    /// Recall of the category head (top-1).
    pub top1: f64,
    /// Precision at 10 of queries of this class.
    pub precision_at_10: f64,
    /// Precision at 10 of queries of this class as the product ranks.
    pub ranked_precision_at_10: f64,
}

/// Everything `eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset kind.
    pub dataset: String,
    /// Split seed.
    pub seed: u64,
    /// The queries' split.
    pub split: QuerySplit,
    /// Queries.
    pub test_photos: usize,
    /// Catalogue photos (training and validation splits; training only for validation
    /// queries).
    pub catalogue_photos: usize,
    /// Category weight of the "as ranked" figures.
    pub category_weight: f32,
    /// The exported model folder evaluated, when `eval --model` named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_folder: Option<ModelFolder>,
    /// The f32 network (absent for an exported model folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f32: Option<Metrics>,
    /// The int8 export.
    pub int8: Metrics,
    /// Per class, int8 model.
    pub classes: Vec<ClassMetrics>,
    /// Confusion matrix of the int8 model (rows true, columns predicted).
    pub confusion: Vec<Vec<usize>>,
    /// Training epochs run (absent for an exported model folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Sum of epoch times, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_seconds: Option<f64>,
    /// Epochs of the earlier run this cycle started from (`train.init`), 0 if none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_epochs: Option<usize>,
    /// int8 weights size in bytes.
    pub weights_bytes: u64,
}

/// The report as Markdown: the headline table, per-class figures and the pictures.
pub fn markdown(r: &Report, net: &ResNetConfig, config: &TrainConfig) -> String {
    let mut s = String::new();
    s += &format!("# Evaluation report ({})\n\n", r.dataset);
    s += &match (r.split, config.data.kind) {
        (QuerySplit::Validation, _) => format!(
            "Validation split: {} photos as queries (split seed {}; for choosing settings, the test split is not used); catalogue for retrieval: {} photos (training).\n",
            r.test_photos, r.seed, r.catalogue_photos
        ),
        (QuerySplit::Test, DatasetKind::Clothing) => format!(
            "Test split: {} photos (split seed {}, whole senders held out); catalogue for retrieval: {} photos (training + validation).\n",
            r.test_photos, r.seed, r.catalogue_photos
        ),
        (QuerySplit::Test, DatasetKind::FashionMnist) => format!(
            "Test set: the {} published test images; catalogue for retrieval: the {} training images (validation share split with seed {}).\n",
            r.test_photos, r.catalogue_photos, r.seed
        ),
    };
    let model = format!(
        "Model: ResNet stages {:?}, width {}, input {} px, embedding {}; int8 weights {:.2} MB; every photo runs with its mirror image (embeddings summed and normalised, probabilities averaged).",
        net.stages,
        net.width,
        net.input_size,
        net.embedding_dim,
        r.weights_bytes as f64 / 1e6,
    );
    s += &match (&r.model_folder, r.epochs, r.init_epochs, r.training_seconds) {
        (Some(folder), ..) => format!(
            "{model} The exported model in `{}` (weights sha256 `{}`) alone: its f32 network and training history are not part of it.\n\n",
            folder.path, folder.weights_sha256
        ),
        (None, Some(epochs), Some(init), Some(seconds)) => {
            let cycles = if init > 0 {
                format!(
                    " (the last {} a further cosine cycle from an earlier run's checkpoint after epoch {init})",
                    epochs.saturating_sub(init)
                )
            } else {
                String::new()
            };
            format!(
                "{model} Training: {epochs} epochs{cycles}, {:.0} min on the machine that ran it.\n\n",
                seconds / 60.0
            )
        }
        _ => format!("{model}\n\n"),
    };
    s += &format!(
        "P@10 and mAP rank the catalogue by embedding similarity alone; \"as ranked\" ranks it as the page and `search` do: an index of the catalogue (int8 embeddings and category probabilities) by look, cosine similarity plus {} x category agreement, without colour.\n\n",
        r.category_weight
    );
    s += "| model | top-1 | top-3 | P@10 | mAP | P@10 as ranked | mAP as ranked |\n| --- | --- | --- | --- | --- | --- | --- |\n";
    let rows = r.f32.iter().map(|m| ("f32", m));
    let int8 = if r.model_folder.is_some() {
        "int8"
    } else {
        "int8 (shipped)"
    };
    for (name, m) in rows.chain([(int8, &r.int8)]) {
        s += &format!(
            "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            m.top1, m.top3, m.precision_at_10, m.map, m.ranked_precision_at_10, m.ranked_map
        );
    }
    s += "\n## Per class (int8)\n\n| class | test photos | training photos | top-1 | P@10 | P@10 as ranked |\n| --- | --- | --- | --- | --- | --- |\n";
    for c in &r.classes {
        s += &format!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} |\n",
            c.label,
            c.test_photos,
            c.train_photos,
            c.top1,
            c.precision_at_10,
            c.ranked_precision_at_10
        );
    }
    s += "\n## Pictures\n\n";
    if r.epochs.is_some() {
        s += "![training curves](curves.svg)\n\n";
    }
    s += "![confusion matrix](confusion.svg)\n\n";
    s += "![queries (left, dark frame) and their first five catalogue photos as ranked: green = same class, red = other](contact-sheet.jpg)\n";
    s
}
