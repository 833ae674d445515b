//! The files of a partition built in steps (`fitted`): a trained partition (its centroids,
//! groups and codebooks, exact f32 values, and their layout) and a run of placed rows (each
//! row's cell, distance and code), as safetensors with a format tag, checked when read.

use std::collections::HashMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::cells::Groups;
use super::fitted::{Fitted, Placed};
use super::pq::{Part, Quantiser, SubspaceShape};
use super::space::Space;
use super::write::{Tensor, f32s, read_f32s, read_u32s, serialized, tensor, u32s};
use crate::colour::HIST_LEN;
use crate::error::AssetError;

/// What the errors of these files name.
const WHAT: &str = "partition step file";
/// Most embedding values, and most categories, a trained partition's file may declare.
const MAX_VALUES: usize = 1 << 16;
/// Format tag of a trained partition's file.
const TRAINED_FORMAT: &str = "deep-shopping-partition-trained/1";
/// Format tag of a file of placed rows.
const PLACED_FORMAT: &str = "deep-shopping-partition-placed/1";

/// What a trained partition's file says of itself besides its tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainedLayout {
    dim: usize,
    classes: usize,
    parts: Vec<Part>,
    subspaces: Vec<SubspaceShape>,
}

fn content(detail: impl Into<String>) -> AssetError {
    AssetError::content(WHAT, detail)
}

fn st_error(source: safetensors::SafeTensorError) -> AssetError {
    AssetError::safetensors(WHAT, source)
}

/// `bytes` read as a safetensors file of the format `format`: its tensors and its metadata.
fn open<'a>(
    bytes: &'a [u8],
    format: &str,
) -> Result<(SafeTensors<'a>, HashMap<String, String>), AssetError> {
    let file = SafeTensors::deserialize(bytes).map_err(st_error)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(st_error)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some(format) {
        return Err(content(format!("it is not a {format} file")));
    }
    Ok((file, metadata))
}

impl Fitted {
    /// Its file: the centroids, groups and codebooks exactly (f32), and their layout.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AssetError> {
        let width = self.space.width(self.dim, self.classes);
        let (parts, subspaces, codebooks) = self.quantiser.to_table();
        let layout = TrainedLayout {
            dim: self.dim,
            classes: self.classes,
            parts,
            subspaces,
        };
        let layout = serde_json::to_string(&layout).map_err(|e| AssetError::json(WHAT, e))?;
        let space = [self.space.category, self.space.colour];
        let mut tensors: Vec<Tensor> = vec![
            ("space".into(), Dtype::F32, vec![2], f32s(&space)),
            (
                "centroids".into(),
                Dtype::F32,
                vec![self.cells(), width],
                f32s(&self.centroids),
            ),
            (
                "codebooks".into(),
                Dtype::F32,
                vec![codebooks.len()],
                f32s(&codebooks),
            ),
        ];
        if let Some(groups) = &self.groups {
            let (centroids, starts) = groups.to_parts();
            tensors.push((
                "group_centroids".into(),
                Dtype::F32,
                vec![starts.len() - 1, width],
                f32s(centroids),
            ));
            tensors.push((
                "group_starts".into(),
                Dtype::U32,
                vec![starts.len()],
                u32s(&starts),
            ));
        }
        let metadata = HashMap::from([
            ("format".to_string(), TRAINED_FORMAT.to_string()),
            ("layout".to_string(), layout),
        ]);
        serialized(WHAT, &tensors, metadata)
    }

    /// A trained partition from its file, checked: shapes that fit each other, finite values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AssetError> {
        let (file, metadata) = open(bytes, TRAINED_FORMAT)?;
        let layout: TrainedLayout = metadata
            .get("layout")
            .ok_or_else(|| content("it has no layout"))
            .and_then(|j| serde_json::from_str(j).map_err(|e| AssetError::json(WHAT, e)))?;
        let (dim, classes) = (layout.dim, layout.classes);
        if !(1..=MAX_VALUES).contains(&dim) || classes > MAX_VALUES {
            return Err(content(format!(
                "its embeddings of {dim} values and {classes} categories are out of range"
            )));
        }
        let space = match read_f32s(tensor(WHAT, &file, "space", Dtype::F32, &[2])?)[..] {
            [category, colour] => Space { category, colour },
            _ => return Err(content("its space is not two scales")),
        };
        if !space.is_valid() {
            return Err(content("its cell space has scales outside 0..=16"));
        }
        let width = space.width(dim, classes);
        let centroids = read_f32s(tensor(WHAT, &file, "centroids", Dtype::F32, &[])?);
        let cells = centroids.len().checked_div(width).unwrap_or(0);
        if cells == 0 || centroids.len() != cells * width {
            return Err(content(format!(
                "its centroids are not rows of the cell space's {width} values"
            )));
        }
        let codebooks = read_f32s(tensor(WHAT, &file, "codebooks", Dtype::F32, &[])?);
        let quantiser = Quantiser::from_table(
            layout.parts,
            &layout.subspaces,
            &codebooks,
            dim + HIST_LEN + classes,
        )
        .ok_or_else(|| content("its codebooks do not fit its layout"))?;
        let groups = if file.names().contains(&"group_starts") {
            let starts = read_u32s(tensor(WHAT, &file, "group_starts", Dtype::U32, &[])?);
            let centroids = read_f32s(tensor(WHAT, &file, "group_centroids", Dtype::F32, &[])?);
            Some(
                Groups::from_parts(centroids, &starts, cells, width)
                    .ok_or_else(|| content("its groups do not cover its cells in order"))?,
            )
        } else {
            None
        };
        let finite = centroids.iter().chain(&codebooks).all(|v| v.is_finite());
        if !finite {
            return Err(content(
                "its centroids or codebooks hold a value that is not finite",
            ));
        }
        Ok(Self {
            dim,
            classes,
            space,
            centroids,
            groups,
            quantiser,
        })
    }
}

impl Placed {
    /// Its file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, AssetError> {
        let rows = self.len();
        let code_len = self.codes.len().checked_div(rows).unwrap_or(0);
        let tensors: Vec<Tensor> = vec![
            ("cells".into(), Dtype::U32, vec![rows], u32s(&self.cells)),
            (
                "distances".into(),
                Dtype::F32,
                vec![rows],
                f32s(&self.distances),
            ),
            (
                "codes".into(),
                Dtype::U8,
                vec![rows, code_len],
                self.codes.clone(),
            ),
        ];
        let metadata = HashMap::from([
            ("format".to_string(), PLACED_FORMAT.to_string()),
            ("first".to_string(), self.first.to_string()),
        ]);
        serialized(WHAT, &tensors, metadata)
    }

    /// Placed rows from their file, checked: as many cells, distances and codes, and
    /// distances that are finite and not negative ([`Fitted::gather`] checks the rest).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AssetError> {
        let (file, metadata) = open(bytes, PLACED_FORMAT)?;
        let first = metadata
            .get("first")
            .and_then(|f| f.parse::<u32>().ok())
            .ok_or_else(|| content("it does not say its first row"))?;
        let cells = read_u32s(tensor(WHAT, &file, "cells", Dtype::U32, &[])?);
        let rows = cells.len();
        let distances = read_f32s(tensor(WHAT, &file, "distances", Dtype::F32, &[rows])?);
        let codes = file.tensor("codes").map_err(st_error)?;
        if codes.dtype() != Dtype::U8 || codes.shape().first() != Some(&rows) {
            return Err(content(format!("its codes are not {rows} rows of bytes")));
        }
        if distances.iter().any(|d| !d.is_finite() || *d < 0.0) {
            return Err(content("a distance is negative or not finite"));
        }
        Ok(Self {
            first,
            cells,
            distances,
            codes: codes.data().to_vec(),
        })
    }
}
