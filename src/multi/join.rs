//! Joining a store: become its owner or a client of its owner (`docs/design.md` §18.1).
//!
//! The rule, tried in a loop until [`OpenOptions::wait`] runs out: if a server answers on
//! the store's default socket, be its client; else try to take the store's lock by opening
//! it — whoever gets the lock owns the store (recovering its WAL) and serves it; a store
//! locked by someone whose server does not answer yet is waited for.
//!
//! Invariant: exactly one process owns a store at a time, because owning means holding the
//! store's `LOCK` (an exclusive OS file lock, released by the kernel when the owner dies).

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::TypeRegistry;
use crate::engine::RedbStore;
use crate::error::{Error, Result};
use crate::multi::backend::{Backend, Owner};
use crate::multi::options::OpenOptions;
use crate::remote::{RemoteStore, Server};
use crate::vfs::RealFs;

/// Pause between two attempts while the store is locked but not served.
const POLL: Duration = Duration::from_millis(10);

/// The backend of the store at `path` for this process; `types` is shared with it.
///
/// # Errors
/// [`Error::NotAStore`] if `path` is a file; [`Error::NotServed`] past the wait; [`Error::AlreadyOpen`] if serving is off and the store
/// is locked and not served; the store's open errors.
pub(crate) fn join(path: &Path, options: &OpenOptions, types: &TypeRegistry) -> Result<Backend> {
    // Before looking for `serve.sock` inside it, which would fail with "Not a directory".
    if path.is_file() {
        return Err(Error::file_not_a_store(path));
    }
    let socket = Server::default_socket(path);
    let started = Instant::now();
    loop {
        if let Some(remote) = connect(&socket, options)? {
            return Ok(Backend::Client(remote.with_types(types.clone())));
        }
        let opened =
            RedbStore::open_with_types(path, options.redb.clone(), Arc::new(RealFs), types.clone());
        match opened {
            Ok(store) => {
                tracing::info!(store = %path.display(), serve = options.serve, "this process owns the store");
                return Ok(Backend::Owner(Owner::new(store, options.serve)?));
            }
            Err(Error::AlreadyOpen { .. }) if options.serve && started.elapsed() < options.wait => {
                std::thread::sleep(POLL);
            }
            Err(Error::AlreadyOpen { .. }) if options.serve => {
                return Err(Error::NotServed {
                    path: path.to_owned(),
                    waited: started.elapsed(),
                });
            }
            Err(e) => return Err(e),
        }
    }
}

/// A client of the server on `socket`, or `None` if none answers there (no socket file, a
/// stale one, or a server that is shutting down).
fn connect(socket: &Path, options: &OpenOptions) -> Result<Option<RemoteStore>> {
    match socket.symlink_metadata() {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("inspect", socket, e)),
    }
    match RemoteStore::connect_with(socket, options.remote.clone()) {
        Ok(remote) => Ok(Some(remote)),
        Err(Error::ServerUnavailable { .. } | Error::Disconnected { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
