//! `deep-shopping merge`: publish the index a sharded build (`index --shard`) wrote in parts,
//! once every shard has finished.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, ensure};
use clap::Args;

use super::args::ModelArgs;
use crate::build::merge;
use crate::files::read_model;

#[derive(Debug, Args)]
pub(super) struct MergeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The parts folder the shards wrote (their `--out`).
    #[arg(long)]
    parts: PathBuf,
    /// Output folder for `index.json`, the index data and thumbnails.
    #[arg(long)]
    out: PathBuf,
}

/// Merges; exits 0, 2 when some items failed in the shards (published without them), 75
/// while shards are unfinished (retry later), 1 on any other error.
pub(super) fn run(args: MergeArgs) -> Result<ExitCode> {
    ensure!(
        args.parts.canonicalize().ok() != args.out.canonicalize().ok(),
        "--out must be another folder than --parts"
    );
    let model = read_model(&args.model.model)?;
    let merged = merge(&args.parts, &args.out, model.model_sha256())?;
    for f in &merged.failed {
        eprintln!(
            "failed: {}: {}",
            f.id.as_deref()
                .map_or("an item".into(), |id| format!("item {id:?}")),
            f.reason
        );
    }
    println!(
        "merged {} shards: {} items into {} ({} bytes), {} failed",
        merged.shards,
        merged.items,
        args.out.display(),
        merged.index_bytes,
        merged.failed.len()
    );
    Ok(if merged.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
