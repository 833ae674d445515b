//! The basic residual block of ResNet-18/34: two 3x3 convolutions and a shortcut.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};

/// Two 3x3 convolutions with batch norm, added to a (projected when needed) shortcut.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    shortcut: Option<Shortcut>,
    activation: Relu,
}

/// A 1x1 convolution and batch norm matching the shortcut to the block's output shape.
#[derive(Module, Debug)]
pub struct Shortcut {
    conv: Conv2d,
    norm: BatchNorm,
}

fn conv3x3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

impl BasicBlock {
    /// A block from `input` to `output` channels; `stride` 2 halves the resolution.
    pub fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        let shortcut = (stride != 1 || input != output).then(|| Shortcut {
            conv: Conv2dConfig::new([input, output], [1, 1])
                .with_stride([stride, stride])
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(output).init(device),
        });
        Self {
            conv1: conv3x3(input, output, stride, device),
            norm1: BatchNormConfig::new(output).init(device),
            conv2: conv3x3(output, output, 1, device),
            norm2: BatchNormConfig::new(output).init(device),
            shortcut,
            activation: Relu::new(),
        }
    }

    /// `[B, C_in, H, W] -> [B, C_out, H / stride, W / stride]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let identity = match &self.shortcut {
            Some(s) => s.norm.forward(s.conv.forward(input.clone())),
            None => input.clone(),
        };
        let x = self
            .activation
            .forward(self.norm1.forward(self.conv1.forward(input)));
        let x = self.norm2.forward(self.conv2.forward(x));
        self.activation.forward(x + identity)
    }
}
