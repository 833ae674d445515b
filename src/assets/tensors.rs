//! Safetensors files written from plain tensors (name, type, shape, bytes): the model's
//! weights and the partitioned index's files share them.

use crate::error::AssetError;

/// `v` as the bytes of an f32 tensor.
pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A tensor of a file, with its name, type, shape and bytes.
pub type Tensor = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// A safetensors file (a `what`) of `tensors` with `metadata`.
pub fn serialized(
    what: &'static str,
    tensors: &[Tensor],
    metadata: std::collections::HashMap<String, String>,
) -> Result<Vec<u8>, AssetError> {
    let error = |e| AssetError::safetensors(what, e);
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(error)
}
