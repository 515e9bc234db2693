//! One overall progress bar for a fetch, in bytes and files, drawn on
//! stderr only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str =
    "{spinner} Downloading [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}, {msg}";

pub(crate) struct Progress {
    bar: ProgressBar,
    files: usize,
    files_done: AtomicUsize,
}

impl Progress {
    /// A bar for `files` files of `bytes` bytes in all; hidden unless
    /// `show` and stderr is a terminal.
    pub(crate) fn new(bytes: u64, files: usize, show: bool) -> Self {
        let target = if show && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(bytes), target);
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        let progress = Progress { bar, files, files_done: AtomicUsize::new(0) };
        progress.bar.set_message(format!("0/{files} files"));
        progress
    }

    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// Takes back the bytes of an attempt that will be made again.
    pub(crate) fn remove_bytes(&self, bytes: u64) {
        self.bar.dec(bytes);
    }

    pub(crate) fn file_done(&self) {
        let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
        self.bar.set_message(format!("{done}/{} files", self.files));
    }

    /// A line above the bar, without tearing it; nothing when hidden.
    pub(crate) fn note(&self, line: &str) {
        self.bar.println(line);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub(crate) fn abandon(&self) {
        self.bar.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses() {
        ProgressStyle::with_template(TEMPLATE).expect("a valid template");
    }
}
