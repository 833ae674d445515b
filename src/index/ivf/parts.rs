//! Part files, for hosts that answer no range requests: with `parts` in the manifest, each
//! segment file is also published split into small files under a folder named as the file
//! is (`lists-<hash>/<n>.bin`): the codes one file per cell, the records in runs of a few,
//! the metadata in slices of a few kilobytes. A query on such a host reads whole the parts
//! holding the ranges it would have read; what it reads is checked as ranges are (each
//! cell's hash, each record's and each item's checksum).

use std::ops::Range;

use super::manifest::Parts;
use super::published::Published;

/// Where the parts of one file lie in it: part `n` is `bounds[n]..bounds[n + 1]` (cells,
/// which may be empty: no file is published for an empty part), or every `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// Listed bounds, first 0, last the file's length.
    Listed(Vec<u64>),
    /// Parts of `size` bytes (the last one shorter) of a file of `len` bytes.
    Every {
        /// Bytes a part.
        size: u64,
        /// The file's length.
        len: u64,
    },
}

impl Split {
    /// Number of parts.
    pub fn count(&self) -> usize {
        match self {
            Self::Listed(bounds) => bounds.len().saturating_sub(1),
            Self::Every { size, len } => len.div_ceil(*size) as usize,
        }
    }

    /// Where part `n` lies in the file.
    pub fn part(&self, n: usize) -> Range<u64> {
        match self {
            Self::Listed(bounds) => match (bounds.get(n), bounds.get(n + 1)) {
                (Some(a), Some(b)) => *a..*b,
                _ => 0..0,
            },
            Self::Every { size, len } => {
                let start = (n as u64).saturating_mul(*size).min(*len);
                start..start.saturating_add(*size).min(*len)
            }
        }
    }

    /// The parts holding any byte of `range`, none empty.
    pub fn touching(&self, range: &Range<u64>) -> Vec<usize> {
        if range.start >= range.end {
            return Vec::new();
        }
        let (first, end) = match self {
            // The last part starting at or before the range's start, to the first starting
            // at or after its end.
            Self::Listed(bounds) => (
                bounds
                    .partition_point(|b| *b <= range.start)
                    .saturating_sub(1),
                bounds.partition_point(|b| *b < range.end),
            ),
            Self::Every { size, .. } => (
                (range.start / size) as usize,
                range.end.div_ceil(*size) as usize,
            ),
        };
        (first..end.min(self.count()))
            .filter(|n| !self.part(*n).is_empty())
            .collect()
    }
}

/// The name of part `n` of `file` (a segment file the manifest names): under a folder named
/// as the file without its extension.
pub fn part_name(file: &str, n: usize) -> String {
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    format!("{stem}/{n}.bin")
}

/// The folder holding `file`'s parts.
pub fn parts_folder(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(stem, _)| stem)
}

impl Published {
    /// How `file` (one of its segments' files) is split into parts; `None` for an index
    /// published without parts or a file it does not name.
    pub fn split(&self, file: &str) -> Option<Split> {
        let parts = self.manifest.parts.filter(Parts::is_valid)?;
        let m = &self.manifest;
        let (s, files) = m.segments().into_iter().enumerate().find(|(_, seg)| {
            [&seg.lists, &seg.records, &seg.items]
                .iter()
                .any(|f| f.file == file)
        })?;
        if files.lists.file == file {
            let starts = self.local_starts(s)?;
            let len = m.code_len as u64;
            Some(Split::Listed(
                starts.iter().map(|p| *p as u64 * len).collect(),
            ))
        } else if files.records.file == file {
            Some(Split::Every {
                size: parts.records as u64 * m.record_len() as u64,
                len: files.records.bytes,
            })
        } else {
            Some(Split::Every {
                size: parts.item_bytes as u64,
                len: files.items.bytes,
            })
        }
    }
}
