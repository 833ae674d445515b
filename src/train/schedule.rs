//! The learning-rate schedule and the epochs a time budget allows.

use super::config::TrainConfig;

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
pub fn warmup_cosine(peak: f64, warmup_steps: f64, step: usize, total: usize) -> f64 {
    let s = step as f64;
    let warmup = ((s + 1.0) / warmup_steps.max(1.0)).min(1.0);
    let progress = (s / total.max(1) as f64).min(1.0);
    peak * warmup * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}
