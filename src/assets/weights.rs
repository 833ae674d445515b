//! Weights stored as int8 with one f32 scale per output channel, in a safetensors container,
//! dequantised to f32 at load.
//!
//! Layout: every float tensor of rank 2 or more is stored as `I8` under its module path, with
//! its scales as `F32` under `<path>.scale`; the quantised axis is recorded in the metadata as
//! `axis.<path>`. Rank-1 tensors (biases, batch-norm statistics) stay `F32`.

use std::collections::{BTreeMap, HashMap};

use burn::store::ModuleSnapshot;
use burn::store::burn_pack::{Bytes, DType, Tensor as PackTensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use burn::module::Module;

use super::tensors::{Tensor, f32s, serialized};
use crate::error::AssetError;

const WHAT: &str = "weights file";
const SCALE_SUFFIX: &str = ".scale";

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

fn st_error(source: safetensors::SafeTensorError) -> AssetError {
    AssetError::safetensors(WHAT, source)
}

/// The output-channel axis: `[out, in, kh, kw]` for convolutions, `[in, out]` for burn's linear.
fn channel_axis(rank: usize) -> usize {
    if rank == 2 { 1 } else { 0 }
}

/// Quantisation error figures, for reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuantStats {
    /// Values quantised to int8.
    pub quantised: usize,
    /// Values kept as f32.
    pub kept: usize,
    /// Largest absolute error over all quantised values.
    pub max_abs_error: f32,
}

/// Quantises one `shape` tensor per channel of `axis`: `(int8 values, scales, max abs error)`.
fn quantise(values: &[f32], shape: &[usize], axis: usize) -> (Vec<i8>, Vec<f32>, f32) {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let channel_of = |i: usize| (i / inner) % channels;
    let mut max = vec![0.0f32; channels];
    for (i, v) in values.iter().enumerate() {
        let c = channel_of(i);
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|m| if *m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let mut err = 0.0f32;
    let q = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = scales[channel_of(i)];
            let q = (v / s).round().clamp(-127.0, 127.0);
            err = err.max((q * s - v).abs());
            q as i8
        })
        .collect();
    (q, scales, err)
}

/// Serialises a model's parameters as int8 weights with per-channel scales.
pub fn quantise_weights<M: Module>(model: &M) -> Result<(Vec<u8>, QuantStats), AssetError> {
    encode_weights(model, true)
}

/// Serialises a model's parameters in f32 (training checkpoints) in the same container.
pub fn f32_weights<M: Module>(model: &M) -> Result<Vec<u8>, AssetError> {
    encode_weights(model, false).map(|(bytes, _)| bytes)
}

fn encode_weights<M: Module>(model: &M, int8: bool) -> Result<(Vec<u8>, QuantStats), AssetError> {
    let mut stats = QuantStats::default();
    let mut owned: Vec<Tensor> = Vec::new();
    let mut metadata = HashMap::new();
    for tensor in model.collect(None, None, false) {
        let (name, dtype, shape, _, bytes) = tensor
            .into_parts()
            .map_err(|e| content(format!("reading a parameter: {e:?}")))?;
        if dtype != DType::F32 {
            return Err(content(format!(
                "{name} is {dtype:?}; only f32 parameters are stored"
            )));
        }
        let dims: Vec<usize> = shape.iter().copied().collect();
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if int8 && dims.len() >= 2 {
            let axis = channel_axis(dims.len());
            let (q, scales, err) = quantise(&values, &dims, axis);
            stats.quantised += values.len();
            stats.max_abs_error = stats.max_abs_error.max(err);
            metadata.insert(format!("axis.{name}"), axis.to_string());
            owned.push((
                format!("{name}{SCALE_SUFFIX}"),
                Dtype::F32,
                vec![scales.len()],
                f32s(&scales),
            ));
            owned.push((
                name,
                Dtype::I8,
                dims,
                q.into_iter().map(|v| v as u8).collect(),
            ));
        } else {
            stats.kept += values.len();
            owned.push((name, Dtype::F32, dims, f32s(&values)));
        }
    }
    let bytes = serialized(WHAT, &owned, metadata)?;
    Ok((sorted_header(&bytes)?, stats))
}

/// The container with its JSON header written with sorted keys, so equal tensors give equal
/// bytes (safetensors writes its metadata in hash-map order, which changes from run to run).
fn sorted_header(bytes: &[u8]) -> Result<Vec<u8>, AssetError> {
    type Header = BTreeMap<String, BTreeMap<String, serde_json::Value>>;
    let len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| content("no header length"))?;
    let (json, data) = bytes
        .get(8..)
        .and_then(|rest| (len <= rest.len()).then(|| rest.split_at(len)))
        .ok_or_else(|| content("header longer than the file"))?;
    let header: Header =
        serde_json::from_slice(json).map_err(|e| content(format!("header: {e}")))?;
    let mut json = serde_json::to_vec(&header).map_err(|e| content(format!("header: {e}")))?;
    // Padded with spaces to a multiple of 8 bytes, as safetensors aligns its data.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + data.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    Ok(out)
}

/// A dequantised parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Module path, e.g. `blocks.0.conv1.weight`.
    pub name: String,
    /// Tensor shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Vec<f32>,
}

/// Reads an int8 weights container back into f32 tensors named by module path.
pub fn read_weights(bytes: &[u8]) -> Result<Vec<NamedTensor>, AssetError> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_error)?;
    let axes = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(bytes).map_err(st_error)?;
    let as_f32 = |view: &TensorView| -> Vec<f32> {
        view.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut out = Vec::new();
    for (name, view) in file.tensors() {
        if name.ends_with(SCALE_SUFFIX) {
            continue;
        }
        let shape = view.shape().to_vec();
        let values = match view.dtype() {
            Dtype::F32 => as_f32(&view),
            Dtype::I8 => {
                let axis: usize = axes
                    .get(&format!("axis.{name}"))
                    .and_then(|a| a.parse().ok())
                    .filter(|a| *a < shape.len())
                    .ok_or_else(|| content(format!("{name} has no valid quantisation axis")))?;
                let scales = file
                    .tensor(&format!("{name}{SCALE_SUFFIX}"))
                    .map_err(st_error)?;
                if scales.dtype() != Dtype::F32 {
                    return Err(content(format!("scales of {name} are not f32")));
                }
                let scales = as_f32(&scales);
                let channels = shape[axis];
                if scales.len() != channels {
                    return Err(content(format!(
                        "{name} has {} scales for {channels} channels",
                        scales.len()
                    )));
                }
                let inner: usize = shape[axis + 1..].iter().product();
                view.data()
                    .iter()
                    .enumerate()
                    .map(|(i, q)| (*q as i8) as f32 * scales[(i / inner) % channels])
                    .collect()
            }
            other => return Err(content(format!("{name} has unsupported dtype {other:?}"))),
        };
        out.push(NamedTensor {
            name,
            shape,
            values,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Loads int8 or f32 weights into `model`, failing if any parameter is missing or mis-shaped.
pub fn load_weights<M: Module>(mut model: M, bytes: &[u8]) -> Result<M, AssetError> {
    let tensors = read_weights(bytes)?
        .into_iter()
        .map(|t| {
            PackTensor::new(
                t.name,
                DType::F32,
                t.shape,
                None,
                Bytes::from_bytes_vec(f32s(&t.values)),
            )
        })
        .collect();
    let result = model.apply(tensors, None, None, false);
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(content(format!(
            "weights do not fit the architecture: errors {:?}, missing {:?}, unused {:?}",
            result.errors, result.missing, result.unused
        )));
    }
    Ok(model)
}
