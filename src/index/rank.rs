//! Exact top-K ranking: the look (cosine similarity of embeddings plus agreement of the
//! predicted categories) blended with colour-histogram similarity by caller-chosen weights.

use super::catalogue::CatalogueIndex;
use super::description::Query;
use super::item::Item;
use crate::colour;

/// How the parts of the score are weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blend {
    /// Share of colour in the score, 0 (look only) to 1 (colour only); clamped to 0..=1.
    pub colour: f32,
    /// Weight of category agreement added to the cosine similarity in the look, 0 (embedding
    /// only) to 4; clamped to 0..=4.
    pub category: f32,
}

impl Blend {
    /// The defaults of the page and the CLI. The category weight was chosen on the validation
    /// split of the clothing dataset (README, "Inference and ranking").
    pub const DEFAULT: Self = Self {
        colour: 0.3,
        category: 1.0,
    };

    /// Colour share `colour` and no category term.
    pub fn colour(colour: f32) -> Self {
        Self {
            colour,
            category: 0.0,
        }
    }

    /// The colour share and the category weight, each clamped to its range.
    pub(crate) fn clamped(self) -> (f32, f32) {
        let clamp = |v: f32, max: f32| {
            if v.is_finite() {
                v.clamp(0.0, max)
            } else {
                0.0
            }
        };
        (clamp(self.colour, 1.0), clamp(self.category, 4.0))
    }
}

/// One ranked result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row of the item in the index.
    pub index: usize,
    /// Blended score: `(1 - colour weight) * (visual + category weight * category) + colour
    /// weight * colour`.
    pub score: f32,
    /// Cosine similarity of the embeddings, -1..1.
    pub visual: f32,
    /// Agreement of the predicted categories (sum over categories of the product of the
    /// query's and the item's probabilities), 0..1; 0 without query probabilities.
    pub category: f32,
    /// Histogram intersection, 0..1.
    pub colour: f32,
    /// The score as a share of the best any item could reach for this query with these
    /// weights (identical look and colours, and sure of the query's most probable category
    /// where the category term applies), 0..1: what the page shows as the match.
    pub share: f32,
}

/// Which variants of one product (items of one group) a ranking shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variants {
    /// One result per group: the variant whose photo matched best.
    #[default]
    Best,
    /// Every variant.
    All,
}

/// The `top` best items for `query`, best first, every variant shown.
pub fn rank(index: &CatalogueIndex, query: Query<'_>, weights: Blend, top: usize) -> Vec<Hit> {
    rank_where(index, query, weights, top, Variants::All, |_| true)
}

/// Like [`rank`], over the items for which `keep` holds, with `variants` of one product.
pub fn rank_where(
    index: &CatalogueIndex,
    query: Query<'_>,
    weights: Blend,
    top: usize,
    variants: Variants,
    keep: impl Fn(&Item) -> bool,
) -> Vec<Hit> {
    let Some(scorer) = Scorer::new(index, query, weights) else {
        return Vec::new();
    };
    if top == 0 {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = (0..index.len())
        .filter(|i| keep(&index.items[*i]))
        .map(|i| scorer.hit(i))
        .collect();
    let grouped = variants == Variants::Best && index.items.iter().any(|i| i.group.is_some());
    if grouped {
        // The best variant of each group: every hit ordered, then the first of each group.
        hits.sort_by(by_score);
        let mut seen = std::collections::HashSet::new();
        hits.retain(|h| {
            index.items[h.index]
                .group
                .as_deref()
                .is_none_or(|g| seen.insert(g))
        });
        hits.truncate(top);
        return hits;
    }
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

/// Best first; equal scores in row order.
pub(crate) fn by_score(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.index.cmp(&b.index))
}

/// The blended score of one query against the rows of one index.
pub(crate) struct Scorer<'a> {
    index: &'a CatalogueIndex,
    query: Query<'a>,
    w: f32,
    c: f32,
    with_category: bool,
    qnorm: f32,
    best: f32,
}

impl<'a> Scorer<'a> {
    /// `None` when nothing can be ranked: an empty index, or a query of the wrong length or
    /// of zero length-scale.
    pub(crate) fn new(index: &'a CatalogueIndex, query: Query<'a>, weights: Blend) -> Option<Self> {
        let (w, c) = weights.clamped();
        let classes = index.classes;
        let with_category = classes > 0 && query.probabilities.len() == classes;
        // The best score any item can reach for this query: identical look and colours, and
        // an item sure of the query's most probable category. At least 1 - w + w = 1.
        let agreement_max = if with_category {
            query.probabilities.iter().copied().fold(0.0f32, f32::max)
        } else {
            0.0
        };
        let best = ((1.0 - w) * (1.0 + c * agreement_max) + w).max(1.0);
        let qnorm = query.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        if index.is_empty() || query.embedding.len() != index.dim || qnorm == 0.0 {
            return None;
        }
        Some(Self {
            index,
            query,
            w,
            c,
            with_category,
            qnorm,
            best,
        })
    }

    /// Row `i` scored.
    pub(crate) fn hit(&self, i: usize) -> Hit {
        let (index, query) = (self.index, self.query);
        let (dim, classes) = (index.dim, index.classes);
        let row = &index.embeddings[i * dim..(i + 1) * dim];
        let dot: f32 = row
            .iter()
            .zip(query.embedding)
            .map(|(e, q)| *e as f32 * q)
            .sum::<f32>()
            * index.scales[i];
        let visual = if index.norms[i] > 0.0 {
            dot / (index.norms[i] * self.qnorm)
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
        let category: f32 = if self.with_category {
            index.probabilities[i * classes..(i + 1) * classes]
                .iter()
                .zip(query.probabilities)
                .map(|(p, q)| *p as f32 / 255.0 * q)
                .sum()
        } else {
            0.0
        };
        let score = (1.0 - self.w) * (visual + self.c * category) + self.w * colour;
        Hit {
            index: i,
            score,
            visual,
            category,
            colour,
            share: (score / self.best).clamp(0.0, 1.0),
        }
    }
}
