//! Where a build's products and photos come from: the feed (a file or a URL) or the folder
//! and its CSV, and each product's photo, downloaded through the cache or read from its file.

use std::path::Path;

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::summary::Failed;
use crate::assets::sha256_hex;
use crate::download::{Downloader, Fetched};
use crate::feed::{self, Feed, Format, ImageSource, Product};
use crate::files::read_bounded;

/// Largest feed read.
const MAX_FEED_BYTES: usize = 1 << 30;

/// Where the products come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A product feed: a local file or an `http(s)://` URL.
    Feed {
        /// Path or URL.
        location: String,
        /// Its format, or `None` to tell it from the content.
        format: Option<Format>,
        /// What the format needs besides.
        options: feed::Options,
    },
    /// A folder of photos, described by the simple CSV or, without one, one item per photo.
    Folder {
        /// The photos.
        images: PathBuf,
        /// The simple CSV.
        csv: Option<PathBuf>,
        /// Currency of the CSV's bare prices.
        currency: Option<String>,
    },
}

/// A product's photo, fetched: its bytes, their sha256 and how they came.
pub(super) struct Fetch {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub how: Option<Fetched>,
}

/// Reads the products of `source`.
pub(super) fn read_source(source: &Source, downloader: &Downloader) -> Result<Feed> {
    match source {
        Source::Feed {
            location,
            format,
            options,
        } => {
            let bytes = if location.starts_with("http://") || location.starts_with("https://") {
                downloader
                    .document(location, MAX_FEED_BYTES)
                    .map_err(|f| anyhow::anyhow!("downloading the feed {location}: {f}"))?
            } else {
                read_bounded(Path::new(location), MAX_FEED_BYTES).context("reading the feed")?
            };
            let format = match format {
                Some(f) => *f,
                None => Format::detect(&bytes).ok_or(feed::FeedError::Unknown)?,
            };
            Ok(feed::read(&bytes, format, options)
                .with_context(|| format!("reading the feed {location}"))?)
        }
        Source::Folder {
            images,
            csv: Some(csv),
            currency,
        } => {
            let bytes = read_bounded(csv, MAX_FEED_BYTES)?;
            let options = feed::Options {
                images: Some(images.clone()),
                currency: currency.clone(),
                ..feed::Options::default()
            };
            Ok(feed::read(&bytes, Format::Simple, &options)
                .with_context(|| format!("reading {}", csv.display()))?)
        }
        Source::Folder {
            images, csv: None, ..
        } => Ok(feed::from_folder(images)?),
    }
}

/// Fetches the photo of `product`: downloaded (through the cache) or read from its file.
pub(super) fn fetch(product: &Product, downloader: &Downloader) -> Result<Fetch, Failed> {
    let fail = |kind: String, reason: String| Failed {
        id: Some(product.id.clone()),
        row: None,
        kind,
        reason,
    };
    match &product.image {
        ImageSource::Url(url) => downloader
            .photo(url)
            .map(|d| Fetch {
                bytes: d.bytes,
                sha256: d.sha256,
                how: Some(d.how),
            })
            .map_err(|f| fail(f.kind(), format!("{url}: {f}"))),
        ImageSource::File(path) => read_bounded(path, downloader.settings().max_bytes)
            .map(|bytes| Fetch {
                sha256: sha256_hex(&bytes),
                bytes,
                how: None,
            })
            .map_err(|e| fail("unreadable file".into(), format!("{e:#}"))),
    }
}
