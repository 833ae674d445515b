//! One product of the catalogue as the page and `search` show it: what the store's feed says
//! of it (title, product page, price, availability, brand, sizes, variant group) and the
//! colours computed from its photo.

use serde::{Deserialize, Serialize};

use crate::colour::Swatch;

/// An amount of money in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Money {
    /// The amount, in the currency's major unit (49.9 for EUR 49.90).
    pub amount: f64,
    /// ISO 4217 code of the currency, upper case (`EUR`).
    pub currency: String,
}

impl Money {
    /// `amount` of `currency` (an ISO 4217 code).
    pub fn new(amount: f64, currency: &str) -> Self {
        Self {
            amount,
            currency: currency.to_string(),
        }
    }
}

/// Whether the store can sell the product now (the Merchant Center values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// In stock.
    InStock,
    /// Not for sale now.
    OutOfStock,
    /// Orders taken before release.
    Preorder,
    /// Orders taken, shipped when back in stock.
    Backorder,
}

impl Availability {
    /// Whether a shopper can order it now (anything but out of stock).
    pub fn orderable(self) -> bool {
        self != Availability::OutOfStock
    }
}

/// One product in the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Store's identifier, unique in the catalogue.
    pub id: String,
    /// Display title.
    pub title: String,
    /// URL of the product image, relative to the index folder or absolute.
    pub image: String,
    /// The product page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Category, when the catalogue names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Price, when the catalogue names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// Sale price, when the product is on sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<Money>,
    /// Whether it can be ordered now; `None` when the catalogue does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    /// Brand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// The store's own name for the colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour_name: Option<String>,
    /// Sizes it comes in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// Variant group: items of one group are variants of one product (`item_group_id`, a
    /// Shopify handle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// sha256 of the photo the item was described from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sha256: Option<String>,
    /// Dominant colours computed from the image, largest first.
    #[serde(default)]
    pub colours: Vec<Swatch>,
}

impl Item {
    /// An item known only by its id: no title, image, category, price or colours.
    pub fn bare(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// What it costs now: the sale price when there is one, else the price.
    pub fn current_price(&self) -> Option<&Money> {
        self.sale_price.as_ref().or(self.price.as_ref())
    }

    /// Whether a shopper can order it now (items whose catalogue says nothing count as
    /// orderable).
    pub fn orderable(&self) -> bool {
        self.availability.is_none_or(Availability::orderable)
    }
}
