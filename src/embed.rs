//! Load a model on a device and describe photos with it: the one path from photo bytes (and
//! a crop box) to what search needs, the embedding, the category probabilities and the
//! colours. The CLI, the index build, the browser and the tests all describe photos here.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use image::DynamicImage;

use crate::assets::{ModelManifest, load_weights};
use crate::colour::{self, Colours};
use crate::error::{AssetError, EmbedError, ImageError};
use crate::index::{Description, top_labels};
use crate::model::{ResNet, ResNetConfig, l2_normalise};
use crate::preprocess::{Crop, Limits, decode, normalise, square};

/// Width and height of [`Embedder::warm_up`]'s photo.
const WARM_UP_SIZE: (u32, u32) = (640, 480);

/// A photo prepared for the network: its model input and the colours of the square it was
/// made from.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Normalised `[3, size, size]` model input.
    pub input: Vec<f32>,
    /// Colours of the prepared square.
    pub colours: Colours,
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

    /// Decodes `bytes` (limits checked before decoding), turns it upright and prepares it
    /// with `crop` for the network: its input and its colours, on the CPU.
    pub fn prepare(&self, bytes: &[u8], crop: Option<Crop>) -> Result<Photo, ImageError> {
        self.prepare_image(&decode(bytes, &Limits::default())?, crop)
    }

    /// Prepares an already decoded, upright image with `crop` for the network.
    pub fn prepare_image(
        &self,
        image: &DynamicImage,
        crop: Option<Crop>,
    ) -> Result<Photo, ImageError> {
        let square = square(image, crop, self.input_size())?;
        Ok(Photo {
            input: normalise(&square),
            colours: colour::analyse(&square),
        })
    }

    /// Describes one photo: [`Self::prepare`], then the network, waiting for the device
    /// synchronously (native CPU or GPU).
    pub fn describe_blocking(
        &self,
        bytes: &[u8],
        crop: Option<Crop>,
    ) -> Result<Description, EmbedError> {
        let photo = self.prepare(bytes, crop)?;
        one(self.describe_prepared_blocking(vec![photo])?)
    }

    /// Describes one photo: [`Self::prepare`], then the network, reading its output back
    /// asynchronously (required on WebGPU).
    pub async fn describe(
        &self,
        bytes: &[u8],
        crop: Option<Crop>,
    ) -> Result<Description, EmbedError> {
        let photo = self.prepare(bytes, crop)?;
        one(self.describe_prepared(vec![photo]).await?)
    }

    /// Runs the network on a batch of prepared photos, waiting for the device synchronously.
    pub fn describe_prepared_blocking(
        &self,
        photos: Vec<Photo>,
    ) -> Result<Vec<Description>, EmbedError> {
        let Some((output, colours)) = self.start(photos)? else {
            return Ok(Vec::new());
        };
        self.finish(output.try_into_data().map_err(readback)?, colours)
    }

    /// Prepares and describes a synthetic photo (a colour gradient the size of a small phone
    /// photo) and drops the result, so that the first real photo runs code the engine has
    /// already compiled and optimised (and, on a GPU, shaders already built).
    pub async fn warm_up(&self) -> Result<(), EmbedError> {
        let gradient = image::RgbImage::from_fn(WARM_UP_SIZE.0, WARM_UP_SIZE.1, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let photo = self.prepare_image(&DynamicImage::ImageRgb8(gradient), None)?;
        self.describe_prepared(vec![photo]).await.map(drop)
    }

    /// Runs the network on a batch of prepared photos, reading its output back asynchronously.
    pub async fn describe_prepared(
        &self,
        photos: Vec<Photo>,
    ) -> Result<Vec<Description>, EmbedError> {
        let Some((output, colours)) = self.start(photos)? else {
            return Ok(Vec::new());
        };
        self.finish(output.into_data_async().await.map_err(readback)?, colours)
    }

    /// Starts the network on the photos' inputs (checked against the model's input size):
    /// its output, to read back, and the photos' colours; `None` for no photos.
    fn start(&self, photos: Vec<Photo>) -> Result<Option<(Tensor<2>, Vec<Colours>)>, EmbedError> {
        if photos.is_empty() {
            return Ok(None);
        }
        let (inputs, colours) = self.inputs(photos)?;
        let output = forward(&self.model, &self.manifest.model, &inputs, &self.device);
        Ok(Some((output, colours)))
    }

    /// The network's output read back, as descriptions with the photos' colours.
    fn finish(
        &self,
        data: TensorData,
        colours: Vec<Colours>,
    ) -> Result<Vec<Description>, EmbedError> {
        let outputs = split(data, colours.len(), self.manifest.model.embedding_dim)?;
        Ok(with_colours(outputs, colours))
    }

    /// The photos' inputs, checked against the model's input size, and their colours.
    fn inputs(&self, photos: Vec<Photo>) -> Result<(Vec<Vec<f32>>, Vec<Colours>), EmbedError> {
        let size = self.manifest.model.input_size;
        if let Some(bad) = photos.iter().find(|p| p.input.len() != 3 * size * size) {
            return Err(EmbedError::InputSize {
                values: bad.input.len(),
                size,
            });
        }
        Ok(photos.into_iter().map(|p| (p.input, p.colours)).unzip())
    }

    /// The `k` most probable labels, best first.
    pub fn top_labels(&self, probabilities: &[f32], k: usize) -> Vec<(String, f32)> {
        top_labels(&self.manifest.labels, probabilities, k)
    }
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
        l2_normalise(out.embedding.clone().narrow(0, 0, b) + out.embedding.narrow(0, b, b));
    // [B, K]
    let probabilities = softmax(out.logits, 1);
    let probabilities =
        (probabilities.clone().narrow(0, 0, b) + probabilities.narrow(0, b, b)) / 2.0;
    Tensor::cat(vec![embedding, probabilities], 1)
}

/// A failed read of the network's output.
fn readback(err: impl std::fmt::Debug) -> EmbedError {
    EmbedError::Readback(format!("{err:?}"))
}

/// The network's output rows as descriptions without colours.
fn split(data: TensorData, n: usize, embedding_dim: usize) -> Result<Vec<Description>, EmbedError> {
    let values = data.as_slice::<f32>().map_err(readback)?;
    let width = values.len() / n.max(1);
    Ok(values
        .chunks_exact(width.max(1))
        .map(|row| Description {
            embedding: row[..embedding_dim].to_vec(),
            probabilities: row[embedding_dim..].to_vec(),
            histogram: Vec::new(),
            colours: Vec::new(),
        })
        .collect())
}

/// `outputs` with the colours of their photos, in order.
fn with_colours(outputs: Vec<Description>, colours: Vec<Colours>) -> Vec<Description> {
    outputs
        .into_iter()
        .zip(colours)
        .map(|(d, c)| Description {
            histogram: c.histogram,
            colours: c.dominant,
            ..d
        })
        .collect()
}

/// The one description of a batch of one.
fn one(mut descriptions: Vec<Description>) -> Result<Description, EmbedError> {
    descriptions
        .pop()
        .ok_or_else(|| EmbedError::Readback("the model returned no output".into()))
}

/// Runs `net` (shaped by `config`) on a batch of model inputs and waits for the results
/// synchronously: descriptions without colours, which rank by look alone. Used by
/// [`Embedder`] and by training and evaluation, which hold a bare network.
pub fn embed_blocking(
    net: &ResNet,
    config: &ResNetConfig,
    inputs: &[Vec<f32>],
    device: &Device,
) -> Result<Vec<Description>, EmbedError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let data = forward(net, config, inputs, device)
        .try_into_data()
        .map_err(readback)?;
    split(data, inputs.len(), config.embedding_dim)
}
