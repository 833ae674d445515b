//! Training the cells of a partition: one k-means for up to [`FLAT_CELLS`] cells; beyond,
//! two levels, groups first and then cells within each group. Two levels keep the training
//! and the placing of millions of items fast (an item is compared with a few groups' cells,
//! not with all), and number the cells of a group one after another, so that the cells a
//! query probes, which are often of the same few groups, lie near each other in the lists
//! file and their reads merge.

use std::ops::Range;

use super::jobs;
use super::kmeans::{distance2, kmeans, nearest, nearest_n};
use super::q8;

/// The cell of `centroids` (rows of `width`) nearest to `point`, and its squared distance:
/// among the cells of the nearest groups when `groups` are known, else among all.
pub(super) fn nearest_cell(
    centroids: &[f32],
    groups: Option<&Groups>,
    width: usize,
    point: &[f32],
) -> (usize, f32) {
    if let Some(groups) = groups {
        return groups.nearest(centroids, width, point);
    }
    let c = nearest(centroids, width, point);
    (c, distance2(point, &centroids[c * width..(c + 1) * width]))
}

/// Cells drawn by one k-means; more are drawn in two levels.
pub(super) const FLAT_CELLS: usize = 256;

/// Sample rows a two-level training wants for each cell (k-means of fewer rows a centroid
/// fits the sample, not the catalogue).
pub(super) const ROWS_PER_CELL: usize = 32;

/// Groups whose cells are searched for an item's cell. The nearest of these groups' cells
/// is not always the nearest of all (85% of items in a test catalogue of a few broad
/// clusters), but at 100k synthetic items the probed cells held as many of a query's true
/// top 10 as with cells drawn and placed by one level (97.7% against 98.1% for 64 probed of
/// 1,000, 99.3% against 99.0% for 128).
const GROUPS_SEARCHED: usize = 4;

/// Groups of cells, when the cells were drawn in two levels.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Groups {
    /// The groups' centroids, `groups * width`.
    centroids: Vec<f32>,
    /// Each group's cells, consecutive.
    cells: Vec<Range<usize>>,
}

/// The cells drawn from a sample: their centroids (rounded as the top file stores them) and,
/// in two levels, their groups.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Trained {
    /// Cell centroids, `cells * width`.
    pub centroids: Vec<f32>,
    /// The groups (none for one level).
    pub groups: Option<Groups>,
}

/// About `cells` cells of `points` (rows of `width`): exactly `cells` when one level draws
/// them, and within the groups' rounding when two do.
pub(super) fn train(
    points: &[f32],
    width: usize,
    cells: usize,
    iterations: usize,
    seed: u64,
) -> Trained {
    let n = points.len().checked_div(width).unwrap_or(0);
    if cells <= FLAT_CELLS || n <= cells {
        let mut centroids = kmeans(points, width, cells, iterations, seed);
        q8::round(&mut centroids, width);
        return Trained {
            centroids,
            groups: None,
        };
    }
    let wanted = (cells as f64).sqrt().ceil() as usize;
    let coarse = kmeans(points, width, wanted, iterations, seed);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); coarse.len() / width];
    let mut nearest_group = vec![0usize; n];
    jobs::fill(&mut nearest_group, |at, part| {
        for (i, g) in (at..).zip(part) {
            *g = nearest(&coarse, width, &points[i * width..(i + 1) * width]);
        }
    });
    for (i, g) in nearest_group.into_iter().enumerate() {
        members[g].push(i);
    }
    let shares = apportion(cells, &members.iter().map(Vec::len).collect::<Vec<_>>());
    let mut groups = Groups {
        centroids: Vec::new(),
        cells: Vec::new(),
    };
    // Each group's cells, drawn from its own rows (the groups at once where there are cores).
    let drawn = jobs::map(members.len(), |g| {
        let k = shares[g];
        if k == 0 {
            return Vec::new();
        }
        let mut rows = Vec::with_capacity(members[g].len() * width);
        for &i in &members[g] {
            rows.extend_from_slice(&points[i * width..(i + 1) * width]);
        }
        let seed = seed ^ ((g as u64 + 1) << 40);
        kmeans(&rows, width, k, iterations, seed)
    });
    let mut centroids = Vec::new();
    for (g, cells_of) in drawn.into_iter().enumerate() {
        if cells_of.is_empty() {
            continue;
        }
        let first = centroids.len() / width;
        centroids.extend(cells_of);
        groups
            .centroids
            .extend_from_slice(&coarse[g * width..(g + 1) * width]);
        groups.cells.push(first..centroids.len() / width);
    }
    q8::round(&mut centroids, width);
    Trained {
        centroids,
        groups: Some(groups),
    }
}

/// `total` split in proportion to `sizes` by largest remainders, at least one for each
/// non-empty size and never more than the size itself.
fn apportion(total: usize, sizes: &[usize]) -> Vec<usize> {
    let sum: usize = sizes.iter().sum();
    if sum == 0 {
        return vec![0; sizes.len()];
    }
    let exact: Vec<f64> = sizes
        .iter()
        .map(|s| total as f64 * *s as f64 / sum as f64)
        .collect();
    let mut shares: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let given: usize = shares.iter().sum();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|a, b| {
        let (fa, fb) = (exact[*a] - exact[*a].floor(), exact[*b] - exact[*b].floor());
        fb.total_cmp(&fa).then(a.cmp(b))
    });
    for &i in order.iter().take(total.saturating_sub(given)) {
        shares[i] += 1;
    }
    for (share, size) in shares.iter_mut().zip(sizes) {
        *share = (*share).max(usize::from(*size > 0)).min(*size);
    }
    shares
}

impl Groups {
    /// The groups' centroids (`groups * width`) and where each group's cells begin, one more
    /// entry than groups: as a trained partition's file stores them.
    pub(super) fn to_parts(&self) -> (&[f32], Vec<u32>) {
        let mut starts: Vec<u32> = self.cells.iter().map(|r| r.start as u32).collect();
        starts.push(self.cells.last().map_or(0, |r| r.end as u32));
        (&self.centroids, starts)
    }

    /// Groups from [`Self::to_parts`]'s values for `cells` cells of `width`, if they fit:
    /// every group with at least one cell, the groups' cells one after another from the first
    /// cell to the last.
    pub(super) fn from_parts(
        centroids: Vec<f32>,
        starts: &[u32],
        cells: usize,
        width: usize,
    ) -> Option<Self> {
        let groups = starts.len().checked_sub(1)?;
        let fits = groups > 0
            && centroids.len() == groups * width
            && starts.first() == Some(&0)
            && starts.last().map(|s| *s as usize) == Some(cells)
            && starts.windows(2).all(|w| w[0] < w[1]);
        fits.then(|| Self {
            centroids,
            cells: starts
                .windows(2)
                .map(|w| w[0] as usize..w[1] as usize)
                .collect(),
        })
    }

    /// The cell nearest to `point` among the cells of its [`GROUPS_SEARCHED`] nearest
    /// groups, of `centroids` (rows of `width`), and its squared distance.
    fn nearest(&self, centroids: &[f32], width: usize, point: &[f32]) -> (usize, f32) {
        let mut best = (0, f32::INFINITY);
        for g in nearest_n(&self.centroids, width, point, GROUPS_SEARCHED) {
            for c in self.cells[g].clone() {
                let d = distance2(&centroids[c * width..(c + 1) * width], point);
                if d < best.1 || (d == best.1 && c < best.0) {
                    best = (c, d);
                }
            }
        }
        best
    }
}

/// Items in a run of the order [`near_order`] makes that it leaves as they are.
const LEAF: usize = 8;

/// An order of `points` (rows of `width`) that keeps near points near: split in two by
/// 2-means, each half ordered the same way, down to runs of [`LEAF`]. A query's best
/// candidates in a cell are near each other, so in this order their records lie in few
/// runs, which are read as few ranges.
pub(super) fn near_order(points: &[f32], width: usize, seed: u64) -> Vec<usize> {
    let n = points.len().checked_div(width).unwrap_or(0);
    let mut out = Vec::with_capacity(n);
    let mut rows = Vec::new();
    // Depth first, the first half before the second: (members, seed).
    let mut stack = vec![((0..n).collect::<Vec<usize>>(), seed)];
    while let Some((members, seed)) = stack.pop() {
        if members.len() <= LEAF {
            out.extend(members);
            continue;
        }
        rows.clear();
        for &i in &members {
            rows.extend_from_slice(&points[i * width..(i + 1) * width]);
        }
        let two = kmeans(&rows, width, 2, 4, seed);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (&i, p) in members.iter().zip(rows.chunks_exact(width)) {
            if nearest(&two, width, p) == 0 {
                first.push(i);
            } else {
                second.push(i);
            }
        }
        if first.is_empty() || second.is_empty() {
            out.extend(members);
            continue;
        }
        let next = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        stack.push((second, next ^ 2));
        stack.push((first, next));
    }
    out
}
