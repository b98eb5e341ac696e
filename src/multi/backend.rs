//! [`Backend`]: what a [`Store`](crate::Store) handle talks to right now — the store itself
//! (this process owns it, and serves it from a server thread) or another process's server.
//!
//! Invariants: an owner's server thread is stopped and joined before the owner's store
//! handle is dropped, so the socket is removed before the store's lock is released (a
//! process that takes the lock never finds the old owner's socket answering); a backend made
//! by another process (inherited across `fork`) is never dropped here, only leaked
//! ([`Backend::abandon`]): dropping it would join an actor thread or stop a server that live
//! only in the parent.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::browse::Browse;
use crate::engine::RedbStore;
use crate::error::Result;
use crate::remote::{RemoteStore, Server, Stopper};
use crate::store::ResultsStore;

/// A store that can be both used and browsed.
pub(crate) trait Reachable: ResultsStore + Browse {}

impl<S: ResultsStore + Browse> Reachable for S {}

/// The store as one process reaches it.
pub(crate) enum Backend {
    /// This process opened the store (and serves it, unless serving is off).
    Owner(Owner),
    /// Another process serves it.
    Client(RemoteStore),
}

impl Backend {
    /// The store the calls go to.
    pub(crate) fn store(&self) -> &dyn Reachable {
        match self {
            Backend::Owner(owner) => &owner.store,
            Backend::Client(remote) => remote,
        }
    }

    /// Leaks a backend inherited from the parent of a forked process (see the module docs).
    pub(crate) fn abandon(backend: &Arc<Backend>) {
        std::mem::forget(backend.clone());
    }
}

/// The store opened by this process, with the thread that serves it.
pub(crate) struct Owner {
    // IMPORTANT: declared before `store`, so the server stops (and removes its socket)
    // before the store's lock can be released.
    _server: Option<ServerThread>,
    store: RedbStore,
}

impl Owner {
    /// Owns `store`; serves it on its default socket if `serve`.
    ///
    /// # Errors
    /// Binding the socket, or starting the server thread, failed.
    pub(crate) fn new(store: RedbStore, serve: bool) -> Result<Owner> {
        let server = if serve {
            Some(ServerThread::start(&store)?)
        } else {
            None
        };
        Ok(Owner {
            _server: server,
            store,
        })
    }
}

/// A [`Server`] on the store's default socket, run by a thread of this process.
struct ServerThread {
    stopper: Stopper,
    thread: Option<JoinHandle<Result<()>>>,
}

impl ServerThread {
    fn start(store: &RedbStore) -> Result<ServerThread> {
        let socket = Server::default_socket(store.path());
        let server = Server::bind(store.clone(), &socket)?;
        let stopper = server.stopper();
        let thread = std::thread::Builder::new()
            .name("sweepstore-server".to_owned())
            .spawn(move || server.run())
            .map_err(|e| crate::error::Error::io("start the server thread for", &socket, e))?;
        Ok(ServerThread {
            stopper,
            thread: Some(thread),
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // Requests in progress finish and are answered; clients then take over.
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "closing the served store failed"),
                // The panic hook reported it already.
                Err(_) => {}
            }
        }
    }
}
