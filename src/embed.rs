//! Load a model on a device and turn prepared photos into embeddings and category scores.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

use crate::assets::{ModelManifest, load_weights};
use crate::error::{AssetError, EmbedError};
use crate::model::{ResNet, ResNetConfig, l2_normalize};

/// What the model says about one photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// Category probabilities, in the manifest's label order.
    pub probabilities: Vec<f32>,
}

/// A loaded model ready to embed photos on one device.
#[derive(Debug)]
pub struct Embedder {
    model: ResNet,
    manifest: ModelManifest,
    device: Device,
}

impl Embedder {
    /// Parses the manifest, verifies the weights' checksum and loads them on `device`.
    pub fn load(manifest_json: &[u8], weights: &[u8], device: Device) -> Result<Self, AssetError> {
        let manifest = ModelManifest::from_json(manifest_json)?;
        manifest.weights.verify(weights)?;
        let model = load_weights(manifest.model.init(&device), weights)?;
        Ok(Self {
            model,
            manifest,
            device,
        })
    }

    /// Wraps a model already on `device`.
    pub fn from_model(model: ResNet, manifest: ModelManifest, device: Device) -> Self {
        Self {
            model,
            manifest,
            device,
        }
    }

    /// The manifest of the loaded model.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The loaded network.
    pub fn network(&self) -> &ResNet {
        &self.model
    }

    /// sha256 of the loaded weights file, which an index must record.
    pub fn model_sha256(&self) -> &str {
        &self.manifest.weights.sha256
    }

    /// Side of the square model input.
    pub fn input_size(&self) -> u32 {
        self.manifest.model.input_size as u32
    }

    fn check(&self, inputs: &[Vec<f32>]) -> Result<(), EmbedError> {
        let s = self.manifest.model.input_size;
        match inputs.iter().find(|i| i.len() != 3 * s * s) {
            Some(bad) => Err(EmbedError::Readback(format!(
                "input has {} values, the model takes 3x{s}x{s}",
                bad.len()
            ))),
            None => Ok(()),
        }
    }

    /// Embeds a batch of prepared inputs, waiting for the device synchronously (native CPU/GPU).
    pub fn embed_blocking(&self, inputs: &[Vec<f32>]) -> Result<Vec<Embedding>, EmbedError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        self.check(inputs)?;
        embed_blocking(&self.model, &self.manifest.model, inputs, &self.device)
    }

    /// Embeds a batch of prepared inputs, reading back asynchronously (required on WebGPU).
    pub async fn embed(&self, inputs: &[Vec<f32>]) -> Result<Vec<Embedding>, EmbedError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        self.check(inputs)?;
        let data = forward(&self.model, &self.manifest.model, inputs, &self.device)
            .into_data_async()
            .await
            .map_err(|e| EmbedError::Readback(format!("{e:?}")))?;
        split(data, inputs.len(), self.manifest.model.embedding_dim)
    }

    /// The `k` most probable labels, best first.
    pub fn top_labels(&self, probabilities: &[f32], k: usize) -> Vec<(String, f32)> {
        top_labels(&self.manifest.labels, probabilities, k)
    }
}

/// The `k` most probable of `labels` (in the category head's order), best first.
pub fn top_labels(labels: &[String], probabilities: &[f32], k: usize) -> Vec<(String, f32)> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|a, b| probabilities[*b].total_cmp(&probabilities[*a]));
    order
        .into_iter()
        .take(k)
        .filter_map(|i| Some((labels.get(i)?.clone(), probabilities[i])))
        .collect()
}

/// `[B, 3, S, S]`: prepared inputs (each `3 * S * S` values) as one batch on `device`.
pub fn batch_tensor(inputs: &[Vec<f32>], size: usize, device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [inputs.len(), 3, size, size]), device)
}

/// `[B, E + K]`: embeddings and probabilities side by side, for a single readback. Each photo
/// runs with its mirror image in the same batch; the embedding is the normalised sum of the
/// two and the probabilities their mean (garments are left-right symmetric, and the average
/// is steadier than either view: README, "Inference and ranking").
fn forward(net: &ResNet, config: &ResNetConfig, inputs: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let b = inputs.len();
    // [B, 3, S, S]
    let x = batch_tensor(inputs, config.input_size, device);
    // [2B, 3, S, S]: the photos, then their mirror images.
    let both = Tensor::cat(vec![x.clone(), x.flip([3])], 0);
    let out = net.forward(both);
    // [B, E]
    let embedding =
        l2_normalize(out.embedding.clone().narrow(0, 0, b) + out.embedding.narrow(0, b, b));
    // [B, K]
    let probabilities = softmax(out.logits, 1);
    let probabilities =
        (probabilities.clone().narrow(0, 0, b) + probabilities.narrow(0, b, b)) / 2.0;
    Tensor::cat(vec![embedding, probabilities], 1)
}

fn split(data: TensorData, n: usize, embedding_dim: usize) -> Result<Vec<Embedding>, EmbedError> {
    let values = data
        .as_slice::<f32>()
        .map_err(|e| EmbedError::Readback(format!("{e:?}")))?;
    let width = values.len() / n.max(1);
    Ok(values
        .chunks_exact(width.max(1))
        .map(|row| Embedding {
            embedding: row[..embedding_dim].to_vec(),
            probabilities: row[embedding_dim..].to_vec(),
        })
        .collect())
}

/// Runs `net` (shaped by `config`) on a batch and waits for the results synchronously; used
/// by [`Embedder`] and by training and evaluation, which hold a bare network.
pub fn embed_blocking(
    net: &ResNet,
    config: &ResNetConfig,
    inputs: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Embedding>, EmbedError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let data = forward(net, config, inputs, device)
        .try_into_data()
        .map_err(|e| EmbedError::Readback(format!("{e:?}")))?;
    split(data, inputs.len(), config.embedding_dim)
}
