//! `index.json`: the small manifest that names an index's data file and the model that made it.

use serde::{Deserialize, Serialize};

use crate::assets::{FileEntry, parse_manifest, plain_name};
use crate::error::AssetError;

/// Format version of the index manifest and container.
/// Version 3 added the items' product page, price with currency, sale price, availability,
/// brand, colour name, sizes, variant group and photo checksum.
pub const INDEX_FORMAT_VERSION: u32 = 3;
/// File name of the index manifest inside an index folder.
pub const INDEX_MANIFEST_FILE: &str = "index.json";

/// `index.json`: which model made the index and the checksum of its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexManifest {
    /// Version of this format; see [`INDEX_FORMAT_VERSION`].
    pub format_version: u32,
    /// sha256 of the weights file of the model that computed the embeddings.
    pub model_sha256: String,
    /// Number of items.
    pub count: usize,
    /// The data file.
    pub data: FileEntry,
    /// Thumbnails published with the index (paths under its folder), which a later build
    /// removes once its own manifest no longer names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
}

impl IndexManifest {
    /// Parses and checks the version of an index manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, AssetError> {
        parse_manifest(
            bytes,
            "index manifest",
            |m: &Self| m.format_version,
            INDEX_FORMAT_VERSION,
        )
        .map_err(|err| match err {
            AssetError::Version {
                found, supported, ..
            } => AssetError::IndexVersion { found, supported },
            other => other,
        })
        .and_then(|m: Self| {
            m.data.check_name("index manifest")?;
            // Thumbnails live in the index's images/ folder.
            if let Some(bad) = m
                .images
                .iter()
                .find(|i| !i.strip_prefix("images/").is_some_and(plain_name))
            {
                return Err(AssetError::content(
                    "index manifest",
                    format!("it names the thumbnail {bad:?}, outside its images/ folder"),
                ));
            }
            Ok(m)
        })
    }

    /// Fails unless the index was made by the model whose weights hash to `model_sha256`.
    pub fn check_model(&self, model_sha256: &str) -> Result<(), AssetError> {
        same_model(&self.model_sha256, model_sha256)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, AssetError> {
        serde_json::to_vec_pretty(self).map_err(|e| AssetError::json("index manifest", e))
    }
}

/// Fails unless an index made by the model whose weights hash to `index_model` is searched
/// with that model (`model`); any index format's manifest checks with it.
pub(crate) fn same_model(index_model: &str, model: &str) -> Result<(), AssetError> {
    if index_model == model {
        Ok(())
    } else {
        Err(AssetError::StaleIndex {
            index_model: index_model.to_string(),
            model: model.to_string(),
        })
    }
}
