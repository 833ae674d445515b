//! An index built in shards on a cluster (issue 23): shard `i` of `n` describes the `i`-th
//! contiguous slice of the feed's products into its part file in a shared parts folder,
//! written atomically, then a done-marker holding its counts, failures and the part's
//! checksum, so a retried shard that already finished does nothing. The merge checks every
//! marker and part and publishes the rows one after another: the same index, byte for byte,
//! as a build in one go.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use super::summary::Failed;
use crate::assets::FileEntry;
use crate::files::{
    MAX_INDEX_BYTES, MAX_MANIFEST_BYTES, publish_index, read_bounded, write_atomic,
};
use crate::index::CatalogueIndex;

/// Format tag of done-markers.
const MARKER_FORMAT: &str = "deep-shopping-shard/1";
/// Most shards of one build.
pub const MAX_SHARDS: usize = 100_000;

/// Shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    /// `i/n`, with `0 <= i < n <= MAX_SHARDS`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a shard i/N"))?;
        let index = i
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("{i:?}: {e}"))?;
        let count = n
            .trim()
            .parse::<usize>()
            .map_err(|e| format!("{n:?}: {e}"))?;
        Shard::new(index, count)
    }
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Self, String> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(format!(
                "shard {index}/{count}: the count must be 1 to {MAX_SHARDS} and the index below it"
            ));
        }
        Ok(Self { index, count })
    }

    /// The products of `len` this shard builds: the `index`-th of `count` near-equal
    /// contiguous slices.
    pub fn slice(self, len: usize) -> std::ops::Range<usize> {
        let at = |k: usize| ((k as u128 * len as u128) / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// The name of its file `prefix-0000I-of-0000N.ext`.
    pub fn file(self, prefix: &str, ext: &str) -> String {
        format!("{prefix}-{:05}-of-{:05}.{ext}", self.index, self.count)
    }

    /// Its part file's name.
    pub fn part_name(self) -> String {
        self.file("part", "safetensors")
    }

    /// Its done-marker's name.
    pub fn marker_name(self) -> String {
        self.file("part", "done.json")
    }
}

/// What a finished shard wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// [`MARKER_FORMAT`].
    pub format: String,
    /// Its index.
    pub shard: usize,
    /// The number of shards.
    pub shards: usize,
    /// sha256 of the model weights that described its photos.
    pub model_sha256: String,
    /// Products in its slice.
    pub products: usize,
    /// Items in its part.
    pub items: usize,
    /// Its part file.
    pub part: FileEntry,
    /// Thumbnails it wrote (under the parts folder's `images/`).
    pub images: Vec<String>,
    /// Its slice's items that failed.
    pub failed: Vec<Failed>,
}

/// The marker of `shard` in `dir` if the shard finished with `model_sha256` and its part
/// file is whole; `None` when it has not (or must run again).
pub fn finished(dir: &Path, shard: Shard, model_sha256: &str) -> Option<Marker> {
    let marker = read_marker(dir, shard).ok()?;
    let part = read_bounded(&dir.join(shard.part_name()), MAX_INDEX_BYTES).ok()?;
    (marker.model_sha256 == model_sha256 && marker.part.verify(&part).is_ok()).then_some(marker)
}

fn read_marker(dir: &Path, shard: Shard) -> Result<Marker> {
    let path = dir.join(shard.marker_name());
    let bytes = read_bounded(&path, MAX_MANIFEST_BYTES)?;
    let marker: Marker =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        marker.format == MARKER_FORMAT
            && marker.shard == shard.index
            && marker.shards == shard.count,
        "{} is not the marker of shard {}/{}",
        path.display(),
        shard.index,
        shard.count
    );
    Ok(marker)
}

/// Writes `shard`'s part (`index`, its items' rows) and then its marker in `dir`.
pub fn write_part(
    dir: &Path,
    shard: Shard,
    index: &CatalogueIndex,
    marker: Marker,
) -> Result<Marker> {
    let bytes = index.to_bytes()?;
    let name = shard.part_name();
    write_atomic(&dir.join(&name), &bytes)?;
    let marker = Marker {
        format: MARKER_FORMAT.into(),
        shard: shard.index,
        shards: shard.count,
        items: index.len(),
        part: FileEntry::of(&name, &bytes),
        ..marker
    };
    write_atomic(
        &dir.join(shard.marker_name()),
        &serde_json::to_vec_pretty(&marker)?,
    )?;
    Ok(marker)
}

/// Shards a merge found missing: it may be retried once they finish.
#[derive(Debug, thiserror::Error)]
#[error("shards not finished yet: {0}")]
pub struct Unfinished(pub String);

/// What a merge published.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Shards merged.
    pub shards: usize,
    /// Items in the index.
    pub items: usize,
    /// Failures of all shards.
    pub failed: Vec<Failed>,
    /// Bytes of the index data.
    pub index_bytes: usize,
}

/// The number of shards the markers `prefix-*-of-N.done.json` in `dir` name (all must
/// agree).
pub(super) fn shard_count(dir: &Path, prefix: &str) -> Result<usize> {
    let mut counts = std::collections::BTreeSet::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let count = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.strip_suffix(".done.json"))
            .and_then(|n| n.split_once("-of-"))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        counts.extend(count);
    }
    match counts.len() {
        0 => Err(Unfinished(format!(
            "no shard of a build in {} has finished",
            dir.display()
        ))
        .into()),
        1 => Ok(counts.into_iter().next().unwrap_or(1)),
        _ => bail!(
            "{} holds markers of builds with different shard counts ({counts:?}); use one folder a build",
            dir.display()
        ),
    }
}

/// Merges the finished shards in `parts` (made by the model whose weights hash to
/// `model_sha256`) into the index in `out`, with their thumbnails: every marker and part is
/// checked first, and nothing in `out` changes unless all are whole. A missing shard is an
/// [`Unfinished`] error.
pub fn merge(parts: &Path, out: &Path, model_sha256: &str) -> Result<Merged> {
    let count = shard_count(parts, "part")?;
    let mut missing = Vec::new();
    let mut markers = Vec::with_capacity(count);
    for index in 0..count {
        let shard = Shard { index, count };
        if !parts.join(shard.marker_name()).exists() {
            missing.push(format!("{index}/{count}"));
            continue;
        }
        let marker = read_marker(parts, shard)?;
        ensure!(
            marker.model_sha256 == model_sha256,
            "shard {index}/{count} was described by another model ({}); run it again",
            marker.model_sha256
        );
        markers.push(marker);
    }
    if !missing.is_empty() {
        return Err(Unfinished(missing.join(", ")).into());
    }
    let mut indexes = Vec::with_capacity(count);
    for m in &markers {
        let path = parts.join(&m.part.file);
        let bytes = read_bounded(&path, MAX_INDEX_BYTES)
            .with_context(|| format!("shard {}/{count}", m.shard))?;
        m.part.verify(&bytes).with_context(|| {
            format!(
                "shard {}/{count}: its part is damaged; run it again",
                m.shard
            )
        })?;
        let index = CatalogueIndex::from_bytes(&bytes)
            .with_context(|| format!("shard {}/{count}: reading its part", m.shard))?;
        ensure!(
            index.len() == m.items,
            "shard {}/{count}: its part holds {} items, its marker {}",
            m.shard,
            index.len(),
            m.items
        );
        indexes.push(index);
    }
    let mut images: Vec<String> = markers.iter().flat_map(|m| m.images.clone()).collect();
    images.sort();
    images.dedup();
    let index = CatalogueIndex::concat(indexes)?;
    ensure!(
        !index.is_empty(),
        "the shards hold no item; nothing was published"
    );
    let mut ids = std::collections::HashSet::new();
    if let Some(dup) = index.items.iter().find(|i| !ids.insert(i.id.as_str())) {
        bail!("item {:?} is in more than one shard", dup.id);
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    crate::partitioned::carry_images(parts, out, &images)?;
    let index_bytes =
        publish_index(out, &index, model_sha256, images).context("publishing the index")?;
    Ok(Merged {
        shards: count,
        items: index.len(),
        failed: markers.into_iter().flat_map(|m| m.failed).collect(),
        index_bytes,
    })
}

/// The shard a command line names: `shard` (`--shard I/N`), or one of `shards` (`--shards
/// N`) by [`from_env`]; none for neither.
pub fn chosen(shard: Option<Shard>, shards: Option<usize>) -> Result<Option<Shard>> {
    match (shard, shards) {
        (Some(s), _) => Ok(Some(s)),
        (None, Some(n)) => from_env(n).map(Some),
        (None, None) => Ok(None),
    }
}

/// The shard this process is, from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) or
/// `SLURM_ARRAY_TASK_ID` (a Slurm array), of `count`.
pub fn from_env(count: usize) -> Result<Shard> {
    for var in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
        if let Ok(value) = std::env::var(var) {
            let index = value
                .trim()
                .parse::<usize>()
                .with_context(|| format!("{var}={value:?} is not a shard number"))?;
            return Shard::new(index, count).map_err(anyhow::Error::msg);
        }
    }
    bail!("--shards needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID set, or give --shard i/N")
}
