//! A run folder and what it records: the epoch history, checkpoints to resume from, the best
//! network and its int8 export.

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::data::Splits;
use crate::assets::{
    FileEntry, MODEL_FORMAT_VERSION, ModelManifest, WEIGHTS_FILE, f32_weights, load_weights,
    quantise_weights,
};
use crate::files::{write_atomic, write_model};
use crate::model::ResNetConfig;

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
    /// The run folder `config` names.
    pub fn of(config: &TrainConfig) -> Self {
        Self {
            dir: config.run_dir.clone(),
        }
    }
    /// A file of the run folder.
    pub fn path(&self, name: &str) -> PathBuf {
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

    /// The run's state; the run must have these labels.
    pub fn read_state(&self, labels: &[String]) -> Result<RunState> {
        let state: RunState = serde_json::from_slice(
            &std::fs::read(self.state())
                .with_context(|| format!("reading {}", self.state().display()))?,
        )
        .with_context(|| format!("parsing {}", self.state().display()))?;
        ensure!(
            state.labels == labels,
            "{} was trained on other labels",
            self.dir.display()
        );
        Ok(state)
    }

    /// The last checkpoint loaded into `model`, and the state; the run must have these
    /// labels.
    pub fn load_checkpoint<M: Module>(&self, model: M, labels: &[String]) -> Result<(M, RunState)> {
        let state = self.read_state(labels)?;
        let bytes = std::fs::read(self.checkpoint())
            .with_context(|| format!("reading {}", self.checkpoint().display()))?;
        let model = load_weights(model, &bytes)
            .with_context(|| format!("loading {}", self.checkpoint().display()))?;
        Ok((model, state))
    }

    /// Saves a checkpoint: the training model, the optimiser's state, then the run state.
    pub fn save_checkpoint<M: Module>(
        &self,
        model: &M,
        optimizer: &[u8],
        state: &RunState,
    ) -> Result<()> {
        write_atomic(&self.checkpoint(), &f32_weights(model)?)?;
        write_atomic(&self.optimizer(), optimizer)?;
        write_atomic(&self.state(), &serde_json::to_vec_pretty(state)?)
    }

    /// Writes the run's configuration and the split it trains on.
    pub fn record_setup(&self, config: &TrainConfig, splits: &Splits) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        write_atomic(
            &self.path("config.toml"),
            toml::to_string_pretty(config)?.as_bytes(),
        )?;
        let record = SplitRecord {
            seed: config.data.seed,
            labels: &splits.labels,
            train: splits.train.iter().map(|x| x.id.as_str()).collect(),
            val: splits.val.iter().map(|x| x.id.as_str()).collect(),
            test: splits.test.iter().map(|x| x.id.as_str()).collect(),
        };
        write_atomic(&self.path("split.json"), &serde_json::to_vec(&record)?)
    }

    /// Writes the best network as an int8 model folder with its manifest; `command` is the
    /// command line the manifest says made it.
    pub fn export(&self, config: &ResNetConfig, state: &RunState, command: &str) -> Result<()> {
        let net = load_weights(config.init(&Device::flex()), &std::fs::read(self.best())?)?;
        let (weights, _) = quantise_weights(&net)?;
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
            weights: FileEntry::of(WEIGHTS_FILE, &weights),
        };
        write_model(&self.model_dir(), &manifest, &weights)
    }
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
pub fn stopped_early(state: &RunState, patience: usize) -> Option<usize> {
    state
        .best
        .map(|(_, best)| best)
        .filter(|&best| state.epochs_done.saturating_sub(best) >= patience)
}

#[derive(Serialize)]
struct SplitRecord<'a> {
    seed: u64,
    labels: &'a [String],
    train: Vec<&'a str>,
    val: Vec<&'a str>,
    test: Vec<&'a str>,
}
