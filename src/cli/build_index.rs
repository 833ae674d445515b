//! `deep-shopping index`: build a catalogue index from a store's product feed (Merchant
//! Center XML or TSV, Shopify's CSV export), or from a folder of photos with the simple CSV.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use super::args::ModelArgs;
use crate::build::{Built, MaxFailures, Request, Shard, Source, build, chosen};
use crate::download::Settings;
use crate::feed::{self, Format};
use crate::files::read_model;

#[derive(Debug, Args)]
pub(super) struct IndexArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The store's product feed: a path or an http(s):// URL (Merchant Center XML or TSV, or
    /// Shopify's products CSV export).
    #[arg(long, conflicts_with_all = ["images", "csv"])]
    feed: Option<String>,
    /// The feed's format (default: told from its content): merchant-xml, merchant-tsv,
    /// shopify or csv.
    #[arg(long, requires = "feed")]
    format: Option<Format>,
    /// The store's address, for the product pages of a Shopify export
    /// (`<store>/products/<handle>`).
    #[arg(long)]
    store_url: Option<String>,
    /// The currency of prices that name none (a Shopify export, bare prices of the simple
    /// CSV), as an ISO 4217 code.
    #[arg(long)]
    currency: Option<String>,
    /// A folder of catalogue photos (instead of a feed).
    #[arg(long)]
    images: Option<PathBuf>,
    /// With --images: a CSV with a header naming `id`, `image` (relative to --images) and
    /// optionally `title`, `category`, `price`, `currency`, `url`, `link`, `brand`,
    /// `availability`, `sale_price`, `color`, `size`, `group`; without it every photo in
    /// --images is an item.
    #[arg(long, requires = "images")]
    csv: Option<PathBuf>,
    /// Output folder for `index.json`, the index data and thumbnails.
    #[arg(long)]
    out: PathBuf,
    /// Folder of the download and description caches, kept between runs.
    #[arg(long, env = "DEEP_SHOPPING_CACHE")]
    cache: Option<PathBuf>,
    /// Photos downloaded at once.
    #[arg(long, default_value_t = Settings::default().concurrency)]
    concurrency: usize,
    /// Seconds to wait for a connection to the image host.
    #[arg(long, default_value_t = Settings::default().connect_timeout.as_secs_f64())]
    connect_timeout: f64,
    /// Seconds to wait for any one read of an answer.
    #[arg(long, default_value_t = Settings::default().read_timeout.as_secs_f64())]
    read_timeout: f64,
    /// Further attempts after a 5xx answer, a timeout or a network error.
    #[arg(long, default_value_t = Settings::default().retries)]
    retries: u32,
    /// Largest photo accepted, in bytes.
    #[arg(long, default_value_t = Settings::default().max_bytes)]
    max_image_bytes: usize,
    /// Fail without publishing when more items than this fail: a count (5) or a share of the
    /// items (2%).
    #[arg(long)]
    max_failures: Option<MaxFailures>,
    /// Show the page thumbnails written beside the index, not the feed's image URLs: the
    /// store's image host then never sees which results a shopper was shown.
    #[arg(long)]
    local_images: bool,
    /// Index at most this many items (the first ones), for quick trials.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the summary as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Build shard I of N (0-based) on a cluster: its slice of the products goes into its part
    /// file in --out, a parts folder the shards share; `deep-shopping merge` publishes the
    /// index once all have finished. A shard that finished before does nothing.
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    shard: Option<Shard>,
    /// Build one of N shards, the one `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job) or
    /// `SLURM_ARRAY_TASK_ID` (a Slurm array) names.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
}

fn seconds(s: f64, what: &str) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0 && s <= 3600.0) {
        bail!("--{what} must be a number of seconds above 0 and up to 3600");
    }
    Ok(Duration::from_secs_f64(s))
}

/// The default caches' folder: `$XDG_CACHE_HOME/deep-shopping/index`, or under `~/.cache`.
fn default_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("deep-shopping")
        .join("index")
}

/// Builds the index; exits 0 when every item was indexed, 2 when some failed (the index is
/// published without them), 1 (an error) when nothing was published. A shard exits the
/// same way for its slice.
pub(super) fn run(args: IndexArgs) -> Result<ExitCode> {
    let shard = chosen(args.shard, args.shards)?;
    let model = read_model(&args.model.model)?;
    let source = match (args.feed, args.images) {
        (Some(location), None) => Source::Feed {
            location,
            format: args.format,
            options: feed::Options {
                store_url: args.store_url,
                currency: args.currency,
                images: None,
            },
        },
        (None, Some(images)) => Source::Folder {
            images,
            csv: args.csv,
            currency: args.currency,
        },
        _ => bail!("give the catalogue with --feed FEED, or --images DIR [--csv FILE]"),
    };
    let request = Request {
        source,
        out: args.out,
        cache: args.cache.unwrap_or_else(default_cache),
        download: Settings {
            concurrency: args.concurrency.clamp(1, 256),
            connect_timeout: seconds(args.connect_timeout, "connect-timeout")?,
            read_timeout: seconds(args.read_timeout, "read-timeout")?,
            retries: args.retries.min(10),
            max_bytes: args.max_image_bytes.min(Settings::default().max_bytes),
            ..Settings::default()
        },
        max_failures: args.max_failures,
        limit: args.limit,
        local_images: args.local_images,
        shard,
    };
    let summary = match build(&request, &model)? {
        Built::Index(summary) => summary,
        Built::Part(summary, marker) => {
            println!(
                "shard {}/{}: {} of its {} products into {} ({} bytes)",
                marker.shard,
                marker.shards,
                marker.items,
                marker.products,
                request.out.join(&marker.part.file).display(),
                marker.part.bytes
            );
            summary
        }
        Built::AlreadyDone(marker) => {
            println!(
                "shard {}/{} had finished: {} items in {}; nothing to do",
                marker.shard,
                marker.shards,
                marker.items,
                request.out.join(&marker.part.file).display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    for f in &summary.failed {
        let place = match (&f.id, f.row) {
            (Some(id), Some(row)) => format!("item {id:?} (row {row})"),
            (Some(id), None) => format!("item {id:?}"),
            (None, Some(row)) => format!("row {row}"),
            (None, None) => "an item".into(),
        };
        eprintln!("failed: {place}: {}", f.reason);
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else if shard.is_some() {
        println!("{}", summary.text());
    } else {
        println!(
            "indexed {} items into {} ({} bytes)\n{}",
            summary.items,
            request.out.display(),
            summary.index_bytes,
            summary.text()
        );
    }
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
