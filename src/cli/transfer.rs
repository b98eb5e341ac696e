//! What `export` and `import` share: refusing a directory that holds a RedbStore where a
//! LocalFileStore directory is expected (swapped arguments), running [`copy_store`] behind a
//! progress bar, and printing its report.
//!
//! Invariant: both directions print the same summary and the same `--json` shape,
//! `{"runs", "results_copied", "results_skipped", "bytes_copied"}`.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use sweepstore::{Browse, ResultsStore, RunSummary, TransferReport, copy_runs, copy_store};

use super::error::CommandError;
use super::progress::Bar;
use super::render::size;
use super::store::is_redb_store;
use super::{CliError, Out};

/// Fails if `dir`, given as a LocalFileStore directory to `command`, holds a RedbStore.
pub fn refuse_redb_store(dir: &Path, command: &'static str) -> Result<(), CommandError> {
    if is_redb_store(dir) {
        return Err(CommandError::IsARedbStore {
            path: dir.to_owned(),
            command,
        });
    }
    Ok(())
}

/// Copies `from` (only `runs` of it, if given) into `to` behind a progress bar (a terminal
/// only) and prints the report: `{summary}: N runs, …`.
pub fn copy_and_report<F, T>(
    from: &F,
    runs: Option<&[RunSummary]>,
    to: &T,
    summary: &str,
    as_json: bool,
    out: &mut Out<'_>,
) -> Result<(), CliError>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    let bar = Bar::new(out.is_terminal, 0, "results");
    let mut follow = |progress| bar.follow(progress);
    let copied = match runs {
        Some(runs) => copy_runs(from, to, runs, &mut follow),
        None => copy_store(from, to, &mut follow),
    };
    bar.finish();
    let report: TransferReport = copied?;
    if as_json {
        let value = json!({
            "runs": report.runs,
            "results_copied": report.results_copied,
            "results_skipped": report.results_skipped,
            "bytes_copied": report.bytes_copied,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(
            out,
            "{summary}: {} runs, {} results copied ({}), {} already there (skipped)",
            report.runs,
            report.results_copied,
            size(report.bytes_copied),
            report.results_skipped
        )?;
    }
    Ok(())
}
