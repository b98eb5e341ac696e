//! Shared helpers of the conformance cases: the [`Fixture`] a backend line builds, config
//! shorthands, and conversions of `io::Error` and missing values into [`sweepstore::Error`]
//! so cases can use `?` instead of `unwrap`.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sweepstore::{Error, File, Result};

/// A store under test plus whatever it needs kept alive (a temporary directory, a server).
///
/// Fields drop in declaration order, so the store is dropped before its guard.
pub struct Fixture<S, G = ()> {
    /// The store the cases run against.
    pub store: S,
    /// Kept alive for the store; never read.
    pub _guard: G,
}

impl<S> Fixture<S> {
    /// A fixture that needs nothing kept alive.
    pub fn new(store: S) -> Self {
        Fixture { store, _guard: () }
    }
}

impl<S, G> Fixture<S, G> {
    /// A fixture whose store needs `guard` kept alive.
    pub fn with_guard(store: S, guard: G) -> Self {
        Fixture {
            store,
            _guard: guard,
        }
    }
}

/// A small serde value used by many cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub loss: f64,
    pub epochs: u32,
    pub tags: Vec<String>,
}

impl Metrics {
    /// A value that differs for each `seed`.
    pub fn sample(seed: u32) -> Self {
        Metrics {
            loss: f64::from(seed) / 8.0,
            epochs: seed,
            tags: vec![format!("seed-{seed}"), "conformance".to_owned()],
        }
    }
}

pub use crate::shared::config;

pub use crate::shared::io_err;

/// The error for a value a case expected to exist, for `ok_or_else(|| missing(".."))?`.
pub fn missing(what: &str) -> Error {
    Error::NotFound {
        what: format!("(conformance case expected it) {what}"),
    }
}

/// Reads the rest of `file` as bytes.
pub fn read_all(file: &mut File) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    file.read_to_end(&mut out)
        .map_err(io_err("read the file"))?;
    Ok(out)
}

/// Writes all of `data` to `file`.
pub fn write_all(file: &mut File, data: &[u8]) -> Result<()> {
    io::Write::write_all(file, data).map_err(io_err("write the file"))
}

/// The stored bytes and type of a result, loaded from its promise (or `None`).
pub fn stored(promise: Option<sweepstore::Promise>) -> Result<Option<(String, Vec<u8>)>> {
    promise
        .map(|p| Ok((p.type_name().to_owned(), p.bytes()?)))
        .transpose()
}

/// A server serving a RedbStore in a temporary directory, on a thread of this process;
/// dropping it stops the server (graceful: checkpoint, socket removed) and waits for it.
pub struct Served {
    stopper: sweepstore::Stopper,
    socket: std::path::PathBuf,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Opens a fresh store and serves it on `serve.sock` inside its directory.
    pub fn start() -> Result<Self> {
        let dir = tempfile::tempdir().map_err(io_err("create a temporary directory"))?;
        let store = sweepstore::RedbStore::open(dir.path().join("store"), Default::default())?;
        let server = sweepstore::Server::bind(store, dir.path().join("serve.sock"))?;
        let (stopper, socket) = (server.stopper(), server.socket().to_owned());
        let thread = std::thread::spawn(move || server.run());
        Ok(Served {
            stopper,
            socket,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The socket clients connect to.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(result) => {
                    if let Err(e) = result
                        && !std::thread::panicking()
                    {
                        panic!("the server failed while stopping: {e}");
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    }
}
