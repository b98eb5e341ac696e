//! Which Rust store a Python store object reaches, and reaching it again in a forked child.
//!
//! `open_path` is the one place that turns a store path into a store: it opens the
//! `RedbStore` and serves it to other processes from a thread of this one, or, when another
//! process has it open, connects to that process's server (`docs/design.md` §18).
//!
//! Invariants: a forked child never uses (or drops) a store whose threads or sockets belong
//! to its parent: the first call in a new process id replaces such a store by a fresh
//! connection (`reopen`) and leaks the inherited one, whose threads do not exist in the child.
//! Stores without threads or sockets (in-memory, local files) carry on as they are.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sweepstore::{
    Error, RedbOptions, RedbStore, RemoteStore, Result, ResultsStore, Server, Stopper, TypeInfo,
};

/// How to get a working store again in a forked child (`None`: keep the inherited one).
type Reopen = Box<dyn Fn() -> Result<Arc<dyn ResultsStore>> + Send + Sync>;

/// How long `open_path` waits for the owner's server to answer (it may still be starting).
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A store, the process it belongs to, and how to reach it from a forked child.
pub(crate) struct Backend {
    state: Mutex<State>,
    reopen: Option<Reopen>,
}

struct State {
    store: Arc<dyn ResultsStore>,
    pid: u32,
    /// This process's server thread, when it owns a served store.
    server: Option<(Stopper, JoinHandle<Result<()>>)>,
    /// Custom types registered through Python, registered again on a reopened store.
    types: Vec<(String, String, bool)>,
}

impl Backend {
    /// A store that survives a fork as it is (no threads, no sockets).
    pub(crate) fn plain(store: impl ResultsStore + 'static) -> Self {
        Self::new(Arc::new(store), None, None)
    }

    /// A store reached again by `reopen` in a forked child.
    pub(crate) fn reopening(
        store: Arc<dyn ResultsStore>,
        reopen: impl Fn() -> Result<Arc<dyn ResultsStore>> + Send + Sync + 'static,
    ) -> Self {
        Self::new(store, None, Some(Box::new(reopen)))
    }

    fn new(
        store: Arc<dyn ResultsStore>,
        server: Option<(Stopper, JoinHandle<Result<()>>)>,
        reopen: Option<Reopen>,
    ) -> Self {
        Backend {
            state: Mutex::new(State {
                store,
                pid: std::process::id(),
                server,
                types: Vec::new(),
            }),
            reopen,
        }
    }

    /// Opens the store at `path` (creating it if needed) and serves it from this process, or
    /// joins the process that already serves it.
    ///
    /// # Errors
    /// As [`RedbStore::open`], [`Server::bind`] and [`RemoteStore::connect`]; when the store
    /// is open elsewhere but nobody answers on its socket within [`JOIN_TIMEOUT`], the
    /// connection error.
    pub(crate) fn open_path(path: &Path) -> Result<Self> {
        let socket = Server::default_socket(path);
        let reopen_socket = socket.clone();
        let reopen = move || connect(&reopen_socket, Duration::ZERO);
        match RedbStore::open(path, RedbOptions::default()) {
            Ok(store) => {
                let server = Server::bind(store.clone(), &socket)?;
                let stopper = server.stopper();
                let thread = std::thread::Builder::new()
                    .name("sweepstore-serve".to_owned())
                    .spawn(move || server.run())
                    .map_err(|e| Error::Io {
                        op: "start the server thread for",
                        path: path.to_owned(),
                        source: e,
                    })?;
                Ok(Self::new(
                    Arc::new(store),
                    Some((stopper, thread)),
                    Some(Box::new(reopen)),
                ))
            }
            Err(Error::AlreadyOpen { .. }) => {
                let store = connect(&socket, JOIN_TIMEOUT)?;
                Ok(Self::new(store, None, Some(Box::new(reopen))))
            }
            Err(other) => Err(other),
        }
    }

    /// The store to use in this process (after a fork: a fresh connection, see module docs).
    ///
    /// # Errors
    /// The error of reconnecting after a fork.
    pub(crate) fn store(&self) -> Result<Arc<dyn ResultsStore>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if state.pid != pid {
            if let Some(reopen) = &self.reopen {
                let fresh = reopen()?;
                for (name, extension, is_binary) in &state.types {
                    register(fresh.as_ref(), name, extension, *is_binary)?;
                }
                // IMPORTANT: the inherited store's threads exist only in the parent; dropping
                // it here would join them, so it is leaked instead.
                std::mem::forget(std::mem::replace(&mut state.store, fresh));
                std::mem::forget(state.server.take());
            }
            state.pid = pid;
        }
        Ok(state.store.clone())
    }

    /// Registers a custom Python type: values are bytes the Python layer encoded.
    ///
    /// # Errors
    /// [`Error::TypeAlreadyRegistered`] for a built-in or already registered name.
    pub(crate) fn register_type(&self, name: &str, extension: &str, is_binary: bool) -> Result<()> {
        let store = self.store()?;
        register(store.as_ref(), name, extension, is_binary)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .types
            .push((name.to_owned(), extension.to_owned(), is_binary));
        Ok(())
    }

    /// Stops this process's server (if it serves the store) and lets the store close once
    /// the last handle on it is gone.
    ///
    /// # Errors
    /// The error of the server's final checkpoint.
    pub(crate) fn close(&self) -> Result<()> {
        let server = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.pid != std::process::id() {
                return Ok(());
            }
            state.server.take()
        };
        match server {
            Some((stopper, thread)) => {
                stopper.stop();
                thread.join().unwrap_or(Err(Error::Closed))
            }
            None => Ok(()),
        }
    }
}

/// Connects to the server at `socket`, retrying for up to `patience` while nobody answers.
fn connect(socket: &PathBuf, patience: Duration) -> Result<Arc<dyn ResultsStore>> {
    let deadline = Instant::now() + patience;
    loop {
        match RemoteStore::connect(socket) {
            Ok(store) => return Ok(Arc::new(store)),
            Err(Error::ServerUnavailable { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Registers a pass-through type: the Python layer encodes, the store keeps the bytes.
fn register(store: &dyn ResultsStore, name: &str, extension: &str, is_binary: bool) -> Result<()> {
    let info = TypeInfo::custom::<Vec<u8>>(
        name,
        extension,
        is_binary,
        |bytes, out| out.write_all(bytes),
        |input| {
            let mut bytes = Vec::new();
            input.read_to_end(&mut bytes)?;
            Ok(bytes)
        },
    );
    store.types().register(info)
}
