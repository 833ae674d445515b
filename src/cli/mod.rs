//! The native command line: make model files, build a catalogue index, search and classify.

mod build_index;
mod files;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::assets::{FileEntry, MODEL_FORMAT_VERSION, ModelManifest, quantize_weights};
use crate::colour;
use crate::embed::Embedder;
use crate::index::{CatalogueIndex, INDEX_MANIFEST_FILE, IndexManifest, Query, Weights, rank};
use crate::model::{ResNetConfig, Stem};
use crate::preprocess::{Limits, prepare};
use crate::train::config::TrainConfig;
use crate::train::eval::{EvalOptions, Metrics, QuerySplit, Subject};

pub use files::{command_line, portable, write_atomic};

/// The 17 clothing categories of the default catalogue, in head order.
pub const CLOTHING_LABELS: [&str; 17] = [
    "Blazer",
    "Blouse",
    "Body",
    "Dress",
    "Hat",
    "Hoodie",
    "Longsleeve",
    "Outwear",
    "Pants",
    "Polo",
    "Shirt",
    "Shoes",
    "Shorts",
    "Skirt",
    "T-Shirt",
    "Top",
    "Undershirt",
];

/// Deep Shopping: private visual search for fashion stores.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a freshly initialised (untrained) model: int8 weights and manifest.
    Init(InitArgs),
    /// Embed a catalogue folder into an index the page and `search` load.
    Index(build_index::IndexArgs),
    /// Rank the catalogue for each query photo.
    Search(SearchArgs),
    /// Predict the category of each photo.
    Classify(ClassifyArgs),
    /// Train a model from a TOML configuration (see configs/).
    Train(TrainArgs),
    /// Evaluate a trained run (or an exported model folder) on its test split and write the
    /// report.
    Eval(EvalArgs),
}

/// Which configuration, with overrides.
#[derive(Debug, Args)]
struct ConfigArgs {
    /// Training configuration (TOML), e.g. configs/clothing.toml.
    #[arg(long)]
    config: PathBuf,
    /// Override one setting, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Debug, Args)]
struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    resume: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Folder for report.md, report.json and the pictures (default: RUN_DIR/report, or
    /// RUN_DIR/report-validation with `--split validation`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Queries: the test split, or the validation split (catalogue: training photos) to
    /// choose settings without looking at the test split.
    #[arg(long, value_enum, default_value_t = QuerySplit::Test)]
    split: QuerySplit,
    /// Category weight of the "as ranked" retrieval figures (`search --category-weight`).
    #[arg(long, default_value_t = Weights::DEFAULT.category)]
    category_weight: f32,
    /// Evaluate the exported model in this folder (e.g. `models`, the shipped one) instead of
    /// the run's networks: int8 figures only, no training curves. The configuration still
    /// gives the data and its split. Needs `--out`.
    #[arg(long, requires = "out")]
    model: Option<PathBuf>,
}

/// Where the model is.
#[derive(Debug, Args)]
struct ModelArgs {
    /// Folder holding `manifest.json` and the weights it names.
    #[arg(long, env = "DEEP_SHOPPING_MODEL", default_value = "models")]
    model: PathBuf,
}

#[derive(Debug, Args)]
struct InitArgs {
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

#[derive(Debug, Args)]
struct SearchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Index folder written by `deep-shopping index`.
    #[arg(long)]
    index: PathBuf,
    /// Number of results per photo.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Weight of colour similarity in the score, 0 (look only) to 1 (colour only).
    #[arg(long, default_value_t = Weights::DEFAULT.colour)]
    colour_weight: f32,
    /// Weight of category agreement (the query's and the item's predicted categories) added
    /// to the look similarity, 0 (embedding only) to 4. Needs an index built with a trained
    /// model.
    #[arg(long, default_value_t = Weights::DEFAULT.category)]
    category_weight: f32,
    /// Print one JSON object per photo instead of a table.
    #[arg(long)]
    json: bool,
    /// Query photos.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Number of categories listed per photo.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Print one JSON object per photo instead of text.
    #[arg(long)]
    json: bool,
    /// Classify with untrained weights anyway (their categories are meaningless).
    #[arg(long)]
    allow_untrained: bool,
    /// Photos to classify.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Entry point of the native binary: runs the command and prints the error chain on failure.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init(args) => init(args),
        Command::Index(args) => build_index::run(args),
        Command::Search(args) => search(args),
        Command::Classify(args) => classify(args),
        Command::Train(args) => {
            let config = TrainConfig::load(&args.config.config, &args.config.overrides)?;
            let files = crate::train::train(&config, args.resume, &command_line(std::env::args()))?;
            println!("trained; int8 model in {}", files.model_dir().display());
            Ok(())
        }
        Command::Eval(args) => {
            let config = TrainConfig::load(&args.config.config, &args.config.overrides)?;
            let files = crate::train::run_files(&config);
            let out = args.out.unwrap_or_else(|| {
                files.dir.join(match args.split {
                    QuerySplit::Test => "report",
                    QuerySplit::Validation => "report-validation",
                })
            });
            let options = EvalOptions {
                split: args.split,
                category_weight: args.category_weight,
            };
            let subject = match &args.model {
                Some(dir) => Subject::Model(dir),
                None => Subject::Run(&files),
            };
            let r = crate::train::eval::evaluate(&config, subject, &out, options)?;
            let line = |m: &Metrics| {
                format!(
                    "top-1 {:.4} top-3 {:.4} P@10 {:.4} mAP {:.4} (as ranked: P@10 {:.4} mAP {:.4})",
                    m.top1,
                    m.top3,
                    m.precision_at_10,
                    m.map,
                    m.ranked_precision_at_10,
                    m.ranked_map
                )
            };
            if let Some(m) = &r.f32 {
                println!("f32:  {}", line(m));
            }
            println!("int8: {}\nreport in {}", line(&r.int8), out.display());
            Ok(())
        }
    }
}

/// Loads the model in `dir` on the CPU backend.
pub fn load_model(dir: &Path) -> Result<Embedder> {
    load_model_on(dir, Device::flex())
}

/// Loads the model in `dir` (manifest, checksum-verified weights) on `device`.
pub fn load_model_on(dir: &Path, device: Device) -> Result<Embedder> {
    let manifest_path = dir.join(crate::assets::MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let parsed = ModelManifest::from_json(&manifest)
        .with_context(|| format!("in {}", manifest_path.display()))?;
    let weights_path = dir.join(&parsed.weights.file);
    let weights = std::fs::read(&weights_path)
        .with_context(|| format!("reading {}", weights_path.display()))?;
    Embedder::load(&manifest, &weights, device)
        .with_context(|| format!("loading the model in {}", dir.display()))
}

/// Loads the index in `dir`, refusing one made by another model than `model`.
pub fn load_index(dir: &Path, model: &Embedder) -> Result<CatalogueIndex> {
    let manifest_path = dir.join(INDEX_MANIFEST_FILE);
    let manifest = IndexManifest::from_json(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("in {}", manifest_path.display()))?;
    let data_path = dir.join(&manifest.data.file);
    let data =
        std::fs::read(&data_path).with_context(|| format!("reading {}", data_path.display()))?;
    CatalogueIndex::load(&manifest, &data, model.model_sha256())
        .with_context(|| format!("loading the index in {}", dir.display()))
}

fn init(args: InitArgs) -> Result<()> {
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
    let (weights, stats) = quantize_weights(&model).context("quantising the weights")?;
    let manifest = ModelManifest {
        format_version: MODEL_FORMAT_VERSION,
        model: config,
        labels: CLOTHING_LABELS.iter().map(|s| s.to_string()).collect(),
        trained: false,
        description: format!(
            "Untrained: random initialisation (seed {}); embeddings are not yet meaningful beyond near-duplicates.",
            args.seed
        ),
        weights: FileEntry::of(crate::assets::WEIGHTS_FILE, &weights),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_atomic(&args.out.join(crate::assets::WEIGHTS_FILE), &weights)?;
    write_atomic(
        &args.out.join(crate::assets::MANIFEST_FILE),
        &manifest.to_json(),
    )?;
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

#[derive(Serialize)]
struct SearchResult<'a> {
    id: &'a str,
    score: f32,
    /// The score over the best any item could reach for this photo, 0..1.
    #[serde(rename = "match")]
    share: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    title: &'a str,
}

#[derive(Serialize)]
struct SearchLine<'a> {
    image: String,
    results: Vec<SearchResult<'a>>,
}

fn search(args: SearchArgs) -> Result<()> {
    let model = load_model(&args.model.model)?;
    let index = load_index(&args.index, &model)?;
    let limits = Limits::default();
    for path in &args.images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let prepared = prepare(&bytes, None, model.input_size(), &limits)
            .with_context(|| format!("preparing {}", path.display()))?;
        let colours = colour::features(&prepared.square);
        let out = model
            .embed_blocking(&[prepared.input])?
            .pop()
            .context("the model returned no embedding")?;
        let hits = rank(
            &index,
            Query {
                embedding: &out.embedding,
                histogram: &colours.histogram,
                probabilities: &out.probabilities,
            },
            Weights {
                colour: args.colour_weight,
                category: args.category_weight,
            },
            args.top,
        );
        let results: Vec<SearchResult> = hits
            .iter()
            .map(|h| {
                let item = &index.items[h.index];
                SearchResult {
                    id: &item.id,
                    score: h.score,
                    share: h.share,
                    category: item.category.as_deref(),
                    title: &item.title,
                }
            })
            .collect();
        if args.json {
            let line = SearchLine {
                image: path.display().to_string(),
                results,
            };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            println!("{}", path.display());
            for (rank, r) in results.iter().enumerate() {
                println!(
                    "  {:>3}. {:.4} {:>4.0}%  {:<24} {:<12} {}",
                    rank + 1,
                    r.score,
                    r.share * 100.0,
                    r.id,
                    r.category.unwrap_or("-"),
                    r.title
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Label {
    label: String,
    score: f32,
}

#[derive(Serialize)]
struct ClassifyLine {
    image: String,
    top: Vec<Label>,
}

fn classify(args: ClassifyArgs) -> Result<()> {
    let model = load_model(&args.model.model)?;
    if !model.manifest().trained && !args.allow_untrained {
        bail!(
            "the model in {} is untrained, so its categories are meaningless; train one first or pass --allow-untrained",
            args.model.model.display()
        );
    }
    let limits = Limits::default();
    for path in &args.images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let prepared = prepare(&bytes, None, model.input_size(), &limits)
            .with_context(|| format!("preparing {}", path.display()))?;
        let out = model
            .embed_blocking(&[prepared.input])?
            .pop()
            .context("the model returned no output")?;
        let top: Vec<Label> = model
            .top_labels(&out.probabilities, args.top)
            .into_iter()
            .map(|(label, score)| Label { label, score })
            .collect();
        if args.json {
            let line = ClassifyLine {
                image: path.display().to_string(),
                top,
            };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            let text: Vec<String> = top
                .iter()
                .map(|l| format!("{} {:.3}", l.label, l.score))
                .collect();
            println!("{}: {}", path.display(), text.join(", "));
        }
    }
    Ok(())
}
