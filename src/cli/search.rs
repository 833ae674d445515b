//! `deep-shopping search`: rank the catalogue for each query photo.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, for_each_photo, read_photo};
use crate::files::{read_index, read_model};
use crate::index::{Blend, Card, Variants, rank_where, reason};

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
    /// Print one JSON object per photo instead of a table (each result with the fields the
    /// page's JS API gives).
    #[arg(long)]
    json: bool,
    /// Show every variant of a product, not only the one that matched best.
    #[arg(long)]
    all_variants: bool,
    /// Show items that are out of stock too.
    #[arg(long)]
    include_out_of_stock: bool,
    /// Query photos.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(Serialize)]
struct SearchLine {
    image: String,
    results: Vec<Card>,
}

pub(super) fn run(args: SearchArgs) -> Result<()> {
    let model = read_model(&args.model.model)?;
    let index = read_index(&args.index, &model)?;
    let blend = Blend {
        colour: args.colour_weight,
        category: args.category_weight,
    };
    for_each_photo(&args.images, args.json, |path| {
        let description = model.describe_blocking(&read_photo(path)?, None)?;
        let variants = if args.all_variants {
            Variants::All
        } else {
            Variants::Best
        };
        let hits = rank_where(
            &index,
            description.query(),
            blend,
            args.top,
            variants,
            |item| args.include_out_of_stock || item.orderable(),
        );
        let predicted = model
            .manifest()
            .trained
            .then(|| model.top_labels(&description.probabilities, 1))
            .and_then(|top| top.into_iter().next())
            .map(|(label, _)| label);
        let results: Vec<Card> = hits
            .iter()
            .map(|h| {
                let item = &index.items[h.index];
                let why = reason(h, item, predicted.as_deref());
                Card::new(h, item, item.image.clone(), why, 0)
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
                let price = r
                    .sale_price
                    .as_ref()
                    .or(r.price.as_ref())
                    .map(|p| format!("{:.2} {}", p.amount, p.currency))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "  {:>3}. {:.4} {:>4.0}%  {:<24} {:<12} {:>12}  {}",
                    rank + 1,
                    r.score,
                    r.share * 100.0,
                    r.id,
                    r.category.as_deref().unwrap_or("-"),
                    price,
                    r.title
                );
            }
        }
        Ok(())
    })
}
