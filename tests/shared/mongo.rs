//! Helpers of the MongoStore tests: the server the test script started (its URI from
//! `SWEEPSTORE_MONGO_URI`), a fresh database name per test so tests run in parallel, raw
//! driver access for tampering, and [`Daemon`], a server of a test's own (from
//! `SWEEPSTORE_MONGO_DAEMON`) that the test may kill and restart.
//!
//! Invariant: a missing variable fails the test with a message saying how to run it; the
//! Mongo tests never skip silently.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sweepstore::{Error, MongoOptions, MongoStore, Result};

pub const URI_ENV: &str = "SWEEPSTORE_MONGO_URI";
pub const DAEMON_ENV: &str = "SWEEPSTORE_MONGO_DAEMON";
/// The collection every test store uses (databases differ).
pub const COLLECTION: &str = "runs";

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: the MongoStore tests need a server. Run them with \
             `tests/run.sh` (it starts a SecantusDB server and sets {URI_ENV} and \
             {DAEMON_ENV}), or set {URI_ENV} to the connection string of a MongoDB you own \
             (and {DAEMON_ENV} to a `secantusd-py` for the tests that run their own server)."
        ),
    }
}

/// The connection string of the shared test server.
pub fn uri() -> String {
    required_env(URI_ENV)
}

/// A database name no other test (in this or another process) uses.
pub fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("t_{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// A store on a fresh database of the shared server.
pub fn store(prefix: &str) -> Result<MongoStore> {
    MongoStore::connect(&uri(), &unique_db(prefix), COLLECTION)
}

/// A store on database `db` of the shared server.
pub fn store_in(db: &str, options: MongoOptions) -> Result<MongoStore> {
    MongoStore::connect_with(&uri(), db, COLLECTION, options)
}

/// Maps a driver error of a test's raw query.
pub fn raw_err(op: &'static str) -> impl FnOnce(mongodb::error::Error) -> Error {
    move |e| Error::Stream {
        op,
        source: std::io::Error::other(e),
    }
}

/// Raw driver access to database `db` of `uri`.
pub fn raw_db(uri: &str, db: &str) -> Result<mongodb::sync::Database> {
    let client = mongodb::sync::Client::with_uri_str(uri).map_err(raw_err("connect"))?;
    Ok(client.database(db))
}

/// A free loopback port.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Stream {
        op: "find a free port",
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| Error::Stream {
            op: "find a free port",
            source,
        })?
        .port();
    Ok(port)
}

/// A SecantusDB server of a test's own; killed (and waited for) on drop.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

impl Daemon {
    /// Starts a server on `port` storing in `dir` (`--sync-on-commit`, so `j: true` writes
    /// are on disk when acknowledged) and waits until it answers.
    pub fn start(port: u16, dir: &Path) -> Result<Daemon> {
        let exe = required_env(DAEMON_ENV);
        let log =
            std::fs::File::create(dir.with_extension("log")).map_err(|source| Error::Stream {
                op: "create the daemon's log",
                source,
            })?;
        let child = Command::new(&exe)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--storage-path")
            .arg(dir)
            .arg("--sync-on-commit")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::Stream {
                op: "start the daemon",
                source,
            })?;
        let daemon = Daemon {
            child: Some(child),
            port,
            dir: dir.to_owned(),
        };
        daemon.wait_until_it_answers()?;
        Ok(daemon)
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    fn wait_until_it_answers(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let options = MongoOptions::default().with_timeout(Duration::from_millis(500));
        loop {
            match MongoStore::connect_with(&self.uri(), "ping", COLLECTION, options.clone()) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
                    panic!("the test's own daemon did not answer within 30 s ({e}); log:\n{log}");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Kills the server with SIGKILL and waits until it is gone.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|source| Error::Stream {
                op: "kill the daemon",
                source,
            })?;
            child.wait().map_err(|source| Error::Stream {
                op: "wait for the daemon",
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Best effort: a failed kill leaves a daemon the OS reaps with the test process.
        let _ = self.kill();
    }
}
