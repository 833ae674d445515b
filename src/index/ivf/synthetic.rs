//! Synthetic catalogues that look like a real one, for measuring the partitioned index at
//! sizes no store gave us: a mixture of Gaussians fitted to the real items' unit embeddings
//! (k-means components, a per-value spread each), from which items are drawn; each drawn item
//! takes the colours, category probabilities (both jittered) and metadata of a real member of
//! its component, under a new id and in no variant group. Deterministic: item `i` depends on the seed and `i` only.
//! Catalogues above [`FULL_METADATA`] items keep only each item's id and stock, so that 10M
//! items fit in 24 GB.

use super::jobs;
use super::kmeans::{SplitMix, kmeans, nearest};
use crate::error::AssetError;
use crate::index::catalogue::{CatalogueIndex, IndexEntry};
use crate::index::description::unit;
use crate::index::item::Item;

/// Catalogues drawn above this many items keep only the id and stock of the real member's
/// metadata (a whole item in memory is about a kilobyte): their metadata bytes a query are
/// those of ids.
pub const FULL_METADATA: usize = 2_000_000;

/// Items drawn at once, built into one part of the catalogue (so that the drawn entries and
/// the catalogue built of them are never both whole in memory).
const DRAWN: usize = 250_000;

/// A mixture fitted to a real catalogue.
#[derive(Debug, Clone)]
pub struct Mixture {
    dim: usize,
    means: Vec<f32>,
    stds: Vec<f32>,
    weights: Vec<f32>,
    members: Vec<Vec<usize>>,
}

/// Perturbs a distribution multiplicatively and renormalises it to `total`.
fn jitter(v: &mut [f32], rng: &mut SplitMix, sigma: f32, total: f32) {
    v.iter_mut()
        .for_each(|x| *x *= (sigma * rng.normal()).exp());
    let s: f32 = v.iter().sum();
    if s > 0.0 {
        v.iter_mut().for_each(|x| *x *= total / s);
    }
}

impl Mixture {
    /// Fits `components` components to `rows` of `real` (all of them when empty); `None`
    /// without rows to fit.
    pub fn fit(real: &CatalogueIndex, rows: &[usize], components: usize) -> Option<Self> {
        let all: Vec<usize>;
        let rows = if rows.is_empty() {
            all = (0..real.len()).collect();
            &all
        } else {
            rows
        };
        if rows.is_empty() || components == 0 {
            return None;
        }
        let dim = real.dim();
        let mut data = Vec::with_capacity(rows.len() * dim);
        for &r in rows {
            data.extend(unit(&real.embedding(r)));
        }
        let means = kmeans(&data, dim, components.min(rows.len()), 20, 11);
        let k = means.len() / dim;
        let mut members = vec![Vec::new(); k];
        for (i, &r) in rows.iter().enumerate() {
            members[nearest(&means, dim, &data[i * dim..(i + 1) * dim])].push(r);
        }
        let mut stds = vec![0.0f32; k * dim];
        for c in 0..k {
            for &r in &members[c] {
                let e = unit(&real.embedding(r));
                for d in 0..dim {
                    stds[c * dim + d] += (e[d] - means[c * dim + d]).powi(2);
                }
            }
            let n = members[c].len().max(1) as f32;
            stds[c * dim..(c + 1) * dim]
                .iter_mut()
                .for_each(|s| *s = (*s / n).sqrt());
        }
        // Components nobody is nearest to are never drawn.
        let weights = members
            .iter()
            .map(|m| m.len() as f32 / rows.len() as f32)
            .collect();
        Some(Self {
            dim,
            means,
            stds,
            weights,
            members,
        })
    }

    /// Number of components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Item `i` of the catalogue drawn with `seed` (`real` the catalogue it was fitted to).
    pub fn draw(&self, real: &CatalogueIndex, i: usize, seed: u64) -> IndexEntry {
        let mut rng = SplitMix::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
        let mut pick = rng.unit() as f32;
        let mut c = 0;
        while c + 1 < self.weights.len() && (pick > self.weights[c] || self.members[c].is_empty()) {
            pick -= self.weights[c];
            c += 1;
        }
        let dim = self.dim;
        let drawn: Vec<f32> = (0..dim)
            .map(|d| self.means[c * dim + d] + self.stds[c * dim + d] * rng.normal())
            .collect();
        let embedding = unit(&drawn);
        let members = &self.members[c];
        let member = members.get(rng.below(members.len().max(1))).copied();
        let member = member.unwrap_or(0).min(real.len().saturating_sub(1));
        let mut histogram = real.histogram(member);
        let total = histogram.iter().sum();
        jitter(&mut histogram, &mut rng, 0.3, total);
        histogram.iter_mut().for_each(|h| *h = h.min(1.0));
        let mut probabilities = real.probabilities(member);
        jitter(&mut probabilities, &mut rng, 0.5, 1.0);
        // The member's metadata under a new id, so the items file is as large as a real one;
        // no variant group (each drawn item is a product of its own).
        let item = Item {
            id: format!("s{i}"),
            group: None,
            ..real.items[member].clone()
        };
        IndexEntry {
            item,
            embedding,
            histogram,
            probabilities,
        }
    }

    /// A catalogue of `n` items drawn with `seed` (`real` the catalogue it was fitted to),
    /// [`DRAWN`] at a time on every core; above [`FULL_METADATA`] items, each keeps only its
    /// id and stock.
    pub fn sample(
        &self,
        real: &CatalogueIndex,
        n: usize,
        seed: u64,
    ) -> Result<CatalogueIndex, AssetError> {
        let parts = (0..n)
            .step_by(DRAWN)
            .map(|start| {
                let run = (start + DRAWN).min(n) - start;
                let entries: Vec<IndexEntry> = jobs::map(run, |k| {
                    let i = start + k;
                    let mut e = self.draw(real, i, seed);
                    if n > FULL_METADATA {
                        e.item = Item {
                            availability: e.item.availability,
                            ..Item::bare(e.item.id)
                        };
                    }
                    e
                });
                CatalogueIndex::build(entries)
            })
            .collect::<Result<Vec<_>, _>>()?;
        CatalogueIndex::concat(parts)
    }
}
