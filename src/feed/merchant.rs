//! Merchant Center product data: the attributes read and the specification's rules for them
//! (required fields, lengths, URLs, prices as "amount ISO-4217-code", the availability
//! values), shared by the XML and the TSV form; and the TSV form itself.

use std::collections::HashMap;

use super::product::{Feed, FeedError, ImageSource, Product, Rejected, last_level, table};
use crate::index::{Availability, Money};

/// Longest id the specification allows.
const MAX_ID: usize = 50;
/// Longest title the specification allows.
const MAX_TITLE: usize = 150;
/// Longest URL the specification allows.
const MAX_URL: usize = 2000;
/// Most additional images the specification allows.
const MAX_ADDITIONAL_IMAGES: usize = 10;

/// The attributes of one product, by name without the `g:` prefix, each with its values in
/// feed order (some attributes repeat).
#[derive(Debug, Clone, Default)]
pub(super) struct Fields(HashMap<String, Vec<String>>);

impl Fields {
    /// Adds a value of `name` (a `g:` prefix is dropped; empty values are not kept).
    pub(super) fn add(&mut self, name: &str, value: String) {
        let name = name.trim().to_ascii_lowercase();
        let name = name.strip_prefix("g:").unwrap_or(&name).to_string();
        let value = value.trim().to_string();
        if !value.is_empty() {
            self.0.entry(name).or_default().push(value);
        }
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    fn all(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// `amount CUR` (or `CUR amount`) as money: a non-negative finite amount with `.` as the
/// decimal point (`,` may group thousands) and a three-letter ISO 4217 code.
pub fn parse_price(text: &str) -> Result<Money, String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (number, code) = match parts.as_slice() {
        [a, b] if is_code(b) => (*a, *b),
        [a, b] if is_code(a) => (*b, *a),
        [one] => {
            // "49.90EUR"
            let split = one.len().saturating_sub(3);
            match one.split_at_checked(split) {
                Some((n, c)) if is_code(c) => (n, c),
                _ => return Err(format!("price {text:?} names no ISO 4217 currency")),
            }
        }
        _ => return Err(format!("price {text:?} is not \"amount CUR\"")),
    };
    // A comma before one or two final digits is a decimal comma ("49,90"); any other comma
    // groups thousands ("1,234.56").
    let digits = match number.rsplit_once(',') {
        Some((whole, part)) if !number.contains('.') && (1..=2).contains(&part.len()) => {
            format!("{}.{part}", whole.replace(',', ""))
        }
        _ => number.replace(',', ""),
    };
    let valid = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    let amount: f64 = if valid {
        digits.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    if !amount.is_finite() || amount >= 1e12 {
        return Err(format!("price {text:?} is not a number of {code}"));
    }
    Ok(Money::new(amount, &code.to_ascii_uppercase()))
}

fn is_code(s: &str) -> bool {
    s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic())
}

/// The specification's availability values (and their older forms with spaces).
pub fn parse_availability(text: &str) -> Result<Availability, String> {
    match text.trim().to_ascii_lowercase().replace(' ', "_").as_str() {
        "in_stock" => Ok(Availability::InStock),
        "out_of_stock" => Ok(Availability::OutOfStock),
        "preorder" => Ok(Availability::Preorder),
        "backorder" => Ok(Availability::Backorder),
        _ => Err(format!(
            "availability {text:?} is not in_stock, out_of_stock, preorder or backorder"
        )),
    }
}

fn url(name: &str, value: &str) -> Result<String, String> {
    let lower = value.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{name} {value:?} is not an http(s) URL"));
    }
    if value.len() > MAX_URL {
        return Err(format!("{name} is over {MAX_URL} characters"));
    }
    Ok(value.to_string())
}

fn required<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, String> {
    fields
        .first(name)
        .ok_or_else(|| format!("{name} is missing"))
}

/// The product `fields` describe (entry or line `row`), or why the specification refuses it.
pub(super) fn product(fields: &Fields, row: usize) -> Result<Product, Rejected> {
    let id = fields.first("id").map(str::to_string);
    let reject = |reason: String| Rejected {
        row,
        id: id.clone(),
        reason,
    };
    let checked = || -> Result<Product, String> {
        let id = required(fields, "id")?;
        if id.chars().count() > MAX_ID {
            return Err(format!("id is over {MAX_ID} characters"));
        }
        let title = required(fields, "title")?;
        if title.chars().count() > MAX_TITLE {
            return Err(format!("title is over {MAX_TITLE} characters"));
        }
        let link = url("link", required(fields, "link")?)?;
        let image = url("image_link", required(fields, "image_link")?)?;
        let additional_images = fields
            .all("additional_image_link")
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .take(MAX_ADDITIONAL_IMAGES)
            .map(|v| url("additional_image_link", v))
            .collect::<Result<Vec<_>, _>>()?;
        let price = parse_price(required(fields, "price")?)?;
        let sale_price = fields
            .first("sale_price")
            .map(parse_price)
            .transpose()?
            // A "sale" price that is not lower than the price is no sale.
            .filter(|s| s.currency == price.currency && s.amount < price.amount);
        let availability = parse_availability(required(fields, "availability")?)?;
        let group = fields.first("item_group_id").map(str::to_string);
        if group.as_ref().is_some_and(|g| g.chars().count() > MAX_ID) {
            return Err(format!("item_group_id is over {MAX_ID} characters"));
        }
        let category = fields
            .first("product_type")
            .and_then(last_level)
            .or_else(|| fields.first("google_product_category").and_then(last_level));
        let mut product = Product::new(
            id.to_string(),
            title.to_string(),
            ImageSource::Url(image.clone()),
        );
        product.link = Some(link);
        product.image_url = Some(image);
        product.additional_images = additional_images;
        product.price = Some(price);
        product.sale_price = sale_price;
        product.availability = Some(availability);
        product.brand = fields.first("brand").map(str::to_string);
        product.colour = fields.first("color").map(str::to_string);
        product.sizes = fields.all("size").to_vec();
        product.gender = fields.first("gender").map(str::to_string);
        product.category = category;
        product.group = group;
        Ok(product)
    };
    checked().map_err(reject)
}

/// Merchant Center TSV: a header of attribute names (with or without `g:`), one product per
/// line.
pub(super) fn read_tsv(text: &str) -> Result<Feed, FeedError> {
    let (header, lines) = table(text, b'\t')?;
    if !header.iter().any(|h| h.trim_start_matches("g:") == "id") {
        return Err(FeedError::Table("the header names no id column".into()));
    }
    let mut feed = Feed::default();
    let mut seen = HashMap::new();
    for (row, record) in lines {
        let record = match record {
            Ok(r) => r,
            Err(rejected) => {
                feed.rejected.push(rejected);
                continue;
            }
        };
        let mut fields = Fields::default();
        for (name, value) in header.iter().zip(record.iter()) {
            fields.add(name, value.to_string());
        }
        match product(&fields, row) {
            Ok(p) => feed.push(row, p, &mut seen),
            Err(rejected) => feed.rejected.push(rejected),
        }
    }
    Ok(feed)
}
