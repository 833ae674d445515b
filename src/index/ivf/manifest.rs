//! `index.json` of a partitioned index (format version 4): the files it names with their
//! sizes and hashes, the shape of its codes and records, and the facets a page's filters
//! offer; checked when read, before anything it names is fetched.

use serde::{Deserialize, Serialize};

use crate::assets::{FileEntry, parse_manifest};
use crate::colour::HIST_LEN;
use crate::error::AssetError;
use crate::index::item::Item;
use crate::index::manifest::check_thumbnails;

/// Format version of a partitioned index's manifest.
pub const PARTITIONED_FORMAT_VERSION: u32 = 4;
/// The one layout version 4 names.
pub const PARTITIONED_LAYOUT: &str = "partitioned";
/// Most items a partitioned index may hold.
pub const MAX_ITEMS: usize = 100_000_000;
/// Most cells.
pub const MAX_CELLS: usize = 1 << 20;
/// Largest top file read.
pub const MAX_TOP_BYTES: u64 = 256 << 20;
/// Largest metadata of one item.
pub const MAX_ITEM_BYTES: u32 = 64 << 10;
/// Most delta segments an index may hold (an update merges them before there are more).
pub const MAX_DELTAS: usize = 8;

const WHAT: &str = "partitioned index";
/// Bytes of a record after its features: metadata offset (8), length (4), flags (1: bit 0,
/// the item can be ordered), the metadata's checksum (8), and the record's own checksum (8).
pub(super) const RECORD_TAIL: usize = 29;

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

/// Whether `manifest` (an `index.json`'s bytes) is a partitioned index's, by its
/// `format_version`; false for a whole index's and for what is not a manifest.
pub fn is_partitioned(manifest: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    serde_json::from_slice::<Version>(manifest)
        .is_ok_and(|v| v.format_version == PARTITIONED_FORMAT_VERSION)
}

/// `index.json` of a partitioned index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionedManifest {
    /// [`PARTITIONED_FORMAT_VERSION`].
    pub format_version: u32,
    /// [`PARTITIONED_LAYOUT`].
    pub layout: String,
    /// sha256 of the weights of the model that computed the embeddings.
    pub model_sha256: String,
    /// Number of items in the base segment (`lists`, `records`, `items`).
    pub count: usize,
    /// Embedding length.
    pub dim: usize,
    /// Number of categories of the probability rows.
    pub classes: usize,
    /// Number of cells.
    pub cells: usize,
    /// Bytes of one code.
    pub code_len: usize,
    /// The centroids, the cell directory and the codebooks.
    pub top: FileEntry,
    /// The base segment's codes, cell after cell.
    pub lists: FileEntry,
    /// The base segment's records for the exact ranking.
    pub records: FileEntry,
    /// The base segment's metadata.
    pub items: FileEntry,
    /// Segments published by updates since the base, oldest first: new and changed items and
    /// rewritten cells, numbered after the base's items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Segment>,
    /// Items of earlier segments removed or replaced since (the top file lists them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub removed: usize,
    /// Thumbnails published with the index (paths under its `images/` folder). Written to
    /// the `thumbnails` file, not here (manifests before it held them here, and are still
    /// read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// The file listing the thumbnails, where there are any
    /// ([`crate::index::thumbnail_list`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<FileEntry>,
    /// What the items offer to filter by, for a page that never holds them all.
    #[serde(default)]
    pub facets: Facets,
    /// Whether the segment files are also published as part files, and their sizes, for
    /// hosts that answer no range requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<Parts>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One segment's files: its cells' codes, its items' records and their metadata, each in
/// list order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Number of items.
    pub count: usize,
    /// The codes, cell after cell.
    pub lists: FileEntry,
    /// The records.
    pub records: FileEntry,
    /// The metadata.
    pub items: FileEntry,
}

/// How a partitioned index's segment files are split into part files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// Records in each part of a records file.
    pub records: u32,
    /// Bytes in each part of a metadata file.
    pub item_bytes: u32,
}

impl Parts {
    /// Runs of 8 records (the near-first order's runs) and metadata slices of 2 KB.
    pub const DEFAULT: Self = Self {
        records: 8,
        item_bytes: 2048,
    };

    /// Whether the sizes are ones a reader accepts (1 to 4,096 records, 256 B to 1 MB).
    pub fn is_valid(&self) -> bool {
        (1..=4096).contains(&self.records) && (256..=1 << 20).contains(&self.item_bytes)
    }
}

/// The categories and colour names the items of an index carry (those in stock, and all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    /// Categories of items that can be ordered, sorted.
    pub categories: Vec<String>,
    /// Dominant colour names of items that can be ordered, sorted.
    pub colours: Vec<String>,
    /// Categories of every item, sorted.
    pub all_categories: Vec<String>,
    /// Dominant colour names of every item, sorted.
    pub all_colours: Vec<String>,
}

impl Facets {
    /// The facets of `items`.
    pub fn of(items: &[Item]) -> Self {
        let collect = |orderable_only: bool| {
            let mut categories = std::collections::BTreeSet::new();
            let mut colours = std::collections::BTreeSet::new();
            for item in items.iter().filter(|i| !orderable_only || i.orderable()) {
                categories.extend(item.category.clone());
                colours.extend(item.colours.iter().map(|c| c.name.clone()));
            }
            (
                categories.into_iter().collect(),
                colours.into_iter().collect(),
            )
        };
        let (categories, colours) = collect(true);
        let (all_categories, all_colours) = collect(false);
        Self {
            categories,
            colours,
            all_categories,
            all_colours,
        }
    }
}

impl PartitionedManifest {
    /// Parses and checks a manifest: its version, its file names and that its sizes agree.
    pub fn from_json(bytes: &[u8]) -> Result<Self, AssetError> {
        let m: Self = parse_manifest(
            bytes,
            "partitioned index manifest",
            |m: &Self| m.format_version,
            PARTITIONED_FORMAT_VERSION,
        )?;
        if m.layout != PARTITIONED_LAYOUT {
            return Err(content(format!("unknown layout {:?}", m.layout)));
        }
        for f in m.files_named() {
            f.check_name("partitioned index manifest")?;
        }
        check_thumbnails(WHAT, &m.images, m.thumbnails.as_ref())?;
        if m.deltas.len() > MAX_DELTAS {
            return Err(content(format!(
                "it has {} delta segments; at most {MAX_DELTAS} are allowed",
                m.deltas.len()
            )));
        }
        let positions = m.positions();
        if m.count == 0 || positions > MAX_ITEMS || m.removed > positions {
            return Err(content(format!(
                "it counts {} items in {} segments, {} removed; 1 to {MAX_ITEMS} are allowed",
                positions,
                m.deltas.len() + 1,
                m.removed
            )));
        }
        if !(1..=4096).contains(&m.dim)
            || m.classes > 4096
            || !(1..=MAX_CELLS.min(m.count)).contains(&m.cells)
            || !(1..=4096).contains(&m.code_len)
        {
            return Err(content(format!(
                "dimensions out of range: {} values, {} classes, {} cells, {}-byte codes",
                m.dim, m.classes, m.cells, m.code_len
            )));
        }
        for segment in m.segments() {
            let expect = |f: &FileEntry, bytes: u64| {
                if f.bytes == bytes {
                    Ok(())
                } else {
                    Err(content(format!(
                        "{} is {} bytes; {} items need {bytes}",
                        f.file, f.bytes, segment.count
                    )))
                }
            };
            expect(&segment.lists, segment.count as u64 * m.code_len as u64)?;
            expect(
                &segment.records,
                segment.count as u64 * m.record_len() as u64,
            )?;
        }
        if m.parts.is_some_and(|p| !p.is_valid()) {
            return Err(content(
                "its parts hold 1 to 4,096 records and 256 bytes to 1 MB of metadata",
            ));
        }
        if m.top.bytes > MAX_TOP_BYTES {
            return Err(content(format!(
                "{} is {} bytes; the limit is {MAX_TOP_BYTES}",
                m.top.file, m.top.bytes
            )));
        }
        Ok(m)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, AssetError> {
        serde_json::to_vec_pretty(self).map_err(|e| AssetError::json(WHAT, e))
    }

    /// Bytes of one record.
    pub fn record_len(&self) -> usize {
        self.dim + 4 + HIST_LEN + self.classes + RECORD_TAIL
    }

    /// Every segment, the base first.
    pub fn segments(&self) -> Vec<Segment> {
        let base = Segment {
            count: self.count,
            lists: self.lists.clone(),
            records: self.records.clone(),
            items: self.items.clone(),
        };
        std::iter::once(base)
            .chain(self.deltas.iter().cloned())
            .collect()
    }

    /// Items in every segment, those removed since included: the positions there are.
    pub fn positions(&self) -> usize {
        self.deltas
            .iter()
            .fold(self.count, |n, d| n.saturating_add(d.count))
    }

    fn files_named(&self) -> impl Iterator<Item = &FileEntry> {
        [&self.top, &self.lists, &self.records, &self.items]
            .into_iter()
            .chain(
                self.deltas
                    .iter()
                    .flat_map(|d| [&d.lists, &d.records, &d.items]),
            )
    }

    /// Every file it names, the thumbnails and their list included.
    pub fn files(&self) -> Vec<&str> {
        self.files_named()
            .map(|f| f.file.as_str())
            .chain(self.thumbnails.iter().map(|t| t.file.as_str()))
            .chain(self.images.iter().map(String::as_str))
            .collect()
    }

    /// Bytes of every file it names but the thumbnails.
    pub fn bytes(&self) -> u64 {
        self.files_named().map(|f| f.bytes).sum()
    }

    /// Fails unless the index was made by the model whose weights hash to `model_sha256`.
    pub fn check_model(&self, model_sha256: &str) -> Result<(), AssetError> {
        crate::index::manifest::same_model(&self.model_sha256, model_sha256)
    }
}
