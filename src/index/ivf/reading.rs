//! How a query's reads reach a host: the ranges of one file merged where they lie near each
//! other and read by range requests, the files of one round at once; or, where the host
//! serves no ranges and the index was published with parts (`parts`), the part files holding
//! those ranges, read whole.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::ops::Range;

use futures_util::future::join_all;

use super::parts::{Split, part_name};
use super::published::Published;
use crate::error::AssetError;

/// Reads ranges of a published index's files.
pub trait Ranges {
    /// The bytes of each of `ranges` of `file` (a name the manifest gives), in order; each
    /// answer must be exactly its range's length. A host that sends a whole file instead is
    /// [`AssetError::RangesRefused`].
    fn read(&self, file: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, AssetError>;

    /// The whole of each of `files` (name and length), in order; each answer must be exactly
    /// that long. By default, each one's range from 0.
    fn read_whole(&self, files: &[(String, u64)]) -> Result<Vec<Vec<u8>>, AssetError> {
        files
            .iter()
            .map(|(file, len)| {
                let whole = 0..*len;
                Ok(self
                    .read(file, std::slice::from_ref(&whole))?
                    .pop()
                    .unwrap_or_default())
            })
            .collect()
    }

    /// Whether ranges are worth asking for: false once the host sent a whole file for one.
    fn serves_ranges(&self) -> bool {
        true
    }

    /// Ranges of one file closer than this are read as one: [`MERGE_GAP`] by default.
    fn merge_gap(&self) -> u64 {
        MERGE_GAP
    }
}

/// Reads ranges of a published index's files asynchronously; every [`Ranges`] is one.
pub trait ReadRanges {
    /// The bytes of each of `ranges` of `file`, in order, as [`Ranges::read`].
    fn read_ranges(
        &self,
        file: &str,
        ranges: &[Range<u64>],
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, AssetError>>;

    /// The whole of each of `files`, as [`Ranges::read_whole`].
    fn read_whole_files(
        &self,
        files: &[(String, u64)],
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, AssetError>>;

    /// As [`Ranges::serves_ranges`].
    fn ranges_served(&self) -> bool;

    /// As [`Ranges::merge_gap`].
    fn gap(&self) -> u64 {
        MERGE_GAP
    }
}

impl<T: Ranges + ?Sized> ReadRanges for T {
    fn read_ranges(
        &self,
        file: &str,
        ranges: &[Range<u64>],
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, AssetError>> {
        std::future::ready(self.read(file, ranges))
    }

    fn read_whole_files(
        &self,
        files: &[(String, u64)],
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, AssetError>> {
        std::future::ready(self.read_whole(files))
    }

    fn ranges_served(&self) -> bool {
        self.serves_ranges()
    }

    fn gap(&self) -> u64 {
        self.merge_gap()
    }
}

/// One round of reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Round {
    /// Requests (ranges read).
    pub requests: usize,
    /// Bytes read.
    pub bytes: u64,
}

/// Ranges closer than this are read as one by default (bytes read twice cost less than a
/// request, over HTTP/2 too: see the README's "Large catalogues").
pub const MERGE_GAP: u64 = 4096;

/// `wanted` (sorted by start) merged where they touch or lie within `gap` of each other;
/// each merged range with the indices of the wanted ranges it covers.
fn merge(wanted: &[Range<u64>], gap: u64) -> Vec<(Range<u64>, Vec<usize>)> {
    let mut out: Vec<(Range<u64>, Vec<usize>)> = Vec::new();
    for (i, r) in wanted.iter().enumerate() {
        match out.last_mut() {
            Some((m, members)) if r.start <= m.end.saturating_add(gap) => {
                m.end = m.end.max(r.end);
                members.push(i);
            }
            _ => out.push((r.clone(), vec![i])),
        }
    }
    out
}

/// Reads `wanted` of `file` through `source`, merging near ranges; the bytes of each wanted
/// range, in the order given.
async fn read_merged(
    source: &(impl ReadRanges + ?Sized),
    file: &str,
    wanted: &[Range<u64>],
    round: &mut Round,
) -> Result<Vec<Vec<u8>>, AssetError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|i| wanted[*i].start);
    let sorted: Vec<Range<u64>> = order.iter().map(|i| wanted[*i].clone()).collect();
    let merged = merge(&sorted, source.gap());
    let ranges: Vec<Range<u64>> = merged.iter().map(|(r, _)| r.clone()).collect();
    let answers = source.read_ranges(file, &ranges).await?;
    if answers.len() != ranges.len() {
        return Err(AssetError::Read {
            file: file.into(),
            detail: format!("{} answers for {} ranges", answers.len(), ranges.len()),
        });
    }
    round.requests += ranges.len();
    let mut out = vec![Vec::new(); wanted.len()];
    for ((range, members), bytes) in merged.iter().zip(&answers) {
        round.bytes += bytes.len() as u64;
        if bytes.len() as u64 != range.end - range.start {
            return Err(AssetError::Read {
                file: file.into(),
                detail: format!(
                    "{} bytes for the range {}..{}",
                    bytes.len(),
                    range.start,
                    range.end
                ),
            });
        }
        for &m in members {
            let r = &sorted[m];
            let (a, b) = (
                (r.start - range.start) as usize,
                (r.end - range.start) as usize,
            );
            out[order[m]] = bytes[a..b].to_vec();
        }
    }
    Ok(out)
}

/// Reads `wanted` (file and range) of `published` through `source`, each file's ranges
/// merged (or its parts read, where the host serves no ranges) and the files read at once;
/// the bytes of each wanted range, in the order given.
pub(super) async fn read_files(
    published: &Published,
    source: &(impl ReadRanges + ?Sized),
    wanted: &[(&str, Range<u64>)],
    round: &mut Round,
) -> Result<Vec<Vec<u8>>, AssetError> {
    let mut by_file: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (file, _)) in wanted.iter().enumerate() {
        by_file.entry(file).or_default().push(i);
    }
    let reads = by_file.iter().map(|(file, members)| async move {
        let ranges: Vec<Range<u64>> = members.iter().map(|i| wanted[*i].1.clone()).collect();
        let mut round = Round::default();
        let bytes = read_file(source, published, file, &ranges, &mut round).await;
        (round, bytes)
    });
    let answers = join_all(reads).await;
    let mut out = vec![Vec::new(); wanted.len()];
    for ((_, members), (r, bytes)) in by_file.iter().zip(answers) {
        round.requests += r.requests;
        round.bytes += r.bytes;
        for (i, b) in members.iter().zip(bytes?) {
            out[*i] = b;
        }
    }
    Ok(out)
}

/// Reads `wanted` of `file` through `source`: by merged ranges, or by its parts where the
/// host serves no ranges and `published` has parts (their split worked out only then).
async fn read_file(
    source: &(impl ReadRanges + ?Sized),
    published: &Published,
    file: &str,
    wanted: &[Range<u64>],
    round: &mut Round,
) -> Result<Vec<Vec<u8>>, AssetError> {
    let has_parts = published.manifest.parts.is_some();
    if !has_parts || source.ranges_served() {
        match read_merged(source, file, wanted, round).await {
            Err(AssetError::RangesRefused { .. }) if has_parts => {}
            read => return read,
        }
    }
    match published.split(file) {
        Some(split) => read_parts(source, &split, file, wanted, round).await,
        None => read_merged(source, file, wanted, round).await,
    }
}

/// Reads `wanted` of `file` from the parts of `split` holding them, each part once and whole.
async fn read_parts(
    source: &(impl ReadRanges + ?Sized),
    split: &Split,
    file: &str,
    wanted: &[Range<u64>],
    round: &mut Round,
) -> Result<Vec<Vec<u8>>, AssetError> {
    let needed: BTreeSet<usize> = wanted.iter().flat_map(|r| split.touching(r)).collect();
    let needed: Vec<usize> = needed.into_iter().collect();
    let files: Vec<(String, u64)> = needed
        .iter()
        .map(|n| {
            let r = split.part(*n);
            (part_name(file, *n), r.end - r.start)
        })
        .collect();
    let answers = source.read_whole_files(&files).await?;
    if answers.len() != files.len() {
        return Err(AssetError::Read {
            file: file.into(),
            detail: format!("{} answers for {} parts", answers.len(), files.len()),
        });
    }
    round.requests += files.len();
    for ((name, len), bytes) in files.iter().zip(&answers) {
        round.bytes += bytes.len() as u64;
        if bytes.len() as u64 != *len {
            return Err(AssetError::Read {
                file: name.clone(),
                detail: format!("{} bytes where the part has {len}", bytes.len()),
            });
        }
    }
    let parts: BTreeMap<usize, &Vec<u8>> = needed.iter().copied().zip(&answers).collect();
    Ok(wanted
        .iter()
        .map(|r| {
            let mut out = Vec::with_capacity((r.end - r.start) as usize);
            for n in split.touching(r) {
                let (p, bytes) = (split.part(n), parts[&n]);
                let a = (r.start.max(p.start) - p.start) as usize;
                let b = (r.end.min(p.end) - p.start) as usize;
                out.extend_from_slice(&bytes[a..b]);
            }
            out
        })
        .collect())
}
