//! Native file work shared by the command line and training: atomic writes, paths as published
//! files name them, model folders (read and write) and index folders (load and publish).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;

use crate::assets::{FileEntry, MANIFEST_FILE, ModelManifest, WEIGHTS_FILE, sha256_hex};
use crate::embed::Embedder;
use crate::index::{
    CatalogueIndex, INDEX_FORMAT_VERSION, INDEX_MANIFEST_FILE, IndexManifest,
    MAX_THUMBNAIL_LIST_BYTES, read_thumbnail_list, thumbnail_list,
};

/// How temporary files start, so that what a killed run left can be told from anyone else's.
pub const TEMP_PREFIX: &str = ".ds-tmp";

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader sees either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
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

pub use crate::assets::MAX_MANIFEST_BYTES;
/// Largest model weights file read.
pub const MAX_WEIGHTS_BYTES: usize = 512 << 20;
/// Largest index data file read.
pub const MAX_INDEX_BYTES: usize = 4 << 30;

/// The bytes of the regular file at `path`, at most `limit` of them: anything but a regular
/// file (a FIFO, a device such as `/dev/zero`) is refused before it is read, and the read
/// goes through a cap, so a file that grows meanwhile cannot exceed it.
pub fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a regular file", path.display());
    anyhow::ensure!(
        meta.len() <= limit as u64,
        "{} is {} bytes; the limit is {limit}",
        path.display(),
        meta.len()
    );
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, limit as u64 + 1), &mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(
        bytes.len() <= limit,
        "{} grew past the {limit}-byte limit while it was read",
        path.display()
    );
    Ok(bytes)
}

/// `name` (a file a manifest names) inside `dir`: a relative path with no `..`, or an error.
pub fn inside(dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let path = Path::new(name);
    let plain = !name.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    anyhow::ensure!(
        plain,
        "{name:?} is not a file inside {}: a manifest may only name files in its own folder",
        dir.display()
    );
    Ok(dir.join(path))
}

/// Loads the model in `dir` (its manifest and checksum-verified weights) on the CPU backend.
pub fn read_model(dir: &Path) -> Result<Embedder> {
    read_model_on(dir, Device::flex())
}

/// Loads the model in `dir` (its manifest and checksum-verified weights) on `device`.
pub fn read_model_on(dir: &Path, device: Device) -> Result<Embedder> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = read_bounded(&manifest_path, MAX_MANIFEST_BYTES)?;
    let parsed = ModelManifest::from_json(&manifest)
        .with_context(|| format!("in {}", manifest_path.display()))?;
    let weights_path = inside(dir, &parsed.weights.file)?;
    let weights = read_bounded(&weights_path, MAX_WEIGHTS_BYTES)?;
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
    let (manifest, data) = read_index_files(dir)?;
    let dim = model.manifest().model.embedding_dim;
    CatalogueIndex::load(&manifest, &data, model.model_sha256(), dim)
        .with_context(|| format!("loading the index in {}", dir.display()))
}

/// The index manifest in `dir` (its thumbnails read from their list) and the data file it
/// names, unchecked.
pub fn read_index_files(dir: &Path) -> Result<(IndexManifest, Vec<u8>)> {
    let manifest_path = dir.join(INDEX_MANIFEST_FILE);
    let mut manifest = IndexManifest::from_json(&read_bounded(&manifest_path, MAX_MANIFEST_BYTES)?)
        .with_context(|| format!("in {}", manifest_path.display()))?;
    let list = manifest.thumbnails.clone();
    read_thumbnails(dir, list.as_ref(), &mut manifest.images)?;
    let data = read_bounded(&inside(dir, &manifest.data.file)?, MAX_INDEX_BYTES)?;
    Ok((manifest, data))
}

/// Sets `images` to the thumbnails of the list `list` names in `dir`, where a manifest names
/// one (one that does not holds them itself).
pub fn read_thumbnails(
    dir: &Path,
    list: Option<&FileEntry>,
    images: &mut Vec<String>,
) -> Result<()> {
    let Some(list) = list else {
        return Ok(());
    };
    let path = inside(dir, &list.file)?;
    let bytes = read_bounded(&path, MAX_THUMBNAIL_LIST_BYTES)?;
    *images =
        read_thumbnail_list(list, &bytes).with_context(|| format!("in {}", path.display()))?;
    Ok(())
}

/// Writes the list of the thumbnails `images` in `dir`, where there are any; the entry a
/// manifest names it by.
pub fn write_thumbnails(dir: &Path, images: &[String]) -> Result<Option<FileEntry>> {
    if images.is_empty() {
        return Ok(None);
    }
    let (entry, bytes) = thumbnail_list(images)?;
    write_atomic(&inside(dir, &entry.file)?, &bytes)?;
    Ok(Some(entry))
}

/// Publishes `index` (made by the model whose weights hash to `model_sha256`) in `dir`, with
/// the thumbnails `images` (files under `dir` the items name, already written): its data
/// under a name taken from its hash and the thumbnails' list (see
/// [`crate::index::thumbnail_list`]), then the manifest that names both, last. Only then are
/// the files the replaced manifest named, and this one does not, removed, and any other file
/// named as a build names them (a killed build's); nothing else in `dir` is touched. Returns the size of the data file.
pub fn publish_index(
    dir: &Path,
    index: &CatalogueIndex,
    model_sha256: &str,
    images: Vec<String>,
) -> Result<usize> {
    let previous = read_bounded(&dir.join(INDEX_MANIFEST_FILE), MAX_MANIFEST_BYTES)
        .ok()
        .and_then(|bytes| IndexManifest::from_json(&bytes).ok())
        .map(|mut p| {
            // A list that cannot be read names nothing to remove; the sweep below removes
            // the thumbnails this manifest does not name anyway.
            let list = p.thumbnails.clone();
            if read_thumbnails(dir, list.as_ref(), &mut p.images).is_err() {
                p.images.clear();
            }
            p
        });
    let data = index.to_bytes()?;
    let sha = sha256_hex(&data);
    let data_name = format!("index-{}.safetensors", &sha[..16]);
    write_atomic(&dir.join(&data_name), &data)?;
    let thumbnails = write_thumbnails(dir, &images)?;
    let manifest = IndexManifest {
        format_version: INDEX_FORMAT_VERSION,
        model_sha256: model_sha256.to_string(),
        count: index.len(),
        data: FileEntry::of(&data_name, &data),
        images: Vec::new(),
        thumbnails,
    };
    write_atomic(&dir.join(INDEX_MANIFEST_FILE), &manifest.to_json()?)?;
    let list = manifest.thumbnails.as_ref().map(|t| t.file.as_str());
    let kept: std::collections::HashSet<&str> = images
        .iter()
        .map(String::as_str)
        .chain([manifest.data.file.as_str()])
        .chain(list)
        .collect();
    if let Some(previous) = &previous {
        let named = previous
            .images
            .iter()
            .map(String::as_str)
            .chain([previous.data.file.as_str()])
            .chain(previous.thumbnails.iter().map(|t| t.file.as_str()));
        for name in named.filter(|n| !kept.contains(n)) {
            if let Ok(path) = inside(dir, name) {
                remove(&path);
            }
        }
    }
    // Files a killed build wrote and never published, or a replaced data file a build killed
    // between the switch and the removal above left, are no one's: those named as the build
    // names them (16 hex digits) that this manifest does not name.
    let hex16 = |stem: &str| stem.len() == 16 && stem.chars().all(|c| c.is_ascii_hexdigit());
    for (folder, prefix, suffix) in [
        (dir.to_path_buf(), "index-", ".safetensors"),
        (dir.to_path_buf(), "thumbnails-", ".json"),
        (dir.join("images"), "", ".jpg"),
    ] {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let ours = file
                .strip_prefix(prefix)
                .and_then(|n| n.strip_suffix(suffix))
                .is_some_and(hex16);
            let name = if prefix.is_empty() {
                format!("images/{file}")
            } else {
                file
            };
            if ours && !kept.contains(name.as_str()) {
                remove(&entry.path());
            }
        }
    }
    Ok(data.len())
}

fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("could not remove {}: {err}", path.display());
    }
}
