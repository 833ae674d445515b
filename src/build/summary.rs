//! What an index build did: items added, changed, unchanged and removed against the index it
//! replaces, items that failed (with their reason), photos downloaded, revalidated and
//! described; and the `--max-failures` limit.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One item the build left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    /// Its id, when the feed gave one.
    pub id: Option<String>,
    /// Its row in the feed, when it failed there.
    pub row: Option<usize>,
    /// The kind of failure (what the summary counts).
    pub kind: String,
    /// What went wrong, in words.
    pub reason: String,
}

/// The counts of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items in the published index.
    pub items: usize,
    /// Items not in the index replaced.
    pub added: usize,
    /// Items whose fields or photo differ from the index replaced.
    pub changed: usize,
    /// Items as they were.
    pub unchanged: usize,
    /// Items of the index replaced that are gone.
    pub removed: usize,
    /// Items left out, in feed order.
    pub failed: Vec<Failed>,
    /// Photos whose bytes came over the network.
    pub downloaded: usize,
    /// Photos the image host said were unchanged (nothing downloaded).
    pub revalidated: usize,
    /// Photos read from local files.
    pub local: usize,
    /// Photos run through the model (the rest came from the description cache).
    pub described: usize,
    /// Descriptions taken from the cache.
    pub cached: usize,
    /// Bytes of the published index data.
    pub index_bytes: usize,
}

impl Summary {
    /// Failures by kind.
    pub fn failures_by_kind(&self) -> BTreeMap<&str, usize> {
        let mut kinds = BTreeMap::new();
        for f in &self.failed {
            *kinds.entry(f.kind.as_str()).or_insert(0) += 1;
        }
        kinds
    }

    /// The summary in a few lines, for the terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} items: {} added, {} changed, {} unchanged, {} removed, {} failed\n\
             photos: {} downloaded, {} unchanged on the image host, {} local; {} described by the model, {} from the cache",
            self.items,
            self.added,
            self.changed,
            self.unchanged,
            self.removed,
            self.failed.len(),
            self.downloaded,
            self.revalidated,
            self.local,
            self.described,
            self.cached,
        );
        if !self.failed.is_empty() {
            let kinds: Vec<String> = self
                .failures_by_kind()
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            s += &format!("\nfailed by reason: {}", kinds.join(", "));
        }
        s
    }
}

/// How many failed items are too many: a count, or a share of the feed's items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFailures {
    /// At most this many.
    Count(usize),
    /// At most this percentage of the items.
    Percent(f64),
}

impl FromStr for MaxFailures {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(MaxFailures::Percent(v)),
                _ => Err(format!("{s:?} is not a percentage from 0% to 100%")),
            },
            None => s
                .parse()
                .map(MaxFailures::Count)
                .map_err(|_| format!("{s:?} is not a count (5) or a percentage (2%)")),
        }
    }
}

impl MaxFailures {
    /// Whether `failed` of `total` items is more than allowed.
    pub fn exceeded(self, failed: usize, total: usize) -> bool {
        match self {
            MaxFailures::Count(n) => failed > n,
            MaxFailures::Percent(p) => failed as f64 > p / 100.0 * total as f64,
        }
    }
}
