//! Opening the store a subcommand works on.
//!
//! Invariant: only `demo` and `import` create a store; every other subcommand refuses a path
//! that holds no store instead of creating an empty one there.

use std::path::Path;
use std::time::Instant;

use sweepstore::{Error, RedbOptions, RedbStore};

/// The database file that marks a directory as a store.
const DB_FILE: &str = "store.redb";

/// Whether `path` is a directory holding a RedbStore.
pub fn is_redb_store(path: &Path) -> bool {
    path.join(DB_FILE).is_file()
}

/// Opens the existing store at `path` (an error naming the path if there is none, or if
/// another process has it open).
pub fn open_existing(path: &Path) -> Result<RedbStore, Error> {
    open_existing_with(path, RedbOptions::default())
}

/// [`open_existing`] with `options`.
pub fn open_existing_with(path: &Path, options: RedbOptions) -> Result<RedbStore, Error> {
    let reason = if !path.exists() {
        Some("it does not exist")
    } else if !is_redb_store(path) {
        Some("it holds no store.redb")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Error::NotAStore {
            path: path.to_owned(),
            reason: reason.to_owned(),
        });
    }
    open_or_create(path, options)
}

/// Opens the store at `path`, creating it if the directory does not exist or is empty (the
/// demo's and import's way), and logs how long the open (and recovery) took.
pub fn open_or_create(path: &Path, options: RedbOptions) -> Result<RedbStore, Error> {
    let started = Instant::now();
    let store = RedbStore::open(path, options)?;
    tracing::info!(
        store = %path.display(),
        ms = started.elapsed().as_millis(),
        "opened the store"
    );
    Ok(store)
}
