//! A partition built in steps on a cluster (issue 23), in a work folder the steps share:
//! `train` fits the cells and codebooks on a sample of the merged index once
//! (`trained.safetensors`, then its marker `trained.json`); shard `i` of `n` places the
//! `i`-th slice of the index's rows (`place-0000I-of-0000N.safetensors`, then its
//! done-marker), and a retried shard that finished does nothing; `gather` checks every marker
//! and file and regroups the rows by cell: the same partition, byte for byte, as one process
//! builds, for any number of shards.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use super::shards::{Shard, Unfinished, shard_count};
use crate::assets::FileEntry;
use crate::files::{MAX_MANIFEST_BYTES, read_bounded, write_atomic};
use crate::index::CatalogueIndex;
use crate::index::ivf::{Fitted, Layout, Partitioned, Placed};

/// The trained partition's file in the work folder.
const TRAINED_FILE: &str = "trained.safetensors";
/// Its marker, written after it.
const TRAINED_MARKER: &str = "trained.json";
/// Prefix of the shards' files.
const PLACE: &str = "place";
/// Format tag of the markers.
const MARKER_FORMAT: &str = "deep-shopping-partition-step/1";
/// Largest trained partition read (32,768 cells of a few hundred f32 values are 42 MB).
const MAX_TRAINED_BYTES: usize = 256 << 20;

/// What a finished step wrote: the index it worked on, the trained partition it used (for a
/// shard) and its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMarker {
    /// [`MARKER_FORMAT`].
    pub format: String,
    /// sha256 of the index data it worked on.
    pub index_sha256: String,
    /// sha256 of the trained partition's file (its own for the train step).
    pub trained_sha256: String,
    /// The layout it was trained with (its debug form).
    pub layout: String,
    /// Its shard (0 for the train step).
    pub shard: usize,
    /// Number of shards (1 for the train step).
    pub shards: usize,
    /// Rows it placed (all of the index's for the train step).
    pub rows: usize,
    /// Its file.
    pub file: FileEntry,
}

fn read_marker(path: &Path) -> Result<StepMarker> {
    let bytes = read_bounded(path, MAX_MANIFEST_BYTES)?;
    let marker: StepMarker =
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        marker.format == MARKER_FORMAT,
        "{} is not a partition step's marker",
        path.display()
    );
    Ok(marker)
}

/// Writes `bytes` as `file` in `work`, then `marker` (given its file entry) as `marker_name`.
fn finish(
    work: &Path,
    file: &str,
    bytes: &[u8],
    marker_name: &str,
    marker: StepMarker,
) -> Result<StepMarker> {
    write_atomic(&work.join(file), bytes)?;
    let marker = StepMarker {
        file: FileEntry::of(file, bytes),
        ..marker
    };
    write_atomic(
        &work.join(marker_name),
        &serde_json::to_vec_pretty(&marker)?,
    )?;
    Ok(marker)
}

/// The layout as a marker records it: what decides the training.
fn describe(layout: &Layout) -> String {
    format!("{layout:?}")
}

/// Trains the partition of `index` (whose data hashes to `index_sha256`) with `layout` into
/// `work`, unless a finished training of the same index and layout is there. Returns its
/// marker and whether it trained.
pub fn train(
    work: &Path,
    index: &CatalogueIndex,
    index_sha256: &str,
    layout: &Layout,
) -> Result<(StepMarker, bool)> {
    if let Ok((marker, _)) = trained(work, index_sha256)
        && marker.layout == describe(layout)
    {
        return Ok((marker, false));
    }
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let bytes = Fitted::train(index, layout).to_bytes()?;
    let marker = StepMarker {
        format: MARKER_FORMAT.into(),
        index_sha256: index_sha256.into(),
        trained_sha256: crate::assets::sha256_hex(&bytes),
        layout: describe(layout),
        shard: 0,
        shards: 1,
        rows: index.len(),
        file: FileEntry::of(TRAINED_FILE, &[]),
    };
    Ok((
        finish(work, TRAINED_FILE, &bytes, TRAINED_MARKER, marker)?,
        true,
    ))
}

/// The trained partition in `work` for the index hashing to `index_sha256`, checked; an
/// [`Unfinished`] error while it has not been trained.
pub fn trained(work: &Path, index_sha256: &str) -> Result<(StepMarker, Fitted)> {
    let path = work.join(TRAINED_MARKER);
    if !path.exists() {
        return Err(Unfinished(format!(
            "the partition in {} is not trained",
            work.display()
        ))
        .into());
    }
    let marker = read_marker(&path)?;
    ensure!(
        marker.index_sha256 == index_sha256,
        "the partition in {} was trained on another index; train it again",
        work.display()
    );
    let bytes = read_bounded(&work.join(TRAINED_FILE), MAX_TRAINED_BYTES)?;
    marker
        .file
        .verify(&bytes)
        .context("the trained partition is damaged; train it again")?;
    let fitted = Fitted::from_bytes(&bytes).context("reading the trained partition")?;
    Ok((marker, fitted))
}

/// Largest file of placed rows for `rows` rows of `code_len` bytes.
fn place_limit(rows: usize, code_len: usize) -> usize {
    rows.saturating_mul(8 + code_len).saturating_add(1 << 16)
}

/// `shard`'s marker and file in `work` (`rows` rows of `code_len`-byte codes) if it finished
/// with the training `trained`; otherwise an error naming the shard and what is wrong.
fn finished_shard(
    work: &Path,
    shard: Shard,
    trained: &StepMarker,
    rows: usize,
    code_len: usize,
) -> Result<(StepMarker, Vec<u8>)> {
    let (i, count) = (shard.index, shard.count);
    let marker = read_marker(&work.join(shard.file(PLACE, "done.json")))?;
    ensure!(
        marker.trained_sha256 == trained.trained_sha256
            && marker.index_sha256 == trained.index_sha256,
        "shard {i}/{count} placed its rows with another training; run it again"
    );
    ensure!(
        marker.rows == rows && marker.shard == i && marker.shards == count,
        "shard {i}/{count}: its marker is of another slice; run it again"
    );
    let name = shard.file(PLACE, "safetensors");
    ensure!(
        marker.file.file == name,
        "shard {i}/{count}: its marker names another file than {name}; run it again"
    );
    let bytes = read_bounded(&work.join(&name), place_limit(rows, code_len))
        .with_context(|| format!("shard {i}/{count}"))?;
    marker
        .file
        .verify(&bytes)
        .with_context(|| format!("shard {i}/{count}: its file is damaged; run it again"))?;
    Ok((marker, bytes))
}

/// Places `shard`'s slice of `index` (hashing to `index_sha256`) into `work` with the
/// partition trained there, unless it finished before. Returns its marker and whether it
/// placed.
pub fn place(
    work: &Path,
    shard: Shard,
    index: &CatalogueIndex,
    index_sha256: &str,
) -> Result<(StepMarker, bool)> {
    let (trained, fitted) = trained(work, index_sha256)?;
    let rows = shard.slice(index.len());
    let count = rows.len();
    if let Ok((marker, _)) = finished_shard(work, shard, &trained, count, fitted.code_len()) {
        return Ok((marker, false));
    }
    let slice = fitted.place(index, rows.start as u32..rows.end as u32)?;
    let bytes = slice.to_bytes()?;
    let marker = StepMarker {
        shard: shard.index,
        shards: shard.count,
        rows: count,
        ..trained
    };
    let marker = finish(
        work,
        &shard.file(PLACE, "safetensors"),
        &bytes,
        &shard.file(PLACE, "done.json"),
        marker,
    )?;
    Ok((marker, true))
}

/// The partition of `index` (hashing to `index_sha256`) from the trained partition and every
/// shard's placed rows in `work`, each checked first: an [`Unfinished`] error while a shard
/// has not finished, an error naming the shard whose file is damaged or of another training.
pub fn gather(work: &Path, index: &CatalogueIndex, index_sha256: &str) -> Result<Partitioned> {
    let (trained, fitted) = trained(work, index_sha256)?;
    let count = shard_count(work, PLACE)?;
    let mut placed = Vec::with_capacity(count);
    let mut missing = Vec::new();
    for i in 0..count {
        let shard = Shard { index: i, count };
        let marker_path = work.join(shard.file(PLACE, "done.json"));
        if !marker_path.exists() {
            missing.push(format!("{i}/{count}"));
            continue;
        }
        let rows = shard.slice(index.len());
        let (_, bytes) = finished_shard(work, shard, &trained, rows.len(), fitted.code_len())?;
        let part = Placed::from_bytes(&bytes)
            .with_context(|| format!("shard {i}/{count}: reading its file"))?;
        ensure!(
            part.first as usize == rows.start && part.len() == rows.len(),
            "shard {i}/{count}: its file places other rows than its slice; run it again"
        );
        placed.push(part);
    }
    if !missing.is_empty() {
        return Err(Unfinished(missing.join(", ")).into());
    }
    fitted
        .gather(index, placed)
        .context("gathering the shards' rows")
}
