//! The partition in memory: the layout, the cells and their codes, and the query's shared
//! steps (the nearest cells, the prepared code tables, the best candidates), which the
//! published index reads the same way.

use super::cells::{FLAT_CELLS, Groups, ROWS_PER_CELL, Trained, near_order, nearest_cell, train};
use super::kmeans::{SplitMix, nearest_n};
use super::pq::{Measure, Part, Quantiser};
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
    dim: usize,
    classes: usize,
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
        // Two levels of cells want more rows than the codebooks: enough for each cell.
        let wanted = if layout.cells > FLAT_CELLS {
            layout.sample.max(layout.cells * ROWS_PER_CELL)
        } else {
            layout.sample
        };
        let sample_rows: Vec<usize> = if n <= wanted {
            (0..n).collect()
        } else {
            (0..wanted).map(|_| rng.below(n)).collect()
        };
        let mut row = Vec::with_capacity(width);
        let mut sample = Vec::with_capacity(sample_rows.len() * width);
        for &r in &sample_rows {
            features(index, r, &mut row);
            sample.extend_from_slice(&row);
        }
        let space = layout.space;
        let points = space.width(dim, classes);
        let mut point = Vec::with_capacity(points);
        let mut sample_points = Vec::with_capacity(sample_rows.len() * points);
        for r in sample.chunks_exact(width) {
            space.of_features(r, dim, classes, &mut point);
            sample_points.extend_from_slice(&point);
        }
        let Trained { centroids, groups } = train(
            &sample_points,
            points,
            layout.cells,
            layout.iterations,
            layout.seed,
        );
        drop(sample_points);
        // The codebooks train on the first `layout.sample` rows (a random sample too).
        sample.truncate(layout.sample.min(sample_rows.len()) * width);
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
            space.of_features(r, dim, classes, &mut point);
            let (c, _) = nearest_cell(&centroids, groups.as_ref(), points, &point);
            residual(&mut r[..dim], &centroids[c * points..c * points + dim]);
        }
        let quantiser = Quantiser::train(&sample, width, &parts, layout.iterations, layout.seed);
        let coder = Coder {
            centroids: &centroids,
            groups: groups.as_ref(),
            dim,
            classes,
            space,
            quantiser: &quantiser,
        };
        let (cells, spread) = coder.assign(index, 0..n as u32);
        Self {
            dim,
            classes,
            space,
            centroids,
            quantiser,
            cells,
            spread,
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

    /// Cell `c` holding `rows` of `index`: ordered so that near items lie near each other
    /// ([`near_order`]), so that the items a query ranks best tend to lie next to each other
    /// in the records file and their reads merge; then coded.
    pub fn cell(&self, index: &CatalogueIndex, c: usize, mut rows: Vec<u32>) -> Cell {
        let w = self.width();
        let mut point = Vec::with_capacity(w);
        let mut points = Vec::with_capacity(rows.len() * w);
        for r in &rows {
            self.point(index, *r as usize, &mut point);
            points.extend_from_slice(&point);
        }
        rows = near_order(&points, w, c as u64)
            .into_iter()
            .map(|i| rows[i])
            .collect();
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

    /// `rows` of `index` in their nearest cells (each ordered by [`Self::cell`]), and their
    /// mean squared distance from their centroids.
    pub fn assign(
        &self,
        index: &CatalogueIndex,
        rows: impl IntoIterator<Item = u32>,
    ) -> (Vec<Cell>, f32) {
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); self.cells()];
        let (mut sum, mut n) = (0f64, 0usize);
        for r in rows {
            let (c, d) = self.nearest(index, r as usize);
            sum += d as f64;
            n += 1;
            members[c].push(r);
        }
        let cells = members
            .into_iter()
            .enumerate()
            .map(|(c, rows)| self.cell(index, c, rows))
            .collect();
        (cells, (sum / n.max(1) as f64) as f32)
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
