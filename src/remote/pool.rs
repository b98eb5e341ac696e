//! The client's connections: one [`Conn`] per socket connection (handshake done), kept in a
//! small [`Pool`] so threads of one process do not serialize on one socket.
//!
//! Invariants: a connection is used by one request at a time (a [`Lease`] owns it); a
//! connection goes back to the pool only if every request on it got its whole response (so
//! the next request never reads a stale reply); an idle connection the server closed is
//! noticed on lease (a non-blocking peek) and dropped, so a restarted server is reconnected
//! to transparently; every socket read and write has the configured timeout.

use std::io::{self, ErrorKind};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::remote::frame::{self, FrameError, MAX_CHUNK, MAX_FRAME};
use crate::remote::protocol::{Hello, MAGIC, PROTOCOL_VERSION, Request, Response};

/// How a [`RemoteStore`](crate::RemoteStore) connects. Build with `RemoteOptions::default()`
/// and the setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_idle: usize,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            timeout: Some(Duration::from_secs(300)),
            max_idle: 8,
        }
    }
}

impl RemoteOptions {
    /// Longest wait for one socket read or write; past it the request fails with
    /// [`Error::Disconnected`]. A server that dies closes its sockets, which clients notice
    /// at once; the timeout bounds the wait for a server that hangs. `None`: wait forever.
    /// Default: 300 s (a busy server's slowest requests, a large `gc`, stay within it).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Idle connections kept for reuse. Default: 8. More concurrent requests open more
    /// connections; those beyond this many are closed when done.
    pub fn max_idle(mut self, max_idle: usize) -> Self {
        self.max_idle = max_idle;
        self
    }
}

/// One connection to the server, past the handshake.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: UnixStream,
    socket: Arc<PathBuf>,
    max_frame: usize,
    /// Largest value piece the server accepts in one frame.
    pub(crate) max_chunk: usize,
    /// Whether the connection is in step (every request answered, no error mid-frame).
    healthy: bool,
    /// Whether a request was sent whole on it (so a failed read may follow an applied write).
    sent_request: bool,
}

impl Conn {
    fn open(socket: &Arc<PathBuf>, options: &RemoteOptions) -> Result<Conn> {
        let stream =
            UnixStream::connect(socket.as_path()).map_err(|source| Error::ServerUnavailable {
                socket: socket.to_path_buf(),
                source,
            })?;
        let timeouts = stream
            .set_read_timeout(options.timeout)
            .and_then(|()| stream.set_write_timeout(options.timeout));
        let mut conn = Conn {
            stream,
            socket: socket.clone(),
            max_frame: MAX_FRAME,
            max_chunk: MAX_CHUNK,
            healthy: true,
            sent_request: false,
        };
        timeouts.map_err(|e| conn.broken(&e, false))?;
        let hello = Hello {
            magic: MAGIC,
            version: PROTOCOL_VERSION,
        };
        let bytes = frame::encode(&hello, "hello", MAX_FRAME)?;
        conn.send_frame(&bytes)?;
        match conn.receive()? {
            Response::Welcome {
                max_frame,
                max_chunk,
                ..
            } => {
                conn.max_frame = (max_frame as usize).min(MAX_FRAME);
                conn.max_chunk = (max_chunk as usize).clamp(1, MAX_CHUNK);
                Ok(conn)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `request` and returns its response; an error response becomes `Err`.
    pub(crate) fn call(&mut self, request: &Request) -> Result<Response> {
        self.send(request)?;
        self.receive()
    }

    /// Sends a request that has no response.
    pub(crate) fn send(&mut self, request: &Request) -> Result<()> {
        let bytes = frame::encode(request, "request frame", self.max_frame)?;
        self.send_frame(&bytes)?;
        self.sent_request = true;
        Ok(())
    }

    /// Writes one frame. A frame that fails part-way never reaches the store: the server
    /// runs only whole frames.
    fn send_frame(&mut self, bytes: &[u8]) -> Result<()> {
        frame::write(&mut self.stream, bytes).map_err(|e| self.broken(&e, false))
    }

    fn receive(&mut self) -> Result<Response> {
        let payload = match frame::read(&mut self.stream, MAX_FRAME) {
            Ok(Some(payload)) => payload,
            Ok(None) => {
                let sent = self.sent_request;
                return Err(self.broken(
                    &io::Error::new(ErrorKind::UnexpectedEof, "the server closed the connection"),
                    sent,
                ));
            }
            Err(FrameError::Io(e)) => {
                let sent = self.sent_request;
                return Err(self.broken(&e, sent));
            }
            Err(too_large) => {
                self.healthy = false;
                return Err(too_large.into_error("response frame"));
            }
        };
        match frame::decode::<Response>(&payload, "response") {
            Ok(Response::Error(e)) => Err(e.into()),
            Ok(response) => Ok(response),
            Err(e) => {
                self.healthy = false;
                Err(e)
            }
        }
    }

    /// Marks the connection unusable and describes `e` as a broken connection;
    /// `maybe_applied` says whether a request may have reached the server before it broke.
    fn broken(&mut self, e: &io::Error, maybe_applied: bool) -> Error {
        self.healthy = false;
        let reason = match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                "no answer within the client's timeout".to_owned()
            }
            _ => e.to_string(),
        };
        Error::Disconnected {
            socket: self.socket.to_path_buf(),
            reason,
            maybe_applied,
        }
    }

    /// Whether the server still holds the idle connection open (and sent nothing on it).
    fn is_open(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        // Idle, nothing may arrive: a byte would be out of step too (it is consumed, and the
        // connection dropped), end-of-stream means the server closed it.
        let mut byte = [0u8; 1];
        let read = io::Read::read(&mut &self.stream, &mut byte);
        let waiting = matches!(read, Err(e) if e.kind() == ErrorKind::WouldBlock);
        self.stream.set_nonblocking(false).is_ok() && waiting
    }
}

/// A response that does not answer the request sent.
pub(crate) fn unexpected(response: &Response) -> Error {
    Error::Protocol {
        reason: format!("unexpected response from the server: {response:?}"),
    }
}

/// The client's idle connections.
#[derive(Debug)]
pub(crate) struct Pool {
    socket: Arc<PathBuf>,
    /// The server's chunk size, from the first handshake.
    max_chunk: usize,
    options: RemoteOptions,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// A pool for `socket`, with one connection made now (so a missing server shows at once).
    pub(crate) fn connect(socket: &Path, options: RemoteOptions) -> Result<Arc<Pool>> {
        let socket = Arc::new(socket.to_owned());
        let first = Conn::open(&socket, &options)?;
        Ok(Arc::new(Pool {
            socket,
            max_chunk: first.max_chunk,
            options,
            idle: Mutex::new(vec![first]),
        }))
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Largest value piece one frame carries.
    pub(crate) fn max_chunk(&self) -> usize {
        self.max_chunk
    }

    /// A connection for one request or stream: an idle one that is still open, or a new one.
    pub(crate) fn lease(self: &Arc<Self>) -> Result<Lease> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match idle {
                Some(conn) if conn.is_open() => return Ok(self.lease_of(conn)),
                Some(_closed) => {}
                None => {
                    let conn = Conn::open(&self.socket, &self.options)?;
                    return Ok(self.lease_of(conn));
                }
            }
        }
    }

    fn lease_of(self: &Arc<Self>, conn: Conn) -> Lease {
        Lease {
            conn: Some(conn),
            pool: self.clone(),
        }
    }

    /// One request on a leased connection.
    pub(crate) fn call(self: &Arc<Self>, request: &Request) -> Result<Response> {
        self.lease()?.call(request)
    }
}

/// A connection on loan from the pool; returned when dropped if it is still in step.
#[derive(Debug)]
pub(crate) struct Lease {
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl Lease {
    /// Gives the connection up instead of returning it (its stream state is unknown).
    pub(crate) fn discard(&mut self) {
        self.conn = None;
    }

    fn conn(&mut self) -> Result<&mut Conn> {
        self.conn.as_mut().ok_or_else(|| Error::Disconnected {
            socket: self.pool.socket.to_path_buf(),
            reason: "the connection was given up after an earlier failure".to_owned(),
            maybe_applied: false,
        })
    }

    pub(crate) fn call(&mut self, request: &Request) -> Result<Response> {
        self.conn()?.call(request)
    }

    pub(crate) fn send(&mut self, request: &Request) -> Result<()> {
        self.conn()?.send(request)
    }

    /// The next response of a request answered by several (`Verify`'s progress frames).
    pub(crate) fn receive(&mut self) -> Result<Response> {
        self.conn()?.receive()
    }

    pub(crate) fn max_chunk(&self) -> usize {
        self.conn.as_ref().map_or(MAX_CHUNK, |c| c.max_chunk)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.healthy
        {
            let mut idle = self
                .pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.pool.options.max_idle {
                idle.push(conn);
            }
        }
    }
}
