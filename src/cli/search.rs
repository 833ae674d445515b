//! `deep-shopping search`: rank the catalogue for each query photo.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::args::{ModelArgs, for_each_photo, read_photo};
use crate::files::{MAX_MANIFEST_BYTES, read_bounded, read_index, read_model};
use crate::index::ivf::{Probe, Published, Ranges, Request, is_partitioned, search};
use crate::index::{
    Blend, Card, CatalogueIndex, Hit, INDEX_MANIFEST_FILE, Item, Variants, rank_where, reason,
};
use crate::partitioned::{is_url, open};

#[derive(Debug, Args)]
pub(super) struct SearchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Index folder written by `deep-shopping index` or `deep-shopping partition`, or the
    /// http(s) URL of a partitioned one's folder (read with range requests).
    #[arg(long)]
    index: String,
    /// With a partitioned index: cells probed.
    #[arg(long, default_value_t = Probe::DEFAULT.cells)]
    cells: usize,
    /// With a partitioned index: candidates ranked exactly.
    #[arg(long, default_value_t = Probe::DEFAULT.candidates)]
    candidates: usize,
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
    /// What a partitioned index's query read.
    #[serde(skip_serializing_if = "Option::is_none")]
    read: Option<Read>,
}

/// What one query on a partitioned index read.
#[derive(Serialize)]
struct Read {
    rounds: usize,
    requests: usize,
    bytes: u64,
    candidates: usize,
}

/// The catalogue searched: a whole index in memory, or a partitioned one read in part.
enum Catalogue {
    Whole(CatalogueIndex),
    Partitioned(Box<Published>, Box<dyn Ranges + Send + Sync>),
}

pub(super) fn run(args: SearchArgs) -> Result<()> {
    let model = read_model(&args.model.model)?;
    let partitioned = is_url(&args.index)
        || read_bounded(
            &Path::new(&args.index).join(INDEX_MANIFEST_FILE),
            MAX_MANIFEST_BYTES,
        )
        .is_ok_and(|b| is_partitioned(&b));
    let catalogue = if partitioned {
        let (published, source) = open(&args.index)?;
        published.manifest.check_model(model.model_sha256())?;
        Catalogue::Partitioned(Box::new(published), source)
    } else {
        Catalogue::Whole(read_index(Path::new(&args.index), &model)?)
    };
    let blend = Blend {
        colour: args.colour_weight,
        category: args.category_weight,
    };
    let variants = if args.all_variants {
        Variants::All
    } else {
        Variants::Best
    };
    let keep = |item: &Item| args.include_out_of_stock || item.orderable();
    for_each_photo(&args.images, args.json, |path| {
        let description = model.describe_blocking(&read_photo(path)?, None)?;
        let predicted = model
            .manifest()
            .trained
            .then(|| model.top_labels(&description.probabilities, 1))
            .and_then(|top| top.into_iter().next())
            .map(|(label, _)| label);
        let card = |h: &Hit, item: &Item| {
            let why = reason(h, item, predicted.as_deref());
            Card::new(h, item, item.image.clone(), why, 0)
        };
        let (results, read): (Vec<Card>, _) = match &catalogue {
            Catalogue::Whole(index) => {
                let hits = rank_where(index, description.query(), blend, args.top, variants, keep);
                let cards = hits
                    .iter()
                    .map(|h| card(h, &index.items[h.index]))
                    .collect();
                (cards, None)
            }
            Catalogue::Partitioned(published, source) => {
                let probe = Probe {
                    cells: args.cells,
                    candidates: args.candidates,
                };
                let (found, trace) = search(
                    published,
                    source.as_ref(),
                    description.query(),
                    Request {
                        blend,
                        probe,
                        top: args.top,
                        variants,
                        orderable_only: !args.include_out_of_stock,
                    },
                    keep,
                )?;
                let cards = found.iter().map(|f| card(&f.hit, &f.item)).collect();
                let read = Read {
                    rounds: trace.rounds(),
                    requests: trace.requests(),
                    bytes: trace.bytes(),
                    candidates: trace.candidates,
                };
                (cards, Some(read))
            }
        };
        if args.json {
            let line = SearchLine {
                image: path.display().to_string(),
                results,
                read,
            };
            println!("{}", serde_json::to_string(&line)?);
        } else {
            println!("{}", path.display());
            if let Some(r) = &read {
                println!(
                    "  read {} bytes in {} requests, {} rounds ({} candidates ranked exactly)",
                    r.bytes, r.requests, r.rounds, r.candidates
                );
            }
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
