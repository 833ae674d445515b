//! File helpers for outputs that must never be left half-written.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

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

/// A command line (`args` as `std::env::args` gives them, the program first) as a model
/// manifest records it: `deep-shopping` and the arguments, with [`portable`] paths.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let args: Vec<String> = args.into_iter().skip(1).map(|a| portable(&a)).collect();
    format!("deep-shopping {}", args.join(" "))
        .trim_end()
        .to_string()
}
