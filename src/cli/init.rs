//! `deep-shopping init`: write a freshly initialised (untrained) model folder.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::Args;

use crate::assets::{
    FileEntry, MODEL_FORMAT_VERSION, ModelManifest, WEIGHTS_FILE, quantise_weights,
};
use crate::files::write_model;
use crate::model::{ResNetConfig, Stem};
use crate::train::data::CLOTHING_LABELS;

#[derive(Debug, Args)]
pub(super) struct InitArgs {
    /// Output folder for `manifest.json` and `weights.safetensors`.
    #[arg(long, default_value = "models")]
    out: PathBuf,
    /// Residual blocks per stage, comma separated (2,2,2,2 is ResNet-18).
    #[arg(long, value_delimiter = ',', default_value = "2,2,2,2")]
    stages: Vec<usize>,
    /// Channels of the first stage (64 in the published ResNet-18).
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Side of the square input, in pixels.
    #[arg(long, default_value_t = 160)]
    input_size: usize,
    /// Embedding length.
    #[arg(long, default_value_t = 128)]
    embedding_dim: usize,
    /// Seed of the random initialisation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(super) fn run(args: InitArgs) -> Result<()> {
    if args.stages.is_empty() || args.width == 0 || args.input_size < 32 || args.embedding_dim == 0
    {
        bail!("need at least one stage, a width, an input of 32 px or more and an embedding");
    }
    let config = ResNetConfig {
        stages: args.stages,
        width: args.width,
        input_size: args.input_size,
        embedding_dim: args.embedding_dim,
        num_classes: CLOTHING_LABELS.len(),
        stem: Stem::Imagenet,
    };
    let device = Device::flex();
    device.seed(args.seed);
    let model = config.init(&device);
    let (weights, stats) = quantise_weights(&model).context("quantising the weights")?;
    let manifest = ModelManifest {
        format_version: MODEL_FORMAT_VERSION,
        model: config,
        labels: CLOTHING_LABELS.iter().map(|s| s.to_string()).collect(),
        trained: false,
        description: format!(
            "Untrained: random initialisation (seed {}); embeddings are not yet meaningful beyond near-duplicates.",
            args.seed
        ),
        weights: FileEntry::of(WEIGHTS_FILE, &weights),
    };
    write_model(&args.out, &manifest, &weights)?;
    println!(
        "wrote {} ({} bytes; {} int8 values, {} f32 values, max quantisation error {:.2e})",
        args.out.display(),
        weights.len(),
        stats.quantised,
        stats.kept,
        stats.max_abs_error
    );
    Ok(())
}
