//! The catalogue index: item metadata, int8 embeddings with one scale per item, colour
//! histograms and predicted category probabilities, in a safetensors container described by a
//! small JSON manifest; and ranking it for a photo's description.

mod card;
mod catalogue;
mod description;
mod feedback;
mod item;
pub mod ivf;
mod manifest;
mod rank;

pub use card::Card;
pub use catalogue::{CatalogueIndex, IndexEntry};
pub use description::{Description, Query, mean, top_labels, unit};
pub use feedback::{FEEDBACK_FORMAT, Feedback, Filters, reason};
pub use item::{Availability, Item, Money};
pub use manifest::{
    INDEX_FORMAT_VERSION, INDEX_MANIFEST_FILE, IndexManifest, MAX_THUMBNAIL_LIST_BYTES,
    is_thumbnail_list, read_thumbnail_list, thumbnail_list,
};
pub use rank::{Blend, Hit, Variants, rank, rank_where};
