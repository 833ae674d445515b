//! Console progress bars of training and evaluation.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps headed `what`, with a message slot and the time left.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    ProgressBar::new(len).with_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} {{msg}} ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}
