//! Progress bars on stderr for long operations: bytes, rate and ETA. Hidden when stderr is
//! not a terminal or with `--quiet`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-counting progress bar (or nothing).
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `total` bytes labelled `label`, unless `quiet` or stderr is not a terminal.
    pub fn bytes(total: u64, label: &str, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() || total < (64 << 20) {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_message(label.to_string());
        Progress { bar: Some(bar) }
    }

    /// The callback to hand to the library.
    pub fn callback(&self) -> Option<Arc<dyn Fn(u64) + Send + Sync>> {
        let bar = self.bar.clone()?;
        Some(Arc::new(move |n| bar.inc(n)))
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Total size of the files under `paths` (for sizing a progress bar; errors count as 0).
pub fn total_size(paths: &[PathBuf]) -> u64 {
    fn walk(p: &Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .map(|rd| rd.flatten().map(|e| walk(&e.path())).sum())
                .unwrap_or(0),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    paths.iter().map(|p| walk(p)).sum()
}
