//! Opening the store a subcommand works on: through the server that serves it, or directly.
//!
//! One rule ([`open_existing`], `docs/design.md` §14): if the store's default socket
//! (`serve.sock` in its directory) exists and a server answers on it, the command goes
//! through that server ([`Store::Served`], so browsing works while a sweep writes); else the
//! store is opened directly ([`Store::Direct`]), and a store locked by a process that serves
//! nothing on the default socket gives the one-line "already open" error. `gc` needs the
//! store to itself ([`open_exclusive`]): a served store is refused with a message that says
//! to stop the server first.
//!
//! Invariant: only `demo` and `import` create a store; every other subcommand refuses a path
//! that holds no store instead of creating an empty one there.

use std::path::Path;
use std::time::Instant;

use sweepstore::{
    Browse, Error, Progress, RedbOptions, RedbStore, RemoteStore, ResultsStore, Server, StoreStats,
    VerifyReport,
};

use super::error::CommandError;

/// The database file that marks a directory as a store.
const DB_FILE: &str = "store.redb";

/// Whether `path` is a directory holding a RedbStore.
pub fn is_redb_store(path: &Path) -> bool {
    path.join(DB_FILE).is_file()
}

/// What the subcommands need of a store, whichever way it was reached.
pub trait Reachable: ResultsStore + Browse {}

impl<S: ResultsStore + Browse + ?Sized> Reachable for S {}

/// A store as a subcommand reaches it.
pub enum Store {
    /// Opened by this process.
    Direct(RedbStore),
    /// Served by a running `sweepstore serve` (or a processes-mode demo).
    Served(RemoteStore),
}

impl Store {
    /// The store, for browsing, loading and copying.
    pub fn get(&self) -> &dyn Reachable {
        match self {
            Store::Direct(store) => store,
            Store::Served(store) => store,
        }
    }

    /// Its statistics.
    pub fn stats(&self) -> Result<StoreStats, Error> {
        match self {
            Store::Direct(store) => store.stats(),
            Store::Served(store) => store.stats(),
        }
    }

    /// Verifies it (through the server, progress arrives a few times a second).
    pub fn verify(&self, progress: &mut dyn FnMut(Progress)) -> Result<VerifyReport, Error> {
        match self {
            Store::Direct(store) => store.verify(progress),
            Store::Served(store) => store.verify(progress),
        }
    }
}

/// The server answering on the default socket of the store at `path`, if any. A socket file
/// nobody answers on (left by a killed server) counts as none.
fn server_of(path: &Path) -> Result<Option<RemoteStore>, Error> {
    let socket = Server::default_socket(path);
    if socket.symlink_metadata().is_err() {
        return Ok(None);
    }
    match RemoteStore::connect(&socket) {
        Ok(remote) => {
            tracing::info!(socket = %socket.display(), "the store is served; going through the server");
            Ok(Some(remote))
        }
        Err(Error::ServerUnavailable { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Fails unless `path` holds a store.
pub fn require_store(path: &Path) -> Result<(), Error> {
    let reason = if !path.exists() {
        "it does not exist"
    } else if !is_redb_store(path) {
        "it holds no store.redb"
    } else {
        return Ok(());
    };
    Err(Error::NotAStore {
        path: path.to_owned(),
        reason: reason.to_owned(),
    })
}

/// The existing store at `path`: through its server if one answers, else opened directly
/// (an error naming the path if there is none, or if another process has it open).
pub fn open_existing(path: &Path) -> Result<Store, Error> {
    open_existing_with(path, RedbOptions::default())
}

/// [`open_existing`] with `options` for a direct open.
pub fn open_existing_with(path: &Path, options: RedbOptions) -> Result<Store, Error> {
    require_store(path)?;
    match server_of(path)? {
        Some(remote) => Ok(Store::Served(remote)),
        None => open_or_create(path, options).map(Store::Direct),
    }
}

/// The store at `path` through its server if one answers, else opened (or created) directly.
pub fn open_or_create_reachable(path: &Path, options: RedbOptions) -> Result<Store, Error> {
    match server_of(path)? {
        Some(remote) => Ok(Store::Served(remote)),
        None => open_or_create(path, options).map(Store::Direct),
    }
}

/// The existing store at `path`, opened directly for `command`, which needs it to itself: a
/// served store is refused with a message saying to stop the server first.
pub fn open_exclusive(
    path: &Path,
    command: &'static str,
) -> Result<RedbStore, crate::cli::CliError> {
    require_store(path)?;
    if let Some(remote) = server_of(path)? {
        return Err(CommandError::Served {
            path: path.to_owned(),
            socket: remote.socket().to_owned(),
            command,
        }
        .into());
    }
    Ok(open_or_create(path, RedbOptions::default())?)
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
