//! `index.json`: the small manifest that names an index's data file and the model that made it,
//! and the list of the thumbnails published with an index, in a file of its own.

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
    /// removes once its own manifest no longer names them. Written to the `thumbnails` file,
    /// not here (manifests before it held them here, and are still read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// The file listing the thumbnails, where there are any (see [`thumbnail_list`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnails: Option<FileEntry>,
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
            check_thumbnails("index manifest", &m.images, m.thumbnails.as_ref())?;
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

/// Largest thumbnail list read (the names of 10M thumbnails take about 300 MB).
pub const MAX_THUMBNAIL_LIST_BYTES: usize = 512 << 20;

/// The file listing `images` (a JSON array of their paths), named by its hash
/// (`thumbnails-<16 hex digits>.json`), and its bytes. The list lives beside the manifest, not
/// in it: every page reads the manifest with no cache, and with a thumbnail for each of 100k
/// items it would be 3 MB; a page never reads the list (only a later build does, to remove
/// the thumbnails it no longer names).
pub fn thumbnail_list(images: &[String]) -> Result<(FileEntry, Vec<u8>), AssetError> {
    let bytes = serde_json::to_vec(images).map_err(|e| AssetError::json("thumbnail list", e))?;
    let sha = crate::assets::sha256_hex(&bytes);
    Ok((
        FileEntry::of(&format!("thumbnails-{}.json", &sha[..16]), &bytes),
        bytes,
    ))
}

/// Whether `name` is a thumbnail list's as [`thumbnail_list`] names it.
pub fn is_thumbnail_list(name: &str) -> bool {
    name.strip_prefix("thumbnails-")
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The thumbnails of a list file (`bytes`, named by `entry`), checked against its hash, each
/// a plain file in the `images/` folder.
pub fn read_thumbnail_list(entry: &FileEntry, bytes: &[u8]) -> Result<Vec<String>, AssetError> {
    entry.verify(bytes)?;
    let images: Vec<String> =
        serde_json::from_slice(bytes).map_err(|e| AssetError::json("thumbnail list", e))?;
    check_thumbnails("thumbnail list", &images, None)?;
    Ok(images)
}

/// Fails unless each of `images` is a plain file in the `images/` folder and `list`, the
/// thumbnail list a manifest names, is named as [`thumbnail_list`] names it.
pub(crate) fn check_thumbnails(
    what: &'static str,
    images: &[String],
    list: Option<&FileEntry>,
) -> Result<(), AssetError> {
    if let Some(bad) = images
        .iter()
        .find(|i| !i.strip_prefix("images/").is_some_and(plain_name))
    {
        return Err(AssetError::content(
            what,
            format!("it names the thumbnail {bad:?}, outside its images/ folder"),
        ));
    }
    match list {
        Some(list) if !is_thumbnail_list(&list.file) => Err(AssetError::content(
            what,
            format!("it names {:?} as its thumbnail list", list.file),
        )),
        _ => Ok(()),
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
