//! What the shopper tells the ranking: filters on item metadata, likes and dislikes that move
//! the query in embedding space, and a short reason for each result.

use serde::{Deserialize, Serialize};

use super::catalogue::CatalogueIndex;
use super::description::{Description, mean, unit};
use super::item::Item;
use super::rank::Hit;

/// Format tag of exported feedback files.
pub const FEEDBACK_FORMAT: &str = "deep-shopping-feedback/1";
/// Weight of what sets the liked items apart (their mean minus the catalogue mean), added to
/// the query.
const LIKE_WEIGHT: f32 = 1.0;
/// Weight of what sets the disliked items apart, taken from the query.
const DISLIKE_WEIGHT: f32 = 0.5;

/// Client-side filters; `None` lets everything through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    /// Only this category.
    pub category: Option<String>,
    /// Only items whose dominant colours include this colour name.
    pub colour: Option<String>,
    /// Lowest price (the sale price where there is one); items without a price are dropped
    /// when set.
    pub min_price: Option<f64>,
    /// Highest price; items without a price are dropped when set.
    pub max_price: Option<f64>,
}

impl Filters {
    /// Whether `item` passes every filter.
    pub fn matches(&self, item: &Item) -> bool {
        let category = self
            .category
            .as_ref()
            .is_none_or(|c| item.category.as_deref() == Some(c.as_str()));
        let colour = self
            .colour
            .as_ref()
            .is_none_or(|c| item.colours.iter().any(|s| &s.name == c));
        let price = match (self.min_price, self.max_price) {
            (None, None) => true,
            (min, max) => item.current_price().is_some_and(|p| {
                min.is_none_or(|m| p.amount >= m) && max.is_none_or(|m| p.amount <= m)
            }),
        };
        category && colour && price
    }
}

/// Likes and dislikes of one shopper on one catalogue, stored in the browser and exportable
/// for offline retraining.
///
/// Export format (JSON): `{"format": "deep-shopping-feedback/1", "catalogue": "<sha256 of the
/// index data>", "model": "<sha256 of the weights>", "liked": ["<item id>", ...],
/// "disliked": ["<item id>", ...]}`; each list in the order the votes were cast.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Always [`FEEDBACK_FORMAT`].
    pub format: String,
    /// sha256 of the index data the ids belong to.
    pub catalogue: String,
    /// sha256 of the model weights in use when the votes were cast.
    pub model: String,
    /// Liked item ids.
    pub liked: Vec<String>,
    /// Disliked item ids.
    pub disliked: Vec<String>,
}

impl Feedback {
    /// Empty feedback for a catalogue and model.
    pub fn new(catalogue: &str, model: &str) -> Self {
        Self {
            format: FEEDBACK_FORMAT.to_string(),
            catalogue: catalogue.to_string(),
            model: model.to_string(),
            liked: Vec::new(),
            disliked: Vec::new(),
        }
    }

    /// Records a vote: `1` like, `-1` dislike, `0` withdraws any vote on `id`.
    pub fn vote(&mut self, id: &str, vote: i32) {
        self.liked.retain(|x| x != id);
        self.disliked.retain(|x| x != id);
        match vote.signum() {
            1 => self.liked.push(id.to_string()),
            -1 => self.disliked.push(id.to_string()),
            _ => {}
        }
    }

    /// The vote on `id`: 1, -1 or 0.
    pub fn vote_of(&self, id: &str) -> i32 {
        if self.liked.iter().any(|x| x == id) {
            1
        } else if self.disliked.iter().any(|x| x == id) {
            -1
        } else {
            0
        }
    }

    fn rows(index: &CatalogueIndex, ids: &[String]) -> Vec<usize> {
        ids.iter()
            .filter_map(|id| index.items.iter().position(|i| &i.id == id))
            .collect()
    }

    fn mean(index: &CatalogueIndex, ids: &[String]) -> Option<Vec<f32>> {
        let rows: Vec<Vec<f32>> = Self::rows(index, ids)
            .into_iter()
            .map(|r| index.embedding(r))
            .collect();
        mean(&rows)
    }

    /// The query "more like these": the liked items' descriptions combined, or `None`
    /// without likes.
    pub fn liked_query(&self, index: &CatalogueIndex) -> Option<Description> {
        let liked: Vec<Description> = Self::rows(index, &self.liked)
            .into_iter()
            .map(|r| index.description(r))
            .collect();
        Description::combine(&liked)
    }

    /// Moves `query` toward the liked items and away from the disliked ones (Rocchio), and
    /// returns it at unit length. The moves use the items' offsets from the catalogue mean, so
    /// what all items share (embeddings are never centred) does not drown what a vote says.
    pub fn adjust(&self, index: &CatalogueIndex, query: &[f32]) -> Vec<f32> {
        let mut q = unit(query);
        let centre = index.centre();
        for (ids, weight) in [
            (&self.liked, LIKE_WEIGHT),
            (&self.disliked, -DISLIKE_WEIGHT),
        ] {
            if let Some(m) = Self::mean(index, ids) {
                q.iter_mut()
                    .zip(m.iter().zip(centre))
                    .for_each(|(q, (m, c))| *q += weight * (m - c));
            }
        }
        unit(&q)
    }
}

/// A short human reason for a result, from its scores and the query's predicted category.
pub fn reason(hit: &Hit, item: &Item, query_category: Option<&str>) -> String {
    let mut parts = Vec::new();
    let named_alike = matches!(
        (query_category, item.category.as_deref()),
        (Some(q), Some(c)) if q == c
    );
    // Without category names, confident predictions of the same category say it.
    if named_alike || (item.category.is_none() && hit.category > 0.5) {
        parts.push("same category".to_string());
    }
    if hit.visual > 0.8 {
        parts.push("very similar look".to_string());
    } else if hit.visual > 0.5 {
        parts.push("similar look".to_string());
    }
    if hit.colour > 0.5 {
        parts.push("similar colour".to_string());
    } else if let Some(s) = item.colours.first() {
        parts.push(format!("mostly {}", s.name));
    }
    if parts.is_empty() {
        "closest match".to_string()
    } else {
        let mut s = parts.join(", ");
        if let Some(first) = s.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        s
    }
}
