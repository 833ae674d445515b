//! The shape of a network: depth per stage, width, input size, head sizes and stem.

use serde::{Deserialize, Serialize};

/// How the network first reduces the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 7x7 convolution with stride 2 and a 3x3 max pool: photos (ImageNet-style ResNets).
    #[default]
    Imagenet,
    /// 3x3 convolution with stride 1 and no pool: small images such as Fashion-MNIST.
    Small,
}

/// Shape of the network: depth per stage, width, input size and head sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Residual blocks in each stage; each stage after the first halves the resolution and
    /// doubles the channels. `[2, 2, 2, 2]` is ResNet-18.
    pub stages: Vec<usize>,
    /// Channels of the stem and the first stage (64 in the published ResNets).
    pub width: usize,
    /// Side of the square input image, in pixels.
    pub input_size: usize,
    /// Length of the L2-normalised embedding.
    pub embedding_dim: usize,
    /// Number of categories scored by the category head.
    pub num_classes: usize,
    /// The stem; photos use the default.
    #[serde(default)]
    pub stem: Stem,
}

impl ResNetConfig {
    /// Why the shape is outside what a model may be (before anything is built from it): at
    /// most 8 stages of 1 to 16 blocks, a width of 1 to 512 channels and at most 8,192 coming
    /// out of the last stage, an input of 32 to 1,024 pixels, an embedding of 1 to 4,096 and
    /// 1 to 10,000 classes.
    pub fn invalid(&self) -> Option<String> {
        let out = (self.width as u64) << self.stages.len().saturating_sub(1).min(32);
        match () {
            _ if self.stages.is_empty() || self.stages.len() > 8 => {
                Some(format!("{} stages; 1 to 8 are allowed", self.stages.len()))
            }
            _ if self.stages.iter().any(|&b| !(1..=16).contains(&b)) => {
                Some(format!("stages {:?}: 1 to 16 blocks each", self.stages))
            }
            _ if !(1..=512).contains(&self.width) || out > 8192 => Some(format!(
                "width {} ({out} channels at the end); 1 to 512, at most 8,192 at the end",
                self.width
            )),
            _ if !(32..=1024).contains(&self.input_size) => Some(format!(
                "input size {} px; 32 to 1,024 are allowed",
                self.input_size
            )),
            _ if !(1..=4096).contains(&self.embedding_dim) => Some(format!(
                "embedding length {}; 1 to 4,096 are allowed",
                self.embedding_dim
            )),
            _ if !(1..=10_000).contains(&self.num_classes) => Some(format!(
                "{} classes; 1 to 10,000 are allowed",
                self.num_classes
            )),
            _ => None,
        }
    }

    /// Channels coming out of the last stage.
    pub fn feature_channels(&self) -> usize {
        self.width << self.stages.len().saturating_sub(1)
    }
}
