//! Fine-tuning the distillation teacher on the labelled training photos: its whole network
//! and a new category layer on its pooled features, trained end to end, so that its features
//! (and the classifier fitted on them for the student) know the store's categories.

use std::time::Instant;

use anyhow::{Result, ensure};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::config::{Augment, Teacher, TrainConfig};
use super::data::BalancedSampler;
use super::inputs::augmented;
use super::loss::scalar;
use super::metrics::top_k;
use super::progress;
use super::run::RunFiles;
use super::schedule::warmup_cosine;
use super::teacher::{TEACHER_DIM, TeacherNet};
use crate::assets::f32_weights;
use crate::embed::batch_tensor;
use crate::files::write_atomic;

/// How the teacher is fine-tuned.
#[derive(Debug, Clone)]
pub struct TuneSettings<'a> {
    /// Passes of `labels.len()` balanced draws each.
    pub epochs: usize,
    /// Peak learning rate of AdamW: half an epoch of linear warm-up, then cosine to zero.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Photos per step.
    pub batch_size: usize,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f32,
    /// Class sampling weight `count^-balance_power`.
    pub balance_power: f64,
    /// Augmentation of the training photos.
    pub augment: &'a Augment,
    /// Side of the square input.
    pub size: usize,
    /// Seed of the draws and of the new layer.
    pub seed: u64,
}

/// Figures of one fine-tuning epoch.
#[derive(Debug, Clone, Serialize)]
pub struct TuneEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Validation top-1 of the tuned network with its category layer.
    pub val_top1: f64,
    /// Validation top-3.
    pub val_top3: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

#[derive(Module, Debug)]
struct Tuned {
    teacher: TeacherNet,
    head: Linear,
}

/// Fine-tunes `teacher` (loaded on `plain.autodiff()`) on `images[i]` with `labels[i]`,
/// measuring each epoch on the validation inputs. Returns the tuned teacher on `plain` and the
/// epochs' figures.
#[allow(clippy::too_many_arguments)]
pub fn tune(
    teacher: TeacherNet,
    images: &[image::RgbImage],
    labels: &[usize],
    classes: usize,
    val: (&[Vec<f32>], &[usize]),
    s: &TuneSettings<'_>,
    plain: &Device,
) -> Result<(TeacherNet, Vec<TuneEpoch>)> {
    let device = &plain.clone().autodiff();
    ensure!(
        !labels.is_empty() && images.len() >= labels.len() && s.batch_size >= 2,
        "fine-tuning the teacher needs labelled photos and a batch of 2 or more"
    );
    ensure!(
        labels.iter().all(|l| *l < classes),
        "a label is out of {classes} classes"
    );
    let mut model = Tuned {
        teacher,
        head: LinearConfig::new(TEACHER_DIM, classes).init(device),
    };
    let mut optim = AdamWConfig::new().with_weight_decay(s.weight_decay).init();
    let sampler = BalancedSampler::new(labels, s.balance_power);
    let (n, k) = (s.batch_size, classes);
    let steps = labels.len().div_ceil(n);
    let total = steps * s.epochs;
    let mut history = Vec::new();
    for epoch in 0..s.epochs {
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(
            s.seed ^ 0x7E4C_4E12 ^ ((epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let bar = progress::bar(
            steps as u64,
            &format!("tuning the teacher, epoch {}/{}", epoch + 1, s.epochs),
        );
        let mut sum = 0.0;
        for step in 0..steps {
            let picks: Vec<(usize, u64)> = (0..n)
                .map(|_| (sampler.draw(&mut rng), rng.random()))
                .collect();
            let inputs = augmented(images, picks.par_iter().copied(), s.augment, s.size);
            let mut targets = vec![s.label_smoothing / k as f32; n * k];
            for (row, (i, _)) in picks.iter().enumerate() {
                targets[row * k + labels[*i]] += 1.0 - s.label_smoothing;
            }
            let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, k]), device);
            // [n, 3, size, size] -> [n, 1280] -> [n, k]
            let logits = model
                .head
                .forward(model.teacher.forward(batch_tensor(&inputs, s.size, device)));
            let loss = (log_softmax(logits, 1) * targets).sum().neg() / n as f32;
            sum += scalar(loss.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = warmup_cosine(s.lr, steps as f64 * 0.5, epoch * steps + step, total);
            model = optim.step(lr, model, grads);
            bar.set_message(format!("loss {:.3}", sum / (step + 1) as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let valid = model.valid();
        let probs = classify(&valid, val.0, s.size, plain)?;
        let figures = TuneEpoch {
            epoch: epoch + 1,
            loss: sum / steps as f64,
            val_top1: top_k(&probs, val.1, 1),
            val_top3: top_k(&probs, val.1, 3),
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "teacher epoch {:>2}: loss {:.4}  val top-1 {:.4} top-3 {:.4}  {:.0} s",
            figures.epoch, figures.loss, figures.val_top1, figures.val_top3, figures.seconds
        );
        history.push(figures);
    }
    Ok((model.valid().teacher, history))
}

/// Category probabilities of the tuned network for prepared inputs.
fn classify(
    model: &Tuned,
    inputs: &[Vec<f32>],
    size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(64) {
        // [b, 3, size, size] -> [b, k]
        let p = softmax(
            model
                .head
                .forward(model.teacher.forward(batch_tensor(chunk, size, device))),
            1,
        );
        let k = p.dims()[1];
        let v = p
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        out.extend(v.chunks(k).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// File name of a run's fine-tuned teacher.
pub const TUNED_TEACHER_FILE: &str = "teacher-tuned.safetensors";

/// Everything [`run_teacher`] needs besides the configuration.
pub struct TeacherInputs<'a> {
    /// The run folder the tuned teacher is kept in.
    pub files: &'a RunFiles,
    /// Whether the run resumes (and so reuses the tuned teacher it saved).
    pub resume: bool,
    /// Labelled training photos and their classes.
    pub labelled: (&'a [image::RgbImage], &'a [usize]),
    /// Number of classes.
    pub classes: usize,
    /// Validation inputs and labels.
    pub val: (&'a [Vec<f32>], &'a [usize]),
    /// The plain (non-autodiff) device.
    pub plain: &'a Device,
}

/// The run's teacher: as `teacher.weights` names it, or fine-tuned on the labelled photos
/// first when `teacher.tune_epochs` is set (a resumed run reuses the one it saved).
pub fn run_teacher(
    config: &TrainConfig,
    t: &Teacher,
    inputs: TeacherInputs<'_>,
) -> Result<TeacherNet> {
    let plain = inputs.plain;
    if t.tune_epochs == 0 {
        return TeacherNet::load(&t.weights, plain);
    }
    let path = inputs.files.path(TUNED_TEACHER_FILE);
    if inputs.resume && path.is_file() {
        eprintln!("using the tuned teacher {}", path.display());
        return TeacherNet::load(&path, plain);
    }
    let teacher = TeacherNet::load(&t.weights, &plain.clone().autodiff())?;
    let settings = TuneSettings {
        epochs: t.tune_epochs,
        lr: t.tune_lr,
        weight_decay: t.tune_weight_decay,
        batch_size: config.train.batch_size,
        label_smoothing: config.train.label_smoothing,
        balance_power: config.data.balance_power,
        augment: &config.augment,
        size: config.model.input_size,
        seed: config.data.seed,
    };
    let (images, labels) = inputs.labelled;
    let (tuned, history) = tune(
        teacher,
        images,
        labels,
        inputs.classes,
        inputs.val,
        &settings,
        plain,
    )?;
    write_atomic(
        &inputs.files.path("teacher-tune.json"),
        &serde_json::to_vec_pretty(&history)?,
    )?;
    write_atomic(&path, &f32_weights(&tuned)?)?;
    Ok(tuned)
}
