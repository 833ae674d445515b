//! Library errors, one enum per concern. Each message says its cause once: an error that
//! shows another's text in its own does not also name it as its source (a chain printed with
//! `{:#}` would repeat it).

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
    Decode(image::ImageError),
    /// The bytes are a photo format that is not read (HEIC, AVIF).
    #[error(
        "{0} photos are not supported: send a JPEG, PNG or WebP (an iPhone saves JPEG with Settings > Camera > Formats > Most Compatible)"
    )]
    Unsupported(&'static str),
    /// The photo's size or shape is outside the limits, which are checked before decoding.
    #[error("the photo is {width}x{height} pixels; {limit}")]
    Dimensions {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Which limit it breaks.
        limit: String,
    },
    /// Most of the photo is missing (a file cut short).
    #[error("the photo is cut short: about {missing_percent}% of it is missing")]
    Truncated {
        /// Share of the image rows missing, in percent.
        missing_percent: u32,
    },
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
    #[error("invalid {what}: {error}")]
    Json {
        /// Which file.
        what: &'static str,
        /// Parser error.
        error: serde_json::Error,
    },
    /// A safetensors container could not be parsed or written.
    #[error("invalid {what}: {error}")]
    Safetensors {
        /// Which file.
        what: &'static str,
        /// Container error.
        error: safetensors::SafeTensorError,
    },
    /// A file (or a range of it) could not be read.
    #[error("cannot read {file}: {detail}")]
    Read {
        /// The file, as its manifest names it.
        file: String,
        /// What went wrong.
        detail: String,
    },
    /// The host sent a whole file for a range request (it serves no ranges).
    #[error(
        "cannot read {file}: the host sent the whole file for a range request; it must answer Range requests (HTTP 206), or the index must be published with `partition --parts`"
    )]
    RangesRefused {
        /// The file, as its manifest names it.
        file: String,
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
    pub fn safetensors(what: &'static str, error: safetensors::SafeTensorError) -> Self {
        Self::Safetensors { what, error }
    }

    /// A JSON error while reading or writing `what`.
    pub fn json(what: &'static str, error: serde_json::Error) -> Self {
        Self::Json { what, error }
    }
}

impl From<image::ImageError> for ImageError {
    fn from(error: image::ImageError) -> Self {
        Self::Decode(error)
    }
}
