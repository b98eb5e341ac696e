//! Streams through the server, in bounded chunks: [`RemoteContent`], where promises of a
//! [`RemoteStore`](crate::RemoteStore) read their content (by hash), and [`RemoteFile`], the
//! backend of its write-opened [`File`](crate::File)s.
//!
//! Invariants: memory is bounded by one chunk per stream on both sides, whatever the value's
//! size; content is verified by the promise (end to end, as read by the client), not here;
//! a `RemoteFile` mirrors the server-side stream's position and length exactly (only it
//! moves them), sends writes, seeks and truncations without waiting for a reply (the server
//! keeps the first failure and answers it at the next read or close), and publishes only in
//! `commit`; dropped without `commit`, it drops its connection, and the server drops the
//! stream, publishing nothing.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::file::FileBackend;
use crate::key::ContentHash;
use crate::promise::{ContentReader, ContentSource};
use crate::remote::pool::{Lease, Pool, unexpected};
use crate::remote::protocol::{FileOp, Request, Response};

/// Content of a remote store, read through the server.
#[derive(Debug)]
pub(crate) struct RemoteContent {
    pub(crate) pool: Arc<Pool>,
}

impl ContentSource for RemoteContent {
    fn open(&self, hash: &ContentHash) -> Result<Box<dyn ContentReader>> {
        Ok(Box::new(RemoteReader {
            pool: self.pool.clone(),
            hash: *hash,
            pos: 0,
            total: None,
            buf: Vec::new(),
            buf_start: 0,
        }))
    }

    fn location(&self, hash: &ContentHash) -> String {
        format!(
            "content {hash} read through the server at {}",
            self.pool.socket().display()
        )
    }
}

/// A seekable reader of one content hash, fetching a chunk at a time.
struct RemoteReader {
    pool: Arc<Pool>,
    hash: ContentHash,
    pos: u64,
    total: Option<u64>,
    /// The last chunk fetched, starting at `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
}

impl RemoteReader {
    /// Fetches the chunk at `pos` (an empty one at or past the end).
    fn fetch(&mut self) -> Result<()> {
        let mut lease = self.pool.lease()?;
        let request = Request::ReadContent {
            hash: self.hash,
            offset: self.pos,
            len: lease.max_chunk() as u32,
        };
        match lease.call(&request)? {
            Response::Content { total, bytes } => {
                self.total = Some(total);
                self.buf = bytes;
                self.buf_start = self.pos;
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buffered = |r: &Self| {
            r.pos
                .checked_sub(r.buf_start)
                .and_then(|at| usize::try_from(at).ok())
                .filter(|at| *at < r.buf.len())
        };
        let at = match buffered(self) {
            Some(at) => at,
            None => {
                if self.total.is_some_and(|total| self.pos >= total) || out.is_empty() {
                    return Ok(0);
                }
                self.fetch().map_err(Error::into_io)?;
                match buffered(self) {
                    Some(at) => at,
                    None => return Ok(0),
                }
            }
        };
        let n = (self.buf.len() - at).min(out.len());
        out[..n].copy_from_slice(&self.buf[at..at + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RemoteReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                if self.total.is_none() {
                    self.fetch().map_err(Error::into_io)?;
                }
                self.total.unwrap_or(0).checked_add_signed(d)
            }
        };
        self.pos = target.ok_or_else(negative_seek)?;
        Ok(self.pos)
    }
}

fn negative_seek() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "seek to a negative position")
}

/// The backend of a write-opened [`File`](crate::File) of a remote store: a stream on the
/// server, on a connection of its own.
pub(crate) struct RemoteFile {
    lease: Lease,
    pos: u64,
    len: u64,
    /// Written bytes not sent yet; they belong at `pos - pending.len()`.
    pending: Vec<u8>,
    max_chunk: usize,
    /// Whether `Close` was sent (and answered, or the connection given up).
    closed: bool,
}

impl RemoteFile {
    /// A file over `lease`, on which `OpenWrite` was answered.
    pub(crate) fn new(lease: Lease) -> Self {
        let max_chunk = lease.max_chunk();
        RemoteFile {
            lease,
            pos: 0,
            len: 0,
            pending: Vec::new(),
            max_chunk,
            closed: false,
        }
    }

    /// Sends all of `bytes` in chunks and publishes them (a save too large for one frame).
    pub(crate) fn upload(mut self, bytes: &[u8]) -> Result<()> {
        for chunk in bytes.chunks(self.max_chunk) {
            self.op(FileOp::Write {
                bytes: chunk.to_vec(),
            })?;
        }
        FileBackend::commit(Box::new(self))
    }

    fn op(&mut self, op: FileOp) -> Result<()> {
        let sent = self.lease.send(&Request::File(op));
        if sent.is_err() {
            self.lease.discard();
        }
        sent
    }

    fn send_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.pending);
        self.op(FileOp::Write { bytes })
    }

    fn call(&mut self, op: FileOp) -> Result<Response> {
        self.send_pending()?;
        self.lease.call(&Request::File(op))
    }
}

impl Read for RemoteFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let len = out.len().min(self.max_chunk) as u32;
        match self.call(FileOp::Read { len }).map_err(Error::into_io)? {
            Response::Data(data) if data.len() <= out.len() => {
                out[..data.len()].copy_from_slice(&data);
                self.pos += data.len() as u64;
                Ok(data.len())
            }
            other => Err(unexpected(&other).into_io()),
        }
    }
}

impl Write for RemoteFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.pending.len() >= self.max_chunk {
            self.send_pending().map_err(Error::into_io)?;
        }
        let n = data.len().min(self.max_chunk - self.pending.len());
        self.pending.extend_from_slice(&data[..n]);
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    /// Nothing to do: nothing is visible before `close`, and pending bytes stay bounded.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for RemoteFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        }
        .ok_or_else(negative_seek)?;
        if target != self.pos {
            self.send_pending().map_err(Error::into_io)?;
            self.op(FileOp::Seek { pos: target })
                .map_err(Error::into_io)?;
            self.pos = target;
        }
        Ok(self.pos)
    }
}

impl FileBackend for RemoteFile {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.send_pending().map_err(Error::into_io)?;
        self.op(FileOp::SetLen { len }).map_err(Error::into_io)?;
        self.len = len;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let answer = self.call(FileOp::Close);
        self.closed = true;
        match answer? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Drop for RemoteFile {
    fn drop(&mut self) {
        // Unless `commit` ended the stream, the server still holds it: closing the
        // connection aborts it there.
        if !self.closed {
            self.lease.discard();
        }
    }
}
