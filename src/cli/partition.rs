//! `deep-shopping partition`: publish a built index as a partitioned one, which a query reads
//! only in part (the cells nearest to it, its best candidates' records, the shown items).
//! Where the output folder already holds a partitioned index of the same model, it is updated
//! with a delta (new and changed items, a removed set, rewritten cells) unless the update
//! measures that a full re-partition is due.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::files::read_index_files;
use crate::index::CatalogueIndex;
use crate::index::INDEX_MANIFEST_FILE;
use crate::index::ivf::{
    Layout, MAX_ITEMS, Mixture, Partitioned, Update, UpdatePolicy, held, publish, update,
};
use crate::partitioned::{self, carry_images};
use rayon::prelude::*;

#[derive(Debug, Args)]
pub(super) struct PartitionArgs {
    /// Index folder written by `deep-shopping index`.
    #[arg(long)]
    index: PathBuf,
    /// Output folder for the partitioned index (its `index.json`, its files, its thumbnails).
    #[arg(long)]
    out: PathBuf,
    /// Cells of the partition (default: one per 100 items, at most 32,768).
    #[arg(long)]
    cells: Option<usize>,
    /// Code bytes for each item's look (its embedding), default 16. More rank the probed
    /// cells' items more finely (higher recall) at the cost of more bytes a query reads.
    #[arg(long, value_name = "BYTES")]
    look_bytes: Option<usize>,
    /// Items sampled to fit the partition and the codebooks.
    #[arg(long, default_value_t = Layout::for_items(0).sample)]
    sample: usize,
    /// Publish instead a synthetic catalogue of this many items that looks like the index's
    /// (drawn from a mixture fitted to its embeddings; each item has a real item's colours,
    /// categories and metadata under the id `s<number>`): for load tests and benchmarks of a
    /// store's page and host at sizes its catalogue has not reached.
    #[arg(long, value_name = "ITEMS")]
    synthetic: Option<usize>,
    /// Partition again even where `--out` holds an index this one could update.
    #[arg(long)]
    full: bool,
}

/// Mixture components fitted for `--synthetic` (fewer for small indexes: eight items each).
const SYNTHETIC_COMPONENTS: usize = 48;

pub(super) fn run(args: PartitionArgs) -> Result<()> {
    anyhow::ensure!(
        args.index.canonicalize().ok() != args.out.canonicalize().ok(),
        "--out must be another folder than --index: each has its own index.json"
    );
    let (manifest, data) = read_index_files(&args.index)?;
    manifest.data.verify(&data)?;
    let mut index = CatalogueIndex::from_bytes(&data)
        .with_context(|| format!("loading the index in {}", args.index.display()))?;
    if let Some(n) = args.synthetic {
        anyhow::ensure!(
            (1..=MAX_ITEMS).contains(&n),
            "--synthetic must be 1 to {MAX_ITEMS} items"
        );
        let components = (index.len() / 8).clamp(1, SYNTHETIC_COMPONENTS);
        let mix = Mixture::fit(&index, &[], components).context("the index has no items")?;
        let entries: Vec<_> = (0..n)
            .into_par_iter()
            .map(|i| mix.draw(&index, i, 2026))
            .collect();
        index = CatalogueIndex::build(entries).context("drawing the synthetic catalogue")?;
    }
    let started = std::time::Instant::now();
    if args.synthetic.is_none() && args.cells.is_none() && args.look_bytes.is_none() && !args.full {
        match try_update(&args, &index, &manifest.model_sha256, &manifest.images)? {
            Outcome::Done => return Ok(()),
            Outcome::Full(why) => println!("partitioning again: {why}"),
        }
    }
    let mut layout = Layout::for_items(index.len());
    if let Some(cells) = args.cells {
        anyhow::ensure!(
            (1..=index.len()).contains(&cells),
            "--cells must be 1 to the number of items ({})",
            index.len()
        );
        layout.cells = cells;
    }
    if let Some(bytes) = args.look_bytes {
        anyhow::ensure!(
            (1..=index.dim()).contains(&bytes),
            "--look-bytes must be 1 to the embedding's length ({})",
            index.dim()
        );
        layout.embedding_bytes = bytes;
    }
    layout.sample = args.sample.max(1);
    let built = Partitioned::build(&index, &layout);
    let publication = publish(
        &index,
        &built,
        &manifest.model_sha256,
        manifest.images.clone(),
    )?;
    carry_images(&args.index, &args.out, &manifest.images)?;
    let bytes = partitioned::publish(&args.out, &publication).context("publishing")?;
    println!(
        "partitioned {} items into {} cells in {} ({bytes} bytes, {:.1} s)",
        index.len(),
        built.cells.len(),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What an attempted update did.
enum Outcome {
    /// Published a delta, or found nothing to publish.
    Done,
    /// A full partition is needed, for this reason.
    Full(String),
}

/// Updates the partitioned index in `--out` to `index` where there is one it can update.
fn try_update(
    args: &PartitionArgs,
    index: &CatalogueIndex,
    model_sha256: &str,
    images: &[String],
) -> Result<Outcome> {
    if !args.out.join(INDEX_MANIFEST_FILE).exists() {
        return Ok(Outcome::Full("no index to update".into()));
    }
    let location = args.out.to_string_lossy();
    let (previous, source) = match partitioned::open(&location) {
        Ok(opened) => opened,
        Err(e) => {
            return Ok(Outcome::Full(format!(
                "the index there cannot be updated: {e:#}"
            )));
        }
    };
    if let Err(e) = previous.manifest.check_model(model_sha256) {
        return Ok(Outcome::Full(e.to_string()));
    }
    let started = std::time::Instant::now();
    let held = held(&previous, source.as_ref())
        .with_context(|| format!("reading the index in {}", args.out.display()))?;
    let (publication, changes) = match update(
        &previous,
        &held,
        index,
        images.to_vec(),
        &UpdatePolicy::DEFAULT,
    )? {
        Update::Unchanged => {
            println!(
                "{} is up to date ({} items)",
                args.out.display(),
                held.len()
            );
            return Ok(Outcome::Done);
        }
        Update::Repartition(why) => return Ok(Outcome::Full(why)),
        Update::Delta {
            publication,
            changes,
        } => (publication, changes),
    };
    carry_images(&args.index, &args.out, images)?;
    let bytes = partitioned::publish(&args.out, &publication).context("publishing")?;
    let total = publication.manifest.bytes();
    println!(
        "updated {}: {} added, {} changed, {} removed; {} cells rewritten{}; {} delta segments; wrote {bytes} bytes, {:.2}% of the index's {total} ({:.1} s)",
        args.out.display(),
        changes.added,
        changes.changed,
        changes.removed,
        changes.rewritten.len(),
        if changes.merged {
            ", deltas merged"
        } else {
            ""
        },
        publication.manifest.deltas.len(),
        100.0 * publication.new_bytes() as f64 / total.max(1) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Done)
}
