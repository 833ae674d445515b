//! Partitioned index benchmark (issue 23): synthetic catalogues of 100k and 1M items drawn
//! from a mixture fitted to the real catalogue (embeddings, colour histograms, category
//! probabilities), queried with the test split's real photos; each is partitioned and
//! published (in memory, as `deep-shopping partition` writes it) and queried by reading ranges
//! of its files; prints recall@10 against exact search with the same blended score, the bytes,
//! requests and rounds a query reads, the published files' sizes and the build time.
//!
//! Usage: `cargo bench --bench ivf -- INDEX_DIR [SIZES] [QUERIES]`, INDEX_DIR a catalogue
//! index of the whole clothing dataset (as `scripts/demo.sh` builds it), SIZES a comma list
//! (default 100000,1000000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use deep_shopping::error::AssetError;
use deep_shopping::files::read_index_files;
use deep_shopping::index::ivf::{
    Layout, Mixture, Partitioned, Probe, Published, Ranges, publish, search,
};
use deep_shopping::index::{Blend, CatalogueIndex, IndexEntry, Variants, rank};
use deep_shopping::train::config::TrainConfig;
use deep_shopping::train::data::Splits;
use rayon::prelude::*;

/// Mixture components fitted to the real catalogue.
const COMPONENTS: usize = 48;
/// A publication's files in memory, read by range.
struct Memory(HashMap<String, Vec<u8>>);

impl Ranges for Memory {
    fn read(&self, file: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, AssetError> {
        let bytes = self.0.get(file).ok_or_else(|| AssetError::Read {
            file: file.into(),
            detail: "no such file".into(),
        })?;
        Ok(ranges
            .iter()
            .map(|r| bytes[r.start as usize..r.end as usize].to_vec())
            .collect())
    }
}

/// `n` items drawn from `mix` (fitted to `real`).
fn sample(mix: &Mixture, real: &CatalogueIndex, n: usize, seed: u64) -> CatalogueIndex {
    let entries: Vec<IndexEntry> = (0..n)
        .into_par_iter()
        .map(|i| mix.draw(real, i, seed))
        .collect();
    CatalogueIndex::build(entries).expect("synthetic entries have one shape")
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: cargo bench --bench ivf -- INDEX_DIR [SIZES] [QUERIES]");
        std::process::exit(2);
    };
    let sizes: Vec<usize> = args
        .get(1)
        .map_or("100000,1000000", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let queries_n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);

    let (_, data) = read_index_files(Path::new(dir)).expect("reading the real index");
    let real = CatalogueIndex::from_bytes(&data).expect("parsing the real index");
    let config = TrainConfig::load(Path::new("configs/clothing.toml"), &[]).expect("config");
    let splits = Splits::load(&config.data).expect("dataset");
    let test: HashSet<String> = splits.test.iter().map(|s| s.id.clone()).collect();
    let (mut query_rows, mut fit_rows) = (Vec::new(), Vec::new());
    for (r, item) in real.items.iter().enumerate() {
        if test.contains(&item.id) {
            query_rows.push(r)
        } else {
            fit_rows.push(r)
        }
    }
    query_rows.truncate(queries_n);
    println!(
        "real catalogue: {} items; mixture of {COMPONENTS} fitted to {} (training and validation \
         senders); {} queries from the test split",
        real.len(),
        fit_rows.len(),
        query_rows.len()
    );
    let mix = Mixture::fit(&real, &fit_rows, COMPONENTS).expect("rows to fit");
    let blend = Blend::DEFAULT;
    let top = 10;
    for &n in &sizes {
        let t = Instant::now();
        let catalogue = sample(&mix, &real, n, 2026);
        let sampled = t.elapsed().as_secs_f64();
        let truth: Vec<Vec<usize>> = query_rows
            .par_iter()
            .map(|&q| {
                let d = real.description(q);
                rank(&catalogue, d.query(), blend, top)
                    .iter()
                    .map(|h| h.index)
                    .collect()
            })
            .collect();
        let layout = Layout::for_items(n);
        let t = Instant::now();
        let ivf = Partitioned::build(&catalogue, &layout);
        let built = t.elapsed().as_secs_f64();
        let cell_sizes: Vec<usize> = ivf.cells.iter().map(|c| c.rows.len()).collect();
        println!(
            "\n{n} items: sampled in {sampled:.1} s; partition built in {built:.1} s ({} cells, \
             {}..{} items a cell, {} code bytes an item); peak memory {:.0} MB",
            ivf.cells.len(),
            cell_sizes.iter().min().unwrap_or(&0),
            cell_sizes.iter().max().unwrap_or(&0),
            ivf.quantiser.code_len(),
            peak_rss_mb()
        );
        let t = Instant::now();
        let publication = publish(&catalogue, &ivf, "bench", Vec::new()).expect("publishing");
        let published = {
            let top = &publication.files[0].1;
            Published::open(publication.manifest.clone(), top).expect("opening")
        };
        let m = &publication.manifest;
        println!(
            "  published in {:.1} s: top {:.0} KB (loaded while the photo is embedded), lists \
             {:.1} MB, records {:.1} MB ({} bytes an item), items {:.1} MB",
            t.elapsed().as_secs_f64(),
            m.top.bytes as f64 / 1e3,
            m.lists.bytes as f64 / 1e6,
            m.records.bytes as f64 / 1e6,
            m.record_len(),
            m.items.bytes as f64 / 1e6,
        );
        let ids: Vec<Vec<String>> = truth
            .iter()
            .map(|t| t.iter().map(|r| catalogue.items[*r].id.clone()).collect())
            .collect();
        let memory = Memory(publication.files.into_iter().collect());
        drop(catalogue);
        println!(
            "  | cells probed | candidates | recall@10 | bytes a warm query | requests | rounds |"
        );
        for cells in [4, 8, 16, 32] {
            for candidates in [50, 100, 200] {
                let results: Vec<(f64, u64, usize, usize)> = query_rows
                    .par_iter()
                    .zip(&ids)
                    .map(|(&q, truth)| {
                        let d = real.description(q);
                        let (found, trace) = search(
                            &published,
                            &memory,
                            d.query(),
                            blend,
                            Probe { cells, candidates },
                            top,
                            Variants::All,
                            false,
                            |_| true,
                        )
                        .expect("searching");
                        let hits = found.iter().filter(|f| truth.contains(&f.item.id)).count();
                        (
                            hits as f64 / truth.len().max(1) as f64,
                            trace.bytes(),
                            trace.requests(),
                            trace.rounds(),
                        )
                    })
                    .collect();
                let k = results.len().max(1) as f64;
                let recall = results.iter().map(|r| r.0).sum::<f64>() / k;
                let bytes = results.iter().map(|r| r.1).sum::<u64>() as f64 / k;
                let requests = results.iter().map(|r| r.2).sum::<usize>() as f64 / k;
                let rounds = results.iter().map(|r| r.3).max().unwrap_or(0);
                println!(
                    "  | {cells} | {candidates} | {recall:.3} | {:.0} KB | {requests:.0} | {rounds} |",
                    bytes / 1e3
                );
            }
        }
    }
}
