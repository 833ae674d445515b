//! `deep-shopping partition`: publish a built index as a partitioned one, which a query reads
//! only in part (the cells nearest to it, its best candidates' records, the shown items).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::files::read_index_files;
use crate::index::CatalogueIndex;
use crate::index::ivf::{Layout, Partitioned, publish};
use crate::partitioned::{self, carry_images};

#[derive(Debug, Args)]
pub(super) struct PartitionArgs {
    /// Index folder written by `deep-shopping index`.
    #[arg(long)]
    index: PathBuf,
    /// Output folder for the partitioned index (its `index.json`, its files, its thumbnails).
    #[arg(long)]
    out: PathBuf,
    /// Cells of the partition (default: one per 1,000 items).
    #[arg(long)]
    cells: Option<usize>,
    /// Items sampled to fit the partition and the codebooks.
    #[arg(long, default_value_t = Layout::for_items(0).sample)]
    sample: usize,
}

pub(super) fn run(args: PartitionArgs) -> Result<()> {
    anyhow::ensure!(
        args.index.canonicalize().ok() != args.out.canonicalize().ok(),
        "--out must be another folder than --index: each has its own index.json"
    );
    let (manifest, data) = read_index_files(&args.index)?;
    manifest.data.verify(&data)?;
    let index = CatalogueIndex::from_bytes(&data)
        .with_context(|| format!("loading the index in {}", args.index.display()))?;
    let mut layout = Layout::for_items(index.len());
    if let Some(cells) = args.cells {
        anyhow::ensure!(
            (1..=index.len()).contains(&cells),
            "--cells must be 1 to the number of items ({})",
            index.len()
        );
        layout.cells = cells;
    }
    layout.sample = args.sample.max(1);
    let started = std::time::Instant::now();
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
