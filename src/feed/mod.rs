//! Product feeds as stores already keep them, read into products: Google Merchant Center
//! product data (RSS 2.0 or Atom with the `g:` namespace, or TSV), Shopify's products CSV
//! export, and this project's simple catalogue CSV. A row that breaks the feed's rules is
//! refused with its row number, its id when it has one, and the reason; the rest are read.

mod merchant;
mod product;
mod shopify;
mod simple;
mod xml;

use std::str::FromStr;

pub use merchant::{parse_availability, parse_price};
pub use product::{Feed, FeedError, ImageSource, Options, Product, Rejected, last_level};
pub use simple::{confined, from_folder};

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Merchant Center XML: RSS 2.0 `<item>`s or Atom `<entry>`s with `g:` fields.
    MerchantXml,
    /// Merchant Center TSV: a header of attribute names, one product per line.
    MerchantTsv,
    /// Shopify's products export: several rows per product (`Handle`, `Variant SKU`, ...).
    Shopify,
    /// The simple catalogue CSV: `id,image[,title,category,price,url]`, images in a folder.
    Simple,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "merchant-xml" => Ok(Format::MerchantXml),
            "merchant-tsv" => Ok(Format::MerchantTsv),
            "shopify" => Ok(Format::Shopify),
            "csv" => Ok(Format::Simple),
            other => Err(format!(
                "unknown feed format {other:?}: merchant-xml, merchant-tsv, shopify or csv"
            )),
        }
    }
}

impl Format {
    /// The format `bytes` are in, told from their start: XML, a Shopify header, a header
    /// with tabs, or the simple CSV header.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        let text = text.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with('<') {
            return Some(Format::MerchantXml);
        }
        let header = text.lines().next()?.to_ascii_lowercase();
        if header.contains("handle") && header.contains("variant") {
            Some(Format::Shopify)
        } else if header.contains('\t') {
            Some(Format::MerchantTsv)
        } else if header.split(',').any(|c| c.trim() == "id") {
            Some(Format::Simple)
        } else {
            None
        }
    }
}

/// Reads `bytes` as a feed in `format`.
pub fn read(bytes: &[u8], format: Format, options: &Options) -> Result<Feed, FeedError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FeedError::Table(format!("the feed is not UTF-8 text: {e}")))?
        .trim_start_matches('\u{feff}');
    match format {
        Format::MerchantXml => xml::read(text),
        Format::MerchantTsv => merchant::read_tsv(text),
        Format::Shopify => shopify::read(text, options),
        Format::Simple => simple::read(text, options),
    }
}
