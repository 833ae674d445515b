//! What was read of a published partitioned index: a record or an item parsed and checked,
//! and what was read as a catalogue in memory: its records
//! (features only, for the exact ranking of a query's candidates) or its records with their
//! items (what a page ranks between reads), scored by the same code as a whole index.

use super::published::{Published, Record, hex};
use super::write::{CHECK, WHAT, check};
use crate::colour::HIST_LEN;
use crate::error::AssetError;
use crate::index::CatalogueIndex;
use crate::index::item::Item;

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
        Ok(CatalogueIndex::from_rows(rows)?.with_given_centre(self.centre().to_vec()))
    }

    /// Parses and checks the record at `position` (`bytes`, read from [`Self::record_range`]).
    pub fn record(&self, position: u32, bytes: &[u8]) -> Result<Record, AssetError> {
        let (dim, classes) = (self.manifest.dim, self.manifest.classes);
        let seg = self.segment_of(position).map(|(_, seg)| seg);
        let bad = || AssetError::Checksum {
            file: format!(
                "{} (record {position})",
                seg.map_or("", |s| s.files.records.file.as_str())
            ),
            expected: "its own checksum".into(),
            actual: "other bytes".into(),
        };
        let Some(seg) = seg else {
            return Err(bad());
        };
        if bytes.len() != self.manifest.record_len() {
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
            || len > super::manifest::MAX_ITEM_BYTES
            || end > seg.files.items.bytes
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

    /// Parses and checks `record`'s metadata (`bytes`, read from its `item` range of
    /// [`Self::item_file`]).
    pub fn item(&self, record: &Record, bytes: &[u8]) -> Result<Item, AssetError> {
        if check(&[bytes]) != record.item_check {
            return Err(AssetError::Checksum {
                file: format!("{} (item {})", self.item_file(record), record.position),
                expected: hex(&record.item_check),
                actual: hex(&check(&[bytes])),
            });
        }
        serde_json::from_slice(bytes).map_err(|e| AssetError::json(WHAT, e))
    }
}
