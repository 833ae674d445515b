//! Arguments shared by several commands, and the photos they read.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;

use crate::files::read_bounded;
use crate::preprocess::Limits;

/// Where the model is.
#[derive(Debug, Args)]
pub(super) struct ModelArgs {
    /// Folder holding `manifest.json` and the weights it names.
    #[arg(long, env = "DEEP_SHOPPING_MODEL", default_value = "models")]
    pub model: PathBuf,
}

/// Which configuration, with overrides.
#[derive(Debug, Args)]
pub(super) struct ConfigArgs {
    /// Training configuration (TOML), e.g. configs/clothing.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Override one setting, e.g. `--set train.epochs=5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// A photo named on the command line: its bytes, read from a regular file through the photo
/// size limit.
pub(super) fn read_photo(path: &Path) -> Result<Vec<u8>> {
    read_bounded(path, Limits::default().max_file_bytes)
}

#[derive(Serialize)]
struct PhotoError {
    image: String,
    error: String,
}

/// Runs `each` on every photo of `paths`: a photo that fails is reported (as a JSON line
/// with `json`) and the rest go on; then fails if any did.
pub(super) fn for_each_photo(
    paths: &[PathBuf],
    json: bool,
    mut each: impl FnMut(&Path) -> Result<()>,
) -> Result<()> {
    let mut failed = 0usize;
    for path in paths {
        if let Err(err) = each(path) {
            failed += 1;
            if json {
                let line = PhotoError {
                    image: path.display().to_string(),
                    error: format!("{err:#}"),
                };
                println!("{}", serde_json::to_string(&line)?);
            }
            eprintln!("error: {}: {err:#}", path.display());
        }
    }
    if failed > 0 {
        bail!("{failed} of {} photos could not be read", paths.len());
    }
    Ok(())
}
