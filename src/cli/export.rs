//! `sweepstore export STORE DIR [--task T]... [--where F]... [--state S] [--json]`: every run
//! of a RedbStore (or those of the tasks and filters given, the query core's filters) into a
//! LocalFileStore directory (fluidml's layout: `DIR/<task>/<counter>/config.json`, one file
//! per result).
//!
//! Invariants: the store is only read; each value's hash is verified as it is copied (a
//! corrupt value stops the export and is not written); exporting again into the same
//! directory copies only what is missing.

use std::path::PathBuf;

use clap::Args;
use sweepstore::LocalFileStore;

use super::filters::FilterArgs;
use super::query::load;
use super::select::known_task;
use super::store::open_existing;
use super::transfer::{copy_and_report, refuse_redb_store};
use super::{CliError, Out, Status};

/// Copy a store into a LocalFileStore directory (fluidml's layout).
///
/// Plain files you can browse, rsync or load from Python; every value's hash is verified as
/// it is copied. Running it again copies only what is missing.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The store directory to read.
    pub(super) store: PathBuf,
    /// The LocalFileStore directory to write (created if it does not exist).
    dir: PathBuf,
    /// Export only these runs: a task's runs (repeat for several; default every task).
    #[arg(long, value_name = "TASK")]
    task: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Print JSON: {"runs", "results_copied", "results_skipped", "bytes_copied"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ExportArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    refuse_redb_store(&args.dir, "export")?;
    let filters = args.filter.parse()?;
    let store = open_existing(&args.store)?;
    let runs = if args.task.is_empty() && !args.filter.any() {
        None
    } else {
        let tasks = if args.task.is_empty() {
            store.get().tasks()?.into_iter().map(|t| t.name).collect()
        } else {
            let known = |t: &String| known_task(store.get(), t);
            args.task.iter().map(known).collect::<Result<Vec<_>, _>>()?
        };
        let tables = load::filtered_tasks(store.get(), &tasks, &args.filter.result, &filters)?;
        Some(
            tables
                .iter()
                .flat_map(|t| t.rows().iter().map(|row| row.run.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let dir = LocalFileStore::new(&args.dir)?;
    let summary = format!(
        "exported {} to {}",
        args.store.display(),
        args.dir.display()
    );
    copy_and_report(store.get(), runs.as_deref(), &dir, &summary, args.json, out)?;
    Ok(Status::Success)
}
