//! `sweepstore export STORE DIR [--task T]... [--where F]... [--state S] [--json]`: every run
//! of a RedbStore (or those of the tasks and filters given, the query core's filters) into a
//! LocalFileStore directory (fluidml's layout: `DIR/<task>/<counter>/config.json`, one file
//! per result).
//!
//! DIR may also be a MongoDB store (`mongodb://HOST:PORT/DATABASE/COLLECTION`, created if
//! missing), and STORE one to read: `export ./sweep mongodb://…` moves a LocalFileStore
//! directory (or a RedbStore) to a shared server, `export mongodb://… ./sweep` back.
//!
//! Invariants: the store is only read; each value's hash is verified as it is copied (a
//! corrupt value stops the export and is not written); exporting again into the same
//! directory copies only what is missing; a non-empty directory that holds no runs is
//! refused before anything is written.

use std::path::PathBuf;

use clap::Args;
use sweepstore::{Browse, CopyPlan, Error, LocalFileStore, RedbOptions};

use super::error::CommandError;
use super::filters::FilterArgs;
use super::mongo_store::is_uri;
use super::query::load;
use super::select::known_task;
use super::store::{open_existing, open_or_create_reachable};
use super::transfer::{copy_and_report, refuse_redb_store};
use super::{CliError, Out, Status};

/// Copy a store into a LocalFileStore directory (fluidml's layout).
///
/// Plain files you can browse, rsync or load from Python; every value's hash is verified as
/// it is copied. Running it again copies only what is missing.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The store to read: a directory, or mongodb://HOST:PORT/DATABASE/COLLECTION.
    pub(super) store: PathBuf,
    /// The LocalFileStore directory to write (created if it does not exist), or a MongoDB
    /// store (mongodb://HOST:PORT/DATABASE/COLLECTION, created if it does not exist).
    dir: PathBuf,
    /// Export only these runs: a task's runs (repeat for several; default every task).
    #[arg(long, value_name = "TASK")]
    task: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Stop at a damaged run (a broken config, or a `json` result that is not JSON such as
    /// Python's `NaN`) before anything is written, instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// How many runs to copy at once (each run wholly by one thread, results before state).
    #[arg(long, default_value_t = sweepstore::EXPORT_THREADS, value_name = "N")]
    threads: usize,
    /// Print JSON: {"runs", "runs_damaged", "results_copied", "results_skipped", "bytes_copied",
    /// "files_not_copied"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ExportArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let into_mongo = is_uri(&args.dir);
    if !into_mongo {
        refuse_redb_store(&args.dir, "export")?;
    }
    let filters = args.filter.parse()?;
    if !into_mongo {
        refuse_foreign_files(&args.dir)?;
    }
    let store = open_existing(&args.store)?;
    let mut plan = CopyPlan::new(store.get(), args.strict)?;
    if !args.task.is_empty() || args.filter.any() {
        let tasks = if args.task.is_empty() {
            store.get().tasks()?.into_iter().map(|t| t.name).collect()
        } else {
            let known = |t: &String| known_task(store.get(), t);
            args.task.iter().map(known).collect::<Result<Vec<_>, _>>()?
        };
        let tables = load::filtered_tasks(store.get(), &tasks, &args.filter.result, &filters)?;
        let selected: std::collections::HashSet<_> = tables
            .iter()
            .flat_map(|t| t.rows().iter().map(|row| row.run.key))
            .collect();
        plan.retain(|run| selected.contains(&run.key));
    }
    plan.threads(args.threads);
    let summary = format!(
        "exported {} to {}",
        args.store.display(),
        args.dir.display()
    );
    if into_mongo {
        // The server acknowledges every value itself; a rerun skips what is there.
        let to = open_or_create_reachable(&args.dir, RedbOptions::default())?;
        copy_and_report(
            store.get(),
            to.get(),
            &plan,
            || Ok(()),
            &summary,
            args.json,
            out,
        )?;
        return Ok(Status::Success);
    }
    let dir = LocalFileStore::new(&args.dir)?;
    // Everything written unsynced, then made durable at once: an interrupted export leaves
    // its marker, and the next one verifies what it finds instead of trusting it.
    let bulk = dir.begin_bulk()?;
    plan.verify_destination(bulk.interrupted_before());
    copy_and_report(
        store.get(),
        &dir,
        &plan,
        || bulk.finish(),
        &summary,
        args.json,
        out,
    )?;
    Ok(Status::Success)
}

/// Fails if `dir` is a non-empty directory without runs (export never mixes its tree with
/// other files; into an existing result directory it adds what is missing).
fn refuse_foreign_files(dir: &std::path::Path) -> Result<(), CliError> {
    let mut entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                op: "list",
                path: dir.to_owned(),
                source,
            }
            .into());
        }
    };
    // The marker of an interrupted export alone is an export to resume.
    let foreign = entries.any(|e| e.is_ok_and(|e| e.file_name() != ".sweepstore-bulk"));
    if !foreign || !LocalFileStore::new(dir)?.tasks()?.is_empty() {
        return Ok(());
    }
    Err(CommandError::NotAResultTree {
        path: dir.to_owned(),
    }
    .into())
}
