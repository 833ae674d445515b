//! Files the browser and the CLI load at run time: the model manifest, int8 weights and
//! their checksums; safetensors files written from plain tensors (`tensors`).

mod tensors;
#[cfg(feature = "model")]
mod weights;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AssetError;
use crate::model::ResNetConfig;

pub use tensors::{Tensor, f32s, serialized};
#[cfg(feature = "model")]
pub use weights::{
    NamedTensor, QuantStats, f32_weights, load_weights, quantise_weights, read_weights,
};

/// Format version of the model manifest and the weights container.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// File name of the model manifest inside a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the weights inside a model folder.
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `name` names a file plainly, inside a manifest's own folder: letters, digits,
/// `.`, `_` and `-`, not starting with a dot (no path, no `..`, no URL).
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Largest manifest read (model or index), by the CLI and the page.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// A file referenced by a manifest, with its checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the manifest.
    pub file: String,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

impl FileEntry {
    /// Describes `bytes` stored as `file`.
    pub fn of(file: &str, bytes: &[u8]) -> Self {
        Self {
            file: file.to_string(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        }
    }

    /// Fails unless the file is named plainly ([`plain_name`]).
    pub fn check_name(&self, what: &'static str) -> Result<(), AssetError> {
        if plain_name(&self.file) {
            Ok(())
        } else {
            Err(AssetError::content(
                what,
                format!(
                    "it names the file {:?}; only a plain file name in its own folder is allowed",
                    self.file
                ),
            ))
        }
    }

    /// Fails unless `bytes` hash to this entry's sha256.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), AssetError> {
        let actual = sha256_hex(bytes);
        if actual == self.sha256 {
            Ok(())
        } else {
            Err(AssetError::Checksum {
                file: self.file.clone(),
                expected: self.sha256.clone(),
                actual,
            })
        }
    }
}

/// `models/manifest.json`: what the weights are and how to check them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Version of this format; see [`MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// Architecture the weights belong to.
    pub model: ResNetConfig,
    /// Category names, in the order of the category head's outputs.
    pub labels: Vec<String>,
    /// Whether the weights were trained; untrained weights are a random initialisation.
    pub trained: bool,
    /// Free text: how the weights were made.
    pub description: String,
    /// The int8 weights file.
    pub weights: FileEntry,
}

/// Parses the JSON manifest `what` and checks that `version` of it is `supported`.
pub fn parse_manifest<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
    version: impl Fn(&T) -> u32,
    supported: u32,
) -> Result<T, AssetError> {
    let manifest: T = serde_json::from_slice(bytes).map_err(|e| AssetError::json(what, e))?;
    match version(&manifest) {
        found if found == supported => Ok(manifest),
        found => Err(AssetError::Version {
            what,
            found,
            supported,
        }),
    }
}

impl ModelManifest {
    /// Parses and checks the version of a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Self, AssetError> {
        let manifest: Self = parse_manifest(
            bytes,
            "model manifest",
            |m: &Self| m.format_version,
            MODEL_FORMAT_VERSION,
        )?;
        if let Some(why) = manifest.model.invalid() {
            return Err(AssetError::content("model manifest", why));
        }
        manifest.weights.check_name("model manifest")?;
        if manifest.labels.len() != manifest.model.num_classes {
            return Err(AssetError::Content {
                what: "model manifest",
                detail: format!(
                    "{} labels for a head of {} classes",
                    manifest.labels.len(),
                    manifest.model.num_classes
                ),
            });
        }
        Ok(manifest)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, AssetError> {
        serde_json::to_vec_pretty(self).map_err(|e| AssetError::json("model manifest", e))
    }
}
