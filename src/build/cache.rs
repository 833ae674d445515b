//! Descriptions already computed, keyed by (the photo's sha256, the model weights' sha256):
//! a rebuild runs the model only on new and changed photos. One small JSON file per photo,
//! written atomically, so a killed build leaves every finished description usable.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::files::write_atomic;
use crate::index::Description;

/// The descriptions one model made, in one folder.
pub struct DescriptionCache {
    dir: PathBuf,
}

impl DescriptionCache {
    /// The cache of the model whose weights hash to `model_sha256`, under `root`.
    pub fn new(root: &Path, model_sha256: &str) -> Result<Self> {
        let dir = root
            .join("descriptions")
            .join(&model_sha256[..model_sha256.len().min(16)]);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    fn path(&self, photo_sha256: &str) -> PathBuf {
        self.dir.join(format!("{photo_sha256}.json"))
    }

    /// The description of the photo whose bytes hash to `photo_sha256`, if one is kept.
    pub fn get(&self, photo_sha256: &str) -> Option<Description> {
        let bytes = std::fs::read(self.path(photo_sha256)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keeps `description` of the photo whose bytes hash to `photo_sha256`.
    pub fn put(&self, photo_sha256: &str, description: &Description) -> Result<()> {
        write_atomic(&self.path(photo_sha256), &serde_json::to_vec(description)?)
    }
}
