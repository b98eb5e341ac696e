//! Which Rust store a Python store object reaches, in this process and in a forked child.
//!
//! `open_path` is the one place that turns a store path into a store: `sweepstore::open`,
//! which owns and serves the store or joins the process that does, and which handles forks
//! and take-overs itself (`docs/design.md` §18).
//!
//! Invariants: a forked child never uses (or drops) a store whose threads or sockets belong
//! to its parent: for the backends that have them and do not handle forks themselves (a
//! `connect`ed client, MongoDB), the first call in a new process id replaces the store by a
//! fresh one (`reopen`), with the same custom types, and leaks the inherited one, whose
//! threads do not exist in the child. After `close`, every call is `StoreClosed`.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use sweepstore::{Error, OpenOptions, Result, ResultsStore, TypeInfo};

/// How to get a working store again in a forked child (`None`: keep the inherited one).
type Reopen = Box<dyn Fn() -> Result<Arc<dyn ResultsStore>> + Send + Sync>;

/// A store, the process it belongs to, and how to reach it from a forked child.
pub(crate) struct Backend {
    state: Mutex<State>,
    reopen: Option<Reopen>,
}

struct State {
    /// `None` once closed.
    store: Option<Arc<dyn ResultsStore>>,
    pid: u32,
    /// Custom types registered through Python, registered again on a reopened store.
    types: Vec<(String, String, bool)>,
}

impl Backend {
    /// A store that survives a fork as it is (no threads or sockets, or it handles forks).
    pub(crate) fn plain(store: impl ResultsStore + 'static) -> Self {
        Self::new(Arc::new(store), None)
    }

    /// A store reached again by `reopen` in a forked child.
    pub(crate) fn reopening(
        store: Arc<dyn ResultsStore>,
        reopen: impl Fn() -> Result<Arc<dyn ResultsStore>> + Send + Sync + 'static,
    ) -> Self {
        Self::new(store, Some(Box::new(reopen)))
    }

    fn new(store: Arc<dyn ResultsStore>, reopen: Option<Reopen>) -> Self {
        Backend {
            state: Mutex::new(State {
                store: Some(store),
                pid: std::process::id(),
                types: Vec::new(),
            }),
            reopen,
        }
    }

    /// Opens the store at `path` (creating it if needed): this process owns and serves it,
    /// or joins the process that does.
    ///
    /// # Errors
    /// As [`sweepstore::open`].
    pub(crate) fn open_path(path: &Path) -> Result<Self> {
        Ok(Self::plain(sweepstore::open(path, OpenOptions::default())?))
    }

    /// The store to use in this process (after a fork: see the module docs).
    ///
    /// # Errors
    /// [`Error::Closed`] after [`Backend::close`]; the error of reopening after a fork.
    pub(crate) fn store(&self) -> Result<Arc<dyn ResultsStore>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if state.pid != pid {
            if let (Some(reopen), Some(_)) = (&self.reopen, &state.store) {
                let fresh = reopen()?;
                for (name, extension, is_binary) in &state.types {
                    register(fresh.as_ref(), name, extension, *is_binary)?;
                }
                // IMPORTANT: the inherited store's threads exist only in the parent; dropping
                // it here could wait for them, so it is leaked instead.
                std::mem::forget(state.store.replace(fresh));
            }
            state.pid = pid;
        }
        state.store.clone().ok_or(Error::Closed)
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

    /// Lets go of the store: later calls fail with [`Error::Closed`]. The store itself
    /// closes when its last handle is gone (an owner's clients then take it over).
    pub(crate) fn close(&self) {
        let store = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.pid != std::process::id() {
                // Inherited from the parent: leaked, never dropped here (see module docs).
                std::mem::forget(state.store.take());
            }
            state.store.take()
        };
        drop(store);
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
