//! What a feed holds, whatever its format: products, the rows refused and why, and the
//! errors that stop a feed being read at all.

use std::path::PathBuf;

use thiserror::Error;

use crate::index::{Availability, Money};

/// A feed could not be read at all (a bad row is a [`Rejected`] row, not this).
#[derive(Debug, Error)]
pub enum FeedError {
    /// The XML is malformed.
    #[error("the feed is not well-formed XML: {0}")]
    Xml(String),
    /// The CSV or TSV is malformed, or lacks a required column.
    #[error("the feed's table cannot be read: {0}")]
    Table(String),
    /// The format could not be told from the content.
    #[error(
        "cannot tell the feed's format from its content; name it with --format (merchant-xml, merchant-tsv, shopify, csv)"
    )]
    Unknown,
    /// A setting the format needs is missing.
    #[error("{0}")]
    Setting(String),
}

/// Where a product's photo is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// On the store's image host.
    Url(String),
    /// A file on this machine (the simple CSV and image folder).
    File(PathBuf),
}

/// One product as the feed describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Unique id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The product page.
    pub link: Option<String>,
    /// The photo to describe.
    pub image: ImageSource,
    /// The URL the page shows the photo from (`None`: a thumbnail written with the index).
    pub image_url: Option<String>,
    /// Further photos (not described; kept for the page).
    pub additional_images: Vec<String>,
    /// Price.
    pub price: Option<Money>,
    /// Sale price.
    pub sale_price: Option<Money>,
    /// Availability.
    pub availability: Option<Availability>,
    /// Brand.
    pub brand: Option<String>,
    /// The store's colour name.
    pub colour: Option<String>,
    /// Sizes.
    pub sizes: Vec<String>,
    /// Gender.
    pub gender: Option<String>,
    /// Category: the last level of the store's `product_type`, else of
    /// `google_product_category` when it is text.
    pub category: Option<String>,
    /// Variant group.
    pub group: Option<String>,
}

impl Product {
    /// A product with only an id, a title and a photo.
    pub fn new(id: String, title: String, image: ImageSource) -> Self {
        Self {
            id,
            title,
            link: None,
            image,
            image_url: None,
            additional_images: Vec::new(),
            price: None,
            sale_price: None,
            availability: None,
            brand: None,
            colour: None,
            sizes: Vec::new(),
            gender: None,
            category: None,
            group: None,
        }
    }
}

/// A row the feed's rules refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its number: the line of a table (the header is line 1), the entry of an XML feed.
    pub row: usize,
    /// Its id, when it has one.
    pub id: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// What a feed holds: its products, and the rows refused.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// Products, in feed order, ids unique.
    pub products: Vec<Product>,
    /// Rows refused, in feed order.
    pub rejected: Vec<Rejected>,
}

impl Feed {
    /// Adds `product` from `row`, refusing a second product with an id already seen.
    pub(super) fn push(
        &mut self,
        row: usize,
        product: Product,
        seen: &mut std::collections::HashMap<String, usize>,
    ) {
        match seen.get(&product.id) {
            Some(first) => self.rejected.push(Rejected {
                row,
                id: Some(product.id.clone()),
                reason: format!("duplicate id (first at row {first})"),
            }),
            None => {
                seen.insert(product.id.clone(), row);
                self.products.push(product);
            }
        }
    }
}

/// What some formats need besides the feed.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The store's address, for Shopify product pages (`<store>/products/<handle>`).
    pub store_url: Option<String>,
    /// The currency of Shopify prices (the export has none).
    pub currency: Option<String>,
    /// The folder the simple CSV's image paths are relative to.
    pub images: Option<PathBuf>,
}

/// The last level of a category path (`Apparel > Dresses` gives `Dresses`), or `None` for a
/// numeric Google category id or an empty path.
pub fn last_level(path: &str) -> Option<String> {
    let last = path.rsplit('>').next()?.trim();
    (!last.is_empty() && !last.chars().all(|c| c.is_ascii_digit())).then(|| last.to_string())
}

/// One line of a table: its number, and its cells or why it cannot be read.
pub(super) type Line = (usize, Result<csv::StringRecord, Rejected>);

/// The header (names trimmed) and the lines of a CSV (`delimiter` `,`) or TSV (`\t`) table,
/// each line numbered as a text editor does (the header is line 1).
pub(super) fn table(text: &str, delimiter: u8) -> Result<(Vec<String>, Vec<Line>), FeedError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FeedError::Table(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let lines = reader
        .records()
        .enumerate()
        .map(|(i, record)| {
            let row = i + 2;
            let record = record.map_err(|e| Rejected {
                row,
                id: None,
                reason: format!("unreadable line: {e}"),
            });
            (row, record)
        })
        .collect();
    Ok((header, lines))
}
