//! Arguments shared by several commands.

use std::path::PathBuf;

use clap::Args;

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
