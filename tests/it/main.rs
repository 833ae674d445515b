//! Native integration tests, one binary: formats, checksums, preprocessing, ranking, the
//! shipped model, the CLI and the distillation teachers on real photos from the clothing dataset.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod delta;
mod feeds;
mod formats;
mod fuzzed;
mod hostile;
mod partition;
mod parts;
mod preprocess;
mod published;
mod ranking;
mod shards;
mod shipped;
mod steps;
mod store;
mod structure;
mod teachers;
mod training;

use std::path::PathBuf;

/// Serialises the tests that seed or draw from burn's process-wide random generator (it is one
/// per process), so a seeded network is the same whatever test runs beside it.
pub fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The clothing dataset: `DS_DATASET`, or `../shared/datasets/clothing-dataset`.
pub fn dataset() -> PathBuf {
    std::env::var_os("DS_DATASET")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/datasets/clothing-dataset"))
}

/// The first `n` labelled photos of real classes: `(stem, label)`.
pub fn labelled_photos(n: usize) -> Vec<(String, String)> {
    let csv = std::fs::read_to_string(dataset().join("images.csv"))
        .expect("the clothing dataset (set DS_DATASET) must be readable");
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split(',');
            let (stem, _, label) = (f.next()?, f.next()?, f.next()?);
            (!matches!(label, "Not sure" | "Other" | "Skip"))
                .then(|| (stem.to_string(), label.to_string()))
        })
        .take(n)
        .collect()
}

/// Path of a dataset photo by stem.
pub fn photo(stem: &str) -> PathBuf {
    dataset().join("images").join(format!("{stem}.jpg"))
}
