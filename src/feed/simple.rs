//! The simple catalogue: a CSV naming each item's photo in a local folder
//! (`id,image[,title,category,price,currency,url,link,brand,availability,...]`), or the folder
//! alone, every photo an item named by its file stem.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::merchant::{parse_availability, parse_price};
use super::product::{Feed, FeedError, ImageSource, Options, Product, Rejected};
use crate::index::Money;

/// Photo file types read.
const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "bmp", "gif"];
/// Photo file types seen in catalogues that are not read, with what to do instead.
const UNSUPPORTED: [(&str, &str); 5] = [
    ("heic", "HEIC"),
    ("heif", "HEIF"),
    ("avif", "AVIF"),
    ("tif", "TIFF"),
    ("svg", "SVG"),
];

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    image: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    /// The image URL the page shows (else a thumbnail is written with the index).
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    link: Option<String>,
    #[serde(default)]
    brand: Option<String>,
    #[serde(default)]
    availability: Option<String>,
    #[serde(default)]
    sale_price: Option<String>,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    group: Option<String>,
}

fn some(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `path` under `dir`, refused when it is absolute or climbs out with `..`.
pub fn confined(dir: &Path, path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    let escapes = p
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || p.as_os_str().is_empty() {
        return Err(format!(
            "image path {path:?} is not a relative path inside the images folder"
        ));
    }
    Ok(dir.join(p))
}

/// A price cell: `49.90 EUR`, or a bare amount in `currency`.
fn money(text: &str, currency: Option<&str>) -> Result<Money, String> {
    let has_code = text
        .split_whitespace()
        .any(|part| part.len() == 3 && part.chars().all(|c| c.is_ascii_alphabetic()));
    match (parse_price(text), currency) {
        (Ok(m), _) => Ok(m),
        // A currency is there: the amount is what is wrong.
        (Err(e), _) if has_code => Err(e),
        (Err(_), Some(c)) => parse_price(&format!("{} {c}", text.trim())),
        (Err(_), None) => Err(format!(
            "price {text:?} names no currency: write \"{} EUR\", add a currency column or pass --currency",
            text.trim()
        )),
    }
}

fn product(row: Row, dir: &Path, currency: Option<&str>) -> Result<Product, String> {
    let id = row.id.trim().to_string();
    if id.is_empty() {
        return Err("id is empty".into());
    }
    let path = confined(dir, row.image.trim())?;
    let currency = some(row.currency).or(currency.map(str::to_string));
    let price = some(row.price)
        .map(|p| money(&p, currency.as_deref()))
        .transpose()?;
    let sale_price = some(row.sale_price)
        .map(|p| money(&p, currency.as_deref()))
        .transpose()?;
    let availability = some(row.availability)
        .map(|a| parse_availability(&a))
        .transpose()?;
    let title = some(row.title).unwrap_or_else(|| id.clone());
    let mut product = Product::new(id, title, ImageSource::File(path));
    product.category = some(row.category);
    product.image_url = some(row.url);
    product.link = some(row.link);
    product.price = price;
    product.sale_price = sale_price;
    product.availability = availability;
    product.brand = some(row.brand);
    product.colour = some(row.color);
    product.sizes = some(row.size).into_iter().collect();
    product.group = some(row.group);
    Ok(product)
}

/// Reads the simple CSV; image paths are relative to `options.images`.
pub(super) fn read(text: &str, options: &Options) -> Result<Feed, FeedError> {
    let dir = options.images.clone().ok_or_else(|| {
        FeedError::Setting(
            "the simple CSV names local photos: give their folder with --images".into(),
        )
    })?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut feed = Feed::default();
    let mut seen = std::collections::HashMap::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                feed.rejected.push(Rejected {
                    row: line,
                    id: None,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let id = Some(row.id.trim().to_string()).filter(|s| !s.is_empty());
        match product(row, &dir, options.currency.as_deref()) {
            Ok(p) => feed.push(line, p, &mut seen),
            Err(reason) => feed.rejected.push(Rejected {
                row: line,
                id,
                reason,
            }),
        }
    }
    Ok(feed)
}

/// Every photo in `dir` as an item named by its file stem, sorted by id; photos of types not
/// read are refused with what to use instead.
pub fn from_folder(dir: &Path) -> Result<Feed, FeedError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FeedError::Setting(format!("cannot list {}: {e}", dir.display())))?;
    let mut found: Vec<(String, PathBuf, Option<&'static str>)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let Some(stem) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        match ext.as_deref() {
            Some(e) if EXTENSIONS.contains(&e) => found.push((stem, path, None)),
            Some(e) => {
                if let Some((_, name)) = UNSUPPORTED
                    .iter()
                    .find(|(x, _)| *x == e || (*x == "tif" && e == "tiff"))
                {
                    found.push((stem, path, Some(name)));
                }
            }
            None => {}
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut feed = Feed::default();
    let mut seen = std::collections::HashMap::new();
    for (n, (stem, path, unsupported)) in found.into_iter().enumerate() {
        match unsupported {
            Some(kind) => feed.rejected.push(Rejected {
                row: n + 1,
                id: Some(stem),
                reason: format!(
                    "{kind} photos are not supported ({}); convert them to JPEG, PNG or WebP",
                    path.display()
                ),
            }),
            None => feed.push(
                n + 1,
                Product::new(stem.clone(), stem, ImageSource::File(path)),
                &mut seen,
            ),
        }
    }
    Ok(feed)
}
