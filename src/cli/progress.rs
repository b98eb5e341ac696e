//! Progress bars for long subcommands (demo, verify, export, import).
//!
//! Invariant: a bar is drawn (on stderr) only when stdout is a terminal; otherwise every
//! method is a no-op, so piped output stays exactly what the subcommand prints itself.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// A progress bar that may be hidden.
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar over `len` items called `unit` (e.g. `runs`), drawn only if `visible`; it shows
    /// items done, items per second and the estimated time left.
    pub fn new(visible: bool, len: u64, unit: &str) -> Self {
        if !visible {
            return Bar(None);
        }
        let template = format!(
            "{{bar:30.cyan/blue}} {{pos}}/{{len}} {unit}  {{rate}} {unit}/s  ETA {{eta}}  {{msg}}"
        );
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(&template) {
            let rate = |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                // Nothing to do if the terminal line cannot be formatted.
                let _ = write!(w, "{:.1}", state.per_sec());
            };
            bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
        }
        Bar(Some(bar))
    }

    /// Moves the bar to `done` items.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    /// Changes the bar's length (for work whose size is learned as it goes).
    pub fn set_len(&self, len: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(len);
        }
    }

    /// Shows `message` after the counts.
    pub fn message(&self, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    /// Follows a library operation's progress reports (values done of total, bytes).
    pub fn follow(&self, progress: sweepstore::Progress) {
        self.set_len(progress.total);
        self.set(progress.done);
        self.message(super::render::size(progress.bytes));
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
