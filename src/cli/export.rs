//! `sweepstore export STORE DIR [--json]`: every run of a RedbStore into a LocalFileStore
//! directory (fluidml's layout: `DIR/<task>/<counter>/config.json`, one file per result).
//!
//! Invariants: the store is only read; each value's hash is verified as it is copied (a
//! corrupt value stops the export and is not written); exporting again into the same
//! directory copies only what is missing.

use std::path::PathBuf;

use clap::Args;
use sweepstore::LocalFileStore;

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
    store: PathBuf,
    /// The LocalFileStore directory to write (created if it does not exist).
    dir: PathBuf,
    /// Print JSON: {"runs", "results_copied", "results_skipped", "bytes_copied"}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ExportArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    refuse_redb_store(&args.dir, "export")?;
    let store = open_existing(&args.store)?;
    let dir = LocalFileStore::new(&args.dir)?;
    let summary = format!(
        "exported {} to {}",
        args.store.display(),
        args.dir.display()
    );
    copy_and_report(store.get(), &dir, &summary, args.json, out)?;
    Ok(Status::Success)
}
