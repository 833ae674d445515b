//! Rows of values kept as int8 with one power-of-two scale each, which the top file stores in
//! about a quarter of f32's bytes. A power-of-two scale makes the rounding exact and
//! idempotent: a build rounds its centroids and codebooks once and computes everything from
//! the rounded values, and a reader decodes the very same values, bit for bit.

use super::kmeans::{closest, distance2};

/// Largest magnitude of an int8 value.
const MAX: f32 = 127.0;

/// Exponents a scale may have: far beyond what centroids and codebooks need, and always a
/// normal f32.
const EXPONENTS: std::ops::RangeInclusive<i8> = -100..=100;

/// The exponent of the smallest power-of-two scale that keeps every value of `row` within
/// ±127 of it (0 for a row of zeros).
fn exponent(row: &[f32]) -> i8 {
    let m = row.iter().fold(0f32, |m, v| m.max(v.abs()));
    if m == 0.0 || !m.is_finite() {
        return 0;
    }
    let mut e: i8 = 0;
    while m / scale(e) > MAX && e < *EXPONENTS.end() {
        e += 1;
    }
    while e > *EXPONENTS.start() && m / scale(e - 1) <= MAX {
        e -= 1;
    }
    e
}

/// 2 to the power `e`, exactly.
fn scale(e: i8) -> f32 {
    2f32.powi(i32::from(e))
}

/// `v` as a whole multiple of `s` within ±127 of it: the one rounding [`encode`] and
/// [`round`] share, so that what a build rounds is what a reader decodes.
fn quantum(v: f32, s: f32) -> f32 {
    (v / s).round().clamp(-MAX, MAX)
}

/// Each row of `width` values as int8 codes and its scale's exponent.
pub(super) fn encode(values: &[f32], width: usize) -> (Vec<i8>, Vec<i8>) {
    let mut codes = Vec::with_capacity(values.len());
    let mut exponents = Vec::with_capacity(values.len() / width.max(1));
    for row in values.chunks(width.max(1)) {
        let e = exponent(row);
        let s = scale(e);
        codes.extend(row.iter().map(|v| quantum(*v, s) as i8));
        exponents.push(e);
    }
    (codes, exponents)
}

/// The values [`encode`] coded, or `None` when the codes and exponents do not make rows of
/// `width` or an exponent is out of range.
pub(super) fn decode(codes: &[i8], exponents: &[i8], width: usize) -> Option<Vec<f32>> {
    let bytes = codes.iter().map(|c| *c as u8).collect();
    Centroids::coded(bytes, 0, exponents, width).map(|rows| rows.decoded())
}

/// `values`, rows of `width`, rounded in place to what [`encode`] then [`decode`] give.
pub(super) fn round(values: &mut [f32], width: usize) {
    for row in values.chunks_mut(width.max(1)) {
        let s = scale(exponent(row));
        row.iter_mut().for_each(|v| *v = quantum(*v, s) * s);
    }
}

/// The cells' centroids as a reader keeps them: as the top file codes them (int8 rows with
/// their scales, a quarter of f32's bytes: at 10,000 cells, 3 MB where f32 took 12 MB of a
/// page's memory), in the very bytes it downloaded (no copy beside them at any time),
/// decoded a row at a time; or f32, as top files published before the int8 ones hold them.
#[derive(Debug, Clone)]
pub(super) enum Centroids {
    /// Int8 codes (each byte one, from `at` on in `bytes`), rows of `width`, each row's
    /// scale.
    Coded {
        bytes: Vec<u8>,
        at: usize,
        scales: Vec<f32>,
        width: usize,
    },
    /// F32 values, rows of `width`.
    Plain { values: Vec<f32>, width: usize },
}

impl Centroids {
    /// Rows of `width` coded by [`encode`], the codes in `bytes` from `at` on (each byte an
    /// int8 code), or `None` when `bytes` holds fewer than a row for each exponent or an
    /// exponent is out of range (the one check of [`decode`] too).
    pub(super) fn coded(bytes: Vec<u8>, at: usize, exponents: &[i8], width: usize) -> Option<Self> {
        let end = exponents.len().checked_mul(width)?.checked_add(at)?;
        if width == 0 || end > bytes.len() {
            return None;
        }
        if exponents.iter().any(|e| !EXPONENTS.contains(e)) {
            return None;
        }
        let scales = exponents.iter().map(|e| scale(*e)).collect();
        Some(Self::Coded {
            bytes,
            at,
            scales,
            width,
        })
    }

    /// Rows of `width` f32 values.
    pub(super) fn plain(values: Vec<f32>, width: usize) -> Self {
        Self::Plain { values, width }
    }

    fn width(&self) -> usize {
        match self {
            Self::Coded { width, .. } | Self::Plain { width, .. } => *width,
        }
    }

    /// Number of rows.
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Coded { scales, .. } => scales.len(),
            Self::Plain { values, width } => values.len() / (*width).max(1),
        }
    }

    /// Row `i` decoded into `out` (`width` values): each code times its row's scale.
    fn row_into(&self, i: usize, out: &mut [f32]) {
        match self {
            Self::Coded {
                bytes,
                at,
                scales,
                width,
            } => {
                let row = &bytes[at + i * width..at + (i + 1) * width];
                for (o, c) in out.iter_mut().zip(row) {
                    *o = f32::from(*c as i8) * scales[i];
                }
            }
            Self::Plain { values, width } => {
                out.copy_from_slice(&values[i * width..(i + 1) * width]);
            }
        }
    }

    /// Row `i`, decoded.
    pub(super) fn row(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.width()];
        self.row_into(i, &mut out);
        out
    }

    /// Every row, decoded, in a vector sized at once (grown by doubling, a million values
    /// would pass through twice their size).
    pub(super) fn decoded(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.len() * self.width()];
        for (i, row) in out.chunks_exact_mut(self.width().max(1)).enumerate() {
            self.row_into(i, row);
        }
        out
    }

    /// Whether every value is finite.
    pub(super) fn is_finite(&self) -> bool {
        match self {
            Self::Coded { scales, .. } => scales.iter().all(|s| s.is_finite()),
            Self::Plain { values, .. } => values.iter().all(|v| v.is_finite()),
        }
    }

    /// The `n` rows nearest to `point` (at least one), nearest first, ties by index: as
    /// [`super::kmeans::nearest_n`] finds them among the decoded rows.
    pub(super) fn nearest_n(&self, point: &[f32], n: usize) -> Vec<usize> {
        let mut row = vec![0.0; self.width()];
        let distances = (0..self.len()).map(|i| {
            self.row_into(i, &mut row);
            distance2(&row, point)
        });
        closest(distances, n)
    }
}
