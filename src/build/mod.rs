//! Building a catalogue index from a store's feed (or a folder of photos): read the feed,
//! fetch every product's photo (through the download cache), describe the new and changed
//! ones with the model (the rest come from the description cache), and publish the index
//! atomically, with a summary of what changed and what failed. One bad row, photo or image
//! host answer fails that item only; an error writing the output fails the build and leaves
//! the published index as it was.

mod batch;
mod cache;
mod fetch;
pub mod partition;
mod shards;
mod summary;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use crate::download::{Downloader, Fetched, Settings};
use crate::embed::Embedder;
use crate::feed::Product;
use crate::files::{publish_index, read_index};
use crate::index::{CatalogueIndex, Item};
use crate::preprocess::Limits;
use batch::{Batch, Done, Pending, thumbnail_name};
use cache::DescriptionCache;
pub use fetch::Source;
use fetch::{Fetch, fetch, read_source};
pub use shards::{
    MAX_SHARDS, Marker, Merged, Shard, Unfinished, chosen, finished, from_env, merge,
};
pub use summary::{Failed, MaxFailures, Summary};

/// Photos described per forward pass.
const BATCH: usize = 16;

/// One build.
#[derive(Debug, Clone)]
pub struct Request {
    /// The products.
    pub source: Source,
    /// The index folder.
    pub out: PathBuf,
    /// The download and description caches' folder.
    pub cache: PathBuf,
    /// How photos are downloaded.
    pub download: Settings,
    /// Fail the build before publishing when more items than this fail.
    pub max_failures: Option<MaxFailures>,
    /// Index at most this many products (the first ones).
    pub limit: Option<usize>,
    /// Write a thumbnail of every photo beside the index, for the page to show instead of
    /// the image host's URL (the image host then never learns which results a shopper saw).
    pub local_images: bool,
    /// Build only this shard's slice of the products, into its part file in `out` (a parts
    /// folder shared by the shards) instead of publishing an index.
    pub shard: Option<Shard>,
}

/// What a build did: published an index, wrote a shard's part, or found its shard done.
#[derive(Debug, Clone)]
pub enum Built {
    /// An index was published.
    Index(Summary),
    /// A shard's part and marker were written.
    Part(Summary, Marker),
    /// The shard had finished before; nothing was done.
    AlreadyDone(Marker),
}

fn bar(len: usize, what: &str) -> ProgressBar {
    ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}}, {{per_sec}}, ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

/// Removes what killed builds left in `dir`: half-written temporary files.
fn remove_leftovers(dir: &Path) {
    for folder in [dir.to_path_buf(), dir.join("images")] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name
                .to_string_lossy()
                .starts_with(crate::files::TEMP_PREFIX)
            {
                std::fs::remove_file(entry.path()).ok();
            }
        }
    }
}

/// Runs one build with `model`.
pub fn build(request: &Request, model: &Embedder) -> Result<Built> {
    let settings = request.download.clone();
    let downloader = Downloader::new(&request.cache.join("downloads"), settings.clone())
        .with_context(|| format!("creating the cache in {}", request.cache.display()))?;
    let descriptions = DescriptionCache::new(&request.cache, model.model_sha256())?;
    if let Some(shard) = request.shard
        && let Some(marker) = finished(&request.out, shard, model.model_sha256())
    {
        return Ok(Built::AlreadyDone(marker));
    }
    let mut feed = read_source(&request.source, &downloader)?;
    if let Some(limit) = request.limit {
        feed.products.truncate(limit);
    }
    if let Some(shard) = request.shard {
        // Every shard reads the whole feed and keeps its slice; rows the feed refused are
        // reported by the first shard only.
        let slice = shard.slice(feed.products.len());
        feed.products = feed.products.drain(slice).collect();
        if shard.index > 0 {
            feed.rejected.clear();
        }
    }
    let mut summary = Summary {
        failed: feed
            .rejected
            .iter()
            .map(|r| Failed {
                id: r.id.clone(),
                row: Some(r.row),
                kind: "refused row".into(),
                reason: r.reason.clone(),
            })
            .collect(),
        ..Summary::default()
    };
    let products = feed.products;
    if products.is_empty() && request.shard.is_none() {
        bail!(
            "the feed holds no product that could be read ({} rows refused)",
            summary.failed.len()
        );
    }
    std::fs::create_dir_all(request.out.join("images"))
        .with_context(|| format!("creating {}", request.out.display()))?;
    if request.shard.is_none() {
        // Shards share their folder: one's temporary files are another's work in progress.
        remove_leftovers(&request.out);
    }
    let previous: HashMap<String, Item> = read_index(&request.out, model)
        .map(|index| index.items.into_iter().map(|i| (i.id.clone(), i)).collect())
        .unwrap_or_default();

    // Photos, `settings.concurrency` at a time.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.concurrency.max(1))
        .build()
        .context("starting the download threads")?;
    let progress = bar(products.len(), "photos");
    let fetched: Vec<Result<Fetch, Failed>> = pool.install(|| {
        products
            .par_iter()
            .map(|p| {
                let f = fetch(p, &downloader);
                progress.inc(1);
                f
            })
            .collect()
    });
    progress.finish_and_clear();

    // Descriptions: from the cache, or the model for new photos, in batches.
    let context = Batch {
        model,
        descriptions: &descriptions,
        out: &request.out,
        limits: Limits::default(),
    };
    let progress = bar(products.len(), "describing");
    let mut entries = Vec::with_capacity(products.len());
    let mut images = Vec::new();
    let pairs: Vec<(&Product, Result<Fetch, Failed>)> = products.iter().zip(fetched).collect();
    for chunk in pairs.chunks(BATCH) {
        let mut pending = Vec::with_capacity(chunk.len());
        for (product, fetched) in chunk {
            match fetched {
                Ok(fetched) => pending.push(Pending {
                    product,
                    cached: descriptions.get(&fetched.sha256),
                    thumb: (request.local_images || product.image_url.is_none())
                        .then(|| thumbnail_name(&fetched.sha256)),
                    fetched,
                }),
                Err(failed) => summary.failed.push(failed.clone()),
            }
        }
        for done in context.run(pending)? {
            match done {
                Done::Failed(failed) => summary.failed.push(failed),
                Done::Entry {
                    entry,
                    thumb,
                    how,
                    cached,
                } => {
                    match how {
                        Some(Fetched::Downloaded) => summary.downloaded += 1,
                        Some(Fetched::Revalidated) => summary.revalidated += 1,
                        None => summary.local += 1,
                    }
                    if cached {
                        summary.cached += 1;
                    } else {
                        summary.described += 1;
                    }
                    images.extend(thumb);
                    entries.push(*entry);
                }
            }
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let total = products.len() + feed.rejected.len();
    if let Some(max) = request.max_failures
        && max.exceeded(summary.failed.len(), total)
    {
        bail!(
            "{} of {total} items failed, more than --max-failures allows; nothing was published\n{}",
            summary.failed.len(),
            summary.text()
        );
    }
    if entries.is_empty() && request.shard.is_none() {
        bail!(
            "none of the {total} catalogue items could be read; nothing was published\n{}",
            summary.text()
        );
    }
    for entry in &entries {
        match previous.get(&entry.item.id) {
            None => summary.added += 1,
            Some(before)
                if before.image_sha256 != entry.item.image_sha256
                    || !same_fields(before, &entry.item) =>
            {
                summary.changed += 1
            }
            Some(_) => summary.unchanged += 1,
        }
    }
    let ids: std::collections::HashSet<&str> = entries.iter().map(|e| e.item.id.as_str()).collect();
    summary.removed = previous
        .keys()
        .filter(|id| !ids.contains(id.as_str()))
        .count();
    images.sort();
    images.dedup();
    let index = CatalogueIndex::build(entries)?;
    summary.items = index.len();
    if let Some(shard) = request.shard {
        let marker = Marker {
            format: String::new(),
            shard: shard.index,
            shards: shard.count,
            model_sha256: model.model_sha256().to_string(),
            products: products.len(),
            items: 0,
            part: crate::assets::FileEntry::of("", &[]),
            images,
            failed: summary.failed.clone(),
        };
        let marker =
            shards::write_part(&request.out, shard, &index, marker).with_context(|| {
                format!("writing the part of shard {}/{}", shard.index, shard.count)
            })?;
        summary.index_bytes = marker.part.bytes as usize;
        return Ok(Built::Part(summary, marker));
    }
    summary.index_bytes = publish_index(&request.out, &index, model.model_sha256(), images)
        .context("publishing the index")?;
    Ok(Built::Index(summary))
}

/// Whether two items say the same, their computed colours aside.
fn same_fields(a: &Item, b: &Item) -> bool {
    Item {
        colours: Vec::new(),
        ..a.clone()
    } == Item {
        colours: Vec::new(),
        ..b.clone()
    }
}
