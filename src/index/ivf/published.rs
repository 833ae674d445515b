//! The partitioned index as published files, each immutable and named by its hash, and the
//! manifest (`index.json`, format version 4) that names them, written last:
//!
//! - `top-*.safetensors`: the cells' centroids and the codebooks (int8, each row with a
//!   power-of-two scale; f32 in indexes built before), the catalogue's mean
//!   embedding and, for each segment, where each cell's list begins, a checksum of each list
//!   and whether the cell is still read; the items removed since the base. A page loads it
//!   whole.
//! - Segments, the base and then each update's delta, each three files:
//!   - `lists-*.bin`: every cell's codes, the cells one after another, so one cell is one
//!     range;
//!   - `records-*.bin`: what the exact ranking needs of each item (int8 embedding and its
//!     scale, histogram, category probabilities), fixed-size, in list order, each with where
//!     its metadata lies, whether the item can be ordered, and checksums of both;
//!   - `items-*.json`: each item's metadata as one JSON object, in list order; only the
//!     items a query shows are read.
//!
//! Items are numbered across segments (the base's first), so a position names one record.
//! Nothing here reads or writes files: [`Published`] answers what to read next and checks
//! what was read.

use std::ops::Range;

use safetensors::{Dtype, SafeTensors};

use super::manifest::{PartitionedManifest, Segment};
use super::partition::Prepared;
use super::pq::Quantiser;
use super::q8::Centroids;
use super::space::Space;
use super::write::{
    CHECK, Directory, TopLayout, WHAT, check, content, directory_names, fingerprint, read_f32s,
    read_i8s, read_u32s, st_error, tensor,
};
use crate::colour::HIST_LEN;
use crate::error::AssetError;
use crate::index::description::Query;
use crate::index::rank::Blend;

/// One segment as the top file describes it.
#[derive(Debug, Clone)]
pub(super) struct Seg {
    /// Position of its first item.
    first: u32,
    pub(super) files: Segment,
    starts: Vec<u32>,
    checks: Vec<u8>,
    live: Vec<bool>,
}

/// A loaded partitioned index: its manifest and its top file, which say what a query reads.
#[derive(Debug, Clone)]
pub struct Published {
    /// The manifest.
    pub manifest: PartitionedManifest,
    /// The space of the centroids.
    pub(super) space: Space,
    pub(super) centroids: Centroids,
    pub(super) quantiser: Quantiser,
    centre: Vec<f32>,
    spread: Option<f32>,
    segments: Vec<Seg>,
    removed: Vec<u32>,
}

/// One item's record: its features for the exact ranking, as the index stores them, and
/// where its metadata lies.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position across the segments.
    pub position: u32,
    /// The int8 embedding.
    pub embedding: Vec<i8>,
    /// Its scale.
    pub scale: f32,
    /// The colour histogram, 0..=255 for 0..=1.
    pub histogram: Vec<u8>,
    /// The category probabilities, 0..=255 for 0..=1.
    pub probabilities: Vec<u8>,
    /// Where its metadata lies in its segment's items file.
    pub item: Range<u64>,
    /// Whether the item can be ordered (in stock, on backorder or preorder), known before
    /// its metadata is read.
    pub orderable: bool,
    pub(super) item_check: [u8; CHECK],
}

impl Record {
    /// What identifies its content: features, metadata and stock flag (not where it lies).
    pub(super) fn fingerprint(&self) -> [u8; CHECK] {
        let mut features: Vec<u8> = self.embedding.iter().map(|v| *v as u8).collect();
        features.extend(self.scale.to_le_bytes());
        features.extend_from_slice(&self.histogram);
        features.extend_from_slice(&self.probabilities);
        fingerprint(&features, &self.item_check, self.orderable)
    }
}

/// A query's first step: the cells to read.
#[derive(Debug)]
pub struct Plan {
    /// The cells, nearest first.
    pub cells: Vec<usize>,
    prepared: Prepared,
}

impl Published {
    /// Checks `top` (the top file's bytes) against `manifest` and parses it; int8 centroids
    /// are kept in `top` itself.
    pub fn open(manifest: PartitionedManifest, top: Vec<u8>) -> Result<Self, AssetError> {
        manifest.top.verify(&top)?;
        let file = SafeTensors::deserialize(&top).map_err(st_error)?;
        let (header_len, header) = SafeTensors::read_metadata(&top).map_err(st_error)?;
        let layout: TopLayout = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("layout"))
            .ok_or_else(|| content("its top file has no layout"))
            .and_then(|j| serde_json::from_str(j).map_err(|e| AssetError::json(WHAT, e)))?;
        let (cells, dim) = (manifest.cells, manifest.dim);
        let names: Vec<String> = file.names().into_iter().map(String::from).collect();
        // Borrowed from `top`: a copy of each tensor would add to the page's peak memory
        // (wasm memory never shrinks).
        let get =
            |name: &str, dtype: Dtype, shape: &[usize]| tensor(WHAT, &file, name, dtype, shape);
        let has = |name: &str| names.iter().any(|n| n == name);
        let space = if has("space") {
            match read_f32s(get("space", Dtype::F32, &[2])?)[..] {
                [category, colour] => Space { category, colour },
                _ => Space::EMBEDDING,
            }
        } else {
            Space::EMBEDDING
        };
        if !space.is_valid() {
            return Err(content("its cell space has scales outside 0..=16"));
        }
        let width = space.width(dim, manifest.classes);
        let dtype = |name: &str| file.tensor(name).map(|t| t.dtype()).map_err(st_error);
        // Int8 centroids stay where they lie in `top`, kept once nothing else reads it.
        enum Rows {
            Plain(Vec<f32>),
            Coded { at: usize, exponents: Vec<i8> },
        }
        let centroids = if dtype("centroids")? == Dtype::I8 {
            get("centroids", Dtype::I8, &[cells, width])?;
            let exponents = read_i8s(get("centroid_exponents", Dtype::I8, &[cells])?);
            let at = header
                .info("centroids")
                .map(|info| 8 + header_len + info.data_offsets.0)
                .ok_or_else(|| content("its top file has no centroids"))?;
            Rows::Coded { at, exponents }
        } else {
            Rows::Plain(read_f32s(get("centroids", Dtype::F32, &[cells, width])?))
        };
        let files = manifest.segments();
        let live = if has("live") {
            get("live", Dtype::U8, &[files.len(), cells])?.to_vec()
        } else {
            vec![1; files.len() * cells]
        };
        if live.iter().any(|l| *l > 1) {
            return Err(content("its live cells are neither 0 nor 1"));
        }
        let mut segments = Vec::with_capacity(files.len());
        let mut first = 0u32;
        for (s, files) in files.into_iter().enumerate() {
            let (starts, checks) = directory_names(s);
            let starts = read_u32s(get(&starts, Dtype::U32, &[cells + 1])?);
            if starts.first() != Some(&0)
                || starts.last().map(|s| *s as usize) != Some(files.count)
                || starts.windows(2).any(|w| w[0] > w[1])
            {
                return Err(content(format!(
                    "the cell directory of its segment {s} does not cover the items in order"
                )));
            }
            let count = files.count as u32;
            segments.push(Seg {
                first,
                files,
                starts,
                checks: get(&checks, Dtype::U8, &[cells, CHECK])?.to_vec(),
                live: live[s * cells..(s + 1) * cells]
                    .iter()
                    .map(|l| *l == 1)
                    .collect(),
            });
            first = first
                .checked_add(count)
                .ok_or_else(|| content("its segments hold too many items"))?;
        }
        let removed = if has("removed") {
            read_u32s(get("removed", Dtype::U32, &[manifest.removed])?)
        } else {
            Vec::new()
        };
        if removed.len() != manifest.removed
            || removed.windows(2).any(|w| w[0] >= w[1])
            || removed.last().is_some_and(|r| *r >= first)
        {
            return Err(content(
                "its removed items are not sorted positions it holds, as many as the manifest says",
            ));
        }
        let spread = has("spread")
            .then(|| get("spread", Dtype::F32, &[1]).map(read_f32s))
            .transpose()?
            .and_then(|v| v.first().copied());
        let codebooks = if dtype("codebooks")? == Dtype::I8 {
            let codes = read_i8s(get("codebooks", Dtype::I8, &[])?);
            let exponents = read_i8s(get("codebook_exponents", Dtype::I8, &[])?);
            Quantiser::values_of_q8(&layout.subspaces, &codes, &exponents)
                .ok_or_else(|| content("its codebooks do not fit its layout"))?
        } else {
            read_f32s(get("codebooks", Dtype::F32, &[])?)
        };
        let centre = read_f32s(get("centre", Dtype::F32, &[dim])?);
        let features = dim + HIST_LEN + manifest.classes;
        let quantiser =
            Quantiser::from_table(layout.parts, &layout.subspaces, &codebooks, features)
                .filter(|q| q.code_len() == manifest.code_len)
                .ok_or_else(|| content("its codebooks do not fit its layout"))?;
        let centroids = match centroids {
            Rows::Plain(values) => Centroids::plain(values, width),
            Rows::Coded { at, exponents } => Centroids::coded(top, at, &exponents, width)
                .ok_or_else(|| content("its centroids' scales are out of range"))?,
        };
        if !centroids.is_finite() || codebooks.iter().any(|v| !v.is_finite()) {
            return Err(content(
                "its centroids or codebooks hold a value that is not finite",
            ));
        }
        Ok(Self {
            manifest,
            space,
            centroids,
            quantiser,
            centre,
            spread,
            segments,
            removed,
        })
    }

    /// The catalogue's mean embedding, which feedback moves are measured from.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Mean squared distance of the base's unit embeddings to their centroids (none in an
    /// index published before it was recorded).
    pub fn spread(&self) -> Option<f32> {
        self.spread
    }

    /// Number of segments, the base included.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Positions removed since the base, sorted.
    pub fn removed(&self) -> &[u32] {
        &self.removed
    }

    /// Whether the item at `position` was removed or replaced since it was published.
    pub fn is_removed(&self, position: u32) -> bool {
        self.removed.binary_search(&position).is_ok()
    }

    /// Whether cell `c` of segment `s` is read (not rewritten by a later segment).
    pub fn is_live(&self, s: usize, c: usize) -> bool {
        self.segments
            .get(s)
            .and_then(|seg| seg.live.get(c))
            .copied()
            .unwrap_or(false)
    }

    /// Items a query can find: every segment's live cells, less those removed.
    pub fn live_items(&self) -> usize {
        let held: usize = (0..self.segments.len())
            .flat_map(|s| (0..self.manifest.cells).map(move |c| (s, c)))
            .filter(|(s, c)| self.is_live(*s, *c))
            .map(|(s, c)| self.cell_positions(s, c).len())
            .sum();
        held.saturating_sub(self.removed.len())
    }

    /// Positions of cell `c`'s items in segment `s` (empty for a cell it does not have).
    pub fn cell_positions(&self, s: usize, c: usize) -> Range<u32> {
        self.segments
            .get(s)
            .and_then(|seg| {
                let (a, b) = (seg.starts.get(c)?, seg.starts.get(c + 1)?);
                Some(seg.first + a..seg.first + b)
            })
            .unwrap_or(0..0)
    }

    /// The segment and cell holding the item at `position`.
    pub fn locate(&self, position: u32) -> Option<(usize, usize)> {
        let (s, seg) = self.segment_of(position)?;
        let local = position - seg.first;
        let c = seg
            .starts
            .partition_point(|start| *start <= local)
            .checked_sub(1)?;
        Some((s, c))
    }

    /// The cells to read for `query` with `weights`, `cells` of them; `None` for a query of
    /// the wrong length or of zero length-scale.
    pub fn plan(&self, query: Query<'_>, weights: Blend, cells: usize) -> Option<Plan> {
        let norm = query.embedding.iter().map(|v| v * v).sum::<f32>();
        if query.embedding.len() != self.manifest.dim || norm == 0.0 || !norm.is_finite() {
            return None;
        }
        let m = &self.manifest;
        let prepared = Prepared::new(&self.quantiser, query, weights, m.classes, self.space);
        let cells = self.centroids.nearest_n(&prepared.point, cells);
        Some(Plan { cells, prepared })
    }

    /// Segment `s`'s directory as published, cells for which `keep` is false marked no
    /// longer read (none for a segment it does not have).
    pub(super) fn directory(&self, s: usize, keep: impl Fn(usize) -> bool) -> Option<Directory> {
        let seg = self.segments.get(s)?;
        Some(Directory {
            starts: seg.starts.clone(),
            checks: seg.checks.clone(),
            live: seg
                .live
                .iter()
                .enumerate()
                .map(|(c, l)| *l && keep(c))
                .collect(),
        })
    }

    /// Where each cell's codes begin in segment `s`, in codes from the segment's first.
    pub(super) fn local_starts(&self, s: usize) -> Option<&[u32]> {
        self.segments.get(s).map(|seg| seg.starts.as_slice())
    }

    /// The lists file of segment `s`.
    pub fn lists_file(&self, s: usize) -> &str {
        self.segments
            .get(s)
            .map_or("", |seg| seg.files.lists.file.as_str())
    }

    /// Where cell `c`'s codes lie in segment `s`'s lists file: an empty range for a cell it
    /// does not have or no longer reads.
    pub fn cell_range(&self, s: usize, c: usize) -> Range<u64> {
        if !self.is_live(s, c) {
            return 0..0;
        }
        let len = self.manifest.code_len as u64;
        let seg = &self.segments[s];
        let p = self.cell_positions(s, c);
        (p.start - seg.first) as u64 * len..(p.end - seg.first) as u64 * len
    }

    /// Scores cell `c`'s codes in segment `s` (`codes`, read from [`Self::cell_range`]) for
    /// `plan`, adding (approximate score, position) to `out` for the items not removed;
    /// fails when they are not the published ones.
    pub fn score_cell(
        &self,
        plan: &Plan,
        s: usize,
        c: usize,
        codes: &[u8],
        out: &mut Vec<(f32, u32)>,
    ) -> Result<(), AssetError> {
        let Some(expected) = self
            .segments
            .get(s)
            .and_then(|seg| seg.checks.get(c * CHECK..(c + 1) * CHECK))
        else {
            return Err(content(format!("it has no cell {c} in segment {s}")));
        };
        let range = self.cell_range(s, c);
        if codes.len() as u64 != range.end - range.start || check(&[codes]) != expected {
            return Err(AssetError::Checksum {
                file: format!("{} (cell {c})", self.lists_file(s)),
                expected: hex(expected),
                actual: hex(&check(&[codes])),
            });
        }
        let base = plan.prepared.base(&self.centroids.row(c));
        let first = self.cell_positions(s, c).start;
        for (i, code) in codes.chunks_exact(self.manifest.code_len).enumerate() {
            let position = first + i as u32;
            if !self.is_removed(position) {
                let score = base + Quantiser::score(&plan.prepared.tables, code);
                out.push((score, position));
            }
        }
        Ok(())
    }

    /// The segment holding the item at `position`, and its number.
    pub(super) fn segment_of(&self, position: u32) -> Option<(usize, &Seg)> {
        let s = self
            .segments
            .partition_point(|seg| seg.first <= position)
            .checked_sub(1)?;
        let seg = &self.segments[s];
        (((position - seg.first) as usize) < seg.files.count).then_some((s, seg))
    }

    /// The records file and range of the record at `position` (none for a position the
    /// index does not hold).
    pub fn record_range(&self, position: u32) -> Option<(&str, Range<u64>)> {
        let (_, seg) = self.segment_of(position)?;
        let len = self.manifest.record_len() as u64;
        let local = (position - seg.first) as u64;
        Some((
            seg.files.records.file.as_str(),
            local * len..(local + 1) * len,
        ))
    }

    /// The items file `record`'s metadata lies in.
    pub fn item_file(&self, record: &Record) -> &str {
        self.segment_of(record.position)
            .map_or("", |(_, seg)| seg.files.items.file.as_str())
    }
}

/// `bytes` in hexadecimal.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
