//! Exact top-K ranking: cosine similarity of embeddings blended with colour-histogram
//! similarity by a caller-chosen weight.

use super::CatalogueIndex;
use crate::colour;

/// What is searched for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The query embedding (any length-scale; it is normalised here).
    pub embedding: &'a [f32],
    /// The query's colour histogram.
    pub histogram: &'a [f32],
}

/// One ranked result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row of the item in the index.
    pub index: usize,
    /// Blended score: `(1 - w) * visual + w * colour`.
    pub score: f32,
    /// Cosine similarity of the embeddings, -1..1.
    pub visual: f32,
    /// Histogram intersection, 0..1.
    pub colour: f32,
}

/// The `top` best items for `query`, best first; `colour_weight` is clamped to 0..=1.
pub fn rank(index: &CatalogueIndex, query: Query<'_>, colour_weight: f32, top: usize) -> Vec<Hit> {
    rank_where(index, query, colour_weight, top, |_| true)
}

/// Like [`rank`], over the items for which `keep` holds.
pub fn rank_where(
    index: &CatalogueIndex,
    query: Query<'_>,
    colour_weight: f32,
    top: usize,
    keep: impl Fn(&super::Item) -> bool,
) -> Vec<Hit> {
    let w = if colour_weight.is_finite() {
        colour_weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let qnorm = query.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    let dim = index.dim;
    if index.is_empty() || top == 0 || query.embedding.len() != dim || qnorm == 0.0 {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = (0..index.len())
        .filter(|i| keep(&index.items[*i]))
        .map(|i| {
            let row = &index.embeddings[i * dim..(i + 1) * dim];
            let dot: f32 = row
                .iter()
                .zip(query.embedding)
                .map(|(e, q)| *e as f32 * q)
                .sum::<f32>()
                * index.scales[i];
            let visual = if index.norms[i] > 0.0 {
                dot / (index.norms[i] * qnorm)
            } else {
                0.0
            };
            let hist = &index.histograms[i * colour::HIST_LEN..(i + 1) * colour::HIST_LEN];
            let colour: f32 = if query.histogram.len() == colour::HIST_LEN {
                hist.iter()
                    .zip(query.histogram)
                    .map(|(h, q)| (*h as f32 / 255.0).min(*q))
                    .sum()
            } else {
                0.0
            };
            Hit {
                index: i,
                score: (1.0 - w) * visual + w * colour,
                visual,
                colour,
            }
        })
        .collect();
    let by_score = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index));
    let top = top.min(hits.len());
    if top == 0 {
        return Vec::new();
    }
    if top < hits.len() {
        hits.select_nth_unstable_by(top - 1, by_score);
        hits.truncate(top);
    }
    hits.sort_by(by_score);
    hits
}
