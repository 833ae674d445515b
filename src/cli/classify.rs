//! `deep-shopping classify`: the most probable categories of each photo.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, for_each_photo, read_photo};
use crate::files::read_model;

#[derive(Debug, Args)]
pub(super) struct ClassifyArgs {
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

pub(super) fn run(args: ClassifyArgs) -> Result<()> {
    let model = read_model(&args.model.model)?;
    if !model.manifest().trained && !args.allow_untrained {
        bail!(
            "the model in {} is untrained, so its categories are meaningless; train one first or pass --allow-untrained",
            args.model.model.display()
        );
    }
    for_each_photo(&args.images, args.json, |path| {
        let description = model.describe_blocking(&read_photo(path)?, None)?;
        let top: Vec<Label> = model
            .top_labels(&description.probabilities, args.top)
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
        Ok(())
    })?;
    Ok(())
}
