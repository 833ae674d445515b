//! Training (native only): data, augmentation, distillation from an ImageNet teacher, the
//! training loop with checkpoints, resume and early stopping, and evaluation reports.

pub mod config;
pub mod data;
pub mod eval;
mod plots;
pub mod probe;
pub mod teacher;
pub mod tune;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::assets::{FileEntry, MODEL_FORMAT_VERSION, ModelManifest, f32_weights, load_weights};
use crate::cli::write_atomic;
use crate::embed::{Embedding, batch_tensor, embed_blocking};
use crate::model::{ResNet, ResNetConfig, l2_normalize};
use crate::preprocess::{Limits, decode, normalise, prepare, square};
use config::{TrainConfig, TrainDevice};
use data::{AugmentDraw, BalancedSampler, Sample, Source, Splits};
use probe::TeacherProbe;
use teacher::{TEACHER_DIM, TeacherNet};

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
    fn new(config: &ResNetConfig, distill: bool, device: &Device) -> Self {
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

/// One epoch's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean total training loss.
    pub train_loss: f64,
    /// Mean category cross-entropy.
    pub classify_loss: f64,
    /// Mean proxy (embedding) cross-entropy.
    pub embedding_loss: f64,
    /// Mean distillation loss (cosine distance to the teacher).
    pub distill_loss: f64,
    /// Mean KL divergence of the category head from the teacher's classifier (times T²).
    #[serde(default)]
    pub teacher_classify_loss: f64,
    /// Validation top-1 of the category head.
    pub val_top1: f64,
    /// Validation top-3.
    pub val_top3: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// What a checkpoint records besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Best validation top-1 so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// Metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// Labels in head order.
    pub labels: Vec<String>,
    /// Epochs the learning-rate schedule spans (fewer than configured under a time budget).
    #[serde(default)]
    pub planned_epochs: Option<usize>,
    /// Epochs at the start of `history` that ran in the `train.init` run.
    #[serde(default)]
    pub init_epochs: usize,
}

/// Files of a run folder.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The run folder.
    pub dir: PathBuf,
}

impl RunFiles {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Last checkpoint of the training model (f32).
    pub fn checkpoint(&self) -> PathBuf {
        self.path("checkpoint.safetensors")
    }
    /// Optimiser state of the last checkpoint.
    pub fn optimizer(&self) -> PathBuf {
        self.path("optimizer.bin")
    }
    /// Epoch counter, best score and history.
    pub fn state(&self) -> PathBuf {
        self.path("state.json")
    }
    /// Best network by validation top-1 (f32).
    pub fn best(&self) -> PathBuf {
        self.path("best-f32.safetensors")
    }
    /// The exported int8 model folder (manifest + weights).
    pub fn model_dir(&self) -> PathBuf {
        self.path("model")
    }
}

/// Decoded training photos, scaled so the shorter side is a little above the input size.
fn load_train_images(samples: &[Sample], input: u32) -> Result<Vec<image::RgbImage>> {
    let target = (input as f64 * 1.15).ceil() as u32;
    let bar = progress(samples.len() as u64, "decoding training photos");
    let images = samples
        .par_iter()
        .map(|s| {
            let image = match &s.source {
                Source::Pixels(p) => return Ok((**p).clone()),
                Source::File(path) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    decode(&bytes, &Limits::default())
                        .with_context(|| format!("decoding {}", path.display()))?
                }
            };
            let (w, h) = (image.width(), image.height());
            let scale = target as f64 / w.min(h) as f64;
            let out = if scale < 1.0 {
                image
                    .resize_exact(
                        (w as f64 * scale).round() as u32,
                        (h as f64 * scale).round() as u32,
                        image::imageops::FilterType::Triangle,
                    )
                    .to_rgb8()
            } else {
                image.to_rgb8()
            };
            bar.inc(1);
            Ok(out)
        })
        .collect();
    bar.finish_and_clear();
    images
}

/// Model inputs of evaluation photos, through the shared preprocessing path.
pub fn eval_inputs(samples: &[Sample], input: u32) -> Result<Vec<Vec<f32>>> {
    let bar = progress(samples.len() as u64, "preparing evaluation photos");
    let out = samples
        .par_iter()
        .map(|s| {
            let v = match &s.source {
                Source::File(path) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    prepare(&bytes, None, input, &Limits::default())
                        .with_context(|| format!("preparing {}", path.display()))?
                        .input
                }
                Source::Pixels(p) => normalise(&square(
                    &image::DynamicImage::ImageRgb8((**p).clone()),
                    None,
                    input,
                )?),
            };
            bar.inc(1);
            Ok(v)
        })
        .collect();
    bar.finish_and_clear();
    out
}

fn progress(len: u64, what: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} {{msg}} ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .try_into_vec::<f32>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f32::NAN) as f64
}

/// Embeddings and category probabilities of `inputs` (batches of 64) on the plain device.
pub fn predict(
    net: &ResNet,
    config: &ResNetConfig,
    inputs: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Embedding>> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(64) {
        out.extend(embed_blocking(net, config, chunk, device)?);
    }
    Ok(out)
}

/// Fraction of samples whose label is among the `k` most probable classes.
pub fn top_k(probs: &[Vec<f32>], labels: &[usize], k: usize) -> f64 {
    let hits = probs
        .iter()
        .zip(labels)
        .filter(|(p, l)| p.iter().filter(|v| **v > p[**l]).count() < k)
        .count();
    hits as f64 / labels.len().max(1) as f64
}

/// The device training steps run on.
fn train_device(kind: TrainDevice) -> Result<Device> {
    match kind {
        TrainDevice::Cpu => Ok(Device::flex()),
        TrainDevice::Gpu => gpu_device(),
    }
}

/// burn's wgpu runtime on the best adapter; one that cannot start is an error here rather
/// than a panic in the first step.
#[cfg(feature = "gpu")]
fn gpu_device() -> Result<Device> {
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let probe = device.clone();
    std::panic::catch_unwind(move || Tensor::<1>::ones([4], &probe).sum().into_data())
        .map_err(|_| anyhow::anyhow!("the GPU runtime did not start on this machine"))?;
    Ok(device)
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> Result<Device> {
    anyhow::bail!("train.device = \"gpu\" needs a binary built with `--features gpu` (see README)")
}

/// Epochs of the schedule: the configured number, or under a time budget, the epochs done
/// plus as many more of the last epoch's length as the remaining budget holds (at least one).
pub fn planned_epochs(config: &TrainConfig, done: usize, used_s: f64, last_epoch_s: f64) -> usize {
    let budget = config.train.time_budget_minutes * 60.0;
    if budget <= 0.0 || last_epoch_s <= 0.0 {
        return config.train.epochs;
    }
    let more = ((budget - used_s) / last_epoch_s).floor().max(0.0) as usize;
    (done + more).clamp(done.min(config.train.epochs), config.train.epochs)
}

/// Learning rate at `step` of `total`: linear warm-up to `peak` over `warmup_steps` (at least
/// one), then cosine decay to zero.
fn warmup_cosine(peak: f64, warmup_steps: f64, step: usize, total: usize) -> f64 {
    let s = step as f64;
    let warmup = ((s + 1.0) / warmup_steps.max(1.0)).min(1.0);
    let progress = (s / total.max(1) as f64).min(1.0);
    peak * warmup * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Model inputs of augmented training views, in the order of `draws`: for each `(i, seed)`,
/// `images[i]` under the augmentation drawn with `seed`.
fn augmented_inputs(
    images: &[image::RgbImage],
    draws: impl IndexedParallelIterator<Item = (usize, u64)>,
    augment: &config::Augment,
    size: usize,
) -> Vec<Vec<f32>> {
    draws
        .map(|(i, seed)| {
            let img = &images[i];
            let mut r = StdRng::seed_from_u64(seed);
            let draw = AugmentDraw::new(augment, img.width(), img.height(), &mut r);
            normalise(&draw.apply(img, size as u32))
        })
        .collect()
}

/// Trains per `config`, resuming from the run folder's checkpoint when `resume` is set.
/// Returns the run folder's files.
pub fn train(config: &TrainConfig, resume: bool, command: &str) -> Result<RunFiles> {
    let files = RunFiles {
        dir: config.run_dir.clone(),
    };
    let plain = train_device(config.train.device)?;
    std::fs::create_dir_all(&files.dir)
        .with_context(|| format!("creating {}", files.dir.display()))?;
    let splits = Splits::load(&config.data)?;
    write_atomic(
        &files.path("config.toml"),
        toml::to_string_pretty(config)?.as_bytes(),
    )?;
    write_atomic(&files.path("split.json"), &split_record(&splits, config)?)?;
    let net_config = config.model.resnet(splits.labels.len());
    let size = net_config.input_size;
    if resume && files.state().is_file() {
        let state = read_state(&files, &splits.labels)?;
        if finished(&state, config) {
            eprintln!(
                "{} has finished after epoch {}: exporting its best network",
                files.dir.display(),
                state.epochs_done
            );
            export(&files, &net_config, &state, command)?;
            return Ok(files);
        }
    }

    let labelled: Vec<&Sample> = splits.train_labelled().collect();
    let unlabelled: Vec<&Sample> = splits.train.iter().filter(|s| s.label.is_none()).collect();
    ensure!(!labelled.is_empty(), "no labelled training photos");
    let train_samples: Vec<Sample> = labelled
        .iter()
        .chain(&unlabelled)
        .map(|s| (*s).clone())
        .collect();
    let images = load_train_images(&train_samples, size as u32)?;
    let labels: Vec<usize> = labelled.iter().filter_map(|s| s.label).collect();
    let sampler = BalancedSampler::new(&labels, config.data.balance_power);
    let val_inputs = eval_inputs(&splits.val, size as u32)?;
    let val_labels: Vec<usize> = splits.val.iter().filter_map(|s| s.label).collect();

    plain.seed(config.data.seed);
    let device = plain.clone().autodiff();
    let teacher = match &config.teacher {
        Some(t) if config.loss.distill > 0.0 => Some(load_teacher(
            config,
            t,
            &files,
            resume,
            (&images[..labels.len()], &labels),
            splits.labels.len(),
            (&val_inputs, &val_labels),
            &plain,
        )?),
        _ => None,
    };
    let probe = match (&teacher, &config.teacher) {
        (Some(t), Some(tc)) if config.loss.teacher_classify > 0.0 => {
            let p = TeacherProbe::fit(
                t,
                &images[..labels.len()],
                &labels,
                splits.labels.len(),
                &config.augment,
                tc.classifier_views,
                config.data.balance_power,
                (&val_inputs, &val_labels),
                size,
                config.data.seed,
                &plain,
            )?;
            eprintln!(
                "teacher's classifier: validation top-1 {:.4} (the student's target)",
                p.val_top1
            );
            Some(p)
        }
        _ => None,
    };
    let temperature = config.loss.teacher_temperature;
    let mut model = TrainModel::new(&net_config, teacher.is_some(), &device);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.train.weight_decay)
        .init();
    let mut state = RunState {
        epochs_done: 0,
        best: None,
        history: Vec::new(),
        labels: splits.labels.clone(),
        planned_epochs: None,
        init_epochs: 0,
    };
    let resuming = resume && files.state().is_file();
    if let (Some(init), false) = (&config.train.init, resuming) {
        let (loaded, earlier) =
            load_checkpoint(&RunFiles { dir: init.clone() }, model, &splits.labels)?;
        model = loaded;
        state.init_epochs = earlier.epochs_done;
        state.epochs_done = earlier.epochs_done;
        state.history = earlier.history;
        eprintln!(
            "starting from {} after its epoch {}",
            init.display(),
            earlier.epochs_done
        );
    }
    if resuming {
        (model, state) = load_checkpoint(&files, model, &splits.labels)?;
        let record = burn::optim::record::OptimizerRecord::from_bytes(
            burn::store::burn_pack::Bytes::from_bytes_vec(std::fs::read(files.optimizer())?),
        )
        .map_err(|e| anyhow::anyhow!("reading the optimiser state: {e:?}"))?;
        optim = optim.load_record(record);
        eprintln!("resuming after epoch {}", state.epochs_done);
    }

    let unl_per_batch = if teacher.is_some() && !unlabelled.is_empty() {
        (config.train.batch_size as f64 * config.data.unlabelled_share).round() as usize
    } else {
        0
    };
    let lab_per_batch = config.train.batch_size - unl_per_batch;
    let steps_per_epoch = labels.len().div_ceil(lab_per_batch);
    let k = splits.labels.len();
    let smoothing = config.train.label_smoothing;
    let session = Instant::now();
    let offset = state.init_epochs;
    let first_epoch = state.epochs_done.saturating_sub(offset);
    let mut planned = state.planned_epochs.unwrap_or(config.train.epochs);

    for epoch in first_epoch..config.train.epochs {
        // 1-based number of this epoch in the whole history, earlier cycles included.
        let number = offset + epoch + 1;
        if epoch >= planned {
            eprintln!("time budget reached after {epoch} epochs");
            break;
        }
        let total_steps = steps_per_epoch * planned;
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(
            config.data.seed ^ (number as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let bar = progress(
            steps_per_epoch as u64,
            &format!("epoch {number}/{}", offset + planned),
        );
        let mut sums = [0.0f64; 5];
        let mut lr = 0.0;
        for step in 0..steps_per_epoch {
            let mut picks: Vec<(usize, Option<usize>, u64)> = (0..lab_per_batch)
                .map(|_| {
                    let i = sampler.draw(&mut rng);
                    (i, Some(labels[i]), rng.random())
                })
                .collect();
            for _ in 0..unl_per_batch {
                let j = rng.random_range(0..unlabelled.len());
                picks.push((labelled.len() + j, None, rng.random()));
            }
            let inputs = augmented_inputs(
                &images,
                picks.par_iter().map(|(i, _, seed)| (*i, *seed)),
                &config.augment,
                size,
            );
            let n = picks.len();
            let n_lab = picks.iter().filter(|p| p.1.is_some()).count().max(1) as f32;
            let mut targets = vec![0.0f32; n * k];
            let mut onehot = vec![0.0f32; n * k];
            for (row, (_, label, _)) in picks.iter().enumerate() {
                if let Some(l) = label {
                    for c in 0..k {
                        targets[row * k + c] = smoothing / k as f32;
                    }
                    targets[row * k + l] += 1.0 - smoothing;
                    onehot[row * k + l] = 1.0;
                }
            }
            let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, k]), &device);
            let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, k]), &device);

            let x = batch_tensor(&inputs, size, &device);
            let out = model.net.forward(x);
            // Category head: smoothed cross-entropy over labelled rows.
            let classify = (log_softmax(out.logits.clone(), 1) * targets).sum().neg() / n_lab;
            // Embedding: cosine logits against normalised class proxies.
            let proxies = l2_normalize(model.proxies.val());
            let proxy_logits = out.embedding.matmul(proxies.transpose()) * config.loss.proxy_scale;
            let embedding = (log_softmax(proxy_logits, 1) * onehot).sum().neg() / n_lab;
            let mut loss =
                classify.clone() * config.loss.classify + embedding.clone() * config.loss.embedding;
            let mut distill_value = 0.0;
            let mut teacher_value = 0.0;
            if let (Some(teacher), Some(projector)) = (&teacher, &model.projector) {
                let features = teacher.forward(batch_tensor(&inputs, size, &plain));
                if let Some(probe) = &probe {
                    // Softened teacher probabilities p and their logs, constants for the student.
                    let p = softmax(probe.logits(features.clone()) / temperature, 1);
                    let p = Tensor::<2>::from_data(p.into_data(), &device);
                    let log_p = p.clone().clamp_min(1e-8).log();
                    let log_q = log_softmax(out.logits / temperature, 1);
                    // KL(p || q) per photo, times T² so its gradients keep their scale.
                    let kl = (p * (log_p - log_q)).sum() / n as f32 * (temperature * temperature);
                    loss = loss + kl.clone() * config.loss.teacher_classify;
                    teacher_value = scalar(kl);
                }
                let t = features
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let t = l2_normalize(Tensor::<2>::from_data(
                    TensorData::new(t, [n, TEACHER_DIM]),
                    &device,
                ));
                let p = l2_normalize(projector.forward(out.features));
                let distill = ((p * t).sum_dim(1).neg() + 1.0).mean();
                loss = loss + distill.clone() * config.loss.distill;
                distill_value = scalar(distill);
            }
            let values = [
                scalar(loss.clone()),
                scalar(classify),
                scalar(embedding),
                distill_value,
                teacher_value,
            ];
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = warmup_cosine(
                config.train.lr,
                config.train.warmup_epochs * steps_per_epoch as f64,
                epoch * steps_per_epoch + step,
                total_steps,
            );
            model = optim.step(lr, model, grads);
            for (s, v) in sums.iter_mut().zip(values) {
                *s += v;
            }
            bar.set_message(format!("loss {:.3}", sums[0] / (step + 1) as f64));
            bar.inc(1);
            if bar.is_hidden() && (step + 1) % (steps_per_epoch / 10).max(1) == 0 {
                let elapsed = started.elapsed().as_secs_f64();
                eprintln!(
                    "epoch {} step {}/{}: loss {:.4}, {:.0} s elapsed, epoch ETA {:.0} s",
                    number,
                    step + 1,
                    steps_per_epoch,
                    sums[0] / (step + 1) as f64,
                    elapsed,
                    elapsed / (step + 1) as f64 * (steps_per_epoch - step - 1) as f64
                );
            }
        }
        bar.finish_and_clear();

        let valid = model.valid();
        let probs: Vec<Vec<f32>> = predict(&valid.net, &net_config, &val_inputs, &plain)?
            .into_iter()
            .map(|e| e.probabilities)
            .collect();
        let steps = steps_per_epoch as f64;
        let metrics = EpochMetrics {
            epoch: number,
            train_loss: sums[0] / steps,
            classify_loss: sums[1] / steps,
            embedding_loss: sums[2] / steps,
            distill_loss: sums[3] / steps,
            teacher_classify_loss: sums[4] / steps,
            val_top1: top_k(&probs, &val_labels, 1),
            val_top3: top_k(&probs, &val_labels, 3),
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {:>3}: loss {:.4} (cls {:.3}, emb {:.3}, distill {:.3}, teacher cls {:.3})  val top-1 {:.4} top-3 {:.4}  {:.0} s",
            metrics.epoch,
            metrics.train_loss,
            metrics.classify_loss,
            metrics.embedding_loss,
            metrics.distill_loss,
            metrics.teacher_classify_loss,
            metrics.val_top1,
            metrics.val_top3,
            metrics.seconds
        );
        if state.best.is_none_or(|(b, _)| metrics.val_top1 > b) {
            state.best = Some((metrics.val_top1, number));
            write_atomic(&files.best(), &f32_weights(&model.net)?)?;
        }
        let epoch_s = metrics.seconds;
        state.history.push(metrics);
        state.epochs_done = number;
        if config.train.time_budget_minutes > 0.0 {
            planned = planned_epochs(config, epoch + 1, session.elapsed().as_secs_f64(), epoch_s);
            state.planned_epochs = Some(planned);
        }
        write_atomic(&files.checkpoint(), &f32_weights(&model)?)?;
        let record = optim
            .to_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("saving the optimiser state: {e:?}"))?;
        write_atomic(&files.optimizer(), &record)?;
        write_atomic(&files.state(), &serde_json::to_vec_pretty(&state)?)?;
        if let Some(best_epoch) = stopped_early(&state, config.train.patience) {
            eprintln!("early stop: no better validation top-1 since epoch {best_epoch}");
            break;
        }
    }
    export(&files, &net_config, &state, command)?;
    Ok(files)
}

/// File name of a run's fine-tuned teacher.
pub const TUNED_TEACHER_FILE: &str = "teacher-tuned.safetensors";

/// The run's teacher: as `teacher.weights` names it, or fine-tuned on the labelled photos
/// first when `teacher.tune_epochs` is set (a resumed run reuses the one it saved).
#[allow(clippy::too_many_arguments)]
fn load_teacher(
    config: &TrainConfig,
    t: &config::Teacher,
    files: &RunFiles,
    resume: bool,
    (images, labels): (&[image::RgbImage], &[usize]),
    classes: usize,
    val: (&[Vec<f32>], &[usize]),
    plain: &Device,
) -> Result<TeacherNet> {
    if t.tune_epochs == 0 {
        return TeacherNet::load(&t.weights, plain);
    }
    let path = files.path(TUNED_TEACHER_FILE);
    if resume && path.is_file() {
        eprintln!("using the tuned teacher {}", path.display());
        return TeacherNet::load(&path, plain);
    }
    let teacher = TeacherNet::load(&t.weights, &plain.clone().autodiff())?;
    let settings = tune::TuneSettings {
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
    let (tuned, history) = tune::tune(teacher, images, labels, classes, val, &settings, plain)?;
    write_atomic(
        &files.path("teacher-tune.json"),
        &serde_json::to_vec_pretty(&history)?,
    )?;
    write_atomic(&path, &f32_weights(&tuned)?)?;
    Ok(tuned)
}

/// The state of a run folder; the run must have these labels.
fn read_state(files: &RunFiles, labels: &[String]) -> Result<RunState> {
    let state: RunState = serde_json::from_slice(
        &std::fs::read(files.state())
            .with_context(|| format!("reading {}", files.state().display()))?,
    )
    .with_context(|| format!("parsing {}", files.state().display()))?;
    ensure!(
        state.labels == labels,
        "{} was trained on other labels",
        files.dir.display()
    );
    Ok(state)
}

/// Whether a run has nothing left to train: its planned epochs ran, or it stopped early.
pub fn finished(state: &RunState, config: &TrainConfig) -> bool {
    let planned = state
        .planned_epochs
        .unwrap_or(config.train.epochs)
        .min(config.train.epochs);
    let ran = state.epochs_done.saturating_sub(state.init_epochs);
    ran >= planned || stopped_early(state, config.train.patience).is_some()
}

/// The best epoch, when `patience` epochs have passed since it without a better one.
fn stopped_early(state: &RunState, patience: usize) -> Option<usize> {
    state
        .best
        .map(|(_, best)| best)
        .filter(|&best| state.epochs_done.saturating_sub(best) >= patience)
}

/// The last checkpoint of a run folder and its state; the run must have these labels.
fn load_checkpoint(
    files: &RunFiles,
    model: TrainModel,
    labels: &[String],
) -> Result<(TrainModel, RunState)> {
    let state = read_state(files, labels)?;
    let bytes = std::fs::read(files.checkpoint())
        .with_context(|| format!("reading {}", files.checkpoint().display()))?;
    let model = load_weights(model, &bytes)
        .with_context(|| format!("loading {}", files.checkpoint().display()))?;
    Ok((model, state))
}

/// Writes the best network as an int8 model folder with its manifest.
fn export(files: &RunFiles, config: &ResNetConfig, state: &RunState, command: &str) -> Result<()> {
    let net = load_weights(config.init(&Device::flex()), &std::fs::read(files.best())?)?;
    let (weights, _) = crate::assets::quantize_weights(&net)?;
    let (best, epoch) = state.best.unwrap_or((0.0, 0));
    let manifest = ModelManifest {
        format_version: MODEL_FORMAT_VERSION,
        model: config.clone(),
        labels: state.labels.clone(),
        trained: true,
        description: format!(
            "Trained with `{command}`{}; best validation top-1 {best:.4} at epoch {epoch}.",
            match state.init_epochs {
                0 => String::new(),
                n => format!(" from the checkpoint after epoch {n} of its `train.init` run"),
            }
        ),
        weights: FileEntry::of(crate::assets::WEIGHTS_FILE, &weights),
    };
    let dir = files.model_dir();
    std::fs::create_dir_all(&dir)?;
    write_atomic(&dir.join(crate::assets::WEIGHTS_FILE), &weights)?;
    write_atomic(&dir.join(crate::assets::MANIFEST_FILE), &manifest.to_json())?;
    Ok(())
}

#[derive(Serialize)]
struct SplitRecord<'a> {
    seed: u64,
    labels: &'a [String],
    train: Vec<&'a str>,
    val: Vec<&'a str>,
    test: Vec<&'a str>,
}

fn split_record(splits: &Splits, config: &TrainConfig) -> Result<Vec<u8>> {
    let record = SplitRecord {
        seed: config.data.seed,
        labels: &splits.labels,
        train: splits.train.iter().map(|x| x.id.as_str()).collect(),
        val: splits.val.iter().map(|x| x.id.as_str()).collect(),
        test: splits.test.iter().map(|x| x.id.as_str()).collect(),
    };
    Ok(serde_json::to_vec(&record)?)
}

/// The run folder of a config file without training (for `eval`).
pub fn run_files(config: &TrainConfig) -> RunFiles {
    RunFiles {
        dir: config.run_dir.clone(),
    }
}
