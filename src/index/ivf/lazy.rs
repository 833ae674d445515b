//! A query on a published partitioned index that reads only what it needs, in three rounds
//! after the top file: the probed cells' codes (one range each in each segment holding them),
//! the best candidates' records (ranges of adjacent ones merged), and the metadata of the
//! items shown. The files of one round are read at once. Reading is the
//! caller's: [`Ranges`] where it blocks (files in a folder, an HTTP client), [`ReadRanges`]
//! where it is asynchronous (the browser's `fetch`). Cells read once can be kept in a
//! bounded [`CellCache`].

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::ops::Range;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::partition::{Probe, best};
use super::published::{Published, Record};
use super::read::records_index;
use super::reading::{Ranges, ReadRanges, Round, read_files};
use crate::error::AssetError;
use crate::index::description::Query;
use crate::index::item::Item;
use crate::index::rank::{Blend, Hit, Variants, rank};

/// The probed cells' codes kept between queries, the least recently used dropped first
/// once they hold more than their budget. It belongs to one published index (one
/// generation): cells are known by segment and number.
#[derive(Debug)]
pub struct CellCache {
    budget: usize,
    state: RefCell<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Each cell's codes and when it was last used.
    cells: HashMap<(usize, usize), (Vec<u8>, u64)>,
    clock: u64,
    bytes: usize,
}

impl CellCache {
    /// An empty cache holding at most `budget` bytes of codes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: RefCell::new(CacheState::default()),
        }
    }

    /// Bytes of codes held.
    pub fn bytes(&self) -> usize {
        self.state.borrow().bytes
    }

    /// Cell `c`'s codes (of segment `c.0`), if held.
    fn get(&self, c: (usize, usize)) -> Option<Vec<u8>> {
        let mut s = self.state.borrow_mut();
        s.clock += 1;
        let now = s.clock;
        s.cells.get_mut(&c).map(|(codes, used)| {
            *used = now;
            codes.clone()
        })
    }

    /// Keeps cell `c`'s `codes`, dropping the least recently used cells over the budget.
    fn put(&self, c: (usize, usize), codes: &[u8]) {
        if codes.len() > self.budget {
            return;
        }
        let mut s = self.state.borrow_mut();
        s.clock += 1;
        let now = s.clock;
        if let Some((old, _)) = s.cells.insert(c, (codes.to_vec(), now)) {
            s.bytes -= old.len();
        }
        s.bytes += codes.len();
        while s.bytes > self.budget {
            let Some(oldest) = s.cells.iter().min_by_key(|(_, (_, t))| *t).map(|(c, _)| *c) else {
                break;
            };
            if let Some((codes, _)) = s.cells.remove(&oldest) {
                s.bytes -= codes.len();
            }
        }
    }
}

/// What one query read, round by round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The probed cells' codes (those not in the cache).
    pub cells: Round,
    /// Probed cells found in the cache (a cell counted once for each segment holding it).
    pub cached_cells: usize,
    /// The cells probed, nearest first.
    pub probed: Vec<usize>,
    /// The candidates' records.
    pub records: Round,
    /// The shown items' metadata (one round, or more when filters leave too few).
    pub items: Vec<Round>,
    /// Candidates ranked exactly.
    pub candidates: usize,
}

impl Trace {
    /// Rounds of reads one after another.
    pub fn rounds(&self) -> usize {
        usize::from(self.cells.requests > 0)
            + usize::from(self.records.requests > 0)
            + self.items.len()
    }

    /// Requests in all.
    pub fn requests(&self) -> usize {
        self.cells.requests
            + self.records.requests
            + self.items.iter().map(|r| r.requests).sum::<usize>()
    }

    /// Bytes in all.
    pub fn bytes(&self) -> u64 {
        self.cells.bytes + self.records.bytes + self.items.iter().map(|r| r.bytes).sum::<u64>()
    }
}

/// One result: the score (its `index` the item's position in list order), the item and its
/// record.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The exact blended score.
    pub hit: Hit,
    /// The item.
    pub item: Item,
    /// Its features, as the index stores them.
    pub record: Record,
}

/// What a query asks of a partitioned index besides its photo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The blended score's weights.
    pub blend: Blend,
    /// The cells probed and the candidates ranked exactly.
    pub probe: Probe,
    /// Results wanted.
    pub top: usize,
    /// Which variants of one product are shown.
    pub variants: Variants,
    /// Leave out items that cannot be ordered (out of stock), before their metadata is read.
    pub orderable_only: bool,
}

impl Request {
    /// The best `top` items by the default blend and probe, every variant, whatever their
    /// stock.
    pub fn top(top: usize) -> Self {
        Self {
            blend: Blend::DEFAULT,
            probe: Probe::DEFAULT,
            top,
            variants: Variants::All,
            orderable_only: false,
        }
    }
}

/// The best `request.top` items for `query` by the blended score among those `keep`
/// accepts, with `request.variants` of one product: `probe.cells` cells probed,
/// `probe.candidates` of their items ranked exactly, metadata read for the items shown (and
/// for more when `keep` or `variants` leave some out); with `orderable_only`, candidates
/// that cannot be ordered are left out before their metadata is read (their records say so).
/// Reads block: see [`search_async`].
pub fn search(
    published: &Published,
    source: &(dyn Ranges + '_),
    query: Query<'_>,
    request: Request,
    keep: impl Fn(&Item) -> bool,
) -> Result<(Vec<Found>, Trace), AssetError> {
    let future = search_async(published, source, None, query, request, keep);
    // A blocking reader's futures are ready when first polled.
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// [`search`] through an asynchronous reader, the probed cells taken from `cache` where it
/// holds them and kept there once read.
pub async fn search_async(
    published: &Published,
    source: &(impl ReadRanges + ?Sized),
    cache: Option<&CellCache>,
    query: Query<'_>,
    request: Request,
    keep: impl Fn(&Item) -> bool,
) -> Result<(Vec<Found>, Trace), AssetError> {
    let Request {
        blend: weights,
        probe,
        top,
        variants,
        orderable_only,
    } = request;
    let mut trace = Trace::default();
    let manifest = &published.manifest;
    let Some(plan) = published.plan(query, weights, probe.cells) else {
        return Ok((Vec::new(), trace));
    };
    if top == 0 {
        return Ok((Vec::new(), trace));
    }
    // Round 1: the cells' codes in every segment, those the cache lacks.
    let wanted: Vec<(usize, usize)> = plan
        .cells
        .iter()
        .flat_map(|c| (0..published.segments()).map(move |s| (s, *c)))
        .filter(|(s, c)| !published.cell_range(*s, *c).is_empty())
        .collect();
    let mut lists: Vec<Option<Vec<u8>>> = wanted
        .iter()
        .map(|c| cache.and_then(|k| k.get(*c)))
        .collect();
    trace.cached_cells = lists.iter().filter(|l| l.is_some()).count();
    trace.probed = plan.cells.clone();
    let missing: Vec<usize> = (0..lists.len()).filter(|i| lists[*i].is_none()).collect();
    let ranges: Vec<(&str, Range<u64>)> = missing
        .iter()
        .map(|i| {
            let (s, c) = wanted[*i];
            (published.lists_file(s), published.cell_range(s, c))
        })
        .collect();
    let read = read_files(published, source, &ranges, &mut trace.cells).await?;
    for (i, codes) in missing.into_iter().zip(read) {
        lists[i] = Some(codes);
    }
    let mut scored = Vec::new();
    for ((s, c), codes) in wanted.iter().zip(&lists) {
        let codes = codes.as_deref().unwrap_or_default();
        published.score_cell(&plan, *s, *c, codes, &mut scored)?;
        if let Some(k) = cache {
            k.put((*s, *c), codes);
        }
    }
    let mut candidates: Vec<u32> = best(scored, probe.candidates.max(top))
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    candidates.sort_unstable();
    trace.candidates = candidates.len();

    // Round 2: their records, ranked exactly.
    let ranges = candidates
        .iter()
        .map(|p| {
            published
                .record_range(*p)
                .ok_or_else(|| AssetError::Content {
                    what: "partitioned index",
                    detail: format!("it holds no item {p}"),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = read_files(published, source, &ranges, &mut trace.records).await?;
    let records: Vec<Record> = candidates
        .iter()
        .zip(&bytes)
        .map(|(p, b)| published.record(*p, b))
        .collect::<Result<Vec<Record>, _>>()?
        .into_iter()
        .filter(|r| r.orderable || !orderable_only)
        .collect();
    let index = records_index(&records, manifest.dim, manifest.classes)?;
    let ranked = rank(&index, query, weights, records.len());

    // Round 3 (and more only when items are left out): the metadata, best first.
    let mut found: Vec<Found> = Vec::with_capacity(top);
    let mut groups = HashSet::new();
    let mut next = 0;
    while found.len() < top && next < ranked.len() {
        let want = ((top - found.len()) * 2).max(top).min(ranked.len() - next);
        let batch = &ranked[next..next + want];
        next += want;
        let ranges: Vec<(&str, Range<u64>)> = batch
            .iter()
            .map(|h| {
                let r = &records[h.index];
                (published.item_file(r), r.item.clone())
            })
            .collect();
        let mut round = Round::default();
        let bytes = read_files(published, source, &ranges, &mut round).await?;
        trace.items.push(round);
        for (h, b) in batch.iter().zip(&bytes) {
            let record = &records[h.index];
            let item = published.item(record, b)?;
            let shown = keep(&item)
                && (variants == Variants::All
                    || item.group.as_ref().is_none_or(|g| groups.insert(g.clone())));
            if shown && found.len() < top {
                found.push(Found {
                    hit: Hit {
                        index: record.position as usize,
                        ..*h
                    },
                    item,
                    record: record.clone(),
                });
            }
        }
    }
    Ok((found, trace))
}
