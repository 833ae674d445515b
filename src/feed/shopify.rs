//! Shopify's products CSV export: several rows per product, joined by `Handle`. The first row
//! of a product has its `Title`, `Vendor`, `Type` and option names; each variant has a row
//! with its option values, `Variant SKU`, `Variant Price` (and `Variant Compare At Price`
//! when on sale) and inventory; further rows carry only an `Image Src`. Each variant is one
//! product, its group the handle; drafts, archived and unpublished products are left out.

use std::collections::HashMap;

use super::merchant::parse_price;
use super::product::{Feed, FeedError, ImageSource, Options, Product, Rejected, last_level, table};
use crate::index::Availability;

/// One row, by column name.
struct Row<'a> {
    line: usize,
    cells: HashMap<&'a str, &'a str>,
}

impl Row<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .get(column)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Reads a Shopify export; `options` must give the store's address and its currency.
pub(super) fn read(text: &str, options: &Options) -> Result<Feed, FeedError> {
    let store = options
        .store_url
        .as_deref()
        .map(|s| s.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            FeedError::Setting(
                "a Shopify export names no product page: give the store's address with --store-url"
                    .into(),
            )
        })?;
    let currency = options.currency.clone().ok_or_else(|| {
        FeedError::Setting(
            "a Shopify export names no currency: give the store's with --currency (e.g. EUR)"
                .into(),
        )
    })?;
    let (header, lines) = table(text, b',')?;
    if !header.iter().any(|h| h == "Handle") {
        return Err(FeedError::Table("the header names no Handle column".into()));
    }
    let mut feed = Feed::default();
    // Rows by handle, in the order handles first appear.
    let mut order: Vec<String> = Vec::new();
    let mut rows: HashMap<String, Vec<Row>> = HashMap::new();
    for (line, record) in &lines {
        let record = match record {
            Ok(r) => r,
            Err(rejected) => {
                feed.rejected.push(rejected.clone());
                continue;
            }
        };
        let cells: HashMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(record.iter())
            .collect();
        let row = Row { line: *line, cells };
        let Some(handle) = row.get("Handle").map(str::to_string) else {
            feed.rejected.push(Rejected {
                row: *line,
                id: None,
                reason: "Handle is missing".into(),
            });
            continue;
        };
        if !rows.contains_key(&handle) {
            order.push(handle.clone());
        }
        rows.entry(handle).or_default().push(row);
    }
    let mut seen = HashMap::new();
    for handle in order {
        let rows = &rows[&handle];
        for result in variants(&handle, rows, &store, &currency) {
            match result {
                Ok((line, product)) => feed.push(line, product, &mut seen),
                Err(rejected) => feed.rejected.push(rejected),
            }
        }
    }
    Ok(feed)
}

/// The variants of the product `handle` (its `rows`), each with its line.
fn variants(
    handle: &str,
    rows: &[Row],
    store: &str,
    currency: &str,
) -> Vec<Result<(usize, Product), Rejected>> {
    let reject = |line: usize, id: Option<String>, reason: String| Rejected {
        row: line,
        id,
        reason,
    };
    let Some(first) = rows.iter().find(|r| r.get("Title").is_some()) else {
        let line = rows.first().map_or(0, |r| r.line);
        return vec![Err(reject(
            line,
            Some(handle.into()),
            "Title is missing".into(),
        ))];
    };
    let status = first.get("Status").map(str::to_ascii_lowercase);
    let published = first.get("Published").map(str::to_ascii_lowercase);
    if status.as_deref().is_some_and(|s| s != "active") || published.as_deref() == Some("false") {
        return vec![Err(reject(
            first.line,
            Some(handle.into()),
            "not published (draft, archived or Published FALSE)".into(),
        ))];
    }
    let title = first.get("Title").unwrap_or(handle);
    let option_names: Vec<Option<String>> = (1..=3)
        .map(|n| {
            first
                .get(&format!("Option{n} Name"))
                .map(str::to_ascii_lowercase)
        })
        .collect();
    let mut images: Vec<(u32, &str)> = rows
        .iter()
        .filter_map(|r| {
            let src = r.get("Image Src")?;
            let position = r.get("Image Position").and_then(|p| p.parse().ok());
            Some((position.unwrap_or(u32::MAX), src))
        })
        .collect();
    images.sort_by_key(|(p, _)| *p);
    let variant_rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.get("Variant Price").is_some() || r.get("Variant SKU").is_some())
        .collect();
    let several = variant_rows.len() > 1;
    variant_rows
        .into_iter()
        .map(|row| {
            let values: Vec<&str> = (1..=3)
                .filter_map(|n| row.get(&format!("Option{n} Value")))
                .collect();
            let id = row
                .get("Variant SKU")
                .map(str::to_string)
                .unwrap_or_else(|| {
                    let mut id = handle.to_string();
                    for v in &values {
                        id.push('-');
                        id.push_str(&v.to_ascii_lowercase().replace(' ', "-"));
                    }
                    id
                });
            let fail = |reason: String| reject(row.line, Some(id.clone()), reason);
            let price = row
                .get("Variant Price")
                .ok_or_else(|| fail("Variant Price is missing".into()))
                .and_then(|p| parse_price(&format!("{p} {currency}")).map_err(fail))?;
            let compare = row
                .get("Variant Compare At Price")
                .and_then(|p| parse_price(&format!("{p} {currency}")).ok())
                .filter(|c| c.amount > price.amount);
            let image = row
                .get("Variant Image")
                .or_else(|| images.first().map(|(_, src)| *src))
                .ok_or_else(|| fail("no Image Src or Variant Image".into()))?;
            let tracked = row.get("Variant Inventory Tracker").is_some();
            let quantity: i64 = row
                .get("Variant Inventory Qty")
                .and_then(|q| q.parse().ok())
                .unwrap_or(0);
            let oversell = row
                .get("Variant Inventory Policy")
                .is_some_and(|p| p.eq_ignore_ascii_case("continue"));
            let availability = if !tracked || quantity > 0 {
                Availability::InStock
            } else if oversell {
                Availability::Backorder
            } else {
                Availability::OutOfStock
            };
            let option = |name: &str| {
                option_names.iter().zip(1..=3).find_map(|(n, i)| {
                    n.as_deref()
                        .filter(|n| n.contains(name))
                        .and_then(|_| row.get(&format!("Option{i} Value")))
                        .map(str::to_string)
                })
            };
            let title = if several && !values.is_empty() {
                format!("{title} – {}", values.join(" / "))
            } else {
                title.to_string()
            };
            let mut product = Product::new(id, title, ImageSource::Url(image.to_string()));
            product.link = Some(format!("{store}/products/{handle}"));
            product.image_url = Some(image.to_string());
            product.additional_images = images
                .iter()
                .map(|(_, src)| src.to_string())
                .filter(|src| src != image)
                .collect();
            // On sale: the compare-at price is the regular price.
            (product.price, product.sale_price) = match compare {
                Some(regular) => (Some(regular), Some(price)),
                None => (Some(price), None),
            };
            product.availability = Some(availability);
            product.brand = first.get("Vendor").map(str::to_string);
            product.colour = option("colo");
            product.sizes = option("size").into_iter().collect();
            product.category = first
                .get("Type")
                .and_then(last_level)
                .or_else(|| first.get("Product Category").and_then(last_level));
            product.group = Some(handle.to_string());
            Ok((row.line, product))
        })
        .collect()
}
