//! The catalogue ready to rank: item metadata, int8 embeddings with one scale per item, colour
//! histograms and predicted category probabilities, and their safetensors container.

use std::collections::HashMap;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::description::{Description, mean};
use super::item::Item;
use super::manifest::IndexManifest;
use crate::colour::HIST_LEN;
use crate::error::AssetError;

const WHAT: &str = "catalogue index";

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

fn st_error(source: safetensors::SafeTensorError) -> AssetError {
    AssetError::safetensors(WHAT, source)
}

/// A catalogue ready to rank.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueIndex {
    /// Items, in the order of the embedding rows.
    pub items: Vec<Item>,
    pub(super) dim: usize,
    pub(super) embeddings: Vec<i8>,
    pub(super) scales: Vec<f32>,
    pub(super) norms: Vec<f32>,
    pub(super) histograms: Vec<u8>,
    /// Category probabilities per item, 0..=255 for 0..=1, `classes` per row.
    pub(super) classes: usize,
    pub(super) probabilities: Vec<u8>,
    /// Mean of all (dequantised) embeddings, which feedback moves are measured from.
    centre: Vec<f32>,
}

/// An index's rows as it stores them, to build one from stored rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    pub items: Vec<Item>,
    pub dim: usize,
    pub embeddings: Vec<i8>,
    pub scales: Vec<f32>,
    pub histograms: Vec<u8>,
    pub classes: usize,
    pub probabilities: Vec<u8>,
}

/// One item with what the model and the colour analysis computed from its image.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// The product.
    pub item: Item,
    /// Its embedding (any length-scale).
    pub embedding: Vec<f32>,
    /// Its colour histogram, `HIST_LEN` values in 0..=1.
    pub histogram: Vec<f32>,
    /// The model's category probabilities for its image, in the model's label order.
    pub probabilities: Vec<f32>,
}

impl IndexEntry {
    /// `item` with the description of its image; the item takes the description's colours.
    pub fn new(mut item: Item, description: Description) -> Self {
        item.colours = description.colours;
        Self {
            item,
            embedding: description.embedding,
            histogram: description.histogram,
            probabilities: description.probabilities,
        }
    }
}

fn to_u8(v: &f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

fn quantise_row(row: &[f32]) -> (Vec<i8>, f32) {
    let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = row
        .iter()
        .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (q, scale)
}

fn row_norm(row: &[i8], scale: f32) -> f32 {
    row.iter().map(|v| (*v as f32).powi(2)).sum::<f32>().sqrt() * scale
}

impl CatalogueIndex {
    /// Builds an index; every entry must have the same embedding and probability lengths.
    pub fn build(entries: Vec<IndexEntry>) -> Result<Self, AssetError> {
        let dim = entries.first().map_or(0, |e| e.embedding.len());
        let classes = entries.first().map_or(0, |e| e.probabilities.len());
        let mut index = Self {
            items: Vec::with_capacity(entries.len()),
            dim,
            embeddings: Vec::with_capacity(entries.len() * dim),
            scales: Vec::with_capacity(entries.len()),
            norms: Vec::with_capacity(entries.len()),
            histograms: Vec::with_capacity(entries.len() * HIST_LEN),
            classes,
            probabilities: Vec::with_capacity(entries.len() * classes),
            centre: Vec::new(),
        };
        for IndexEntry {
            item,
            embedding,
            histogram,
            probabilities,
        } in entries
        {
            if embedding.len() != dim
                || histogram.len() != HIST_LEN
                || probabilities.len() != classes
            {
                return Err(content(format!("item {} has mis-sized features", item.id)));
            }
            let (q, scale) = quantise_row(&embedding);
            index.norms.push(row_norm(&q, scale));
            index.embeddings.extend(q);
            index.scales.push(scale);
            index.histograms.extend(histogram.iter().map(to_u8));
            index.probabilities.extend(probabilities.iter().map(to_u8));
            index.items.push(item);
        }
        Ok(index.with_centre())
    }

    /// An index of stored rows; fails when their lengths disagree.
    pub(crate) fn from_rows(rows: Rows) -> Result<Self, AssetError> {
        let n = rows.items.len();
        if rows.embeddings.len() != n * rows.dim
            || rows.scales.len() != n
            || rows.histograms.len() != n * HIST_LEN
            || rows.probabilities.len() != n * rows.classes
        {
            return Err(content("rows of different lengths"));
        }
        let norms = (0..n)
            .map(|i| {
                row_norm(
                    &rows.embeddings[i * rows.dim..(i + 1) * rows.dim],
                    rows.scales[i],
                )
            })
            .collect();
        Ok(Self {
            items: rows.items,
            dim: rows.dim,
            embeddings: rows.embeddings,
            scales: rows.scales,
            norms,
            histograms: rows.histograms,
            classes: rows.classes,
            probabilities: rows.probabilities,
            centre: Vec::new(),
        }
        .with_centre())
    }

    /// The rows of `parts` one after another, as stored (nothing quantised again): an index
    /// built in parts is the index built at once. Fails when the parts' shapes differ.
    pub fn concat(parts: Vec<CatalogueIndex>) -> Result<Self, AssetError> {
        // An empty part (a shard with no products) has no shape to agree with.
        let parts: Vec<CatalogueIndex> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        let mut rows = Rows {
            dim: parts.first().map_or(0, |p| p.dim),
            classes: parts.first().map_or(0, |p| p.classes),
            ..Rows::default()
        };
        for p in parts {
            if p.dim != rows.dim || p.classes != rows.classes {
                return Err(content(format!(
                    "parts of different shapes: {}x{} and {}x{}",
                    rows.dim, rows.classes, p.dim, p.classes
                )));
            }
            rows.items.extend(p.items);
            rows.embeddings.extend(p.embeddings);
            rows.scales.extend(p.scales);
            rows.histograms.extend(p.histograms);
            rows.probabilities.extend(p.probabilities);
        }
        Self::from_rows(rows)
    }

    /// Row `i`'s int8 embedding and its scale, as stored.
    pub(crate) fn row_embedding(&self, i: usize) -> (&[i8], f32) {
        (
            &self.embeddings[i * self.dim..(i + 1) * self.dim],
            self.scales[i],
        )
    }

    /// Row `i`'s histogram, as stored (0..=255).
    pub(crate) fn row_histogram(&self, i: usize) -> &[u8] {
        &self.histograms[i * HIST_LEN..(i + 1) * HIST_LEN]
    }

    /// Row `i`'s category probabilities, as stored (0..=255).
    pub(crate) fn row_probabilities(&self, i: usize) -> &[u8] {
        &self.probabilities[i * self.classes..(i + 1) * self.classes]
    }

    /// The same rows measuring feedback from `centre` (a larger catalogue's mean) instead.
    pub(crate) fn with_given_centre(mut self, centre: Vec<f32>) -> Self {
        if centre.len() == self.dim {
            self.centre = centre;
        }
        self
    }

    fn with_centre(mut self) -> Self {
        let rows: Vec<Vec<f32>> = (0..self.len()).map(|r| self.embedding(r)).collect();
        self.centre = mean(&rows).unwrap_or_else(|| vec![0.0; self.dim]);
        self
    }

    /// Mean of all item embeddings.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the catalogue is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The dequantised embedding of item `i`.
    pub fn embedding(&self, i: usize) -> Vec<f32> {
        let s = self.scales[i];
        self.embeddings[i * self.dim..(i + 1) * self.dim]
            .iter()
            .map(|v| *v as f32 * s)
            .collect()
    }

    /// Number of categories of the probability rows (the model's labels).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The predicted category probabilities of item `i`.
    pub fn probabilities(&self, i: usize) -> Vec<f32> {
        self.probabilities[i * self.classes..(i + 1) * self.classes]
            .iter()
            .map(|v| *v as f32 / 255.0)
            .collect()
    }

    /// What the index holds of item `i`, as a description.
    pub fn description(&self, i: usize) -> Description {
        Description {
            embedding: self.embedding(i),
            probabilities: self.probabilities(i),
            histogram: self.histogram(i),
            colours: self.items[i].colours.clone(),
        }
    }

    /// The colour histogram of item `i`.
    pub fn histogram(&self, i: usize) -> Vec<f32> {
        self.histograms[i * HIST_LEN..(i + 1) * HIST_LEN]
            .iter()
            .map(|v| *v as f32 / 255.0)
            .collect()
    }

    /// Serialises to the safetensors container; item metadata travels as JSON in its header.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AssetError> {
        let n = self.len();
        let embeddings: Vec<u8> = self.embeddings.iter().map(|v| *v as u8).collect();
        let scales: Vec<u8> = self.scales.iter().flat_map(|v| v.to_le_bytes()).collect();
        let views = vec![
            (
                "embeddings",
                TensorView::new(Dtype::I8, vec![n, self.dim], &embeddings).map_err(st_error)?,
            ),
            (
                "scales",
                TensorView::new(Dtype::F32, vec![n], &scales).map_err(st_error)?,
            ),
            (
                "histograms",
                TensorView::new(Dtype::U8, vec![n, HIST_LEN], &self.histograms)
                    .map_err(st_error)?,
            ),
            (
                "probabilities",
                TensorView::new(Dtype::U8, vec![n, self.classes], &self.probabilities)
                    .map_err(st_error)?,
            ),
        ];
        let items = serde_json::to_string(&self.items).map_err(|e| AssetError::json(WHAT, e))?;
        let metadata = HashMap::from([("items".to_string(), items)]);
        safetensors::serialize(views, Some(metadata)).map_err(st_error)
    }

    /// Parses the safetensors container written by [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AssetError> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_error)?;
        let items_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("items"))
            .ok_or_else(|| content("no item list"))?;
        let items: Vec<Item> =
            serde_json::from_str(items_json).map_err(|e| AssetError::json(WHAT, e))?;
        let file = SafeTensors::deserialize(bytes).map_err(st_error)?;
        let get = |name: &str, dtype: Dtype| {
            let view = file.tensor(name).map_err(st_error)?;
            if view.dtype() != dtype {
                return Err(content(format!(
                    "{name} is {:?}, expected {dtype:?}",
                    view.dtype()
                )));
            }
            Ok(view)
        };
        let n = items.len();
        // A tensor of one row per item, with its row length.
        let rows = |name: &str, dtype: Dtype| {
            let view = get(name, dtype)?;
            let width = view.shape().get(1).copied().unwrap_or(0);
            if view.shape() != [n, width] {
                return Err(content(format!("{name} {:?} for {n} items", view.shape())));
            }
            Ok((view, width))
        };
        let (emb, dim) = rows("embeddings", Dtype::I8)?;
        let scales = get("scales", Dtype::F32)?;
        let hist = get("histograms", Dtype::U8)?;
        if scales.shape() != [n] || hist.shape() != [n, HIST_LEN] {
            return Err(content("scales or histograms do not match the item count"));
        }
        let (probs, classes) = rows("probabilities", Dtype::U8)?;
        let embeddings: Vec<i8> = emb.data().iter().map(|v| *v as i8).collect();
        let scales: Vec<f32> = scales
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Self::from_rows(Rows {
            items,
            dim,
            embeddings,
            scales,
            histograms: hist.data().to_vec(),
            classes,
            probabilities: probs.data().to_vec(),
        })
    }

    /// Checks `data` against `manifest` and the loaded model (whose weights hash to
    /// `model_sha256` and whose embeddings have `embedding_dim` values), then parses it.
    pub fn load(
        manifest: &IndexManifest,
        data: &[u8],
        model_sha256: &str,
        embedding_dim: usize,
    ) -> Result<Self, AssetError> {
        manifest.check_model(model_sha256)?;
        manifest.data.verify(data)?;
        let index = Self::from_bytes(data)?;
        if index.len() != manifest.count {
            return Err(content(format!(
                "manifest counts {} items, data holds {}",
                manifest.count,
                index.len()
            )));
        }
        if index.dim != embedding_dim {
            return Err(content(format!(
                "its embeddings have {} values; the model's have {embedding_dim}",
                index.dim
            )));
        }
        Ok(index)
    }
}
