//! `deep-shopping index`: embed a catalogue folder into an index, in parallel, written so that
//! a killed run leaves the previous index intact.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Deserialize;

use super::args::ModelArgs;
use crate::embed::Photo;
use crate::files::{publish_index, read_model, write_atomic};
use crate::index::{CatalogueIndex, IndexEntry, Item};
use crate::preprocess::{Limits, decode};

/// Photos embedded per forward pass.
const BATCH: usize = 16;
/// Longest side of the thumbnails written for items without a `url`.
const THUMB_SIDE: u32 = 320;
/// Image file extensions picked up when no CSV is given.
const EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "webp", "bmp"];

#[derive(Debug, Args)]
pub(super) struct IndexArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Folder of catalogue images.
    #[arg(long)]
    images: PathBuf,
    /// CSV with a header naming `id`, `image` (relative to --images) and optionally `title`,
    /// `category`, `price`, `url`; without it every image in --images is an item.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Output folder for `index.json`, the index data and thumbnails.
    #[arg(long)]
    out: PathBuf,
    /// Index at most this many items (the first ones), for quick trials.
    #[arg(long)]
    limit: Option<usize>,
}

/// One catalogue photo, decoded and ready to embed.
struct PreparedItem {
    photo: Photo,
    image_url: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    image: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    price: Option<f64>,
    #[serde(default)]
    url: Option<String>,
}

fn rows_from_folder(dir: &Path) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !path.is_file() || !ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            continue;
        }
        let (Some(stem), Some(name)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.file_name().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        rows.push(Row {
            id: stem.to_string(),
            image: name.to_string(),
            title: None,
            category: None,
            price: None,
            url: None,
        });
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

fn rows_from_csv(csv_path: &Path) -> Result<Vec<Row>> {
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("opening {}", csv_path.display()))?;
    let mut rows = Vec::new();
    for (line, row) in reader.deserialize::<Row>().enumerate() {
        let mut row = row.with_context(|| format!("{} row {}", csv_path.display(), line + 2))?;
        row.title = row.title.filter(|s| !s.is_empty());
        row.category = row.category.filter(|s| !s.is_empty());
        row.url = row.url.filter(|s| !s.is_empty());
        rows.push(row);
    }
    Ok(rows)
}

/// A file-name-safe, unique name for an item's thumbnail.
fn thumb_name(position: usize, id: &str) -> String {
    let safe: String = id
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("images/{position:06}-{safe}.jpg")
}

pub(super) fn run(args: IndexArgs) -> Result<()> {
    let model = read_model(&args.model.model)?;
    let trained = model.manifest().trained;
    let mut rows = match &args.csv {
        Some(csv) => rows_from_csv(csv)?,
        None => rows_from_folder(&args.images)?,
    };
    if let Some(limit) = args.limit {
        rows.truncate(limit);
    }
    let mut seen = HashSet::new();
    if let Some(dup) = rows.iter().find(|r| !seen.insert(r.id.as_str())) {
        bail!("item id {:?} appears twice", dup.id);
    }
    if rows.is_empty() {
        bail!("no catalogue images found in {}", args.images.display());
    }
    std::fs::create_dir_all(args.out.join("images"))
        .with_context(|| format!("creating {}", args.out.display()))?;

    let limits = Limits::default();
    let bar = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut entries = Vec::with_capacity(rows.len());
    let mut skipped = 0usize;
    for (chunk_no, chunk) in rows.chunks(BATCH).enumerate() {
        let prepared: Vec<Option<_>> = chunk
            .par_iter()
            .enumerate()
            .map(|(i, row)| {
                let position = chunk_no * BATCH + i;
                let path = args.images.join(&row.image);
                let result = std::fs::read(&path)
                    .map_err(anyhow::Error::from)
                    .and_then(|bytes| Ok(decode(&bytes, &limits)?))
                    .and_then(|image| {
                        let photo = model.prepare_image(&image, None)?;
                        let image_url = match &row.url {
                            Some(url) => url.clone(),
                            None => {
                                let name = thumb_name(position, &row.id);
                                let thumb = image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
                                let mut jpeg = Vec::new();
                                thumb.write_to(
                                    &mut std::io::Cursor::new(&mut jpeg),
                                    image::ImageFormat::Jpeg,
                                )?;
                                write_atomic(&args.out.join(&name), &jpeg)?;
                                name
                            }
                        };
                        Ok(PreparedItem { photo, image_url })
                    });
                match result {
                    Ok(p) => Some(p),
                    Err(err) => {
                        log::warn!("skipping {}: {err:#}", path.display());
                        None
                    }
                }
            })
            .collect();
        let (read, prepared): (Vec<&Row>, Vec<PreparedItem>) = chunk
            .iter()
            .zip(prepared)
            .filter_map(|(row, p)| p.map(|p| (row, p)))
            .unzip();
        skipped += chunk.len() - read.len();
        let (photos, urls): (Vec<Photo>, Vec<String>) =
            prepared.into_iter().map(|p| (p.photo, p.image_url)).unzip();
        let descriptions = model.describe_prepared_blocking(photos)?;
        for ((row, image_url), mut description) in read.into_iter().zip(urls).zip(descriptions) {
            let item = Item {
                id: row.id.clone(),
                title: row.title.clone().unwrap_or_else(|| row.id.clone()),
                image: image_url,
                category: row.category.clone(),
                price: row.price,
                colours: Vec::new(),
            };
            // An untrained head's categories mean nothing: such an index ranks by look and
            // colour alone.
            if !trained {
                description.probabilities.clear();
            }
            entries.push(IndexEntry::new(item, description));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if entries.is_empty() {
        bail!("none of the {} catalogue images could be read", rows.len());
    }

    let index = CatalogueIndex::build(entries)?;
    let bytes = publish_index(&args.out, &index, model.model_sha256())?;
    println!(
        "indexed {} items into {} ({} bytes{})",
        index.len(),
        args.out.display(),
        bytes,
        if skipped > 0 {
            format!("; skipped {skipped} unreadable images")
        } else {
            String::new()
        }
    );
    Ok(())
}
