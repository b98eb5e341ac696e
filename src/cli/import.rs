//! `sweepstore import DIR STORE [--json]`: every run of a LocalFileStore directory —
//! including one written by fluidml — into a RedbStore (created if needed).
//!
//! Invariants: the directory is only read; each value is hashed as it is copied and stored
//! only if it matches what the source promised; importing again copies only what is
//! missing.

use std::path::PathBuf;

use clap::Args;
use sweepstore::{Error, LocalFileStore, RedbOptions};

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
    /// The store directory to write.
    store: PathBuf,
    /// Print JSON: {"runs", "results_copied", "results_skipped", "bytes_copied"}.
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
    let store = open_or_create_reachable(&args.store, RedbOptions::default())?;
    let summary = format!(
        "imported {} into {}",
        args.dir.display(),
        args.store.display()
    );
    copy_and_report(&dir, None, store.get(), &summary, args.json, out)?;
    Ok(Status::Success)
}
