//! Updating a published partitioned index instead of rebuilding it. The new catalogue is
//! compared with what the index holds, item by item (by id, and by a fingerprint of the
//! features, metadata and stock flag a record stores). Items added or changed go into one new
//! delta segment, each in its nearest cell, coded with the same partition and codebooks.
//! Items removed or replaced go into the top file's removed set. A cell whose changes pass a
//! share of its base items is rewritten whole into the new segment, and no longer read in the
//! older ones. Deltas past a count are merged into the new one. When the deltas would hold too
//! much of the catalogue, or the new items lie farther from their cells than the base's did
//! (drift), the update asks for a full re-partition instead.
//!
//! An update publishes a new top file and the new segment's three files; every other file
//! stays as it was, so a small change republishes a small share of the bytes.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use super::manifest::{Facets, Segment};
use super::partition::{Cell, Coder};
use super::published::Published;
use super::reading::Ranges;
use super::write::{
    CHECK, Directory, Publication, Top, check, content, features, fingerprint, list_thumbnails,
    metadata, segment,
};
use crate::error::AssetError;
use crate::index::CatalogueIndex;

/// When an update rewrites cells, merges deltas, or gives way to a full re-partition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdatePolicy {
    /// A cell is rewritten whole once its changes (items in later deltas, items removed)
    /// pass this share of the items it held when it was published or last rewritten.
    pub rewrite_share: f32,
    /// Most delta segments; one more update merges them all into its own.
    pub max_deltas: usize,
    /// A full re-partition once the deltas would hold more than this share of the items.
    pub max_delta_share: f32,
    /// A full re-partition once the new items' mean squared distance to their centroids is
    /// more than this many times the base's.
    pub max_drift: f32,
    /// Fewest new items that measure drift.
    pub drift_items: usize,
}

impl UpdatePolicy {
    /// What `deep-shopping partition` uses.
    pub const DEFAULT: UpdatePolicy = UpdatePolicy {
        rewrite_share: 0.25,
        max_deltas: 4,
        max_delta_share: 0.2,
        max_drift: 1.5,
        drift_items: 100,
    };
}

/// What an update found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Items new to the index.
    pub added: usize,
    /// Items whose features, metadata or stock changed.
    pub changed: usize,
    /// Items no longer in the catalogue.
    pub removed: usize,
    /// Cells rewritten whole.
    pub rewritten: Vec<usize>,
    /// Whether the older deltas were merged into the new one.
    pub merged: bool,
    /// The new items' mean squared distance to their centroids over the base's.
    pub drift: Option<f32>,
}

/// The outcome of an update.
#[derive(Debug, Clone)]
pub enum Update {
    /// The catalogue holds what the index holds.
    Unchanged,
    /// A delta to publish.
    Delta {
        /// The new files (top file, and the new segment's if any) and the manifest.
        publication: Box<Publication>,
        /// What changed.
        changes: Changes,
    },
    /// Partition the catalogue again, for the reason given.
    Repartition(String),
}

/// An item a published index holds: where, which, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its position.
    pub position: u32,
    /// Its id.
    pub id: String,
    fingerprint: [u8; CHECK],
}

/// Records [`held`] reads at once: a run of live cells up to this many (a larger cell is read
/// alone), so memory stays bounded however large the index.
const HELD_CHUNK: u32 = 16_384;

/// Every item `published` still holds, read from `source` a run of cells at a time (their
/// records, then the metadata those records point at); each record and item is checked
/// against its own checksum.
pub fn held(published: &Published, source: &(dyn Ranges + '_)) -> Result<Vec<Held>, AssetError> {
    let mut out = Vec::with_capacity(published.live_items());
    for s in 0..published.segments() {
        let mut run: Option<Range<u32>> = None;
        for c in 0..published.manifest.cells {
            let positions = published.cell_positions(s, c);
            let live = published.is_live(s, c);
            // A run ends at a cell no longer read, or once it is long enough.
            if let Some(r) =
                run.take_if(|r| !live || r.len() as u32 + positions.len() as u32 > HELD_CHUNK)
            {
                held_run(published, source, r, &mut out)?;
            }
            if live && !positions.is_empty() {
                run = Some(run.map_or(positions.clone(), |r| r.start..positions.end));
            }
        }
        if let Some(r) = run {
            held_run(published, source, r, &mut out)?;
        }
    }
    Ok(out)
}

/// The held items of the adjacent `positions` (of one segment) into `out`.
fn held_run(
    published: &Published,
    source: &(dyn Ranges + '_),
    positions: Range<u32>,
    out: &mut Vec<Held>,
) -> Result<(), AssetError> {
    let cut = |file: &str| content(format!("{file} is cut short"));
    let (Some((records_file, first)), Some((_, last))) = (
        published.record_range(positions.start),
        published.record_range(positions.end - 1),
    ) else {
        return Err(content(format!("no records for positions {positions:?}")));
    };
    let records = source
        .read(records_file, std::slice::from_ref(&(first.start..last.end)))?
        .pop()
        .ok_or_else(|| cut(records_file))?;
    let len = published.manifest.record_len();
    let mut kept = Vec::new();
    for (i, position) in positions.enumerate() {
        if published.is_removed(position) {
            continue;
        }
        let bytes = records
            .get(i * len..(i + 1) * len)
            .ok_or_else(|| cut(records_file))?;
        kept.push(published.record(position, bytes)?);
    }
    let Some(a) = kept.first() else {
        return Ok(());
    };
    // Metadata lies in list order, so this is one span of the items file.
    let start = kept.iter().map(|r| r.item.start).min().unwrap_or(0);
    let end = kept.iter().map(|r| r.item.end).max().unwrap_or(0);
    let (items_file, span) = (published.item_file(a).to_owned(), start..end);
    let items = source
        .read(&items_file, std::slice::from_ref(&span))?
        .pop()
        .ok_or_else(|| cut(&items_file))?;
    for record in kept {
        let json = record
            .item
            .start
            .checked_sub(span.start)
            .and_then(|from| items.get(from as usize..(record.item.end - span.start) as usize))
            .ok_or_else(|| cut(&items_file))?;
        let item = published.item(&record, json)?;
        out.push(Held {
            position: record.position,
            id: item.id,
            fingerprint: record.fingerprint(),
        });
    }
    Ok(())
}

/// The fingerprint of `index`'s `row` as [`Held`] has it.
fn fingerprint_of(index: &CatalogueIndex, row: usize) -> Result<[u8; CHECK], AssetError> {
    let json = metadata(index, row)?;
    Ok(fingerprint(
        &features(index, row),
        &check(&[&json]),
        index.items[row].orderable(),
    ))
}

/// An update of `previous` (which holds `held`) to the catalogue `index`, with the
/// thumbnails `images`, by `policy`.
pub fn update(
    previous: &Published,
    held: &[Held],
    index: &CatalogueIndex,
    images: Vec<String>,
    policy: &UpdatePolicy,
) -> Result<Update, AssetError> {
    let m = &previous.manifest;
    if index.dim() != m.dim || index.classes() != m.classes {
        return Err(content(format!(
            "the catalogue has {} values and {} classes; the index {} and {}",
            index.dim(),
            index.classes(),
            m.dim,
            m.classes
        )));
    }
    let mut rows: HashMap<&str, usize> = HashMap::with_capacity(index.len());
    for (row, item) in index.items.iter().enumerate() {
        if rows.insert(item.id.as_str(), row).is_some() {
            return Err(content(format!("the catalogue has item {} twice", item.id)));
        }
    }
    // Which held items stay where they are.
    let mut kept: Vec<(u32, u32)> = Vec::new();
    let mut kept_rows = vec![false; index.len()];
    let mut gone: BTreeSet<u32> = previous.removed().iter().copied().collect();
    let mut changes = Changes::default();
    for h in held {
        match rows.get(h.id.as_str()) {
            Some(&row) if fingerprint_of(index, row)? == h.fingerprint => {
                kept.push((h.position, row as u32));
                kept_rows[row] = true;
            }
            Some(_) => {
                changes.changed += 1;
                gone.insert(h.position);
            }
            None => {
                changes.removed += 1;
                gone.insert(h.position);
            }
        }
    }
    let added: Vec<u32> = (0..index.len() as u32)
        .filter(|r| !kept_rows[*r as usize])
        .collect();
    changes.added = added.len() - changes.changed;
    if added.is_empty() && changes.removed == 0 {
        return Ok(Update::Unchanged);
    }

    let centroids = previous.centroids.decoded();
    let coder = Coder {
        centroids: &centroids,
        groups: None,
        dim: m.dim,
        classes: m.classes,
        space: previous.space,
        quantiser: &previous.quantiser,
    };
    let cells = m.cells;
    let placed: Vec<(usize, f32)> = added
        .iter()
        .map(|r| coder.nearest(index, *r as usize))
        .collect();
    if let Some(base) = previous.spread().filter(|s| *s > 0.0)
        && added.len() >= policy.drift_items
    {
        let mean = placed.iter().map(|(_, d)| *d as f64).sum::<f64>() / added.len() as f64;
        let drift = mean as f32 / base;
        changes.drift = Some(drift);
        if drift > policy.max_drift {
            return Ok(Update::Repartition(format!(
                "the new items lie {drift:.2} times as far from their cells as the base's (more than {})",
                policy.max_drift
            )));
        }
    }

    // Where each kept item is, and what changed in each cell since the base.
    let located: Vec<(usize, usize)> = kept
        .iter()
        .map(|(p, _)| {
            previous
                .locate(*p)
                .ok_or_else(|| content(format!("it holds no item {p}")))
        })
        .collect::<Result<_, _>>()?;
    // A cell's home is the first segment still read for it: the base, or the delta that
    // last rewrote it. Its changes are what later segments add to it and what was removed.
    let home: Vec<usize> = (0..cells)
        .map(|c| {
            (0..previous.segments())
                .find(|s| previous.is_live(*s, c))
                .unwrap_or(0)
        })
        .collect();
    let mut changed_in = vec![0usize; cells];
    for (s, c) in &located {
        if *s > home[*c] {
            changed_in[*c] += 1;
        }
    }
    for (c, _) in &placed {
        changed_in[*c] += 1;
    }
    for p in &gone {
        if let Some((_, c)) = previous.locate(*p) {
            changed_in[c] += 1;
        }
    }
    let rewrite: Vec<bool> = (0..cells)
        .map(|c| {
            let held = previous.cell_positions(home[c], c).len().max(1);
            changed_in[c] > 0 && changed_in[c] as f32 > policy.rewrite_share * held as f32
        })
        .collect();
    changes.rewritten = (0..cells).filter(|c| rewrite[*c]).collect();
    changes.merged = m.deltas.len() >= policy.max_deltas.max(1);
    let survivors = if changes.merged {
        1
    } else {
        previous.segments()
    };

    // The new segment: added items, kept ones of rewritten cells and of merged deltas.
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); cells];
    for ((_, row), (s, c)) in kept.iter().zip(&located) {
        if rewrite[*c] || *s >= survivors {
            members[*c].push(*row);
        }
    }
    for (row, (c, _)) in added.iter().zip(&placed) {
        members[*c].push(*row);
    }
    let new_cells: Vec<Cell> = members
        .into_iter()
        .enumerate()
        .map(|(c, rows)| coder.cell(index, c, rows))
        .collect();
    let in_deltas: usize = kept
        .iter()
        .zip(&located)
        .filter(|(_, (s, c))| *s > 0 && *s < survivors && !rewrite[*c])
        .count()
        + new_cells.iter().map(|c| c.rows.len()).sum::<usize>();
    let share = in_deltas as f32 / index.len().max(1) as f32;
    if share > policy.max_delta_share {
        return Ok(Update::Repartition(format!(
            "the deltas would hold {:.0}% of the items (more than {:.0}%)",
            share * 100.0,
            policy.max_delta_share * 100.0
        )));
    }

    // The segments that stay, with the rewritten cells no longer read in them.
    let mut deltas: Vec<Segment> = m.deltas[..survivors - 1].to_vec();
    let mut directories: Vec<Directory> = (0..survivors)
        .filter_map(|s| previous.directory(s, |c| !rewrite[c]))
        .collect();
    let first = previous.cell_positions(survivors - 1, cells - 1).end;
    let removed: Vec<u32> = gone
        .into_iter()
        .filter(|p| p < &first)
        .filter(|p| previous.locate(*p).is_some_and(|(_, c)| !rewrite[c]))
        .collect();
    let mut files = Vec::new();
    if new_cells.iter().any(|c| !c.rows.is_empty()) {
        let written = segment(index, &new_cells, first)?;
        deltas.push(written.segment);
        directories.push(written.directory);
        files = written.files;
    }
    let (top, top_file) = Top {
        dim: m.dim,
        classes: m.classes,
        space: previous.space,
        centroids: &centroids,
        quantiser: &previous.quantiser,
        centre: index.centre(),
        spread: previous.spread().unwrap_or(0.0),
        directories: &directories,
        removed: &removed,
    }
    .write()?;
    files.insert(0, top_file);
    let mut manifest = m.clone();
    manifest.top = top;
    manifest.deltas = deltas;
    manifest.removed = removed.len();
    manifest.images = Vec::new();
    manifest.thumbnails = list_thumbnails(&images, &mut files)?;
    manifest.facets = Facets::of(&index.items);
    Ok(Update::Delta {
        publication: Box::new(Publication { manifest, files }),
        changes,
    })
}
