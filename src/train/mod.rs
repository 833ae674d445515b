//! Training (native only): data, augmentation, distillation from an ImageNet teacher, the
//! training loop with checkpoints, resume and early stopping, and evaluation reports.
//!
//! This file holds the loop; what it calls lives in the files beside it, none of which uses
//! anything of this one: `batch` (which photos), `inputs` (their augmented views), `loss`
//! (the student and the loss of a batch), `schedule` (learning rate, time budget), `run` (the
//! run folder: history, checkpoints, export) and `metrics`.

pub mod batch;
pub mod config;
pub mod data;
pub mod eval;
pub mod inputs;
pub mod loss;
pub mod metrics;
mod plots;
pub mod probe;
mod progress;
pub mod report;
pub mod run;
pub mod schedule;
pub mod teacher;
pub mod tune;

use std::time::Instant;

use anyhow::{Result, ensure};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::assets::f32_weights;
use crate::files::write_atomic;
use batch::BatchPlan;
use config::TrainConfig;
use data::{BalancedSampler, Sample, Splits};
use inputs::{augmented, eval_inputs, train_images};
use loss::{Targets, Teaching, TrainModel, batch_loss};
use metrics::{predict, top_k};
use probe::TeacherProbe;
use run::stopped_early;
pub use run::{EpochMetrics, RunFiles, RunState, finished};
pub use schedule::planned_epochs;
use schedule::warmup_cosine;
use tune::{TeacherInputs, run_teacher};

/// Trains per `config`, resuming from the run folder's checkpoint when `resume` is set;
/// `command` is the command line the exported manifest records. Returns the run folder's
/// files.
pub fn train(config: &TrainConfig, resume: bool, command: &str) -> Result<RunFiles> {
    let files = RunFiles::of(config);
    let plain = config.train.device.open()?;
    let splits = Splits::load(&config.data)?;
    files.record_setup(config, &splits)?;
    let net_config = config.model.resnet(splits.labels.len());
    let size = net_config.input_size;
    if resume && files.state().is_file() {
        let state = files.read_state(&splits.labels)?;
        if finished(&state, config) {
            eprintln!(
                "{} has finished after epoch {}: exporting its best network",
                files.dir.display(),
                state.epochs_done
            );
            files.export(&net_config, &state, command)?;
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
    let images = train_images(&train_samples, size as u32)?;
    let labels: Vec<usize> = labelled.iter().filter_map(|s| s.label).collect();
    let sampler = BalancedSampler::new(&labels, config.data.balance_power);
    let val_inputs = eval_inputs(&splits.val, size as u32)?;
    let val_labels: Vec<usize> = splits.val.iter().filter_map(|s| s.label).collect();

    plain.seed(config.data.seed);
    let device = plain.clone().autodiff();
    let teacher = match &config.teacher {
        Some(t) if config.loss.distill > 0.0 => Some(run_teacher(
            config,
            t,
            TeacherInputs {
                files: &files,
                resume,
                labelled: (&images[..labels.len()], &labels),
                classes: splits.labels.len(),
                val: (&val_inputs, &val_labels),
                plain: &plain,
            },
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
            RunFiles { dir: init.clone() }.load_checkpoint(model, &splits.labels)?;
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
        (model, state) = files.load_checkpoint(model, &splits.labels)?;
        let record = burn::optim::record::OptimizerRecord::from_bytes(
            burn::store::burn_pack::Bytes::from_bytes_vec(std::fs::read(files.optimizer())?),
        )
        .map_err(|e| anyhow::anyhow!("reading the optimiser state: {e:?}"))?;
        optim = optim.load_record(record);
        eprintln!("resuming after epoch {}", state.epochs_done);
    }

    let unlabelled_per_batch = if teacher.is_some() && !unlabelled.is_empty() {
        (config.train.batch_size as f64 * config.data.unlabelled_share).round() as usize
    } else {
        0
    };
    let plan = BatchPlan {
        sampler: &sampler,
        labels: &labels,
        unlabelled: unlabelled.len(),
        labelled_per_batch: config.train.batch_size - unlabelled_per_batch,
        unlabelled_per_batch,
    };
    let steps_per_epoch = labels.len().div_ceil(plan.labelled_per_batch);
    let k = splits.labels.len();
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
        let bar = progress::bar(
            steps_per_epoch as u64,
            &format!("epoch {number}/{}", offset + planned),
        );
        let mut sums = [0.0f64; 5];
        let mut lr = 0.0;
        for step in 0..steps_per_epoch {
            let picks = plan.draw(&mut rng);
            let inputs = augmented(
                &images,
                picks.par_iter().map(|p| (p.image, p.seed)),
                &config.augment,
                size,
            );
            let batch_labels: Vec<Option<usize>> = picks.iter().map(|p| p.label).collect();
            let targets = Targets::new(&batch_labels, k, config.train.label_smoothing, &device);
            let teaching = teacher.as_ref().map(|teacher| Teaching {
                teacher,
                probe: probe.as_ref(),
                plain: &plain,
            });
            let loss = batch_loss(
                &model,
                &inputs,
                size,
                targets,
                &config.loss,
                teaching,
                &device,
            )?;
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            lr = warmup_cosine(
                config.train.lr,
                config.train.warmup_epochs * steps_per_epoch as f64,
                epoch * steps_per_epoch + step,
                total_steps,
            );
            model = optim.step(lr, model, grads);
            for (s, v) in sums.iter_mut().zip(loss.parts) {
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
            .map(|d| d.probabilities)
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
        let record = optim
            .to_record()
            .into_bytes()
            .map_err(|e| anyhow::anyhow!("saving the optimiser state: {e:?}"))?;
        files.save_checkpoint(&model, &record, &state)?;
        if let Some(best_epoch) = stopped_early(&state, config.train.patience) {
            eprintln!("early stop: no better validation top-1 since epoch {best_epoch}");
            break;
        }
    }
    files.export(&net_config, &state, command)?;
    Ok(files)
}
