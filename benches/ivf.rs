//! Partitioned index benchmark (issue 23): synthetic catalogues of 100k to 10M items drawn
//! from a mixture fitted to the real catalogue (embeddings, colour histograms, category
//! probabilities), queried with the test split's real photos; each is partitioned and
//! published (in memory, as `deep-shopping partition` writes it) and queried by reading ranges
//! of its files; prints recall@10 against exact search with the same blended score, the bytes,
//! requests and rounds a query reads, the published files' sizes and the build time; then a
//! 1% change of the catalogue published as a delta (the share of bytes it republishes, and
//! recall after it). Above 2M items the drawn items keep only their ids and stock (to fit in
//! 24 GB) and no change is measured.
//!
//! Usage: `cargo bench --bench ivf -- INDEX_DIR [SIZES] [QUERIES] [CODE] [CELL_ITEMS]
//! [PROBED]`, INDEX_DIR a catalogue index of the whole clothing dataset (as `scripts/demo.sh`
//! builds it), SIZES a comma list (default 100000,1000000), CODE the code bytes for
//! embedding, colour and categories (default 16,8,2), CELL_ITEMS the items a cell holds
//! (default the layout's), PROBED the cell counts probed (default 4,8,16,32); `-` for a
//! default. `[PARTS]`, part sizes such as `8x2048,16x4096` (records a part, metadata bytes
//! a part), adds rows read by part files, as from a host without range requests. `[GAPS]`,
//! merge gaps in bytes such as `4096,1024` (default the reader's, 4096), one row each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use deep_shopping::error::AssetError;
use deep_shopping::files::read_index_files;
use deep_shopping::index::ivf::{
    FULL_METADATA, Fitted, Layout, MERGE_GAP, Mixture, Parts, Probe, Published, Ranges, Request,
    Update, UpdatePolicy, held, parts_folder, publish, search, update,
};
use deep_shopping::index::{Availability, Blend, CatalogueIndex, IndexEntry, rank};
use deep_shopping::train::config::TrainConfig;
use deep_shopping::train::data::Splits;
use rayon::prelude::*;

/// Mixture components fitted to the real catalogue.
const COMPONENTS: usize = 48;
/// A publication's files in memory, read by range; with `parts` (the index opened with
/// parts), read as a host without range requests serves them: by their part files.
struct Memory {
    files: HashMap<String, Vec<u8>>,
    parts: Option<Published>,
    /// Ranges closer than this are read as one.
    gap: u64,
}

impl Memory {
    fn file(&self, file: &str) -> Result<&Vec<u8>, AssetError> {
        self.files.get(file).ok_or_else(|| AssetError::Read {
            file: file.into(),
            detail: "no such file".into(),
        })
    }
}

impl Ranges for Memory {
    fn read(&self, file: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, AssetError> {
        if self.parts.is_some() {
            return Err(AssetError::RangesRefused { file: file.into() });
        }
        let bytes = self.file(file)?;
        Ok(ranges
            .iter()
            .map(|r| bytes[r.start as usize..r.end as usize].to_vec())
            .collect())
    }

    fn read_whole(&self, files: &[(String, u64)]) -> Result<Vec<Vec<u8>>, AssetError> {
        let published = self.parts.as_ref().expect("parts are read only with parts");
        files
            .iter()
            .map(|(name, _)| {
                let (folder, n) = name.rsplit_once('/').expect("a part's name");
                let n: usize = n.trim_end_matches(".bin").parse().expect("a part's number");
                let file = self
                    .files
                    .keys()
                    .find(|f| parts_folder(f) == folder)
                    .expect("the part's file");
                let r = published.split(file).expect("a split file").part(n);
                Ok(self.file(file)?[r.start as usize..r.end as usize].to_vec())
            })
            .collect()
    }

    fn serves_ranges(&self) -> bool {
        self.parts.is_none()
    }

    fn merge_gap(&self) -> u64 {
        self.gap
    }
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
        eprintln!(
            "usage: cargo bench --bench ivf -- INDEX_DIR [SIZES] [QUERIES] [CODE] [CELL_ITEMS] \
             [PROBED] [PARTS] [GAPS]"
        );
        std::process::exit(2);
    };
    let sizes: Vec<usize> = args
        .get(1)
        .map_or("100000,1000000", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let queries_n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    // Code bytes for the embedding, colour and categories (default: the layout's).
    let code: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_default();
    // Items a cell holds, about (default: the layout's), and the cell counts probed.
    let cell_items: Option<usize> = args.get(4).and_then(|s| s.parse().ok());
    let probed_cells: Vec<usize> = args
        .get(5)
        .map_or("4,8,16,32", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    // Part sizes to measure reading by parts with (records a part and metadata bytes a
    // part, `8x2048,16x4096`), beside reading by range.
    let parts: Vec<Parts> = args
        .get(6)
        .map(|s| {
            s.split(',')
                .filter_map(|p| {
                    let (r, b) = p.split_once('x')?;
                    Some(Parts {
                        records: r.trim().parse().ok()?,
                        item_bytes: b.trim().parse().ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    // Merge gaps to read ranges with.
    let gaps: Vec<u64> = args
        .get(7)
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .filter(|g: &Vec<u64>| !g.is_empty())
        .unwrap_or_else(|| vec![MERGE_GAP]);

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
        let catalogue = mix
            .sample(&real, n, 2026)
            .expect("drawn entries have one shape");
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
        let mut layout = Layout::for_items(n);
        if let [embedding, colour, category] = code[..] {
            layout.embedding_bytes = embedding;
            layout.colour_bytes = colour;
            layout.category_bytes = category;
        }
        if let Some(items) = cell_items {
            layout.cells = (n / items.max(1)).max(1);
        }
        // The build's three steps, as `deep-shopping partition` runs them in one process.
        let t = Instant::now();
        let fitted = Fitted::train(&catalogue, &layout);
        let trained = t.elapsed().as_secs_f64();
        let placed = fitted.place(&catalogue, 0..n as u32).expect("placing");
        let placing = t.elapsed().as_secs_f64() - trained;
        let ivf = fitted.gather(&catalogue, vec![placed]).expect("gathering");
        let built = t.elapsed().as_secs_f64();
        let cell_sizes: Vec<usize> = ivf.cells.iter().map(|c| c.rows.len()).collect();
        println!(
            "\n{n} items: sampled in {sampled:.1} s; partition built in {built:.1} s (trained in \
             {trained:.1} s, placed in {placing:.1} s on every core, gathered in {:.1} s; {} \
             cells, {}..{} items a cell, {} code bytes an item); peak memory {:.0} MB",
            built - trained - placing,
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
            Published::open(publication.manifest.clone(), top.clone()).expect("opening")
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
        let mut memory = Memory {
            files: publication.files.into_iter().collect(),
            parts: None,
            gap: MERGE_GAP,
        };
        let cell_of: Vec<usize> = {
            let mut of = vec![0; n];
            for (c, cell) in ivf.cells.iter().enumerate() {
                cell.rows.iter().for_each(|&r| of[r as usize] = c);
            }
            of
        };
        let in_cells: Vec<Vec<usize>> = truth
            .iter()
            .map(|t| t.iter().map(|&r| cell_of[r]).collect())
            .collect();
        drop((catalogue, ivf));
        println!(
            "  | cells probed | candidates | recall@10 | of the top 10 in the probed cells | \
             bytes a warm query (codes + records + metadata) | requests | rounds |"
        );
        for &cells in &probed_cells {
            // The share of the true top 10 in the probed cells, whatever the candidates.
            let probed = query_rows
                .iter()
                .zip(&in_cells)
                .map(|(&q, truth)| {
                    let d = real.description(q);
                    let plan = published.plan(d.query(), blend, cells).expect("a plan");
                    let hit = truth.iter().filter(|c| plan.cells.contains(c)).count();
                    hit as f64 / truth.len().max(1) as f64
                })
                .sum::<f64>()
                / query_rows.len().max(1) as f64;
            for candidates in [50, 100, 200] {
                let probe = Probe { cells, candidates };
                for &gap in &gaps {
                    memory.gap = gap;
                    let r = measure(&published, &memory, &real, &query_rows, &ids, probe);
                    let by = if gaps.len() > 1 {
                        format!(", ranges within {gap} B merged")
                    } else {
                        String::new()
                    };
                    println!(
                        "  | {cells} | {candidates}{by} | {:.3} | {probed:.3} | {} |",
                        r.recall,
                        r.reads()
                    );
                }
                memory.gap = MERGE_GAP;
                for p in &parts {
                    let mut manifest = published.manifest.clone();
                    manifest.parts = Some(*p);
                    let top = memory.file(&manifest.top.file).expect("the top file");
                    memory.parts = Some(Published::open(manifest, top.clone()).expect("opening"));
                    let with_parts = memory.parts.as_ref().expect("just set");
                    let r = measure(with_parts, &memory, &real, &query_rows, &ids, probe);
                    memory.parts = None;
                    println!(
                        "  | {cells} | {candidates}, by parts of {} records and {} B of metadata \
                         | {:.3} | | {} |",
                        p.records,
                        p.item_bytes,
                        r.recall,
                        r.reads()
                    );
                }
            }
        }
        if n > FULL_METADATA {
            println!("  (items carry ids only, above {FULL_METADATA}; no 1% change measured)");
            continue;
        }
        // A 1% change, as `deep-shopping partition` publishes it into the same folder.
        let t = Instant::now();
        let changed = one_percent(&mix, &real, n, 2026);
        let held = held(&published, &memory).expect("reading what the index holds");
        let read = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let outcome = update(
            &published,
            &held,
            &changed,
            Vec::new(),
            &UpdatePolicy::DEFAULT,
        )
        .expect("updating");
        let Update::Delta {
            publication,
            changes,
        } = outcome
        else {
            println!("  a 1% change: {outcome:?}");
            continue;
        };
        let share = publication.new_bytes() as f64 / publication.manifest.bytes() as f64;
        println!(
            "  a 1% change ({} added, {} changed, {} removed; catalogue drawn and index read in \
             {read:.1} s, delta built in {:.1} s, peak memory {:.0} MB): {} new files, {:.1} MB, \
             {:.2}% of the index's {:.1} MB; {} cells rewritten; drift {:?}",
            changes.added,
            changes.changed,
            changes.removed,
            t.elapsed().as_secs_f64(),
            peak_rss_mb(),
            publication.files.len(),
            publication.new_bytes() as f64 / 1e6,
            share * 100.0,
            publication.manifest.bytes() as f64 / 1e6,
            changes.rewritten.len(),
            changes.drift,
        );
        let updated = {
            let top = &publication.files[0].1;
            Published::open(publication.manifest.clone(), top.clone()).expect("opening the update")
        };
        memory.files.extend(publication.files);
        let ids: Vec<Vec<String>> = query_rows
            .par_iter()
            .map(|&q| {
                let d = real.description(q);
                rank(&changed, d.query(), blend, top)
                    .iter()
                    .map(|h| changed.items[h.index].id.clone())
                    .collect()
            })
            .collect();
        let r = measure(&updated, &memory, &real, &query_rows, &ids, Probe::DEFAULT);
        println!(
            "  after it, probing {} cells, {} candidates: recall@10 {:.3} against exact search \
             on the new catalogue, {:.0} KB, {:.0} requests, {} rounds",
            Probe::DEFAULT.cells,
            Probe::DEFAULT.candidates,
            r.recall,
            r.bytes / 1e3,
            r.requests,
            r.rounds
        );
    }
}

/// Means over the queries (rounds: the most any query took).
struct Measured {
    recall: f64,
    bytes: f64,
    requests: f64,
    rounds: usize,
    /// Bytes of the codes, the records and the metadata.
    parts: [f64; 3],
}

impl Measured {
    /// The table's columns of what a query read: bytes (codes + records + metadata),
    /// requests, rounds.
    fn reads(&self) -> String {
        format!(
            "{:.0} KB ({:.0} + {:.0} + {:.0}) | {:.0} | {}",
            self.bytes / 1e3,
            self.parts[0] / 1e3,
            self.parts[1] / 1e3,
            self.parts[2] / 1e3,
            self.requests,
            self.rounds
        )
    }
}

/// Queries `published` (its files in `memory`) with `probe`, against the exact `ids`.
fn measure(
    published: &Published,
    memory: &Memory,
    real: &CatalogueIndex,
    query_rows: &[usize],
    ids: &[Vec<String>],
    probe: Probe,
) -> Measured {
    let results: Vec<(f64, u64, usize, usize, [u64; 3])> = query_rows
        .par_iter()
        .zip(ids)
        .map(|(&q, truth)| {
            let d = real.description(q);
            let (found, trace) = search(
                published,
                memory,
                d.query(),
                Request {
                    probe,
                    ..Request::top(10)
                },
                |_| true,
            )
            .expect("searching");
            let hits = found.iter().filter(|f| truth.contains(&f.item.id)).count();
            (
                hits as f64 / truth.len().max(1) as f64,
                trace.bytes(),
                trace.requests(),
                trace.rounds(),
                [
                    trace.cells.bytes,
                    trace.records.bytes,
                    trace.items.iter().map(|r| r.bytes).sum(),
                ],
            )
        })
        .collect();
    let k = results.len().max(1) as f64;
    Measured {
        recall: results.iter().map(|r| r.0).sum::<f64>() / k,
        bytes: results.iter().map(|r| r.1).sum::<u64>() as f64 / k,
        requests: results.iter().map(|r| r.2).sum::<usize>() as f64 / k,
        rounds: results.iter().map(|r| r.3).max().unwrap_or(0),
        parts: [0, 1, 2].map(|i| results.iter().map(|r| r.4[i]).sum::<u64>() as f64 / k),
    }
}

/// The catalogue [`Mixture::sample`] draws, changed by 1%: 0.5% removed, 0.25% retitled, 0.05% out
/// of stock, 0.2% new.
fn one_percent(mix: &Mixture, real: &CatalogueIndex, n: usize, seed: u64) -> CatalogueIndex {
    let entries: Vec<IndexEntry> = (0..n + n / 500)
        .into_par_iter()
        .filter(|i| *i >= n || i % 200 != 7)
        .map(|i| {
            let mut e = mix.draw(real, i, seed);
            if i < n && i % 400 == 3 {
                e.item.title = format!("{} (new season)", e.item.title);
            }
            if i < n && i % 2000 == 11 {
                e.item.availability = Some(Availability::OutOfStock);
            }
            e
        })
        .collect();
    CatalogueIndex::build(entries).expect("synthetic entries have one shape")
}
