//! What search knows of a photo, or of several photos taken together: the embedding, the
//! predicted category probabilities and the colours.

use serde::{Deserialize, Serialize};

use crate::colour::Swatch;

/// What is searched for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The query embedding (any length-scale; it is normalised here).
    pub embedding: &'a [f32],
    /// The query's colour histogram.
    pub histogram: &'a [f32],
    /// The model's category probabilities for the query (empty: no category term).
    pub probabilities: &'a [f32],
}

/// What the model and the colour analysis say about one photo (or a combination of photos).
/// A description without colours (empty `histogram` and `colours`) ranks by look alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// Category probabilities, in the model's label order.
    pub probabilities: Vec<f32>,
    /// Colour histogram (`colour::HIST_LEN` bins summing to 1).
    pub histogram: Vec<f32>,
    /// Dominant colours, largest first.
    pub colours: Vec<Swatch>,
}

impl Description {
    /// The description as a ranking query.
    pub fn query(&self) -> Query<'_> {
        Query {
            embedding: &self.embedding,
            histogram: &self.histogram,
            probabilities: &self.probabilities,
        }
    }

    /// Several descriptions as one: the unit mean embedding, the mean histogram and category
    /// probabilities, and the largest colour of each. `None` for none.
    pub fn combine<'a>(parts: impl IntoIterator<Item = &'a Description>) -> Option<Description> {
        let parts: Vec<&Description> = parts.into_iter().collect();
        let rows = |f: fn(&Description) -> &Vec<f32>| -> Vec<Vec<f32>> {
            parts.iter().map(|d| f(d).clone()).collect()
        };
        Some(Description {
            embedding: unit(&mean(&rows(|d| &d.embedding))?),
            probabilities: mean(&rows(|d| &d.probabilities))?,
            histogram: mean(&rows(|d| &d.histogram))?,
            colours: parts
                .iter()
                .filter_map(|d| d.colours.first().cloned())
                .collect(),
        })
    }
}

/// Element-wise mean of equally long rows; `None` when there are none.
pub fn mean(rows: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = rows.first()?;
    let mut sum = vec![0.0f32; first.len()];
    for row in rows {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v / rows.len() as f32;
        }
    }
    Some(sum)
}

/// `v` scaled to unit length (zero stays zero).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// The `k` most probable of `labels` (in the category head's order), best first.
pub fn top_labels(labels: &[String], probabilities: &[f32], k: usize) -> Vec<(String, f32)> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]));
    order
        .into_iter()
        .take(k)
        .filter_map(|i| Some((labels.get(i)?.clone(), probabilities[i])))
        .collect()
}
