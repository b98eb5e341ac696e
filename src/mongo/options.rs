//! [`MongoOptions`]: the knobs of a [`MongoStore`](crate::MongoStore) connection.
//!
//! Invariant: every option has a documented default that is safe for a shared server —
//! acknowledged writes are journaled, and every wait for a server is bounded.

use std::path::PathBuf;
use std::time::Duration;

/// Options of [`MongoStore::connect_with`](crate::MongoStore::connect_with).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MongoOptions {
    /// Values of at most this many bytes live inside their run's document; larger ones go
    /// to GridFS (default: 16 KiB). A run document holds at most 16 MiB, so a run keeps up
    /// to about a thousand inline values of this size.
    pub inline_limit: usize,
    /// How long an operation waits for a reachable server (the driver's server selection
    /// and connect timeouts) before failing with
    /// [`Error::MongoUnreachable`](crate::Error::MongoUnreachable) (default: 10 s).
    pub timeout: Duration,
    /// Whether writes wait for the server's journal (write concern `j: true`), so an
    /// acknowledged save survives a server crash (default: `true`).
    pub journal: bool,
    /// Where files opened for writing are staged before upload (default: the OS temporary
    /// directory).
    pub tmp_dir: PathBuf,
}

impl Default for MongoOptions {
    fn default() -> Self {
        MongoOptions {
            inline_limit: 16 * 1024,
            timeout: Duration::from_secs(10),
            journal: true,
            tmp_dir: std::env::temp_dir(),
        }
    }
}

impl MongoOptions {
    /// These options with `timeout` set.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// These options with `inline_limit` set.
    pub fn with_inline_limit(mut self, inline_limit: usize) -> Self {
        self.inline_limit = inline_limit;
        self
    }
}
