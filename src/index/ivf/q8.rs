//! Rows of values kept as int8 with one power-of-two scale each, which the top file stores in
//! about a quarter of f32's bytes. A power-of-two scale makes the rounding exact and
//! idempotent: a build rounds its centroids and codebooks once and computes everything from
//! the rounded values, and a reader decodes the very same values, bit for bit.

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
    if width == 0 || codes.len() != exponents.len() * width {
        return None;
    }
    if exponents.iter().any(|e| !EXPONENTS.contains(e)) {
        return None;
    }
    Some(
        codes
            .chunks_exact(width)
            .zip(exponents)
            .flat_map(|(row, e)| row.iter().map(move |c| f32::from(*c) * scale(*e)))
            .collect(),
    )
}

/// `values`, rows of `width`, rounded in place to what [`encode`] then [`decode`] give.
pub(super) fn round(values: &mut [f32], width: usize) {
    for row in values.chunks_mut(width.max(1)) {
        let s = scale(exponent(row));
        row.iter_mut().for_each(|v| *v = quantum(*v, s) * s);
    }
}
