//! `sweepstore import DIR STORE [--json]`: every run of a LocalFileStore directory —
//! including one written by fluidml — into a RedbStore (created if needed).
//!
//! Invariants: the directory is only read; each value is hashed as it is copied and stored
//! only if it matches what the source promised; importing again copies only what is
//! missing; a directory with no runs is an error that creates no store; a damaged run is
//! named and skipped, or with `--strict` stops the import before anything is written.

use std::path::PathBuf;

use clap::Args;
use sweepstore::{CopyPlan, Error, LocalFileStore, RedbOptions};

use super::error::CommandError;
use super::store::open_or_create_reachable;
use super::transfer::{copy_and_report, refuse_redb_store};
use super::{CliError, Out, Status};

/// Copy a LocalFileStore directory (also one fluidml wrote) into a store.
///
/// The store is created if it does not exist; every value is hashed as it is copied. Running
/// it again copies only what is missing.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The LocalFileStore directory to read.
    dir: PathBuf,
    /// The store to write: a directory, or a MongoDB store
    /// (mongodb://HOST:PORT/DATABASE/COLLECTION); created if it does not exist.
    store: PathBuf,
    /// Stop at a damaged run (a broken config, or a `json` result that is not JSON such as
    /// Python's `NaN`) before anything is written, instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// How many runs to copy at once (each run wholly by one thread, results before state).
    #[arg(long, default_value_t = sweepstore::IMPORT_THREADS, value_name = "N")]
    threads: usize,
    /// Print JSON: {"runs", "runs_damaged", "results_copied", "results_skipped", "bytes_copied",
    /// "files_not_copied"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ImportArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    if !args.dir.is_dir() {
        return Err(Error::NotFound {
            what: format!("directory {}", args.dir.display()),
        }
        .into());
    }
    refuse_redb_store(&args.dir, "import")?;
    let dir = LocalFileStore::new(&args.dir)?;
    // IMPORTANT: listed before the store is opened, so a directory with no runs (or a
    // damaged run under --strict) creates nothing.
    let mut plan = CopyPlan::new(&dir, args.strict)?;
    plan.threads(args.threads);
    if plan.runs() == 0 && plan.damaged().is_empty() {
        return Err(CommandError::NoRuns {
            path: args.dir.clone(),
        }
        .into());
    }
    let store = open_or_create_reachable(&args.store, RedbOptions::default())?;
    let summary = format!(
        "imported {} into {}",
        args.dir.display(),
        args.store.display()
    );
    // The store acknowledges every value durably itself.
    copy_and_report(
        &dir,
        store.get(),
        &plan,
        || Ok(()),
        &summary,
        args.json,
        out,
    )?;
    Ok(Status::Success)
}
