//! `deep-shopping partition`: publish a built index as a partitioned one, which a query reads
//! only in part (the cells nearest to it, its best candidates' records, the shown items).
//! Where the output folder already holds a partitioned index of the same model, it is updated
//! with a delta (new and changed items, a removed set, rewritten cells) unless the update
//! measures that a full re-partition is due. With `--work` it runs one step of a build on a
//! cluster (train, place a shard, gather and publish: `build::partition`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::build::partition as steps;
use crate::build::{Shard, chosen};
use crate::files::read_index_files;
use crate::index::CatalogueIndex;
use crate::index::INDEX_MANIFEST_FILE;
use crate::index::ivf::{
    Layout, MAX_ITEMS, Mixture, Partitioned, Parts, Update, UpdatePolicy, held, publish, update,
};
use crate::partitioned::{self, carry_images};

#[derive(Debug, Args)]
pub(super) struct PartitionArgs {
    /// Index folder written by `deep-shopping index`.
    #[arg(long)]
    index: PathBuf,
    /// Output folder for the partitioned index (its `index.json`, its files, its thumbnails).
    #[arg(long, required_unless_present_any = ["train", "shard", "shards"])]
    out: Option<PathBuf>,
    /// Work folder of a partition built in steps on a cluster, which the steps share: `--train`
    /// first, then every shard (`--shard` or `--shards`), then this command with `--out` and
    /// neither, which gathers the shards' rows and publishes.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["synthetic", "full"])]
    work: Option<PathBuf>,
    /// The build's first step: fit the cells and the codebooks on a sample of the index, into
    /// `--work` (a training of the same index and layout that finished does nothing).
    #[arg(long, requires = "work", conflicts_with_all = ["shard", "shards", "out"])]
    train: bool,
    /// The second step, shard I of N (0-based): place the I-th slice of the index's rows in
    /// their cells and code them, into `--work`. A shard that finished before does nothing.
    #[arg(long, value_name = "I/N", requires = "work", conflicts_with_all = ["shards", "out"])]
    shard: Option<Shard>,
    /// The second step as one of N shards, the one `JOB_COMPLETION_INDEX` (a Kubernetes
    /// Indexed Job) or `SLURM_ARRAY_TASK_ID` (a Slurm array) names.
    #[arg(long, value_name = "N", requires = "work", conflicts_with = "out")]
    shards: Option<usize>,
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
    /// categories and metadata under the id `s<number>`; above 2M items, only the id and
    /// stock, to fit in memory): for load tests and benchmarks of a store's page and host at
    /// sizes its catalogue has not reached.
    #[arg(long, value_name = "ITEMS")]
    synthetic: Option<usize>,
    /// Partition again even where `--out` holds an index this one could update.
    #[arg(long)]
    full: bool,
    /// Publish each segment file also as small part files (the codes one file per cell, the
    /// records in runs of 8, the metadata in slices of 2 KB), which a page or `search` reads
    /// where the host answers no range requests. An update of an index published with parts
    /// keeps them.
    #[arg(long)]
    parts: bool,
}

/// Mixture components fitted for `--synthetic` (fewer for small indexes: eight items each).
const SYNTHETIC_COMPONENTS: usize = 48;

pub(super) fn run(args: PartitionArgs) -> Result<()> {
    if let Some(out) = &args.out {
        anyhow::ensure!(
            args.index.canonicalize().ok() != out.canonicalize().ok(),
            "--out must be another folder than --index: each has its own index.json"
        );
    }
    let (manifest, data) = read_index_files(&args.index)?;
    manifest.data.verify(&data)?;
    let mut index = CatalogueIndex::from_bytes(&data)
        .with_context(|| format!("loading the index in {}", args.index.display()))?;
    drop(data);
    let started = std::time::Instant::now();
    if let Some(work) = &args.work
        && step(&args, work, &index, &manifest.data.sha256, started)?
    {
        return Ok(());
    }
    let Some(out) = args.out.clone() else {
        anyhow::bail!("--out is needed to publish");
    };
    if let Some(n) = args.synthetic {
        anyhow::ensure!(
            (1..=MAX_ITEMS).contains(&n),
            "--synthetic must be 1 to {MAX_ITEMS} items"
        );
        let components = (index.len() / 8).clamp(1, SYNTHETIC_COMPONENTS);
        let mix = Mixture::fit(&index, &[], components).context("the index has no items")?;
        index = mix
            .sample(&index, n, 2026)
            .context("drawing the synthetic catalogue")?;
    }
    let from_scratch = args.synthetic.is_some()
        || args.cells.is_some()
        || args.look_bytes.is_some()
        || args.full
        || args.work.is_some();
    if !from_scratch {
        match try_update(
            &args.index,
            &out,
            &index,
            &manifest.model_sha256,
            &manifest.images,
            args.parts,
        )? {
            Outcome::Done => return Ok(()),
            Outcome::Full(why) => println!("partitioning again: {why}"),
        }
    }
    let built = match &args.work {
        Some(work) => steps::gather(work, &index, &manifest.data.sha256)?,
        None => Partitioned::build(&index, &layout(&args, &index)?),
    };
    let mut publication = publish(
        &index,
        &built,
        &manifest.model_sha256,
        manifest.images.clone(),
    )?;
    publication.manifest.parts = args.parts.then_some(Parts::DEFAULT);
    carry_images(&args.index, &out, &manifest.images)?;
    let bytes = partitioned::publish(&out, &publication).context("publishing")?;
    println!(
        "partitioned {} items into {} cells in {} ({bytes} bytes, {:.1} s)",
        index.len(),
        built.cells.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the step of a build in `work` the arguments name, the training or a shard, on `index`
/// (whose data hashes to `sha`); false when they name neither (the gathering, which
/// publishes).
fn step(
    args: &PartitionArgs,
    work: &Path,
    index: &CatalogueIndex,
    sha: &str,
    started: std::time::Instant,
) -> Result<bool> {
    anyhow::ensure!(
        args.train || (args.cells.is_none() && args.look_bytes.is_none()),
        "the shards and the gathering use the layout the partition was trained with: give \
         --cells and --look-bytes to --train"
    );
    if args.train {
        let (marker, trained) = steps::train(work, index, sha, &layout(args, index)?)?;
        println!(
            "{} the partition of {} items in {} ({} bytes, {:.1} s)",
            if trained { "trained" } else { "had trained" },
            marker.rows,
            work.display(),
            marker.file.bytes,
            started.elapsed().as_secs_f64()
        );
        return Ok(true);
    }
    let shard = chosen(args.shard, args.shards)?;
    if let Some(shard) = shard {
        let (marker, placed) = steps::place(work, shard, index, sha)?;
        println!(
            "shard {}/{} {} {} rows into {} ({} bytes, {:.1} s)",
            marker.shard,
            marker.shards,
            if placed { "placed" } else { "had placed" },
            marker.rows,
            work.display(),
            marker.file.bytes,
            started.elapsed().as_secs_f64()
        );
        return Ok(true);
    }
    Ok(false)
}

/// The layout the arguments ask for, for `index`.
fn layout(args: &PartitionArgs, index: &CatalogueIndex) -> Result<Layout> {
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
    Ok(layout)
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
    from: &Path,
    out: &Path,
    index: &CatalogueIndex,
    model_sha256: &str,
    images: &[String],
    parts: bool,
) -> Result<Outcome> {
    if !out.join(INDEX_MANIFEST_FILE).exists() {
        return Ok(Outcome::Full("no index to update".into()));
    }
    let location = out.to_string_lossy();
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
        .with_context(|| format!("reading the index in {}", out.display()))?;
    let (mut publication, changes) = match update(
        &previous,
        &held,
        index,
        images.to_vec(),
        &UpdatePolicy::DEFAULT,
    )? {
        Update::Unchanged => {
            println!("{} is up to date ({} items)", out.display(), held.len());
            return Ok(Outcome::Done);
        }
        Update::Repartition(why) => return Ok(Outcome::Full(why)),
        Update::Delta {
            publication,
            changes,
        } => (publication, changes),
    };
    if parts && publication.manifest.parts.is_none() {
        publication.manifest.parts = Some(Parts::DEFAULT);
    }
    carry_images(from, out, images)?;
    let bytes = partitioned::publish(out, &publication).context("publishing")?;
    let total = publication.manifest.bytes();
    println!(
        "updated {}: {} added, {} changed, {} removed; {} cells rewritten{}; {} delta segments; wrote {bytes} bytes, {:.2}% of the index's {total} ({:.1} s)",
        out.display(),
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
