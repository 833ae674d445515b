//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (libFuzzer) and
//! `tests/it/fuzzed.rs` (which runs the committed corpora and crash inputs as regression
//! tests on every CI run). Each takes arbitrary bytes and must return, never panic, hang or
//! allocate without bound; what it finds is checked where a parse succeeds.

use deep_shopping::assets::{ModelManifest, read_weights};
use deep_shopping::feed::{self, Format, Options};
use deep_shopping::index::{CatalogueIndex, IndexManifest};
use deep_shopping::preprocess::{Crop, Limits, prepare};

/// The index container and its manifest.
pub fn index(data: &[u8]) {
    let _ = IndexManifest::from_json(data);
    if let Ok(index) = CatalogueIndex::from_bytes(data) {
        for i in 0..index.len().min(16) {
            let d = index.description(i);
            assert_eq!(d.embedding.len(), index.dim());
            let _ = index.histogram(i);
            let _ = index.probabilities(i);
        }
        // What reads back writes again.
        let _ = index.to_bytes();
    }
}

/// The model manifest and the weights container.
pub fn model(data: &[u8]) {
    if let Ok(manifest) = ModelManifest::from_json(data) {
        assert!(manifest.model.invalid().is_none());
    }
    let _ = read_weights(data);
}

/// Every feed reader, on the format the bytes look like and on each of the others.
pub fn feeds(data: &[u8]) {
    let options = Options {
        store_url: Some("https://shop.example/".into()),
        currency: Some("EUR".into()),
        images: Some("/nonexistent-images".into()),
    };
    let _ = Format::detect(data);
    for format in [
        Format::MerchantXml,
        Format::MerchantTsv,
        Format::Shopify,
        Format::Simple,
    ] {
        if let Ok(feed) = feed::read(data, format, &options) {
            for product in &feed.products {
                assert!(!product.id.is_empty());
                for money in product.price.iter().chain(&product.sale_price) {
                    assert!(money.amount.is_finite() && money.amount >= 0.0);
                }
            }
        }
    }
}

/// `preprocess::prepare` on arbitrary bytes with a crop box taken from the first 16.
pub fn photo(data: &[u8]) {
    let Some((head, bytes)) = data.split_at_checked(16) else {
        let _ = prepare(data, None, 32, &Limits::default());
        return;
    };
    let f = |i: usize| {
        let raw = u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        raw as f32 / u32::MAX as f32 * 1.2 - 0.1
    };
    let crop = (head[0] & 1 == 1).then(|| Crop {
        x: f(0),
        y: f(4),
        width: f(8),
        height: f(12),
    });
    if let Ok(prepared) = prepare(bytes, crop, 32, &Limits::default()) {
        assert_eq!(prepared.input.len(), 3 * 32 * 32);
        assert!(prepared.input.iter().all(|v| v.is_finite()));
    }
}
