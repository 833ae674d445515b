//! A partitioned index for catalogues too large to rank exactly on a phone (issue 23's
//! design, first part: the layout and the query, in memory). The embeddings are partitioned
//! into cells by k-means; each item carries a product-quantised code of its features (its
//! embedding as the residual from its cell's centroid) in its cell's list; a query probes the
//! cells nearest to it, scores their codes by table lookups and ranks the best candidates
//! exactly with the blended score.

mod kmeans;
mod pq;

pub use kmeans::{SplitMix, distance2, kmeans, nearest};
pub use pq::{CENTROIDS, Measure, Part, Quantiser};

use super::catalogue::CatalogueIndex;
use super::description::{Query, unit};
use super::rank::{Blend, Hit, Scorer, by_score};
use crate::colour::HIST_LEN;

/// How an index is partitioned and coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Cells of the coarse partition.
    pub cells: usize,
    /// Code bytes for the embedding.
    pub embedding_bytes: usize,
    /// Code bytes for the colour histogram.
    pub colour_bytes: usize,
    /// Code bytes for the category probabilities.
    pub category_bytes: usize,
    /// Rows sampled to train the partition and the codebooks.
    pub sample: usize,
    /// Rounds of k-means.
    pub iterations: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Layout {
    /// A layout for `items` items: about 1,000 items a cell, 16 + 8 + 2 code bytes.
    pub fn for_items(items: usize) -> Self {
        Self {
            cells: (items / 1000).clamp(1, 65_536),
            embedding_bytes: 16,
            colour_bytes: 8,
            category_bytes: 2,
            sample: 50_000,
            iterations: 12,
            seed: 0x5eed,
        }
    }
}

/// One cell: its rows of the catalogue and their codes, in list order.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Catalogue rows.
    pub rows: Vec<u32>,
    /// `rows.len() * code_len` bytes.
    pub codes: Vec<u8>,
}

/// The partition, the codebooks and the cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Partitioned {
    dim: usize,
    classes: usize,
    /// Cell centroids, `cells * dim`.
    pub centroids: Vec<f32>,
    /// The codebooks.
    pub quantiser: Quantiser,
    /// The cells.
    pub cells: Vec<Cell>,
}

/// Knobs of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Cells probed.
    pub cells: usize,
    /// Candidates ranked exactly.
    pub candidates: usize,
}

/// What one query touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Touched {
    /// Cells probed.
    pub cells: usize,
    /// Codes scored.
    pub codes: usize,
    /// Bytes of the codes and row numbers of the probed cells.
    pub code_bytes: usize,
    /// Candidates ranked exactly.
    pub candidates: usize,
}

/// An item's features as one vector: unit embedding, histogram, probabilities.
fn features(index: &CatalogueIndex, row: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend(unit(&index.embedding(row)));
    out.extend(index.histogram(row));
    out.extend(index.probabilities(row));
}

/// `v - centroid`, in place.
fn residual(v: &mut [f32], centroid: &[f32]) {
    v.iter_mut().zip(centroid).for_each(|(x, c)| *x -= c);
}

impl Partitioned {
    /// Partitions and codes `index` with `layout`.
    pub fn build(index: &CatalogueIndex, layout: &Layout) -> Self {
        let (dim, classes) = (index.dim(), index.classes());
        let width = dim + HIST_LEN + classes;
        let n = index.len();
        let mut rng = SplitMix::new(layout.seed);
        let sample_rows: Vec<usize> = if n <= layout.sample {
            (0..n).collect()
        } else {
            (0..layout.sample).map(|_| rng.below(n)).collect()
        };
        let mut row = Vec::with_capacity(width);
        let mut sample = Vec::with_capacity(sample_rows.len() * width);
        for &r in &sample_rows {
            features(index, r, &mut row);
            sample.extend_from_slice(&row);
        }
        let embeddings: Vec<f32> = sample
            .chunks_exact(width)
            .flat_map(|r| r[..dim].iter().copied())
            .collect();
        let centroids = kmeans(
            &embeddings,
            dim,
            layout.cells,
            layout.iterations,
            layout.seed,
        );
        let parts = [
            Part {
                offset: 0,
                len: dim,
                subspaces: layout.embedding_bytes,
                measure: Measure::Dot,
            },
            Part {
                offset: dim,
                len: HIST_LEN,
                subspaces: layout.colour_bytes,
                measure: Measure::Intersection,
            },
            Part {
                offset: dim + HIST_LEN,
                len: classes,
                subspaces: layout.category_bytes,
                measure: Measure::Dot,
            },
        ];
        // The embedding is coded as its residual from its cell's centroid, as IVF-PQ does: the
        // residuals are smaller than the embeddings, so the same bytes code them more finely.
        for r in sample.chunks_exact_mut(width) {
            let c = nearest(&centroids, dim, &r[..dim]);
            residual(&mut r[..dim], &centroids[c * dim..(c + 1) * dim]);
        }
        let quantiser = Quantiser::train(&sample, width, &parts, layout.iterations, layout.seed);
        let cells_n = centroids.len() / dim.max(1);
        let mut cells = vec![
            Cell {
                rows: Vec::new(),
                codes: Vec::new(),
            };
            cells_n
        ];
        for r in 0..n {
            features(index, r, &mut row);
            let c = nearest(&centroids, dim, &row[..dim]);
            residual(&mut row[..dim], &centroids[c * dim..(c + 1) * dim]);
            cells[c].rows.push(r as u32);
            cells[c].codes.extend(quantiser.encode(&row));
        }
        Self {
            dim,
            classes,
            centroids,
            quantiser,
            cells,
        }
    }

    /// The best `top` items for `query` by the blended score, probing `probe.cells` cells and
    /// ranking `probe.candidates` of their items exactly against `index` (the catalogue the
    /// partition was built from).
    pub fn search(
        &self,
        index: &CatalogueIndex,
        query: Query<'_>,
        weights: Blend,
        probe: Probe,
        top: usize,
    ) -> (Vec<Hit>, Touched) {
        let mut touched = Touched::default();
        let Some(scorer) = Scorer::new(index, query, weights) else {
            return (Vec::new(), touched);
        };
        let unit = unit(query.embedding);
        // The nearest cells by the look.
        let mut order: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(c, centroid)| (distance2(centroid, &unit), c))
            .collect();
        let probed = probe.cells.max(1).min(order.len());
        if probed < order.len() {
            order.select_nth_unstable_by(probed - 1, |a, b| a.0.total_cmp(&b.0));
        }
        order.truncate(probed);
        let (w, c) = weights.clamped();
        let mut q = unit;
        q.extend(if query.histogram.len() == HIST_LEN {
            query.histogram.to_vec()
        } else {
            vec![0.0; HIST_LEN]
        });
        q.extend(if query.probabilities.len() == self.classes {
            query.probabilities.to_vec()
        } else {
            vec![0.0; self.classes]
        });
        let tables = self.quantiser.tables(&q, &[1.0 - w, w, (1.0 - w) * c]);
        let len = self.quantiser.code_len();
        let mut scored: Vec<(f32, u32)> = Vec::new();
        for &(_, c) in &order {
            let cell = &self.cells[c];
            // The look's share of the centroid, which the residual codes leave out.
            let centroid = &self.centroids[c * self.dim..(c + 1) * self.dim];
            let base = (1.0 - w) * centroid.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>();
            touched.cells += 1;
            touched.codes += cell.rows.len();
            touched.code_bytes += cell.codes.len() + cell.rows.len() * 4;
            for (r, code) in cell.rows.iter().zip(cell.codes.chunks_exact(len)) {
                scored.push((base + Quantiser::score(&tables, code), *r));
            }
        }
        let keep = probe.candidates.max(top).min(scored.len());
        if keep == 0 {
            return (Vec::new(), touched);
        }
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(keep);
        }
        touched.candidates = scored.len();
        let mut hits: Vec<Hit> = scored
            .iter()
            .map(|(_, r)| scorer.hit(*r as usize))
            .collect();
        hits.sort_by(by_score);
        hits.truncate(top);
        (hits, touched)
    }
}
