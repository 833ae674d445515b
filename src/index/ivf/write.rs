//! Writing a partitioned index's files: one segment's lists, records and metadata (the base's
//! or an update's), and the top file that holds the partition, the codebooks and every
//! segment's cell directory. Each file is named by its hash. Nothing here touches the disk.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{
    Facets, MAX_ITEM_BYTES, PARTITIONED_FORMAT_VERSION, PARTITIONED_LAYOUT, PartitionedManifest,
    Segment,
};
use super::partition::{Cell, Partitioned};
use super::pq::{Part, Quantiser, SubspaceShape};
use super::q8;
use super::space::Space;
use crate::assets::FileEntry;
pub(super) use crate::assets::{Tensor, f32s, serialized};
use crate::error::AssetError;
use crate::index::CatalogueIndex;

pub(super) const WHAT: &str = "partitioned index";
/// Bytes of each checksum in the files.
pub(super) const CHECK: usize = 8;

pub(super) fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

pub(super) fn st_error(source: safetensors::SafeTensorError) -> AssetError {
    AssetError::safetensors(WHAT, source)
}

/// The bytes of tensor `name` of `file` (a `what`), which must be of `dtype` and, where
/// `shape` is not empty, of `shape`.
pub(super) fn tensor<'a>(
    what: &'static str,
    file: &'a SafeTensors<'a>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Result<&'a [u8], AssetError> {
    let view = file
        .tensor(name)
        .map_err(|e| AssetError::safetensors(what, e))?;
    if view.dtype() != dtype || (!shape.is_empty() && view.shape() != shape) {
        return Err(AssetError::content(
            what,
            format!(
                "its {name} are {:?} {:?}, expected {dtype:?} {shape:?}",
                view.dtype(),
                view.shape()
            ),
        ));
    }
    Ok(view.data())
}

/// The first 8 bytes of the sha256 of `parts` one after another.
pub(super) fn check(parts: &[&[u8]]) -> [u8; CHECK] {
    let mut hash = Sha256::new();
    for p in parts {
        hash.update(p);
    }
    let mut out = [0u8; CHECK];
    out.copy_from_slice(&hash.finalize()[..CHECK]);
    out
}

/// What identifies an item's content, whichever side it is read from: its record's
/// `features` bytes, its metadata's checksum and its stock flag (not where it lies).
pub(super) fn fingerprint(
    features: &[u8],
    item_check: &[u8; CHECK],
    orderable: bool,
) -> [u8; CHECK] {
    check(&[features, item_check, &[u8::from(orderable)]])
}

/// What the top file's metadata says of the codes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TopLayout {
    pub parts: Vec<Part>,
    pub subspaces: Vec<SubspaceShape>,
}

/// The files of one publication and the manifest that names them.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The manifest, to be written last.
    pub manifest: PartitionedManifest,
    /// Each new file's name and bytes (files it keeps from the last publication are not
    /// among them).
    pub files: Vec<(String, Vec<u8>)>,
}

/// The list of the thumbnails `images` added to `files`, where there are any (see
/// [`crate::index::thumbnail_list`]); the entry the manifest names it by.
pub(super) fn list_thumbnails(
    images: &[String],
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<Option<FileEntry>, AssetError> {
    if images.is_empty() {
        return Ok(None);
    }
    let (entry, bytes) = crate::index::thumbnail_list(images)?;
    files.push((entry.file.clone(), bytes));
    Ok(Some(entry))
}

impl Publication {
    /// Bytes of its new files.
    pub fn new_bytes(&self) -> u64 {
        self.files.iter().map(|(_, b)| b.len() as u64).sum()
    }
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

/// One segment's cell directory: where each cell's list begins (in items, one more entry
/// than cells), a checksum of each list, and whether each cell is still read (a cell
/// rewritten by a later segment is not).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Directory {
    pub starts: Vec<u32>,
    pub checks: Vec<u8>,
    pub live: Vec<bool>,
}

/// The features of `index`'s `row` as a record stores them: int8 embedding, its scale,
/// histogram, probabilities.
pub(super) fn features(index: &CatalogueIndex, row: usize) -> Vec<u8> {
    let (embedding, scale) = index.row_embedding(row);
    let mut out: Vec<u8> = embedding.iter().map(|v| *v as u8).collect();
    out.extend(scale.to_le_bytes());
    out.extend_from_slice(index.row_histogram(row));
    out.extend_from_slice(index.row_probabilities(row));
    out
}

/// An item's metadata as the items file stores it, within the size limit.
pub(super) fn metadata(index: &CatalogueIndex, row: usize) -> Result<Vec<u8>, AssetError> {
    let item = index
        .items
        .get(row)
        .ok_or_else(|| content(format!("a cell names row {row} of {}", index.len())))?;
    let json = serde_json::to_vec(item).map_err(|e| AssetError::json(WHAT, e))?;
    if json.len() > MAX_ITEM_BYTES as usize {
        return Err(content(format!(
            "item {} has {} bytes of metadata; the limit is {MAX_ITEM_BYTES}",
            item.id,
            json.len()
        )));
    }
    Ok(json)
}

/// A segment's files and directory.
pub(super) struct Written {
    pub segment: Segment,
    pub directory: Directory,
    pub files: Vec<(String, Vec<u8>)>,
}

/// The files of a segment holding `cells` (rows of `index` and their codes), its items
/// numbered from `first`.
pub(super) fn segment(
    index: &CatalogueIndex,
    cells: &[Cell],
    first: u32,
) -> Result<Written, AssetError> {
    let count: usize = cells.iter().map(|c| c.rows.len()).sum();
    let mut starts: Vec<u32> = Vec::with_capacity(cells.len() + 1);
    let mut checks: Vec<u8> = Vec::with_capacity(cells.len() * CHECK);
    let mut lists = Vec::new();
    let mut records = Vec::new();
    let mut items = Vec::new();
    let mut position = first as u64;
    let mut local = 0u32;
    for cell in cells {
        starts.push(local);
        checks.extend(check(&[&cell.codes]));
        lists.extend_from_slice(&cell.codes);
        for &row in &cell.rows {
            let row = row as usize;
            let json = metadata(index, row)?;
            let start = records.len();
            records.extend(features(index, row));
            records.extend((items.len() as u64).to_le_bytes());
            records.extend((json.len() as u32).to_le_bytes());
            records.push(u8::from(index.items[row].orderable()));
            records.extend(check(&[&json]));
            let sum = check(&[&position.to_le_bytes(), &records[start..]]);
            records.extend(sum);
            items.extend(json);
            position += 1;
            local += 1;
        }
    }
    starts.push(local);
    if position > u32::MAX as u64 || local as usize != count {
        return Err(content(format!("{position} items do not fit one index")));
    }
    let (lists, lists_file) = named("lists", "bin", lists);
    let (records, records_file) = named("records", "bin", records);
    let (items, items_file) = named("items", "json", items);
    Ok(Written {
        segment: Segment {
            count,
            lists,
            records,
            items,
        },
        directory: Directory {
            starts,
            checks,
            live: vec![true; cells.len()],
        },
        files: vec![lists_file, records_file, items_file],
    })
}

/// What the top file holds.
pub(super) struct Top<'a> {
    pub dim: usize,
    pub classes: usize,
    /// The space of the centroids (recorded unless it is the embedding alone).
    pub space: Space,
    pub centroids: &'a [f32],
    pub quantiser: &'a Quantiser,
    pub centre: &'a [f32],
    pub spread: f32,
    /// Every segment's directory, the base first.
    pub directories: &'a [Directory],
    /// Items of earlier segments removed since, sorted.
    pub removed: &'a [u32],
}

fn i8s(v: &[i8]) -> Vec<u8> {
    v.iter().map(|x| *x as u8).collect()
}

/// `v` as the bytes of a u32 tensor.
pub(super) fn u32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The values of an f32 tensor's bytes.
pub(super) fn read_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The values of an i8 tensor's bytes.
pub(super) fn read_i8s(b: &[u8]) -> Vec<i8> {
    b.iter().map(|v| *v as i8).collect()
}

/// The values of a u32 tensor's bytes.
pub(super) fn read_u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `values` as the tensor `name` of `shape`: as int8 codes with their rows' exponents (the
/// tensor `exponents`) when `coded` holds them, which the caller gives only where they decode
/// to `values` exactly, as every build since the int8 top file makes them; as f32
/// otherwise, for an index built before, which an update rewrites the top file of.
fn values(
    name: &str,
    exponents: &str,
    shape: Vec<usize>,
    values: &[f32],
    coded: Option<(Vec<i8>, Vec<i8>)>,
) -> Vec<Tensor> {
    match coded {
        Some((codes, e)) => vec![
            (name.into(), Dtype::I8, shape, i8s(&codes)),
            (exponents.into(), Dtype::I8, vec![e.len()], i8s(&e)),
        ],
        None => vec![(name.into(), Dtype::F32, shape, f32s(values))],
    }
}

/// Tensor names of segment `s`'s directory: the base's have no suffix.
pub(super) fn directory_names(s: usize) -> (String, String) {
    if s == 0 {
        ("starts".into(), "checks".into())
    } else {
        (format!("starts.{s}"), format!("checks.{s}"))
    }
}

impl Top<'_> {
    /// The top file, named by its hash.
    pub fn write(&self) -> Result<(FileEntry, (String, Vec<u8>)), AssetError> {
        let width = self.space.width(self.dim, self.classes);
        let cells = self.centroids.len() / width.max(1);
        let (parts, subspaces, codebooks) = self.quantiser.to_table();
        let (codes, exponents) = q8::encode(self.centroids, width);
        let decoded = q8::decode(&codes, &exponents, width);
        let coded = (decoded.as_deref() == Some(self.centroids)).then_some((codes, exponents));
        let shape = vec![cells, width];
        let mut owned = values(
            "centroids",
            "centroid_exponents",
            shape,
            self.centroids,
            coded,
        );
        let (codes, exponents) = self.quantiser.to_q8();
        let decoded = Quantiser::values_of_q8(&subspaces, &codes, &exponents);
        let coded = (decoded.as_ref() == Some(&codebooks)).then_some((codes, exponents));
        let shape = vec![codebooks.len()];
        owned.extend(values(
            "codebooks",
            "codebook_exponents",
            shape,
            &codebooks,
            coded,
        ));
        let layout = serde_json::to_string(&TopLayout { parts, subspaces })
            .map_err(|e| AssetError::json(WHAT, e))?;
        owned.extend([
            (
                "centre".into(),
                Dtype::F32,
                vec![self.dim],
                f32s(self.centre),
            ),
            ("spread".into(), Dtype::F32, vec![1], f32s(&[self.spread])),
        ]);
        if self.space != Space::EMBEDDING {
            let space = [self.space.category, self.space.colour];
            owned.push(("space".into(), Dtype::F32, vec![2], f32s(&space)));
        }
        for (s, d) in self.directories.iter().enumerate() {
            let (starts, checks) = directory_names(s);
            owned.push((starts, Dtype::U32, vec![cells + 1], u32s(&d.starts)));
            owned.push((checks, Dtype::U8, vec![cells, CHECK], d.checks.clone()));
        }
        if self.directories.iter().any(|d| d.live.contains(&false)) {
            let live = self
                .directories
                .iter()
                .flat_map(|d| d.live.iter().map(|l| u8::from(*l)))
                .collect();
            owned.push((
                "live".into(),
                Dtype::U8,
                vec![self.directories.len(), cells],
                live,
            ));
        }
        if !self.removed.is_empty() {
            owned.push((
                "removed".into(),
                Dtype::U32,
                vec![self.removed.len()],
                u32s(self.removed),
            ));
        }
        let metadata = HashMap::from([("layout".to_string(), layout)]);
        let top = serialized(WHAT, &owned, metadata)?;
        Ok(named("top", "safetensors", top))
    }
}

/// The files of `partitioned` (built from `index`, made by the model whose weights hash to
/// `model_sha256`), with the thumbnails `images` the items name: a base with no deltas.
pub fn publish(
    index: &CatalogueIndex,
    partitioned: &Partitioned,
    model_sha256: &str,
    images: Vec<String>,
) -> Result<Publication, AssetError> {
    let base = segment(index, &partitioned.cells, 0)?;
    if base.segment.count != index.len() {
        return Err(content(format!(
            "the cells hold {} items of {}",
            base.segment.count,
            index.len()
        )));
    }
    let (top, top_file) = Top {
        dim: index.dim(),
        classes: index.classes(),
        space: partitioned.space,
        centroids: &partitioned.centroids,
        quantiser: &partitioned.quantiser,
        centre: index.centre(),
        spread: partitioned.spread,
        directories: std::slice::from_ref(&base.directory),
        removed: &[],
    }
    .write()?;
    let Segment {
        count,
        lists,
        records,
        items,
    } = base.segment;
    let mut files = vec![top_file];
    files.extend(base.files);
    let thumbnails = list_thumbnails(&images, &mut files)?;
    Ok(Publication {
        manifest: PartitionedManifest {
            format_version: PARTITIONED_FORMAT_VERSION,
            layout: PARTITIONED_LAYOUT.into(),
            model_sha256: model_sha256.to_string(),
            count,
            dim: index.dim(),
            classes: index.classes(),
            cells: partitioned.cells.len(),
            code_len: partitioned.quantiser.code_len(),
            top,
            lists,
            records,
            items,
            deltas: Vec::new(),
            removed: 0,
            images: Vec::new(),
            thumbnails,
            facets: Facets::of(&index.items),
            parts: None,
        },
        files,
    })
}
