//! What `export` and `import` share: refusing a directory that holds a RedbStore where a
//! LocalFileStore directory is expected (swapped arguments), running [`copy_store`] behind a
//! progress bar, and printing its report.
//!
//! Invariant: both directions print the same summary and the same `--json` shape,
//! `{"runs", "runs_damaged", "results_copied", "results_skipped", "bytes_copied",
//! "files_not_copied"}`, and treat a damaged source run the same way: named on stderr and
//! skipped, or with `--strict` an error before anything is written (a run with a `json`
//! result that is not JSON, such as Python's `NaN`, is damaged too); files of a source run
//! directory that are no result are named on stderr and not copied.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use sweepstore::{Browse, CopyPlan, ResultsStore, TransferReport, copy_planned};

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

/// Copies the runs of `plan` from `from` into `to` behind a progress bar (a terminal only),
/// runs `finish` (which makes the copy durable, for a bulk write), and prints the report:
/// `{summary}: N runs, …`. Each damaged run skipped is named on stderr first (a
/// `--strict` plan has none).
pub fn copy_and_report<F, T>(
    from: &F,
    to: &T,
    plan: &CopyPlan,
    finish: impl FnOnce() -> sweepstore::Result<()>,
    summary: &str,
    as_json: bool,
    out: &mut Out<'_>,
) -> Result<(), CliError>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    for damaged in plan.damaged() {
        eprintln!("skipping a damaged run (use --strict to stop instead): {damaged}");
    }
    for file in plan.unlisted_files() {
        eprintln!(
            "not copied (no load information describes it, so it is no result): {}",
            file.display()
        );
    }
    let bar = Bar::new(out.is_terminal, 0, "results");
    let copied = copy_planned(from, to, plan, &mut |progress| bar.follow(progress));
    bar.finish();
    let report: TransferReport = copied?;
    finish()?;
    if as_json {
        let value = json!({
            "runs": report.runs,
            "runs_damaged": report.runs_damaged,
            "results_copied": report.results_copied,
            "results_skipped": report.results_skipped,
            "bytes_copied": report.bytes_copied,
            "files_not_copied": report.files_not_copied,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(
            out,
            "{summary}: {} runs, {} results copied ({}), {} already there (skipped){}{}",
            report.runs,
            report.results_copied,
            size(report.bytes_copied),
            report.results_skipped,
            match report.runs_damaged {
                0 => String::new(),
                n => format!(", {n} damaged runs skipped"),
            },
            match report.files_not_copied {
                0 => String::new(),
                n => format!(", {n} files that are no result not copied"),
            }
        )?;
    }
    Ok(())
}
