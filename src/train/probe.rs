//! The teacher's classifier: a linear softmax layer on the teacher's standardised features,
//! fitted on augmented views of the labelled training photos. Its softened probabilities are
//! a distillation target for the student's category head (`loss.teacher_classify`), on the
//! labelled and the unlabelled photos of each batch.

use anyhow::{Result, ensure};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::config::Augment;
use super::inputs::augmented;
use super::metrics::top_k;
use super::progress;
use super::teacher::{TEACHER_DIM, TeacherNet};
use crate::embed::batch_tensor;

/// Full-batch optimisation steps of one fit.
const STEPS: usize = 300;
/// Adam learning rate of the fit.
const LR: f64 = 0.01;
/// L2 penalties tried; the one with the best validation top-1 is kept.
const PENALTIES: [f32; 3] = [1e-4, 1e-3, 1e-2];

/// The fitted classifier on the plain (non-autodiff) device.
#[derive(Debug, Clone)]
pub struct TeacherProbe {
    /// `[1, 1280]` feature means of the fitting set.
    mean: Tensor<2>,
    /// `[1, 1280]` inverse standard deviations.
    inv_std: Tensor<2>,
    /// `[1280, K]`.
    weight: Tensor<2>,
    /// `[1, K]`.
    bias: Tensor<2>,
    /// Validation top-1 of the teacher's classifier (clean centre crops).
    pub val_top1: f64,
}

/// Teacher features `[N, 1280]` of `inputs` (normalised `size`-squares), batches of 64.
fn features(teacher: &TeacherNet, inputs: &[Vec<f32>], size: usize, device: &Device) -> Tensor<2> {
    let parts: Vec<Tensor<2>> = inputs
        .chunks(64)
        .map(|chunk| teacher.forward(batch_tensor(chunk, size, device)))
        .collect();
    Tensor::cat(parts, 0)
}

impl TeacherProbe {
    /// Fits the classifier on `views` augmented views of each labelled training photo
    /// (`images[i]` has label `labels[i]`), with class weights `count^-balance_power`, and
    /// keeps the L2 penalty with the best top-1 on the validation inputs.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        teacher: &TeacherNet,
        images: &[image::RgbImage],
        labels: &[usize],
        classes: usize,
        augment: &Augment,
        views: usize,
        balance_power: f64,
        val: (&[Vec<f32>], &[usize]),
        size: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        ensure!(
            views > 0 && !labels.is_empty() && images.len() >= labels.len(),
            "the teacher's classifier needs labelled training photos and at least one view"
        );
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7EAC_4E55);
        let draws: Vec<(usize, u64)> = (0..views)
            .flat_map(|_| (0..labels.len()).collect::<Vec<_>>())
            .map(|i| (i, rng.random()))
            .collect();
        let bar = progress::bar(
            draws.len().div_ceil(64) as u64,
            "teacher features for its classifier",
        );
        let mut parts = Vec::new();
        for chunk in draws.chunks(64) {
            let inputs = augmented(images, chunk.par_iter().copied(), augment, size);
            parts.push(features(teacher, &inputs, size, device));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let x = Tensor::cat(parts, 0);
        let n = draws.len();
        let mean = x.clone().mean_dim(0);
        let var = (x.clone() - mean.clone()).powf_scalar(2.0).mean_dim(0);
        let inv_std = (var + 1e-5).sqrt().recip();
        let x = standardise(x, &mean, &inv_std);

        let mut counts = vec![0usize; classes];
        for &l in labels {
            ensure!(l < classes, "label {l} out of {classes} classes");
            counts[l] += 1;
        }
        let raw: Vec<f32> = labels
            .iter()
            .map(|&l| (counts[l] as f64).powf(-balance_power) as f32)
            .collect();
        let total: f32 = raw.iter().sum();
        let mut targets = vec![0.0f32; n * classes];
        for (row, (i, _)) in draws.iter().enumerate() {
            // Weighted one-hot rows: the loss is a weighted mean over views.
            targets[row * classes + labels[*i]] = raw[*i] / total / views as f32;
        }
        let val_x = standardise(features(teacher, val.0, size, device), &mean, &inv_std);

        let ad = device.clone().autodiff();
        let x_ad = Tensor::<2>::from_data(x.into_data(), &ad);
        let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, classes]), &ad);
        let mut best: Option<(f64, Linear)> = None;
        for penalty in PENALTIES {
            let mut layer = LinearConfig::new(TEACHER_DIM, classes).init(&ad);
            let mut optim = AdamConfig::new().init();
            for _ in 0..STEPS {
                let logits = layer.forward(x_ad.clone());
                let loss = (log_softmax(logits, 1) * targets.clone()).sum().neg()
                    + layer.weight.val().powf_scalar(2.0).sum() * penalty;
                let grads = GradientsParams::from_grads(loss.backward(), &layer);
                layer = optim.step(LR, layer, grads);
            }
            let layer = layer.valid();
            let probs = rows(softmax(layer.forward(val_x.clone()), 1))?;
            let top1 = top_k(&probs, val.1, 1);
            eprintln!("teacher's classifier, L2 {penalty}: validation top-1 {top1:.4}");
            if best.as_ref().is_none_or(|(b, _)| top1 > *b) {
                best = Some((top1, layer));
            }
        }
        let (val_top1, layer) = best.ok_or_else(|| anyhow::anyhow!("no penalty tried"))?;
        let bias = layer
            .bias
            .map(|b| b.val().unsqueeze_dim(0))
            .unwrap_or_else(|| Tensor::zeros([1, classes], device));
        Ok(Self {
            mean,
            inv_std,
            weight: layer.weight.val(),
            bias,
            val_top1,
        })
    }

    /// `[B, 1280]` teacher features -> `[B, K]` logits.
    pub fn logits(&self, features: Tensor<2>) -> Tensor<2> {
        standardise(features, &self.mean, &self.inv_std).matmul(self.weight.clone())
            + self.bias.clone()
    }
}

/// `[N, 1280]` features with the fitting set's `[1, 1280]` means and inverse deviations
/// taken out.
fn standardise(x: Tensor<2>, mean: &Tensor<2>, inv_std: &Tensor<2>) -> Tensor<2> {
    (x - mean.clone()) * inv_std.clone()
}

/// The rows of a `[N, K]` tensor.
fn rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, k] = t.dims();
    let flat = t
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(flat.chunks(k.max(1)).map(<[f32]>::to_vec).collect())
}
