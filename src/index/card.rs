//! One result as the page, the JS API and `search --json` give it: the item's fields with the
//! scores that ranked it, why it matched, and the shopper's vote.

use serde::Serialize;

use super::item::{Availability, Item, Money};
use super::rank::Hit;
use crate::colour::Swatch;

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    /// The item's id.
    pub id: String,
    /// Blended score (see [`Hit::score`]).
    pub score: f32,
    /// The score as a share of the best any item could reach for this photo, 0..1 (shown as
    /// the match).
    #[serde(rename = "match")]
    pub share: f32,
    /// Cosine similarity of the embeddings.
    pub visual: f32,
    /// Colour similarity.
    pub colour: f32,
    /// Agreement of the predicted categories of the query and the item, 0..1.
    pub category_match: f32,
    /// The catalogue's category.
    pub category: Option<String>,
    /// Title.
    pub title: String,
    /// The product image, as the page loads it.
    pub image: String,
    /// The product page.
    pub link: Option<String>,
    /// Price.
    pub price: Option<Money>,
    /// Sale price.
    pub sale_price: Option<Money>,
    /// Availability.
    pub availability: Option<Availability>,
    /// Brand.
    pub brand: Option<String>,
    /// The store's colour name.
    pub colour_name: Option<String>,
    /// Sizes.
    pub sizes: Vec<String>,
    /// Variant group.
    pub group: Option<String>,
    /// Dominant colours of its photo.
    pub colours: Vec<Swatch>,
    /// Why it matched, in a few words.
    pub reason: String,
    /// The shopper's vote: 1 liked, -1 disliked, 0 none.
    pub vote: i32,
}

impl Card {
    /// The card of `item`, ranked by `hit`, its image at `image`.
    pub fn new(hit: &Hit, item: &Item, image: String, reason: String, vote: i32) -> Self {
        Self {
            id: item.id.clone(),
            score: hit.score,
            share: hit.share,
            visual: hit.visual,
            colour: hit.colour,
            category_match: hit.category,
            category: item.category.clone(),
            title: item.title.clone(),
            image,
            link: item.link.clone(),
            price: item.price.clone(),
            sale_price: item.sale_price.clone(),
            availability: item.availability,
            brand: item.brand.clone(),
            colour_name: item.colour_name.clone(),
            sizes: item.sizes.clone(),
            group: item.group.clone(),
            colours: item.colours.clone(),
            reason,
            vote,
        }
    }
}
