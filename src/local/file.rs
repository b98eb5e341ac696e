//! Streams of a [`LocalFileStore`](super::LocalFileStore): the writable [`File`](crate::File)
//! backend (a temporary file published on close) and the content behind promises (an open
//! file handle).
//!
//! Invariants: a write-open touches no run directory until `close`; until then its bytes
//! live in a temporary file under `<task>/.sweepstore/tmp/`, removed if the file is dropped.
//! A promise holds its object open from the moment it is made: the store never modifies a
//! published file in place (commits rename new files over old ones, deletes unlink), and an
//! open file outlives its directory entry on Unix, so the promise keeps reading the version
//! it was made for after an overwrite, a delete or `delete_run`. The cost is one open file
//! descriptor per live promise.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::file::FileBackend;
use crate::key::ContentHash;
use crate::local::layout::deferred;
use crate::promise::{ContentReader, ContentSource};
use crate::vfs::{Fs, FsFile};

/// What a closed write-open publishes: (temporary path, its hash, its size).
pub(crate) type Publish = Box<dyn FnOnce(PathBuf, ContentHash, u64) -> Result<()> + Send>;

/// A writable file of a [`LocalFileStore`](super::LocalFileStore).
pub(crate) struct LocalFile {
    file: Option<Box<dyn FsFile>>,
    path: PathBuf,
    publish: Option<Publish>,
    fs: Arc<dyn Fs>,
}

impl LocalFile {
    /// An empty temporary file at `path` (which must not exist) on `fs`, published by
    /// `publish`.
    pub(crate) fn create(fs: Arc<dyn Fs>, path: PathBuf, publish: Publish) -> Result<Self> {
        let file = fs
            .create_new(&path)
            .map_err(|e| Error::io("create temporary file", &path, e))?;
        Ok(LocalFile {
            file: Some(file),
            path,
            publish: Some(publish),
            fs,
        })
    }

    fn file(&mut self) -> io::Result<&mut Box<dyn FsFile>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the file was already closed"))
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Dropped without close (an abort), or close failed: the temp file is garbage.
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

impl Read for LocalFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file()?.read(buf)
    }
}

impl Write for LocalFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.file()?.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Seek for LocalFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file()?.seek(pos)
    }
}

impl FileBackend for LocalFile {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file()?.set_len(len)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let path = self.path.clone();
        let (hash, size) = {
            let file = self.file().map_err(|e| Error::io("sync", &path, e))?;
            if !deferred(&path) {
                file.sync_data()
                    .map_err(|e| Error::io("sync temporary file", &path, e))?;
            }
            file.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("hash temporary file", &path, e))?;
            let mut hasher = blake3::Hasher::new();
            let size = io::copy(&mut **file, &mut hasher)
                .map_err(|e| Error::io("hash temporary file", &path, e))?;
            (ContentHash::from(hasher.finalize()), size)
        };
        let publish = self.publish.take().ok_or_else(|| {
            Error::io(
                "publish",
                &path,
                io::Error::other("the file was already closed"),
            )
        })?;
        publish(path, hash, size)?;
        // Published: the temp file was moved into the run; nothing is left to remove.
        self.file = None;
        Ok(())
    }
}

/// A promise's content: the object file, held open.
pub(crate) struct Pinned {
    file: Arc<dyn FsFile>,
    path: PathBuf,
}

impl Pinned {
    pub(crate) fn new(file: Box<dyn FsFile>, path: PathBuf) -> Self {
        Pinned {
            file: Arc::from(file),
            path,
        }
    }
}

impl ContentSource for Pinned {
    fn open(&self, _: &ContentHash) -> Result<Box<dyn ContentReader>> {
        let len = self
            .file
            .stat()
            .map_err(|e| Error::io("inspect", &self.path, e))?
            .len;
        Ok(Box::new(PinnedReader {
            file: self.file.clone(),
            pos: 0,
            len,
        }))
    }

    fn location(&self, hash: &ContentHash) -> String {
        format!("{} (content {hash})", self.path.display())
    }
}

/// A reader over a shared open file with its own position (positioned reads).
struct PinnedReader {
    file: Arc<dyn FsFile>,
    pos: u64,
    len: u64,
}

impl Read for PinnedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PinnedReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}
