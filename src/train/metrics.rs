//! Measuring a network: its outputs on prepared inputs, and top-k accuracy.

use anyhow::Result;
use burn::tensor::Device;

use crate::embed::embed_blocking;
use crate::index::Description;
use crate::model::{ResNet, ResNetConfig};

/// Embeddings and category probabilities of `inputs` (batches of 64) on `device`, as
/// descriptions without colours.
pub fn predict(
    net: &ResNet,
    config: &ResNetConfig,
    inputs: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Description>> {
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
