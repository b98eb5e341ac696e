//! Shared by the remote suites (`tests/remote/`, `tests/cli/served.rs`): servers in this
//! process or as `sweepstore serve` children, raw frames for tests that must break the
//! protocol, and bounded waits (every wait here has a deadline, so a hang fails the test
//! instead of stalling it).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sweepstore::{RedbOptions, RedbStore, Result, Server, Stopper};

/// How long any single wait of these tests may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(30);

pub use super::{io_err, plumbing};

/// A server on a thread of this process; dropping it stops it gracefully.
pub struct InProcess {
    pub stopper: Stopper,
    pub socket: PathBuf,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl InProcess {
    pub fn start(store_dir: &Path, socket: &Path) -> Result<Self> {
        let store = RedbStore::open(store_dir, RedbOptions::default())?;
        let server = Server::bind(store, socket)?;
        let stopper = server.stopper();
        let thread = std::thread::spawn(move || server.run());
        Ok(InProcess {
            stopper,
            socket: socket.to_owned(),
            thread: Some(thread),
        })
    }

    /// Stops the server and returns what `run` returned.
    pub fn stop(mut self) -> Result<()> {
        self.stopper.stop();
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Creates an empty store at `store` unless one is there (`serve` creates none).
pub fn create_store(store: &Path) -> Result<()> {
    if !store.join("store.redb").exists() {
        sweepstore::RedbStore::open(store, sweepstore::RedbOptions::default())?.close()?;
    }
    Ok(())
}

/// `sweepstore serve STORE --socket SOCKET` as a child process (stdout and stderr piped),
/// creating the store first if needed.
pub fn spawn_serve(store: &Path, socket: &Path) -> Result<Child> {
    create_store(store)?;
    Command::new(env!("CARGO_BIN_EXE_sweepstore"))
        .arg("serve")
        .arg(store)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err("start `sweepstore serve`"))
}

/// Leaves a stale socket file at `path`, as a killed server does: bound, closed, and
/// refusing connections. Closing is not enough on its own: a process that another test of
/// this binary spawns at that moment starts with a copy of the listener and keeps it (and the
/// socket accepting) until its `exec`; the wait outlasts that window, so a server the test
/// starts next is the only one that can answer.
pub fn stale_socket(path: &Path) -> Result<()> {
    drop(UnixListener::bind(path).map_err(io_err("bind a stale socket"))?);
    let start = Instant::now();
    loop {
        match UnixStream::connect(path) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(()),
            _ if start.elapsed() > HANG => {
                return Err(plumbing("make a stale socket", "it kept accepting"));
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Waits until a server accepts on `socket` (or `child` exited: its stderr is the error).
pub fn wait_until_served(child: &mut Child, socket: &Path) -> Result<()> {
    let start = Instant::now();
    loop {
        if UnixStream::connect(socket).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().map_err(io_err("poll the server"))? {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            return Err(plumbing(
                "start the server",
                format!("it exited with {status}: {stderr}"),
            ));
        }
        if start.elapsed() > HANG {
            return Err(plumbing("start the server", "it never accepted"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit and returns its status and stderr.
pub fn wait_exit(child: &mut Child) -> Result<(std::process::ExitStatus, String)> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(io_err("poll a child"))? {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            return Ok((status, stderr));
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            return Err(plumbing("wait for a child", "it did not exit in time"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (e.g. `TERM`) to `child` with the `kill` command.
pub fn signal(child: &Child, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .map_err(io_err("run kill"))?;
    if status.success() {
        Ok(())
    } else {
        Err(plumbing("send a signal", format!("kill -{signal} failed")))
    }
}

/// Runs `f` on a thread and waits for it at most [`HANG`].
pub fn within<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .map_err(|_| plumbing(what, "hung (no answer within the deadline)"))
}

/// Raw protocol access for tests that break it on purpose.
pub struct Raw {
    pub stream: UnixStream,
}

/// The hello a client of protocol version 1 sends (postcard: 8 magic bytes, varint 1).
pub fn hello_frame() -> Vec<u8> {
    frame(b"SWPSTORE\x01")
}

/// `payload` with its 4-byte little-endian length header.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

impl Raw {
    pub fn connect(socket: &Path) -> Result<Self> {
        let stream = UnixStream::connect(socket).map_err(io_err("connect"))?;
        stream
            .set_read_timeout(Some(HANG))
            .map_err(io_err("set a timeout"))?;
        Ok(Raw { stream })
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).map_err(io_err("send"))
    }

    /// The next frame's payload; `None` at end of stream.
    pub fn receive(&mut self) -> Result<Option<Vec<u8>>> {
        let mut header = [0u8; 4];
        match self.stream.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(io_err("receive")(e)),
        }
        let mut payload = vec![0; u32::from_le_bytes(header) as usize];
        self.stream
            .read_exact(&mut payload)
            .map_err(io_err("receive"))?;
        Ok(Some(payload))
    }

    /// Expects an error frame (response variant 0) whose text contains `needle`, then the
    /// end of the connection.
    pub fn expect_error_then_close(&mut self, needle: &str) -> Result<()> {
        let payload = self
            .receive()?
            .ok_or_else(|| plumbing("expect an error frame", "the server closed without one"))?;
        assert_eq!(
            payload.first(),
            Some(&0),
            "not an error response: {payload:?}"
        );
        let text = String::from_utf8_lossy(&payload);
        assert!(
            text.contains(needle),
            "error frame {text:?} lacks {needle:?}"
        );
        assert_eq!(self.receive()?, None, "the server kept the connection open");
        Ok(())
    }
}
