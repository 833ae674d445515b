//! Describing a batch of fetched photos: decoded and prepared where the model (or a missing
//! thumbnail) needs the pixels, described by the model in one pass, or taken from the
//! description cache; each product then becomes its index entry.

use std::path::Path;

use anyhow::{Context, Result, bail};
use image::DynamicImage;
use rayon::prelude::*;

use super::cache::DescriptionCache;
use super::fetch::Fetch;
use super::summary::Failed;
use crate::download::Fetched;
use crate::embed::{Embedder, Photo};
use crate::feed::Product;
use crate::files::write_atomic;
use crate::index::{Description, IndexEntry, Item};
use crate::preprocess::{Limits, decode};

/// Longest side of the thumbnails written for items the feed gives no image URL.
const THUMB_SIDE: u32 = 320;

/// A product of a batch on its way into the index.
pub(super) struct Pending<'a> {
    pub product: &'a Product,
    pub fetched: &'a Fetch,
    /// Its description, when the cache had it.
    pub cached: Option<Description>,
    /// Its thumbnail, where the feed gives the page no image URL.
    pub thumb: Option<String>,
}

/// What became of a pending product.
pub(super) enum Done {
    /// It goes into the index.
    Entry {
        entry: Box<IndexEntry>,
        thumb: Option<String>,
        how: Option<Fetched>,
        /// Whether its description came from the cache.
        cached: bool,
    },
    /// Its photo could not be read.
    Failed(Failed),
}

/// What describing a batch needs.
pub(super) struct Batch<'a> {
    pub model: &'a Embedder,
    pub descriptions: &'a DescriptionCache,
    pub out: &'a Path,
    pub limits: Limits,
}

impl Batch<'_> {
    /// Decodes and prepares where the model or a missing thumbnail needs the pixels, writing
    /// the thumbnail. An error writing it (the output) ends the build; a photo that cannot be
    /// read fails its item.
    fn prepare(&self, p: &Pending<'_>) -> Result<Prepared> {
        let thumb_missing = p.thumb.as_ref().filter(|t| !self.out.join(t).is_file());
        if p.cached.is_some() && thumb_missing.is_none() {
            return Ok(Prepared::Nothing);
        }
        let image = match decode(&p.fetched.bytes, &self.limits) {
            Ok(image) => image,
            Err(e) => return Ok(Prepared::Unreadable(e.to_string())),
        };
        if let Some(t) = thumb_missing {
            write_thumbnail(self.out, t, &image)?;
        }
        if p.cached.is_some() {
            return Ok(Prepared::Nothing);
        }
        Ok(match self.model.prepare_image(&image, None) {
            Ok(photo) => Prepared::Photo(photo),
            Err(e) => Prepared::Unreadable(e.to_string()),
        })
    }

    /// Describes the batch: cached descriptions kept, the rest through the model (and into
    /// the cache).
    pub(super) fn run(&self, batch: Vec<Pending<'_>>) -> Result<Vec<Done>> {
        let prepared: Vec<Result<Prepared>> = batch.par_iter().map(|p| self.prepare(p)).collect();
        let mut photos = Vec::new();
        let prepared: Vec<Prepared> = prepared
            .into_iter()
            .map(|p| {
                Ok(match p? {
                    Prepared::Photo(photo) => {
                        photos.push(photo);
                        Prepared::Described
                    }
                    other => other,
                })
            })
            .collect::<Result<_>>()?;
        let mut fresh = self.model.describe_prepared_blocking(photos)?.into_iter();
        let trained = self.model.manifest().trained;
        batch
            .into_iter()
            .zip(prepared)
            .map(|(p, prepared)| {
                let (mut description, cached) = match (prepared, p.cached) {
                    (Prepared::Unreadable(reason), _) => {
                        return Ok(Done::Failed(Failed {
                            id: Some(p.product.id.clone()),
                            row: None,
                            kind: "unreadable image".into(),
                            reason,
                        }));
                    }
                    (Prepared::Described, _) => {
                        let d = fresh
                            .next()
                            .context("the model returned fewer descriptions than photos")?;
                        self.descriptions
                            .put(&p.fetched.sha256, &d)
                            .context("writing the description cache")?;
                        (d, false)
                    }
                    (_, Some(d)) => (d, true),
                    (Prepared::Nothing | Prepared::Photo(_), None) => {
                        bail!("a photo was neither described nor cached")
                    }
                };
                // An untrained head's categories mean nothing: such an index ranks by look
                // and colour alone.
                if !trained {
                    description.probabilities.clear();
                }
                let item = item(p.product, &p.fetched.sha256, p.thumb.as_deref());
                Ok(Done::Entry {
                    entry: Box::new(IndexEntry::new(item, description)),
                    thumb: p.thumb,
                    how: p.fetched.how,
                    cached,
                })
            })
            .collect()
    }
}

/// What a fetched photo still needed done to it.
enum Prepared {
    /// Nothing: its description was cached (and its thumbnail written, where it has one).
    Nothing,
    /// Prepared for the model.
    Photo(Photo),
    /// Prepared and handed to the model.
    Described,
    /// It could not be read, for this reason.
    Unreadable(String),
}

/// The item `product` becomes, with its photo's `sha256`; the page shows its thumbnail when
/// it has one, else the image URL of the feed.
fn item(product: &Product, sha256: &str, thumbnail: Option<&str>) -> Item {
    Item {
        id: product.id.clone(),
        title: product.title.clone(),
        image: thumbnail
            .map(str::to_string)
            .or_else(|| product.image_url.clone())
            .unwrap_or_default(),
        link: product.link.clone(),
        category: product.category.clone(),
        price: product.price.clone(),
        sale_price: product.sale_price.clone(),
        availability: product.availability,
        brand: product.brand.clone(),
        colour_name: product.colour.clone(),
        sizes: product.sizes.clone(),
        group: product.group.clone(),
        image_sha256: Some(sha256.to_string()),
        colours: Vec::new(),
    }
}

/// The thumbnail of the photo whose bytes hash to `sha256`: named by that hash, so a photo
/// changed under the same id gets a new file and a published one is never overwritten.
pub(super) fn thumbnail_name(sha256: &str) -> String {
    format!("images/{}.jpg", &sha256[..16])
}

fn write_thumbnail(out: &Path, name: &str, image: &DynamicImage) -> Result<()> {
    let thumb = image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    thumb
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .context("encoding a thumbnail")?;
    write_atomic(&out.join(name), &jpeg).context("writing the index's thumbnails")
}
