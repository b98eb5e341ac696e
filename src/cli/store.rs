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
//! A directory without `store.redb` that holds `TASK/RUN/config.json` is a LocalFileStore
//! directory or a fluidml tree; [`open_existing`] reads it in place ([`Store::Local`]), so
//! `ls`, `show`, `get`, `table` and `diff` work on it (`stats` and `verify` need a
//! RedbStore and say so).
//!
//! A store argument starting with `mongodb://` (or `mongodb+srv://`) is a MongoDB store,
//! settled by `mongo_store.rs` before any of the path rules ([`Store::Mongo`]).
//!
//! Invariant: only `demo` and `import` create a store (and `export` into a MongoDB store);
//! every other subcommand refuses a path (or a MongoDB collection) that holds no store
//! instead of creating an empty one there.

use std::path::Path;
use std::time::Instant;

use sweepstore::{
    Browse, Error, LocalFileStore, Progress, RedbOptions, RedbStore, RemoteStore, ResultsStore,
    Server, StoreStats, VerifyReport,
};

use super::error::CommandError;
use super::mongo_store::{self, is_uri};
#[cfg(feature = "mongodb")]
use sweepstore::MongoStore;

/// The database file that marks a directory as a store.
const DB_FILE: &str = "store.redb";

/// Whether `path` is a directory holding a RedbStore.
pub fn is_redb_store(path: &Path) -> bool {
    path.join(DB_FILE).is_file()
}

/// Whether `path` is a LocalFileStore directory or a tree fluidml wrote: some
/// `TASK/RUN/config.json` in it (docs/design.md §12.1), and no `store.redb`.
fn is_local_store(path: &Path) -> bool {
    let dirs = |p: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(p)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    !is_redb_store(path)
        && dirs(path).iter().any(|task| {
            dirs(task)
                .iter()
                .any(|run| run.join("config.json").is_file())
        })
}

/// What the subcommands need of a store, whichever way it was reached.
pub trait Reachable: ResultsStore + Browse {}

impl<S: ResultsStore + Browse + ?Sized> Reachable for S {}

/// A store as a subcommand reaches it.
pub enum Store {
    /// A MongoDB store (`mongodb://HOST:PORT/DATABASE/COLLECTION`, see `mongo_store.rs`).
    #[cfg(feature = "mongodb")]
    Mongo(MongoStore),
    /// Opened by this process.
    Direct(RedbStore),
    /// Served by a running `sweepstore serve` (or a processes-mode demo).
    Served(RemoteStore),
    /// A LocalFileStore directory (or a fluidml tree), read in place.
    Local(LocalFileStore),
}

impl Store {
    /// The store, for browsing, loading and copying.
    pub fn get(&self) -> &dyn Reachable {
        match self {
            #[cfg(feature = "mongodb")]
            Store::Mongo(store) => store,
            Store::Direct(store) => store,
            Store::Served(store) => store,
            Store::Local(store) => store,
        }
    }

    /// Its statistics (a RedbStore's only).
    pub fn stats(&self) -> Result<StoreStats, Error> {
        match self {
            #[cfg(feature = "mongodb")]
            Store::Mongo(store) => store.stats(),
            Store::Direct(store) => store.stats(),
            Store::Served(store) => store.stats(),
            Store::Local(store) => Err(not_a_redb_store(store)),
        }
    }

    /// Verifies it (through the server, progress arrives a few times a second; a RedbStore's
    /// only).
    pub fn verify(&self, progress: &mut dyn FnMut(Progress)) -> Result<VerifyReport, Error> {
        match self {
            #[cfg(feature = "mongodb")]
            Store::Mongo(store) => store.verify(progress),
            Store::Direct(store) => store.verify(progress),
            Store::Served(store) => store.verify(progress),
            Store::Local(store) => Err(not_a_redb_store(store)),
        }
    }
}

/// The error of a RedbStore-only command (`stats`, `verify`) given a LocalFileStore directory.
pub fn not_a_redb_store(store: &LocalFileStore) -> Error {
    Error::NotAStore {
        path: store.base_dir().to_owned(),
        reason: "it is a LocalFileStore directory, and this command needs a RedbStore \
                 (`sweepstore import` copies it into one)"
            .to_owned(),
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
    } else if path.is_file() {
        "it is a file, not a store directory"
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

/// How a subcommand opens a RedbStore directly (when no server answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Browsing: [`RedbStore::open_read_only`], which creates and changes no file.
    Read,
    /// Changing the store (`rm`): the usual open, which takes the lock and checkpoints.
    Write,
}

/// The existing store at `path` for browsing: through its server if one answers, else
/// opened read-only; a LocalFileStore directory or fluidml tree is read in place (an error
/// naming the path if there is no store, or if another process has it open). `-v` names the
/// kind.
pub fn open_existing(path: &Path) -> Result<Store, Error> {
    open_existing_with(path, RedbOptions::default(), Access::Read)
}

/// [`open_existing`] with `options` and `access` for a direct open.
pub fn open_existing_with(
    path: &Path,
    options: RedbOptions,
    access: Access,
) -> Result<Store, Error> {
    if is_uri(path) {
        return mongo(path, false);
    }
    if is_local_store(path) {
        tracing::info!(store = %path.display(), "a LocalFileStore directory (or fluidml tree): reading it in place");
        return LocalFileStore::new(path).map(Store::Local);
    }
    require_store(path)?;
    if let Some(remote) = server_of(path)? {
        return Ok(Store::Served(remote));
    }
    match access {
        Access::Write => open_or_create(path, options).map(Store::Direct),
        Access::Read => timed(
            path,
            "opened the store read-only (a RedbStore; the WAL is replayed in memory, nothing is written)",
            || RedbStore::open_read_only(path, options),
        )
        .map(Store::Direct),
    }
}

/// The store at `path` through its server if one answers, else opened (or created) directly.
pub fn open_or_create_reachable(path: &Path, options: RedbOptions) -> Result<Store, Error> {
    if is_uri(path) {
        return mongo(path, true);
    }
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
    timed(path, "opened the store", || RedbStore::open(path, options))
}

/// The MongoDB store `uri` names (see `mongo_store.rs`), created if `create`; in a build
/// without MongoDB support, the error saying so.
fn mongo(uri: &Path, create: bool) -> Result<Store, Error> {
    let uri = uri.to_string_lossy();
    #[cfg(feature = "mongodb")]
    {
        let store = match create {
            true => mongo_store::open_or_create(&uri)?,
            false => mongo_store::open_existing(&uri)?,
        };
        Ok(Store::Mongo(store))
    }
    #[cfg(not(feature = "mongodb"))]
    {
        let _ = create;
        Err(mongo_store::unsupported(&uri))
    }
}

/// Runs `open` and logs `what` with how long it took (the open and its recovery).
fn timed(
    path: &Path,
    what: &'static str,
    open: impl FnOnce() -> Result<RedbStore, Error>,
) -> Result<RedbStore, Error> {
    let started = Instant::now();
    let store = open()?;
    tracing::info!(
        store = %path.display(),
        ms = started.elapsed().as_millis(),
        "{what}"
    );
    Ok(store)
}
