//! Native file work shared by the command line and training: atomic writes, paths as published
//! files name them, model folders (read and write) and index folders (load and publish).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;

use crate::assets::{FileEntry, MANIFEST_FILE, ModelManifest, WEIGHTS_FILE, sha256_hex};
use crate::embed::Embedder;
use crate::index::{CatalogueIndex, INDEX_FORMAT_VERSION, INDEX_MANIFEST_FILE, IndexManifest};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    // Served files must be world-readable, unlike tempfile's default 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// `text` with the working folder and the home folder taken out of the paths it names (the
/// working folder's prefix dropped, the home folder written `~`), so files that are published
/// (a model manifest, a report) name no path of the machine that wrote them.
pub fn portable(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(cwd) = std::env::current_dir() {
        out = out.replace(&format!("{}/", cwd.display()), "");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        out = out.replace(&format!("{}/", Path::new(&home).display()), "~/");
    }
    out
}

/// Loads the model in `dir` (its manifest and checksum-verified weights) on the CPU backend.
pub fn read_model(dir: &Path) -> Result<Embedder> {
    read_model_on(dir, Device::flex())
}

/// Loads the model in `dir` (its manifest and checksum-verified weights) on `device`.
pub fn read_model_on(dir: &Path, device: Device) -> Result<Embedder> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let parsed = ModelManifest::from_json(&manifest)
        .with_context(|| format!("in {}", manifest_path.display()))?;
    let weights_path = dir.join(&parsed.weights.file);
    let weights = std::fs::read(&weights_path)
        .with_context(|| format!("reading {}", weights_path.display()))?;
    Embedder::load(&manifest, &weights, device)
        .with_context(|| format!("loading the model in {}", dir.display()))
}

/// Writes a model folder: the weights, then the manifest that names them.
pub fn write_model(dir: &Path, manifest: &ModelManifest, weights: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&dir.join(WEIGHTS_FILE), weights)?;
    write_atomic(&dir.join(MANIFEST_FILE), &manifest.to_json()?)
}

/// Loads the index in `dir`, refusing one made by another model than `model`.
pub fn read_index(dir: &Path, model: &Embedder) -> Result<CatalogueIndex> {
    let manifest_path = dir.join(INDEX_MANIFEST_FILE);
    let manifest = IndexManifest::from_json(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("in {}", manifest_path.display()))?;
    let data_path = dir.join(&manifest.data.file);
    let data =
        std::fs::read(&data_path).with_context(|| format!("reading {}", data_path.display()))?;
    CatalogueIndex::load(&manifest, &data, model.model_sha256())
        .with_context(|| format!("loading the index in {}", dir.display()))
}

/// Publishes `index` (made by the model whose weights hash to `model_sha256`) in `dir`: its
/// data under a name taken from its hash, then the manifest that names it, then the removal
/// of earlier data files. Returns the size of the data file.
pub fn publish_index(dir: &Path, index: &CatalogueIndex, model_sha256: &str) -> Result<usize> {
    let data = index.to_bytes()?;
    let sha = sha256_hex(&data);
    let data_name = format!("index-{}.safetensors", &sha[..16]);
    write_atomic(&dir.join(&data_name), &data)?;
    let manifest = IndexManifest {
        format_version: INDEX_FORMAT_VERSION,
        model_sha256: model_sha256.to_string(),
        count: index.len(),
        data: FileEntry::of(&data_name, &data),
    };
    write_atomic(&dir.join(INDEX_MANIFEST_FILE), &manifest.to_json()?)?;
    remove_stale_data(dir, &data_name);
    Ok(data.len())
}

/// Removes index data files of earlier runs, once the new manifest points elsewhere.
fn remove_stale_data(dir: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = name.starts_with("index-") && name.ends_with(".safetensors") && name != keep;
        if stale && let Err(err) = std::fs::remove_file(entry.path()) {
            log::warn!("could not remove stale {name}: {err}");
        }
    }
}
