//! The student with its training-only heads, and the loss of one batch: category
//! cross-entropy, proxy cross-entropy on the embedding, distillation of the teacher's features
//! and of its classifier, weighed into one total.

use anyhow::Result;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use super::config::LossWeights;
use super::probe::TeacherProbe;
use super::teacher::{TEACHER_DIM, TeacherNet};
use crate::embed::batch_tensor;
use crate::model::{ResNet, ResNetConfig, l2_normalise};

/// The student with its training-only heads: class proxies for the embedding loss and a
/// projection of the backbone features onto the teacher's.
#[derive(Module, Debug)]
pub struct TrainModel {
    /// The network that ships.
    pub net: ResNet,
    proxies: Param<Tensor<2>>,
    projector: Option<Linear>,
}

impl TrainModel {
    /// A freshly initialised student; `distill` adds the projection onto the teacher.
    pub fn new(config: &ResNetConfig, distill: bool, device: &Device) -> Self {
        let proxies = Tensor::random(
            [config.num_classes, config.embedding_dim],
            Distribution::Normal(0.0, 1.0),
            device,
        );
        Self {
            net: config.init(device),
            proxies: Param::from_tensor(proxies),
            projector: distill
                .then(|| LinearConfig::new(config.feature_channels(), TEACHER_DIM).init(device)),
        }
    }
}

/// The labels of a batch as the loss needs them: smoothed targets and one-hot rows (zero for
/// unlabelled photos), and the number of labelled photos.
pub struct Targets {
    smoothed: Tensor<2>,
    onehot: Tensor<2>,
    labelled: f32,
}

impl Targets {
    /// Targets of `labels` (one per photo of the batch) over `classes` classes, with label
    /// smoothing `smoothing`, on `device`.
    pub fn new(labels: &[Option<usize>], classes: usize, smoothing: f32, device: &Device) -> Self {
        let n = labels.len();
        let mut smoothed = vec![0.0f32; n * classes];
        let mut onehot = vec![0.0f32; n * classes];
        for (row, label) in labels.iter().enumerate() {
            if let Some(l) = label {
                for c in 0..classes {
                    smoothed[row * classes + c] = smoothing / classes as f32;
                }
                smoothed[row * classes + l] += 1.0 - smoothing;
                onehot[row * classes + l] = 1.0;
            }
        }
        let tensor = |v| Tensor::<2>::from_data(TensorData::new(v, [n, classes]), device);
        Self {
            smoothed: tensor(smoothed),
            onehot: tensor(onehot),
            labelled: labels.iter().filter(|l| l.is_some()).count().max(1) as f32,
        }
    }
}

/// The teacher's side of distillation: its network on the plain (non-autodiff) device, and
/// its classifier when the category head learns from it too.
pub struct Teaching<'a> {
    /// The teacher network.
    pub teacher: &'a TeacherNet,
    /// The teacher's classifier, when `loss.teacher_classify` is on.
    pub probe: Option<&'a TeacherProbe>,
    /// The device the teacher runs on.
    pub plain: &'a Device,
}

/// The loss of one batch: the weighted total to differentiate, and each term's value.
pub struct Loss {
    /// Weighted sum of the terms.
    pub total: Tensor<1>,
    /// Values of `[total, classify, embedding, distill, teacher_classify]`.
    pub parts: [f64; 5],
}

/// The loss of `model` on one batch of model `inputs` (`size`-pixel squares) with `targets`.
pub fn batch_loss(
    model: &TrainModel,
    inputs: &[Vec<f32>],
    size: usize,
    targets: Targets,
    weights: &LossWeights,
    teaching: Option<Teaching<'_>>,
    device: &Device,
) -> Result<Loss> {
    let n = inputs.len();
    let out = model.net.forward(batch_tensor(inputs, size, device));
    // Category head: smoothed cross-entropy over labelled rows.
    let classify = (log_softmax(out.logits.clone(), 1) * targets.smoothed)
        .sum()
        .neg()
        / targets.labelled;
    // Embedding: cosine logits against normalised class proxies.
    let proxies = l2_normalise(model.proxies.val());
    let proxy_logits = out.embedding.matmul(proxies.transpose()) * weights.proxy_scale;
    let embedding = (log_softmax(proxy_logits, 1) * targets.onehot).sum().neg() / targets.labelled;
    let mut total = classify.clone() * weights.classify + embedding.clone() * weights.embedding;
    let (mut distill_value, mut teacher_value) = (0.0, 0.0);
    if let (Some(teaching), Some(projector)) = (teaching, &model.projector) {
        let features = teaching
            .teacher
            .forward(batch_tensor(inputs, size, teaching.plain));
        if let Some(probe) = teaching.probe {
            let t = weights.teacher_temperature;
            // Softened teacher probabilities p and their logs, constants for the student.
            let p = softmax(probe.logits(features.clone()) / t, 1);
            let p = Tensor::<2>::from_data(p.into_data(), device);
            let log_p = p.clone().clamp_min(1e-8).log();
            let log_q = log_softmax(out.logits / t, 1);
            // KL(p || q) per photo, times T² so its gradients keep their scale.
            let kl = (p * (log_p - log_q)).sum() / n as f32 * (t * t);
            total = total + kl.clone() * weights.teacher_classify;
            teacher_value = scalar(kl);
        }
        let t = features
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let t = l2_normalise(Tensor::<2>::from_data(
            TensorData::new(t, [n, TEACHER_DIM]),
            device,
        ));
        let p = l2_normalise(projector.forward(out.features));
        let distill = ((p * t).sum_dim(1).neg() + 1.0).mean();
        total = total + distill.clone() * weights.distill;
        distill_value = scalar(distill);
    }
    let parts = [
        scalar(total.clone()),
        scalar(classify),
        scalar(embedding),
        distill_value,
        teacher_value,
    ];
    Ok(Loss { total, parts })
}

/// The value of a one-element tensor (NaN if it cannot be read).
pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .try_into_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN) as f64
}
