//! A partition's build in the steps a cluster runs apart (issue 23): [`Fitted::train`] fits
//! the cells and the codebooks on a sample, once; [`Fitted::place`] finds the cell, the
//! distance and the code of each of a run of rows, which any number of shards do for their
//! slices; [`Fitted::gather`] regroups the placed rows by cell and orders each cell.
//! [`Partitioned::build`] runs the same three steps in one go, so the same partition, byte for
//! byte, comes out for any number of shards. A trained partition and placed rows each have a
//! file form (`step_files`).

use std::ops::Range;

use super::cells::{FLAT_CELLS, Groups, ROWS_PER_CELL, Trained, nearest_cell, train};
use super::jobs;
use super::kmeans::SplitMix;
use super::partition::{Cell, Coder, Layout, Partitioned, features, residual};
use super::pq::{Measure, Part, Quantiser};
use super::space::Space;
use crate::colour::HIST_LEN;
use crate::error::AssetError;
use crate::index::catalogue::CatalogueIndex;

/// A partition trained on a sample: its cells (and their groups when drawn in two levels)
/// and its codebooks, before any item is placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub(super) dim: usize,
    pub(super) classes: usize,
    pub(super) space: Space,
    pub(super) centroids: Vec<f32>,
    pub(super) groups: Option<Groups>,
    pub(super) quantiser: Quantiser,
}

/// A run of rows placed: for each, its cell, its squared distance from the cell's centroid in
/// the cell space, and its code.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The first row of the run.
    pub first: u32,
    /// Each row's cell.
    pub cells: Vec<u32>,
    /// Each row's squared distance from its cell's centroid.
    pub distances: Vec<f32>,
    /// Each row's code, `code_len` bytes each.
    pub codes: Vec<u8>,
}

/// Rows one job places.
const PLACED_RUN: usize = 4096;

/// What the errors of a gathering name.
const WHAT: &str = "partition built in steps";

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

impl Partitioned {
    /// Partitions and codes `index` with `layout`: trains, places every row and gathers them
    /// by cell in one go (on every core natively), as a sharded build does in steps
    /// ([`Fitted`]).
    pub fn build(index: &CatalogueIndex, layout: &Layout) -> Self {
        let fitted = Fitted::train(index, layout);
        let placed = fitted.place_fitting(index, 0..index.len() as u32);
        fitted.gather_placed(index, vec![placed])
    }
}

impl Fitted {
    /// Fits cells and codebooks to a sample of `index` with `layout`.
    pub fn train(index: &CatalogueIndex, layout: &Layout) -> Self {
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
        Self {
            dim,
            classes,
            space,
            centroids,
            groups,
            quantiser,
        }
    }

    fn coder(&self) -> Coder<'_> {
        Coder {
            centroids: &self.centroids,
            groups: self.groups.as_ref(),
            dim: self.dim,
            classes: self.classes,
            space: self.space,
            quantiser: &self.quantiser,
        }
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.coder().cells()
    }

    /// Bytes of an item's code.
    pub fn code_len(&self) -> usize {
        self.quantiser.code_len()
    }

    /// Whether it was trained for catalogues of `index`'s shape (embedding length and
    /// categories).
    pub fn fits(&self, index: &CatalogueIndex) -> bool {
        self.dim == index.dim() && self.classes == index.classes()
    }

    /// Refuses an index of another shape than the one it was trained on.
    fn check_fits(&self, index: &CatalogueIndex) -> Result<(), AssetError> {
        if self.fits(index) {
            return Ok(());
        }
        Err(content(format!(
            "it was trained for embeddings of {} values and {} categories, the index has {} and {}",
            self.dim,
            self.classes,
            index.dim(),
            index.classes()
        )))
    }

    /// The cell, distance and code of each of `rows` of `index` (the rows past its end left
    /// out), which must be of the shape it was trained on.
    pub fn place(&self, index: &CatalogueIndex, rows: Range<u32>) -> Result<Placed, AssetError> {
        self.check_fits(index)?;
        Ok(self.place_fitting(index, rows))
    }

    /// [`Self::place`] of an index known to fit: runs of [`PLACED_RUN`] rows at once where
    /// there are cores, joined in order.
    fn place_fitting(&self, index: &CatalogueIndex, rows: Range<u32>) -> Placed {
        let n = index.len() as u32;
        let rows = rows.start.min(n)..rows.end.min(n);
        let coder = self.coder();
        let (start, end) = (rows.start as usize, rows.end as usize);
        let runs = jobs::map(rows.len().div_ceil(PLACED_RUN), |k| {
            let run = start + k * PLACED_RUN..(start + (k + 1) * PLACED_RUN).min(end);
            let mut buf = Vec::new();
            let mut placed = Placed {
                first: run.start as u32,
                cells: Vec::with_capacity(run.len()),
                distances: Vec::with_capacity(run.len()),
                codes: Vec::with_capacity(run.len() * self.code_len()),
            };
            for r in run {
                let (c, d) = coder.nearest(index, r);
                placed.cells.push(c as u32);
                placed.distances.push(d);
                placed.codes.extend(coder.encode(index, r, c, &mut buf));
            }
            placed
        });
        let mut placed = Placed {
            first: rows.start,
            cells: Vec::with_capacity(rows.len()),
            distances: Vec::with_capacity(rows.len()),
            codes: Vec::with_capacity(rows.len() * self.code_len()),
        };
        for run in runs {
            placed.cells.extend(run.cells);
            placed.distances.extend(run.distances);
            placed.codes.extend(run.codes);
        }
        placed
    }

    /// The partition of `index` from `placed`, runs that cover its rows one after another
    /// from the first: each cell's rows in their near-first order, with their codes, and the
    /// mean distance. Runs that leave rows out, overlap, or do not fit this partition are
    /// refused.
    pub fn gather(
        self,
        index: &CatalogueIndex,
        placed: Vec<Placed>,
    ) -> Result<Partitioned, AssetError> {
        self.check_fits(index)?;
        let (cells, len) = (self.cells() as u32, self.code_len());
        let mut next = 0u32;
        for p in &placed {
            let rows = p.cells.len();
            if p.first != next {
                return Err(content(format!(
                    "the runs of placed rows begin at row {} where row {next} was due",
                    p.first
                )));
            }
            if p.distances.len() != rows || p.codes.len() != rows * len {
                return Err(content(format!(
                    "the run from row {} holds {rows} cells, {} distances and {} code bytes",
                    p.first,
                    p.distances.len(),
                    p.codes.len()
                )));
            }
            if p.cells.iter().any(|c| *c >= cells) {
                return Err(content(format!(
                    "the run from row {} names a cell past the partition's {cells}",
                    p.first
                )));
            }
            next = next.saturating_add(rows as u32);
        }
        if next as usize != index.len() {
            return Err(content(format!(
                "the runs place {next} rows of a catalogue of {}",
                index.len()
            )));
        }
        Ok(self.gather_placed(index, placed))
    }

    /// [`Self::gather`] of runs known to fit.
    pub(super) fn gather_placed(self, index: &CatalogueIndex, placed: Vec<Placed>) -> Partitioned {
        let len = self.code_len();
        let coder = self.coder();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); coder.cells()];
        let (mut sum, mut n) = (0f64, 0usize);
        let mut codes = Vec::with_capacity(index.len() * len);
        for p in placed {
            for (r, (c, d)) in (p.first..).zip(p.cells.iter().zip(&p.distances)) {
                members[*c as usize].push(r);
                sum += *d as f64;
                n += 1;
            }
            codes.extend_from_slice(&p.codes);
        }
        // Each cell ordered near-first, the cells at once where there are cores.
        let cells = jobs::map(members.len(), |c| {
            let rows = coder.order(index, c, members[c].clone());
            let codes = rows
                .iter()
                .flat_map(|r| &codes[*r as usize * len..(*r as usize + 1) * len])
                .copied()
                .collect();
            Cell { rows, codes }
        });
        Partitioned {
            dim: self.dim,
            classes: self.classes,
            space: self.space,
            centroids: self.centroids,
            quantiser: self.quantiser,
            cells,
            spread: (sum / n.max(1) as f64) as f32,
        }
    }
}

impl Placed {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether it places no row.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}
