//! `deep-shopping search`: rank the catalogue for each query photo.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use super::args::ModelArgs;
use crate::files::{read_index, read_model};
use crate::index::{Blend, rank};

#[derive(Debug, Args)]
pub(super) struct SearchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Index folder written by `deep-shopping index`.
    #[arg(long)]
    index: PathBuf,
    /// Number of results per photo.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Weight of colour similarity in the score, 0 (look only) to 1 (colour only).
    #[arg(long, default_value_t = Blend::DEFAULT.colour)]
    colour_weight: f32,
    /// Weight of category agreement (the query's and the item's predicted categories) added
    /// to the look similarity, 0 (embedding only) to 4. Needs an index built with a trained
    /// model.
    #[arg(long, default_value_t = Blend::DEFAULT.category)]
    category_weight: f32,
    /// Print one JSON object per photo instead of a table.
    #[arg(long)]
    json: bool,
    /// Query photos.
    #[arg(required = true)]
    images: Vec<PathBuf>,
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

pub(super) fn run(args: SearchArgs) -> Result<()> {
    let model = read_model(&args.model.model)?;
    let index = read_index(&args.index, &model)?;
    let blend = Blend {
        colour: args.colour_weight,
        category: args.category_weight,
    };
    for path in &args.images {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let description = model
            .describe_blocking(&bytes, None)
            .with_context(|| format!("describing {}", path.display()))?;
        let hits = rank(&index, description.query(), blend, args.top);
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
