//! The network itself (burn): built from a [`ResNetConfig`], two heads on one backbone.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};

use super::block::BasicBlock;
use super::config::{ResNetConfig, Stem};

impl ResNetConfig {
    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> ResNet {
        let (kernel, stride, pad) = match self.stem {
            Stem::Imagenet => (7, 2, 3),
            Stem::Small => (3, 1, 1),
        };
        let stem_conv = Conv2dConfig::new([3, self.width], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        let mut blocks = Vec::new();
        let mut channels = self.width;
        for (stage, &depth) in self.stages.iter().enumerate() {
            let out = self.width << stage;
            for i in 0..depth {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(channels, out, stride, device));
                channels = out;
            }
        }
        ResNet {
            stem_conv,
            stem_norm: BatchNormConfig::new(self.width).init(device),
            stem_pool: (self.stem == Stem::Imagenet).then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            blocks,
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            embedding: LinearConfig::new(channels, self.embedding_dim).init(device),
            classifier: LinearConfig::new(channels, self.num_classes.max(1)).init(device),
            activation: Relu::new(),
        }
    }
}

/// A ResNet with two heads sharing one backbone.
#[derive(Module, Debug)]
pub struct ResNet {
    stem_conv: Conv2d,
    stem_norm: BatchNorm,
    stem_pool: Option<MaxPool2d>,
    blocks: Vec<BasicBlock>,
    pool: AdaptiveAvgPool2d,
    embedding: Linear,
    classifier: Linear,
    activation: Relu,
}

/// What one forward pass returns.
#[derive(Debug, Clone)]
pub struct ResNetOutput {
    /// L2-normalised embeddings, `[batch, embedding_dim]`.
    pub embedding: Tensor<2>,
    /// Unnormalised category scores, `[batch, num_classes]`.
    pub logits: Tensor<2>,
    /// Pooled backbone features, `[batch, feature_channels]`.
    pub features: Tensor<2>,
}

impl ResNet {
    /// Runs the network on a batch of normalised images.
    pub fn forward(&self, images: Tensor<4>) -> ResNetOutput {
        // [B, 3, S, S] -> [B, W, S/r, S/r] with r = 4 (imagenet stem) or 1 (small stem)
        let x = self
            .activation
            .forward(self.stem_norm.forward(self.stem_conv.forward(images)));
        let mut x = match &self.stem_pool {
            Some(pool) => pool.forward(x),
            None => x,
        };
        // -> [B, W * 2^(stages-1), S/(r * 2^(stages-1)), S/(r * 2^(stages-1))]
        for block in &self.blocks {
            x = block.forward(x);
        }
        // -> [B, C, 1, 1] -> [B, C]
        let features: Tensor<2> = self.pool.forward(x).flatten(1, 3);
        // -> [B, E]
        let embedding = l2_normalise(self.embedding.forward(features.clone()));
        // -> [B, K]
        let logits = self.classifier.forward(features.clone());
        ResNetOutput {
            embedding,
            logits,
            features,
        }
    }
}

/// Scales each row to unit length (rows of zeros stay zero).
pub fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    // [B, E] / [B, 1]
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}
