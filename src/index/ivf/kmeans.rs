//! Lloyd's k-means on rows of `f32`, seeded deterministically (k-means++ on a fixed-seed
//! generator), so one build gives the same centroids on every machine and shard count.

use super::jobs;

/// A small deterministic generator (SplitMix64): the build must not depend on the platform's
/// randomness.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..1`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// A standard normal value (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Lanes [`distance2`] sums in: independent sums the compiler can keep in one SIMD register
/// (a single running sum must be added in order, one value at a time).
const LANES: usize = 8;

/// Squared Euclidean distance (over the shorter of the two). The same sums in the same order
/// on every machine: lanes first, then the lanes and the tail left to right.
pub fn distance2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; LANES];
    let (a_body, b_body) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_tail, b_tail) = (a_body.remainder(), b_body.remainder());
    for (x, y) in a_body.zip(b_body) {
        for l in 0..LANES {
            let d = x[l] - y[l];
            lanes[l] += d * d;
        }
    }
    let tail: f32 = a_tail
        .iter()
        .zip(b_tail)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// Index of the centroid (rows of `dim` in `centroids`) nearest to `v`.
pub fn nearest(centroids: &[f32], dim: usize, v: &[f32]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (c, centroid) in centroids.chunks_exact(dim).enumerate() {
        let d = distance2(centroid, v);
        if d < best.0 {
            best = (d, c);
        }
    }
    best.1
}

/// The `n` centroids (at least one; rows of `dim` in `centroids`) nearest to `point`, nearest
/// first, ties by index.
pub fn nearest_n(centroids: &[f32], dim: usize, point: &[f32], n: usize) -> Vec<usize> {
    let distances = centroids
        .chunks_exact(dim.max(1))
        .map(|centroid| distance2(centroid, point));
    closest(distances, n)
}

/// The indexes of the `n` smallest of `distances` (at least one), smallest first, ties by
/// index.
pub(super) fn closest(distances: impl Iterator<Item = f32>, n: usize) -> Vec<usize> {
    let mut order: Vec<(f32, usize)> = distances.enumerate().map(|(c, d)| (d, c)).collect();
    let probed = n.max(1).min(order.len());
    if probed == 0 {
        return Vec::new();
    }
    if probed < order.len() {
        order.select_nth_unstable_by(probed - 1, |a, b| a.0.total_cmp(&b.0));
        order.truncate(probed);
    }
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, c)| c).collect()
}

/// `k` centroids (row-major, `k * dim`) of the rows of `data` after `iterations` rounds of
/// Lloyd's algorithm from a k-means++ start; fewer rows than `k` give one centroid per row.
/// An emptied cluster takes the row farthest from its centroid.
pub fn kmeans(data: &[f32], dim: usize, k: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut rng = SplitMix::new(seed);
    // k-means++: each next centroid drawn with probability proportional to its squared
    // distance from the nearest one chosen so far.
    let mut centroids = Vec::with_capacity(k * dim);
    centroids.extend_from_slice(row(rng.below(n)));
    let mut nearest2 = vec![0f32; n];
    let first = &centroids[..dim];
    jobs::fill(&mut nearest2, |at, part| {
        for (i, d) in (at..).zip(part) {
            *d = distance2(row(i), first);
        }
    });
    while centroids.len() < k * dim {
        let total: f64 = nearest2.iter().map(|d| *d as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.unit() * total;
            let mut chosen = n - 1;
            for (i, d) in nearest2.iter().enumerate() {
                target -= *d as f64;
                if target <= 0.0 {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            rng.below(n)
        };
        let start = centroids.len();
        centroids.extend_from_slice(row(pick));
        let added = &centroids[start..start + dim];
        jobs::fill(&mut nearest2, |at, part| {
            for (i, d) in (at..).zip(part) {
                *d = d.min(distance2(row(i), added));
            }
        });
    }
    let mut assignment = vec![0usize; n];
    for _ in 0..iterations {
        jobs::fill(&mut assignment, |at, part| {
            for (i, a) in (at..).zip(part) {
                *a = nearest(&centroids, dim, row(i));
            }
        });
        let mut sums = vec![0.0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (i, a) in assignment.iter().enumerate() {
            counts[*a] += 1;
            for (s, v) in sums[a * dim..(a + 1) * dim].iter_mut().zip(row(i)) {
                *s += *v as f64;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // Re-seed with the row farthest from its own centroid.
                let far = (0..n)
                    .max_by(|a, b| {
                        let da = distance2(row(*a), &centroids[assignment[*a] * dim..][..dim]);
                        let db = distance2(row(*b), &centroids[assignment[*b] * dim..][..dim]);
                        da.total_cmp(&db)
                    })
                    .unwrap_or(0);
                centroids[c * dim..(c + 1) * dim].copy_from_slice(row(far));
                assignment[far] = c;
                continue;
            }
            for (dst, s) in centroids[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&sums[c * dim..(c + 1) * dim])
            {
                *dst = (*s / counts[c] as f64) as f32;
            }
        }
    }
    centroids
}
