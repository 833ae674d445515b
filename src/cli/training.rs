//! `deep-shopping train` and `deep-shopping eval`: the training commands.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::args::ConfigArgs;
use crate::files::portable;
use crate::index::Blend;
use crate::train::config::TrainConfig;
use crate::train::eval::{EvalOptions, Subject};
use crate::train::report::{Metrics, QuerySplit};

#[derive(Debug, Args)]
pub(super) struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Continue from the run folder's last checkpoint.
    #[arg(long)]
    resume: bool,
}

/// Which photos are the queries of `eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Split {
    /// The test split; the catalogue is the training and validation photos.
    Test,
    /// The validation split, for choosing settings without looking at the test split; the
    /// catalogue is the training photos.
    Validation,
}

impl From<Split> for QuerySplit {
    fn from(split: Split) -> Self {
        match split {
            Split::Test => QuerySplit::Test,
            Split::Validation => QuerySplit::Validation,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct EvalArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Folder for report.md, report.json and the pictures (default: RUN_DIR/report, or
    /// RUN_DIR/report-validation with `--split validation`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Queries: the test split, or the validation split (catalogue: training photos) to
    /// choose settings without looking at the test split.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Category weight of the "as ranked" retrieval figures (`search --category-weight`).
    #[arg(long, default_value_t = Blend::DEFAULT.category)]
    category_weight: f32,
    /// Evaluate the exported model in this folder (e.g. `models`, the shipped one) instead of
    /// the run's networks: int8 figures only, no training curves. The configuration still
    /// gives the data and its split. Needs `--out`.
    #[arg(long, requires = "out")]
    model: Option<PathBuf>,
}

/// A command line (`args` as `std::env::args` gives them, the program first) as a model
/// manifest records it: `deep-shopping` and the arguments, with [`portable`] paths.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let args: Vec<String> = args.into_iter().skip(1).map(|a| portable(&a)).collect();
    format!("deep-shopping {}", args.join(" "))
        .trim_end()
        .to_string()
}

pub(super) fn train(args: TrainArgs) -> Result<()> {
    let config = TrainConfig::load(&args.config.config, &args.config.overrides)?;
    let files = crate::train::train(&config, args.resume, &command_line(std::env::args()))?;
    println!("trained; int8 model in {}", files.model_dir().display());
    Ok(())
}

pub(super) fn eval(args: EvalArgs) -> Result<()> {
    let config = TrainConfig::load(&args.config.config, &args.config.overrides)?;
    let files = crate::train::RunFiles::of(&config);
    let split = QuerySplit::from(args.split);
    let out = args.out.unwrap_or_else(|| {
        files.dir.join(match split {
            QuerySplit::Test => "report",
            QuerySplit::Validation => "report-validation",
        })
    });
    let options = EvalOptions {
        split,
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
            m.top1, m.top3, m.precision_at_10, m.map, m.ranked_precision_at_10, m.ranked_map
        )
    };
    if let Some(m) = &r.f32 {
        println!("f32:  {}", line(m));
    }
    println!("int8: {}\nreport in {}", line(&r.int8), out.display());
    Ok(())
}
