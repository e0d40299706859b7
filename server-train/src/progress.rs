//! One terminal display for every progress bar of the process, so that `pipeline`'s
//! stage line and the running stage's own bar draw together instead of over each other.

use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar};

fn display() -> &'static MultiProgress {
    static DISPLAY: OnceLock<MultiProgress> = OnceLock::new();
    DISPLAY.get_or_init(MultiProgress::new)
}

/// `bar`, drawn in the process's shared display.
pub fn shown(bar: ProgressBar) -> ProgressBar {
    display().add(bar)
}

/// Prints a line above the bars (or to stderr when they are hidden, as in logs).
pub fn line(text: &str) {
    if display().is_hidden() {
        eprintln!("{text}");
    } else {
        display()
            .println(text)
            .unwrap_or_else(|_| eprintln!("{text}"));
    }
}
