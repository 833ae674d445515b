//! Library errors, one enum per concern.

use thiserror::Error;

/// A photo could not be turned into model input.
#[derive(Debug, Error)]
pub enum ImageError {
    /// The encoded file is larger than the limit.
    #[error("image file is {size} bytes; the limit is {limit} bytes")]
    FileTooLarge {
        /// Size of the encoded file.
        size: usize,
        /// Largest accepted size.
        limit: usize,
    },
    /// The bytes are not an image format we read, or are corrupt.
    #[error("cannot read image: {0}")]
    Decode(#[from] image::ImageError),
    /// The image has a zero side or the crop is empty.
    #[error("image is empty after cropping ({width}x{height})")]
    Empty {
        /// Width after cropping.
        width: u32,
        /// Height after cropping.
        height: u32,
    },
    /// The crop box is not inside the unit square.
    #[error("crop box must lie inside the image, as fractions 0..1 with positive size: {0:?}")]
    BadCrop([f32; 4]),
}

/// A model, index or manifest file is missing, corrupt, or does not match.
#[derive(Debug, Error)]
pub enum AssetError {
    /// The file's sha256 differs from the one its manifest records.
    #[error("checksum mismatch for {file}: manifest says {expected}, file has {actual}")]
    Checksum {
        /// The file that failed.
        file: String,
        /// Hash recorded in the manifest.
        expected: String,
        /// Hash of the bytes read.
        actual: String,
    },
    /// The manifest or index format version is not one this build reads.
    #[error("{what} has format version {found}; this build reads version {supported}")]
    Version {
        /// Which file.
        what: &'static str,
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The index was built by an older (or newer) version of this program.
    #[error(
        "the catalogue index has format version {found}; this build reads version {supported}: rebuild it with `deep-shopping index --feed FEED --out DIR` (or `--images DIR [--csv FILE]`)"
    )]
    IndexVersion {
        /// Version found in the index manifest.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The index was built by another model than the one loaded.
    #[error(
        "the catalogue index was built with model {index_model}, but the loaded model is {model}; rebuild the index"
    )]
    StaleIndex {
        /// Model hash recorded in the index.
        index_model: String,
        /// Hash of the loaded weights.
        model: String,
    },
    /// JSON could not be parsed.
    #[error("invalid {what}: {source}")]
    Json {
        /// Which file.
        what: &'static str,
        /// Parser error.
        source: serde_json::Error,
    },
    /// A safetensors container could not be parsed or written.
    #[error("invalid {what}: {source}")]
    Safetensors {
        /// Which file.
        what: &'static str,
        /// Container error.
        source: safetensors::SafeTensorError,
    },
    /// The container parsed, but its content is not what the model or index needs.
    #[error("invalid {what}: {detail}")]
    Content {
        /// Which file.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// A photo could not be described.
#[derive(Debug, Error)]
pub enum EmbedError {
    /// Reading results back from the device failed.
    #[error("reading model output from the device failed: {0}")]
    Readback(String),
    /// A prepared input does not have the size the loaded model takes.
    #[error("a model input has {values} values; the model takes 3x{size}x{size}")]
    InputSize {
        /// Values in the input.
        values: usize,
        /// Side of the model's square input.
        size: usize,
    },
    /// The photo could not be prepared.
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl AssetError {
    /// A container that parsed but does not hold what `what` needs.
    pub fn content(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Content {
            what,
            detail: detail.into(),
        }
    }

    /// A safetensors error while reading or writing `what`.
    pub fn safetensors(what: &'static str, source: safetensors::SafeTensorError) -> Self {
        Self::Safetensors { what, source }
    }
}
