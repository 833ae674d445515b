//! The partitioned index as published files, each immutable and named by its hash, and the
//! manifest (`index.json`, format version 4) that names them, written last:
//!
//! - `top-*.safetensors`: the cells' centroids, where each cell's list begins, a checksum of
//!   each list, the codebooks and the catalogue's mean embedding. A page loads it whole.
//! - `lists-*.bin`: every cell's codes, the cells one after another, so one cell is one range.
//! - `records-*.bin`: what the exact ranking needs of each item (int8 embedding and its scale,
//!   histogram, category probabilities), fixed-size, in list order, each with where its
//!   metadata lies, whether the item can be ordered, and checksums of both.
//! - `items-*.json`: each item's metadata as one JSON object, in list order; only the items a
//!   query shows are read.
//!
//! Nothing here reads or writes files: [`publish`] gives the files' bytes, and
//! [`Published`] answers what to read next and checks what was read.

use std::ops::Range;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{
    Facets, MAX_ITEM_BYTES, PARTITIONED_FORMAT_VERSION, PARTITIONED_LAYOUT, PartitionedManifest,
    RECORD_TAIL,
};
use super::partition::{Partitioned, Prepared, nearest_cells};
use super::pq::{Part, Quantiser, SubspaceShape};
use crate::assets::FileEntry;
use crate::colour::HIST_LEN;
use crate::error::AssetError;
use crate::index::CatalogueIndex;
use crate::index::description::Query;
use crate::index::item::Item;
use crate::index::rank::Blend;

const WHAT: &str = "partitioned index";
const CHECK: usize = 8;

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

fn st_error(source: safetensors::SafeTensorError) -> AssetError {
    AssetError::safetensors(WHAT, source)
}

/// The first 8 bytes of the sha256 of `parts` one after another.
fn check(parts: &[&[u8]]) -> [u8; CHECK] {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p);
    }
    let mut out = [0u8; CHECK];
    out.copy_from_slice(&hash.finalize()[..CHECK]);
    out
}

/// What the top file's metadata says of the codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopLayout {
    parts: Vec<Part>,
    subspaces: Vec<SubspaceShape>,
}

/// The files of one publication and the manifest that names them.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The manifest, to be written last.
    pub manifest: PartitionedManifest,
    /// Each file's name and bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Named by the first 16 hex digits of its sha256.
fn named(stem: &str, ext: &str, bytes: Vec<u8>) -> (FileEntry, (String, Vec<u8>)) {
    let entry = FileEntry::of("", &bytes);
    let file = format!("{stem}-{}.{ext}", &entry.sha256[..16]);
    (
        FileEntry {
            file: file.clone(),
            ..entry
        },
        (file, bytes),
    )
}

/// The files of `partitioned` (built from `index`, made by the model whose weights hash to
/// `model_sha256`), with the thumbnails `images` the items name.
pub fn publish(
    index: &CatalogueIndex,
    partitioned: &Partitioned,
    model_sha256: &str,
    images: Vec<String>,
) -> Result<Publication, AssetError> {
    let (dim, classes) = (index.dim(), index.classes());
    let cells = partitioned.cells.len();
    let code_len = partitioned.quantiser.code_len();
    let count = index.len();
    let mut starts: Vec<u32> = Vec::with_capacity(cells + 1);
    let mut checks: Vec<u8> = Vec::with_capacity(cells * CHECK);
    let mut lists = Vec::with_capacity(count * code_len);
    let record_len = dim + 4 + HIST_LEN + classes + RECORD_TAIL;
    let mut records = Vec::with_capacity(count * record_len);
    let mut items = Vec::new();
    let mut position = 0u64;
    for cell in &partitioned.cells {
        starts.push(position as u32);
        checks.extend(check(&[&cell.codes]));
        lists.extend_from_slice(&cell.codes);
        for &row in &cell.rows {
            let row = row as usize;
            let item = index
                .items
                .get(row)
                .ok_or_else(|| content(format!("a cell names row {row} of {count}")))?;
            let json = serde_json::to_vec(item).map_err(|e| AssetError::json(WHAT, e))?;
            if json.len() > MAX_ITEM_BYTES as usize {
                return Err(content(format!(
                    "item {} has {} bytes of metadata; the limit is {MAX_ITEM_BYTES}",
                    item.id,
                    json.len()
                )));
            }
            let start = records.len();
            let (embedding, scale) = index.row_embedding(row);
            records.extend(embedding.iter().map(|v| *v as u8));
            records.extend(scale.to_le_bytes());
            records.extend_from_slice(index.row_histogram(row));
            records.extend_from_slice(index.row_probabilities(row));
            records.extend((items.len() as u64).to_le_bytes());
            records.extend((json.len() as u32).to_le_bytes());
            records.push(u8::from(item.orderable()));
            records.extend(check(&[&json]));
            let sum = check(&[&position.to_le_bytes(), &records[start..]]);
            records.extend(sum);
            items.extend(json);
            position += 1;
        }
    }
    if position as usize != count {
        return Err(content(format!(
            "the cells hold {position} items of {count}"
        )));
    }
    starts.push(position as u32);

    let (parts, subspaces, codebooks) = partitioned.quantiser.to_table();
    let layout = serde_json::to_string(&TopLayout { parts, subspaces })
        .map_err(|e| AssetError::json(WHAT, e))?;
    let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let centroids = f32s(&partitioned.centroids);
    let starts_bytes: Vec<u8> = starts.iter().flat_map(|x| x.to_le_bytes()).collect();
    let codebook_bytes = f32s(&codebooks);
    let centre = f32s(index.centre());
    let views = vec![
        (
            "centroids",
            TensorView::new(Dtype::F32, vec![cells, dim], &centroids).map_err(st_error)?,
        ),
        (
            "starts",
            TensorView::new(Dtype::U32, vec![cells + 1], &starts_bytes).map_err(st_error)?,
        ),
        (
            "checks",
            TensorView::new(Dtype::U8, vec![cells, CHECK], &checks).map_err(st_error)?,
        ),
        (
            "codebooks",
            TensorView::new(Dtype::F32, vec![codebooks.len()], &codebook_bytes)
                .map_err(st_error)?,
        ),
        (
            "centre",
            TensorView::new(Dtype::F32, vec![dim], &centre).map_err(st_error)?,
        ),
    ];
    let metadata = std::collections::HashMap::from([("layout".to_string(), layout)]);
    let top = safetensors::serialize(views, Some(metadata)).map_err(st_error)?;

    let (top, top_file) = named("top", "safetensors", top);
    let (lists, lists_file) = named("lists", "bin", lists);
    let (records, records_file) = named("records", "bin", records);
    let (items, items_file) = named("items", "json", items);
    Ok(Publication {
        manifest: PartitionedManifest {
            format_version: PARTITIONED_FORMAT_VERSION,
            layout: PARTITIONED_LAYOUT.into(),
            model_sha256: model_sha256.to_string(),
            count,
            dim,
            classes,
            cells,
            code_len,
            top,
            lists,
            records,
            items,
            images,
            facets: Facets::of(&index.items),
        },
        files: vec![top_file, lists_file, records_file, items_file],
    })
}

/// A loaded partitioned index: its manifest and its top file, which say what a query reads.
#[derive(Debug, Clone)]
pub struct Published {
    /// The manifest.
    pub manifest: PartitionedManifest,
    centroids: Vec<f32>,
    starts: Vec<u32>,
    checks: Vec<u8>,
    quantiser: Quantiser,
    centre: Vec<f32>,
}

/// One item's record: its features for the exact ranking, as the index stores them, and
/// where its metadata lies.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in list order.
    pub position: u32,
    /// The int8 embedding.
    pub embedding: Vec<i8>,
    /// Its scale.
    pub scale: f32,
    /// The colour histogram, 0..=255 for 0..=1.
    pub histogram: Vec<u8>,
    /// The category probabilities, 0..=255 for 0..=1.
    pub probabilities: Vec<u8>,
    /// Where its metadata lies in the items file.
    pub item: Range<u64>,
    /// Whether the item can be ordered (in stock, on backorder or preorder), known before
    /// its metadata is read.
    pub orderable: bool,
    item_check: [u8; CHECK],
}

/// A query's first step: the cells to read.
#[derive(Debug)]
pub struct Plan {
    /// The cells, nearest first.
    pub cells: Vec<usize>,
    prepared: Prepared,
}

impl Published {
    /// Checks `top` (the top file's bytes) against `manifest` and parses it.
    pub fn open(manifest: PartitionedManifest, top: &[u8]) -> Result<Self, AssetError> {
        manifest.top.verify(top)?;
        let file = SafeTensors::deserialize(top).map_err(st_error)?;
        let (_, header) = SafeTensors::read_metadata(top).map_err(st_error)?;
        let layout: TopLayout = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("layout"))
            .ok_or_else(|| content("its top file has no layout"))
            .and_then(|j| serde_json::from_str(j).map_err(|e| AssetError::json(WHAT, e)))?;
        let (cells, dim) = (manifest.cells, manifest.dim);
        let get = |name: &str, dtype: Dtype, shape: &[usize]| {
            let view = file.tensor(name).map_err(st_error)?;
            if view.dtype() != dtype || (!shape.is_empty() && view.shape() != shape) {
                return Err(content(format!(
                    "its {name} are {:?} {:?}, expected {dtype:?} {shape:?}",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view.data().to_vec())
        };
        let f32s = |b: Vec<u8>| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let centroids = f32s(get("centroids", Dtype::F32, &[cells, dim])?);
        let starts: Vec<u32> = get("starts", Dtype::U32, &[cells + 1])?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if starts.first() != Some(&0)
            || starts.last().map(|s| *s as usize) != Some(manifest.count)
            || starts.windows(2).any(|w| w[0] > w[1])
        {
            return Err(content(
                "its cell directory does not cover the items in order",
            ));
        }
        let checks = get("checks", Dtype::U8, &[cells, CHECK])?;
        let codebooks = f32s(get("codebooks", Dtype::F32, &[])?);
        let centre = f32s(get("centre", Dtype::F32, &[dim])?);
        let width = dim + HIST_LEN + manifest.classes;
        let quantiser = Quantiser::from_table(layout.parts, &layout.subspaces, &codebooks, width)
            .filter(|q| q.code_len() == manifest.code_len)
            .ok_or_else(|| content("its codebooks do not fit its layout"))?;
        if centroids.iter().chain(&codebooks).any(|v| !v.is_finite()) {
            return Err(content(
                "its centroids or codebooks hold a value that is not finite",
            ));
        }
        Ok(Self {
            manifest,
            centroids,
            starts,
            checks,
            quantiser,
            centre,
        })
    }

    /// The catalogue's mean embedding, which feedback moves are measured from.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Number of items in cell `c` (none for a cell it does not have).
    pub fn cell_len(&self, c: usize) -> usize {
        let r = self.cell_range(c);
        ((r.end - r.start) / self.manifest.code_len as u64) as usize
    }

    /// The cells to read for `query` with `weights`, `cells` of them; `None` for a query of
    /// the wrong length or of zero length-scale.
    pub fn plan(&self, query: Query<'_>, weights: Blend, cells: usize) -> Option<Plan> {
        let norm = query.embedding.iter().map(|v| v * v).sum::<f32>();
        if query.embedding.len() != self.manifest.dim || norm == 0.0 || !norm.is_finite() {
            return None;
        }
        let prepared = Prepared::new(&self.quantiser, query, weights, self.manifest.classes);
        let cells = nearest_cells(&self.centroids, self.manifest.dim, &prepared.unit, cells);
        Some(Plan { cells, prepared })
    }

    /// Where cell `c`'s codes lie in the lists file (an empty range for a cell it does not
    /// have).
    pub fn cell_range(&self, c: usize) -> Range<u64> {
        let len = self.manifest.code_len as u64;
        match (self.starts.get(c), self.starts.get(c + 1)) {
            (Some(a), Some(b)) => *a as u64 * len..*b as u64 * len,
            _ => 0..0,
        }
    }

    /// Scores cell `c`'s codes (`codes`, read from [`Self::cell_range`]) for `plan`, adding
    /// (approximate score, position) to `out`; fails when they are not the published ones.
    pub fn score_cell(
        &self,
        plan: &Plan,
        c: usize,
        codes: &[u8],
        out: &mut Vec<(f32, u32)>,
    ) -> Result<(), AssetError> {
        let Some(expected) = self.checks.get(c * CHECK..(c + 1) * CHECK) else {
            return Err(content(format!("it has no cell {c}")));
        };
        let range = self.cell_range(c);
        if codes.len() as u64 != range.end - range.start || check(&[codes]) != expected {
            return Err(AssetError::Checksum {
                file: format!("{} (cell {c})", self.manifest.lists.file),
                expected: hex(expected),
                actual: hex(&check(&[codes])),
            });
        }
        let dim = self.manifest.dim;
        let base = plan.prepared.base(&self.centroids[c * dim..(c + 1) * dim]);
        let first = self.starts[c];
        for (i, code) in codes.chunks_exact(self.manifest.code_len).enumerate() {
            let score = base + Quantiser::score(&plan.prepared.tables, code);
            out.push((score, first + i as u32));
        }
        Ok(())
    }

    /// Where the record at `position` lies in the records file.
    pub fn record_range(&self, position: u32) -> Range<u64> {
        let len = self.manifest.record_len() as u64;
        position as u64 * len..(position as u64 + 1) * len
    }

    /// Parses and checks the record at `position` (`bytes`, read from [`Self::record_range`]).
    pub fn record(&self, position: u32, bytes: &[u8]) -> Result<Record, AssetError> {
        let (dim, classes) = (self.manifest.dim, self.manifest.classes);
        let bad = || AssetError::Checksum {
            file: format!("{} (record {position})", self.manifest.records.file),
            expected: "its own checksum".into(),
            actual: "other bytes".into(),
        };
        if position as usize >= self.manifest.count || bytes.len() != self.manifest.record_len() {
            return Err(bad());
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECK);
        if check(&[&(position as u64).to_le_bytes(), body]) != sum {
            return Err(bad());
        }
        let (embedding, rest) = body.split_at(dim);
        let (scale, rest) = rest.split_at(4);
        let (histogram, rest) = rest.split_at(HIST_LEN);
        let (probabilities, rest) = rest.split_at(classes);
        let (offset, rest) = rest.split_at(8);
        let (len, rest) = rest.split_at(4);
        let (flags, item_check) = rest.split_at(1);
        let scale = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
        let offset = u64::from_le_bytes(offset.try_into().map_err(|_| bad())?);
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        let end = offset.checked_add(len as u64).ok_or_else(bad)?;
        if !scale.is_finite()
            || len > MAX_ITEM_BYTES
            || end > self.manifest.items.bytes
            || flags[0] > 1
        {
            return Err(bad());
        }
        Ok(Record {
            position,
            embedding: embedding.iter().map(|v| *v as i8).collect(),
            scale,
            histogram: histogram.to_vec(),
            probabilities: probabilities.to_vec(),
            item: offset..end,
            orderable: flags[0] == 1,
            item_check: item_check.try_into().map_err(|_| bad())?,
        })
    }

    /// Parses and checks `record`'s metadata (`bytes`, read from its `item` range).
    pub fn item(&self, record: &Record, bytes: &[u8]) -> Result<Item, AssetError> {
        if check(&[bytes]) != record.item_check {
            return Err(AssetError::Checksum {
                file: format!("{} (item {})", self.manifest.items.file, record.position),
                expected: hex(&record.item_check),
                actual: hex(&check(&[bytes])),
            });
        }
        serde_json::from_slice(bytes).map_err(|e| AssetError::json(WHAT, e))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A catalogue of `records` (bare items named by their positions), in their order, to rank
/// them exactly with the same scorer as a whole index.
pub fn records_index(
    records: &[Record],
    dim: usize,
    classes: usize,
) -> Result<CatalogueIndex, AssetError> {
    let items = records
        .iter()
        .map(|r| Item::bare(r.position.to_string()))
        .collect();
    CatalogueIndex::from_rows(rows(records.iter(), items, dim, classes))
}

fn rows<'a>(
    records: impl Iterator<Item = &'a Record>,
    items: Vec<Item>,
    dim: usize,
    classes: usize,
) -> crate::index::catalogue::Rows {
    let mut rows = crate::index::catalogue::Rows {
        dim,
        classes,
        items,
        ..Default::default()
    };
    for r in records {
        rows.embeddings.extend_from_slice(&r.embedding);
        rows.scales.push(r.scale);
        rows.histograms.extend_from_slice(&r.histogram);
        rows.probabilities.extend_from_slice(&r.probabilities);
    }
    rows
}

impl Published {
    /// A catalogue of the items read so far (each with its record), ranked as a whole index
    /// ranks and measuring feedback from the whole catalogue's centre: what a page searches
    /// between reads.
    pub fn catalogue<'a>(
        &self,
        read: impl Iterator<Item = (&'a Record, &'a Item)> + Clone,
    ) -> Result<CatalogueIndex, AssetError> {
        let items = read.clone().map(|(_, i)| i.clone()).collect();
        let rows = rows(
            read.map(|(r, _)| r),
            items,
            self.manifest.dim,
            self.manifest.classes,
        );
        Ok(CatalogueIndex::from_rows(rows)?.with_given_centre(self.centre.clone()))
    }
}
