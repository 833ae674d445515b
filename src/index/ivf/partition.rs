//! The partition in memory: the layout, the cells and their codes, and the query's shared
//! steps (the nearest cells, the prepared code tables, the best candidates), which the
//! published index reads the same way.

use super::cells::{Groups, near_order, nearest_cell};
use super::kmeans::nearest_n;
use super::pq::Quantiser;
use super::space::Space;
use crate::colour::HIST_LEN;
use crate::index::catalogue::CatalogueIndex;
use crate::index::description::{Query, unit};
use crate::index::rank::{Blend, Hit, Scorer, by_score};

/// How an index is partitioned and coded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Cells of the coarse partition.
    pub cells: usize,
    /// The space the cells are drawn in.
    pub space: Space,
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
    /// A layout for `items` items: about 100 items a cell (at most 32,768 cells, which keeps
    /// the top file under 10 MB) drawn for the default blend, 16 + 8 + 2 code bytes. Small
    /// cells cost fewer code bytes for the same recall: at 1M items, the 64 nearest of
    /// 10,000 cells hold as many of the true top 10 as the 16 nearest of 1,000 (93%), in
    /// half their bytes.
    pub fn for_items(items: usize) -> Self {
        Self {
            cells: (items / 100).clamp(1, 32_768),
            space: Space::for_blend(Blend::DEFAULT),
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
    pub(super) dim: usize,
    pub(super) classes: usize,
    /// The space of the centroids.
    pub space: Space,
    /// Cell centroids, `cells * space.width(dim, classes)`.
    pub centroids: Vec<f32>,
    /// The codebooks.
    pub quantiser: Quantiser,
    /// The cells.
    pub cells: Vec<Cell>,
    /// Mean squared distance of the items' points to their cells' centroids: how well the
    /// partition fits them, which an update compares new items against.
    pub spread: f32,
}

/// Knobs of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Cells probed.
    pub cells: usize,
    /// Candidates ranked exactly.
    pub candidates: usize,
}

impl Probe {
    /// What the CLI and the page probe unless told otherwise.
    pub const DEFAULT: Probe = Probe {
        cells: 64,
        candidates: 200,
    };
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
pub(super) fn features(index: &CatalogueIndex, row: usize, out: &mut Vec<f32>) {
    out.clear();
    out.extend(unit(&index.embedding(row)));
    out.extend(index.histogram(row));
    out.extend(index.probabilities(row));
}

/// `v - centroid`, in place.
pub(super) fn residual(v: &mut [f32], centroid: &[f32]) {
    v.iter_mut().zip(centroid).for_each(|(x, c)| *x -= c);
}

impl Partitioned {
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
        let prepared = Prepared::new(&self.quantiser, query, weights, self.classes, self.space);
        let width = self.space.width(self.dim, self.classes);
        let mut scored: Vec<(f32, u32)> = Vec::new();
        for c in nearest_n(&self.centroids, width, &prepared.point, probe.cells) {
            let cell = &self.cells[c];
            let centroid = &self.centroids[c * width..(c + 1) * width];
            touched.cells += 1;
            touched.codes += cell.rows.len();
            touched.code_bytes += cell.codes.len() + cell.rows.len() * 4;
            let base = prepared.base(centroid);
            let len = self.quantiser.code_len();
            for (r, code) in cell.rows.iter().zip(cell.codes.chunks_exact(len)) {
                scored.push((base + Quantiser::score(&prepared.tables, code), *r));
            }
        }
        let scored = best(scored, probe.candidates.max(top));
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

/// Puts items in cells and codes them, for a partition already trained.
#[derive(Debug, Clone, Copy)]
pub(super) struct Coder<'a> {
    /// Cell centroids, `cells * space.width(dim, classes)`.
    pub centroids: &'a [f32],
    /// Their groups, when drawn in two levels and known (a build's, not a published
    /// index's): an item's cell is then looked for among its nearest groups' cells only.
    pub groups: Option<&'a Groups>,
    /// Embedding length.
    pub dim: usize,
    /// Categories.
    pub classes: usize,
    /// The space of the centroids.
    pub space: Space,
    /// The codebooks.
    pub quantiser: &'a Quantiser,
}

impl Coder<'_> {
    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.centroids.len() / self.width().max(1)
    }

    /// Values of a centroid.
    fn width(&self) -> usize {
        self.space.width(self.dim, self.classes)
    }

    /// The point of `index`'s `row` in the cell space, into `out`.
    fn point(&self, index: &CatalogueIndex, row: usize, out: &mut Vec<f32>) {
        self.space.point(
            &unit(&index.embedding(row)),
            &index.histogram(row),
            &index.probabilities(row),
            self.classes,
            out,
        );
    }

    /// The cell nearest to `index`'s `row` and its squared distance from it.
    pub fn nearest(&self, index: &CatalogueIndex, row: usize) -> (usize, f32) {
        let mut point = Vec::with_capacity(self.width());
        self.point(index, row, &mut point);
        nearest_cell(self.centroids, self.groups, self.width(), &point)
    }

    /// `rows` of `index` in cell `c` ordered so that near items lie near each other
    /// ([`near_order`]): the items a query ranks best then tend to lie next to each other in
    /// the records file, and their reads merge.
    pub fn order(&self, index: &CatalogueIndex, c: usize, rows: Vec<u32>) -> Vec<u32> {
        let w = self.width();
        let mut point = Vec::with_capacity(w);
        let mut points = Vec::with_capacity(rows.len() * w);
        for r in &rows {
            self.point(index, *r as usize, &mut point);
            points.extend_from_slice(&point);
        }
        near_order(&points, w, c as u64)
            .into_iter()
            .map(|i| rows[i])
            .collect()
    }

    /// Cell `c` holding `rows` of `index`, in [`Self::order`], coded.
    pub fn cell(&self, index: &CatalogueIndex, c: usize, rows: Vec<u32>) -> Cell {
        let rows = self.order(index, c, rows);
        let mut buf = Vec::new();
        let codes = rows
            .iter()
            .flat_map(|r| self.encode(index, *r as usize, c, &mut buf))
            .collect();
        Cell { rows, codes }
    }

    /// The code of `index`'s `row` in cell `c`.
    pub fn encode(
        &self,
        index: &CatalogueIndex,
        row: usize,
        c: usize,
        buf: &mut Vec<f32>,
    ) -> Vec<u8> {
        features(index, row, buf);
        let at = c * self.width();
        residual(&mut buf[..self.dim], &self.centroids[at..at + self.dim]);
        self.quantiser.encode(buf)
    }
}

/// A query made ready to score codes: its unit embedding, its whole feature vector and the
/// lookup tables weighed by the blend.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The query's point in the cell space, which picks the cells.
    pub point: Vec<f32>,
    /// The feature vector (unit embedding, histogram, probabilities).
    features: Vec<f32>,
    /// The quantiser's lookup tables for it.
    pub tables: Vec<f32>,
    /// The look's weight, `1 - colour`.
    look: f32,
    /// Embedding length.
    dim: usize,
}

impl Prepared {
    /// `query` ready for the codes of `quantiser` and cells drawn in `space`, with
    /// categories of `classes` labels.
    pub fn new(
        quantiser: &Quantiser,
        query: Query<'_>,
        weights: Blend,
        classes: usize,
        space: Space,
    ) -> Self {
        let (w, c) = weights.clamped();
        let unit = unit(query.embedding);
        let mut features = unit.clone();
        if query.histogram.len() == HIST_LEN {
            features.extend_from_slice(query.histogram);
        } else {
            features.resize(features.len() + HIST_LEN, 0.0);
        }
        if query.probabilities.len() == classes {
            features.extend_from_slice(query.probabilities);
        } else {
            features.resize(features.len() + classes, 0.0);
        }
        let tables = quantiser.tables(&features, &[1.0 - w, w, (1.0 - w) * c]);
        let mut point = Vec::new();
        space.point(
            &unit,
            query.histogram,
            query.probabilities,
            classes,
            &mut point,
        );
        Self {
            point,
            dim: unit.len(),
            features,
            tables,
            look: 1.0 - w,
        }
    }

    /// The look's share of a cell's centroid (its embedding part), which the residual codes
    /// leave out.
    pub fn base(&self, centroid: &[f32]) -> f32 {
        self.look
            * centroid
                .iter()
                .zip(&self.features[..self.dim])
                .map(|(a, b)| a * b)
                .sum::<f32>()
    }
}

/// The `keep` best of `scored` (approximate score, row), in no particular order.
pub fn best(mut scored: Vec<(f32, u32)>, keep: usize) -> Vec<(f32, u32)> {
    let keep = keep.min(scored.len());
    if keep == 0 {
        return Vec::new();
    }
    if keep < scored.len() {
        scored.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(keep);
    }
    scored
}
