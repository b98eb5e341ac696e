//! [`Server`]: serves a [`RedbStore`] on a Unix socket, one thread per connection (each
//! blocked in the store call of its client, so the storage actor's group commit batches the
//! writes of all clients together).
//!
//! Shutdown ([`Stopper::stop`], wired to SIGINT/SIGTERM by `sweepstore serve`): the accept
//! loop stops; every connection's read side is shut, so a connection waiting for a request
//! ends while one inside a store call finishes it and sends its reply; all connection threads
//! are joined; the store is closed (a checkpoint); the socket file is removed.
//!
//! Invariants: a client beyond [`MAX_CONNECTIONS`] gets an error frame and is disconnected;
//! a client that stops reading blocks its own connection thread for at most
//! [`WRITE_TIMEOUT`], never the others or the shutdown.

use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::engine::RedbStore;
use crate::error::{Error, Result};
use crate::remote::frame::{self, MAX_FRAME};
use crate::remote::protocol::{Response, WireError};
use crate::remote::session;
use crate::remote::socket::{self, DEFAULT_SOCKET_NAME, SocketFile};

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a reply may wait for a client that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// A store being served on a Unix socket. Build with [`Server::bind`], serve with
/// [`Server::run`], stop from elsewhere with a [`Stopper`].
#[derive(Debug)]
pub struct Server {
    store: RedbStore,
    listener: UnixListener,
    socket: SocketFile,
    stop: Arc<StopFlag>,
}

#[derive(Debug)]
struct StopFlag {
    stopped: AtomicBool,
    socket: PathBuf,
    /// A copy of the listening socket, shut down to wake the accept loop when connecting
    /// to the path is impossible (its directory was removed, say).
    listener: Mutex<Option<UnixStream>>,
}

/// Stops a running [`Server`] gracefully; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    stop: Arc<StopFlag>,
}

impl Stopper {
    /// Asks the server to stop: it accepts no more connections, finishes the requests in
    /// progress, checkpoints the store and removes its socket. Returns at once.
    pub fn stop(&self) {
        self.stop.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the flag. If the path no longer leads to the
        // socket, shutting the listening socket down makes its `accept` fail instead.
        if UnixStream::connect(&self.stop.socket).is_err()
            && let Some(listener) = &*self
                .stop
                .listener
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        {
            let _ = listener.shutdown(Shutdown::Both);
        }
    }
}

impl Server {
    /// The socket path used when none is given: `serve.sock` in the store's directory.
    pub fn default_socket(store: &Path) -> PathBuf {
        store.join(DEFAULT_SOCKET_NAME)
    }

    /// Binds `socket` (mode 0600) for `store`, replacing a stale socket file.
    ///
    /// # Errors
    /// [`Error::AlreadyServed`] if a live server listens there;
    /// [`Error::TooLarge`](crate::Error::TooLarge) if the path is too long for a Unix socket;
    /// [`Error::Io`] if the path exists and is not a socket, or binding fails.
    pub fn bind(store: RedbStore, socket: impl AsRef<Path>) -> Result<Server> {
        let (listener, socket) = socket::bind(socket.as_ref())?;
        // `shutdown` is a socket call: the same descriptor, seen as a stream, can make it.
        let copy = listener
            .try_clone()
            .map_err(|e| Error::io("duplicate the listening socket", socket.path(), e))?;
        let stop = Arc::new(StopFlag {
            stopped: AtomicBool::new(false),
            socket: socket.path().to_owned(),
            listener: Mutex::new(Some(UnixStream::from(OwnedFd::from(copy)))),
        });
        Ok(Server {
            store,
            listener,
            socket,
            stop,
        })
    }

    /// The socket path clients connect to.
    pub fn socket(&self) -> &Path {
        self.socket.path()
    }

    /// A handle that stops [`Server::run`].
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: self.stop.clone(),
        }
    }

    /// Serves until stopped, then shuts down gracefully (see the module docs).
    ///
    /// # Errors
    /// The error of the store's final checkpoint.
    pub fn run(self) -> Result<()> {
        let Server {
            store,
            listener,
            socket,
            stop,
        } = self;
        let mut connections = Connections::default();
        for incoming in listener.incoming() {
            if stop.stopped.load(Ordering::SeqCst) {
                break;
            }
            match incoming {
                Ok(stream) => connections.start(stream, &store),
                Err(e) => {
                    // Out of file descriptors or similar: let connections finish, retry.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        drop(listener);
        drop(
            stop.listener
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        connections.finish();
        let closed = store.close();
        socket.remove();
        closed
    }
}

/// A copy of a connection's stream while its thread serves it (to shut its read side).
type SharedStream = Arc<Mutex<Option<UnixStream>>>;

/// The live connections: their streams and threads.
#[derive(Default)]
struct Connections {
    live: Vec<(SharedStream, JoinHandle<()>)>,
}

impl Connections {
    fn start(&mut self, stream: UnixStream, store: &RedbStore) {
        self.live.retain(|(_, thread)| !thread.is_finished());
        if self.live.len() >= MAX_CONNECTIONS {
            refuse_busy(stream);
            return;
        }
        // Without a timeout a client that never reads would block a reply forever.
        if let Err(e) = stream.set_write_timeout(Some(WRITE_TIMEOUT)) {
            tracing::warn!(error = %e, "could not set a write timeout; dropping the connection");
            return;
        }
        // The copy lets `finish` end a connection that waits for a request; one that cannot
        // be ended that way is not served.
        let copy = match stream.try_clone() {
            Ok(copy) => copy,
            Err(e) => {
                tracing::warn!(error = %e, "could not duplicate a connection; dropping it");
                return;
            }
        };
        let handle = Arc::new(Mutex::new(Some(copy)));
        let store = store.clone();
        let done = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("sweepstore-conn".to_owned())
            .spawn(move || {
                let mut stream = &stream;
                session::serve(&store, &mut stream);
                // The stream is closed when this thread's copy drops; forget the clone too.
                *done.lock().unwrap_or_else(PoisonError::into_inner) = None;
            });
        match spawned {
            Ok(thread) => self.live.push((handle, thread)),
            Err(e) => tracing::warn!(error = %e, "could not start a connection thread"),
        }
    }

    /// Ends every connection after its request in progress, and waits for them.
    fn finish(self) {
        for (stream, _) in &self.live {
            if let Some(stream) = &*stream.lock().unwrap_or_else(PoisonError::into_inner) {
                // Reads return end-of-stream; the reply in progress can still be written.
                let _ = stream.shutdown(Shutdown::Read);
            }
        }
        for (_, thread) in self.live {
            // A panic in a connection thread was reported by the panic hook already.
            let _ = thread.join();
        }
    }
}

/// Tells a client over the connection limit why it is dropped.
fn refuse_busy(mut stream: UnixStream) {
    let busy = Error::TooLarge {
        what: "the number of connections to this server".to_owned(),
        size: MAX_CONNECTIONS as u64 + 1,
        limit: MAX_CONNECTIONS as u64,
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    if let Ok(bytes) = frame::encode(
        &Response::Error(WireError::from(&busy)),
        "response",
        MAX_FRAME,
    ) {
        let _ = frame::write(&mut stream, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RedbOptions;

    #[test]
    fn a_server_whose_socket_path_is_gone_still_stops() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("create", "tmp", e))?;
        let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
        let sockets = dir.path().join("sockets");
        std::fs::create_dir(&sockets).map_err(|e| Error::io("create", &sockets, e))?;
        let server = Server::bind(store, sockets.join("s.sock"))?;
        let stopper = server.stopper();
        let (done_tx, done) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let ran = server.run();
            let _ = done_tx.send(());
            ran
        });
        // Control: with the path in place, a client still connects (the loop is waiting).
        drop(
            UnixStream::connect(sockets.join("s.sock"))
                .map_err(|e| Error::io("connect", &sockets, e))?,
        );
        std::fs::remove_dir_all(&sockets).map_err(|e| Error::io("remove", &sockets, e))?;
        stopper.stop();
        let stopped = done.recv_timeout(Duration::from_secs(30)).is_ok();
        assert!(stopped, "the server did not stop");
        thread.join().map_err(|_| Error::Closed)?
    }
}
