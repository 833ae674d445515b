//! Product quantisation of an item's features (embedding, colour histogram, category
//! probabilities as one vector): each subspace of one part is coded by the nearest of 256
//! centroids, one byte. A query scores a code by table lookups, one table per subspace built
//! with the part's own measure (inner product, or histogram intersection, both sums over
//! dimensions) and weight, so the codes approximate the blended score itself.

use serde::{Deserialize, Serialize};

use super::kmeans::{kmeans, nearest};
use super::q8;

/// Centroids per subspace: one byte per code.
pub const CENTROIDS: usize = 256;

/// How a part of the feature vector is compared with the query's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Sum of products (cosine of unit embeddings, category agreement).
    Dot,
    /// Sum of minima (histogram intersection).
    Intersection,
}

/// A run of dimensions of the feature vector, split into `subspaces` equal-ish subspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// First dimension.
    pub offset: usize,
    /// Number of dimensions.
    pub len: usize,
    /// Subspaces (code bytes) for it.
    pub subspaces: usize,
    /// How it is compared.
    pub measure: Measure,
}

#[derive(Debug, Clone, PartialEq)]
struct Subspace {
    part: usize,
    offset: usize,
    len: usize,
    centroids: Vec<f32>,
}

/// Where one subspace lies and how many centroids it has, as a published index stores it
/// (the centroids themselves travel as one tensor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubspaceShape {
    /// Index of its part.
    pub part: usize,
    /// First dimension of the feature vector.
    pub offset: usize,
    /// Number of dimensions.
    pub len: usize,
    /// Number of centroids, at most [`CENTROIDS`].
    pub centroids: usize,
}

/// Trained codebooks for a layout of parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantiser {
    parts: Vec<Part>,
    subspaces: Vec<Subspace>,
}

impl Quantiser {
    /// Trains the codebooks on `sample` (rows of the full feature length, `dim`), their
    /// centroids rounded as the top file stores them.
    pub fn train(sample: &[f32], dim: usize, parts: &[Part], iterations: usize, seed: u64) -> Self {
        let rows = sample.len().checked_div(dim).unwrap_or(0);
        let mut subspaces = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            let n = part.subspaces.clamp(1, part.len.max(1));
            for s in 0..n {
                let (start, end) = (part.len * s / n, part.len * (s + 1) / n);
                let (offset, len) = (part.offset + start, end - start);
                let mut slice = Vec::with_capacity(rows * len);
                for r in 0..rows {
                    slice.extend_from_slice(&sample[r * dim + offset..r * dim + offset + len]);
                }
                let seed = seed ^ ((subspaces.len() as u64 + 1) << 32);
                let centroids = kmeans(&slice, len, CENTROIDS, iterations, seed);
                subspaces.push(Subspace {
                    part: p,
                    offset,
                    len,
                    centroids,
                });
            }
        }
        let mut quantiser = Self {
            parts: parts.to_vec(),
            subspaces,
        };
        // Coded with the centroids a reader decodes from the top file.
        for s in &mut quantiser.subspaces {
            q8::round(&mut s.centroids, s.len);
        }
        quantiser
    }

    /// The centroids of every subspace, in subspace order, as the top file stores them: int8
    /// codes and one scale exponent per centroid ([`q8`]).
    pub(super) fn to_q8(&self) -> (Vec<i8>, Vec<i8>) {
        let (mut codes, mut exponents) = (Vec::new(), Vec::new());
        for s in &self.subspaces {
            let (c, e) = q8::encode(&s.centroids, s.len);
            codes.extend(c);
            exponents.extend(e);
        }
        (codes, exponents)
    }

    /// The values of [`Self::to_q8`]'s codes and exponents for subspaces of `shapes`, or
    /// `None` when they do not fit the shapes.
    pub(super) fn values_of_q8(
        shapes: &[SubspaceShape],
        codes: &[i8],
        exponents: &[i8],
    ) -> Option<Vec<f32>> {
        let (mut at, mut row) = (0usize, 0usize);
        let mut values = Vec::with_capacity(codes.len());
        for s in shapes {
            let n = s.len.checked_mul(s.centroids)?;
            let c = codes.get(at..at.checked_add(n)?)?;
            let e = exponents.get(row..row.checked_add(s.centroids)?)?;
            values.extend(q8::decode(c, e, s.len)?);
            (at, row) = (at + n, row + s.centroids);
        }
        (at == codes.len() && row == exponents.len()).then_some(values)
    }

    /// The parts, the subspaces' shapes and all centroids concatenated in subspace order.
    pub fn to_table(&self) -> (Vec<Part>, Vec<SubspaceShape>, Vec<f32>) {
        let shapes = self
            .subspaces
            .iter()
            .map(|s| SubspaceShape {
                part: s.part,
                offset: s.offset,
                len: s.len,
                centroids: s.centroids.len() / s.len.max(1),
            })
            .collect();
        let values = self
            .subspaces
            .iter()
            .flat_map(|s| s.centroids.iter().copied())
            .collect();
        (self.parts.clone(), shapes, values)
    }

    /// The quantiser [`Self::to_table`] described, for feature vectors of `width` values;
    /// `None` when the shapes do not fit together (a part or subspace outside the vector, a
    /// subspace without centroids or with more than [`CENTROIDS`], centroid values of
    /// another count, a code longer than 4,096 bytes).
    pub fn from_table(
        parts: Vec<Part>,
        shapes: &[SubspaceShape],
        values: &[f32],
        width: usize,
    ) -> Option<Self> {
        let fits = |p: &Part| p.offset.checked_add(p.len).is_some_and(|end| end <= width);
        if shapes.is_empty() || shapes.len() > 4096 || !parts.iter().all(fits) {
            return None;
        }
        let mut subspaces = Vec::with_capacity(shapes.len());
        let mut at = 0usize;
        for s in shapes {
            let part = parts.get(s.part)?;
            let end = s.offset.checked_add(s.len)?;
            if s.len == 0
                || s.offset < part.offset
                || end > part.offset + part.len
                || !(1..=CENTROIDS).contains(&s.centroids)
            {
                return None;
            }
            let n = s.len.checked_mul(s.centroids)?;
            let centroids = values.get(at..at.checked_add(n)?)?.to_vec();
            at += n;
            subspaces.push(Subspace {
                part: s.part,
                offset: s.offset,
                len: s.len,
                centroids,
            });
        }
        (at == values.len()).then_some(Self { parts, subspaces })
    }

    /// Bytes of one code.
    pub fn code_len(&self) -> usize {
        self.subspaces.len()
    }

    /// The code of `v` (a full feature vector).
    pub fn encode(&self, v: &[f32]) -> Vec<u8> {
        self.subspaces
            .iter()
            .map(|s| nearest(&s.centroids, s.len, &v[s.offset..s.offset + s.len]) as u8)
            .collect()
    }

    /// Lookup tables for `query` (a full feature vector) with one weight per part:
    /// `CENTROIDS` entries per subspace.
    pub fn tables(&self, query: &[f32], weights: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.subspaces.len() * CENTROIDS);
        for (i, s) in self.subspaces.iter().enumerate() {
            let q = &query[s.offset..s.offset + s.len];
            let weight = weights.get(s.part).copied().unwrap_or(0.0);
            let measure = self.parts[s.part].measure;
            for c in s.centroids.chunks_exact(s.len) {
                let v: f32 = match measure {
                    Measure::Dot => c.iter().zip(q).map(|(a, b)| a * b).sum(),
                    Measure::Intersection => c.iter().zip(q).map(|(a, b)| a.min(*b)).sum(),
                };
                out.push(weight * v);
            }
            // Subspaces with fewer trained centroids than codes never see the rest.
            out.resize((i + 1) * CENTROIDS, 0.0);
        }
        out
    }

    /// The approximate score of `code` under `tables`.
    pub fn score(tables: &[f32], code: &[u8]) -> f32 {
        code.iter()
            .enumerate()
            .map(|(s, c)| tables[s * CENTROIDS + *c as usize])
            .sum()
    }
}
