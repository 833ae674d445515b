//! What was read of a published partitioned index as a catalogue in memory: its records
//! (features only, for the exact ranking of a query's candidates) or its records with their
//! items (what a page ranks between reads), scored by the same code as a whole index.

use super::published::{Published, Record};
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
}
