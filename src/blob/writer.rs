//! [`BlobWriter`]: a temp file that hashes what is written while it is written (on a
//! thread of its own for large values, see `hasher.rs`).
//!
//! Invariant: the running hash covers exactly bytes `0..hashed` of the file as long as every
//! write so far continued where the previous one ended; any seek-then-write or truncation
//! below `hashed` drops it, and [`BlobWriter::finish`] then re-reads the file to hash it.
//! A writer dropped before `finish` removes its temp file.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blob::BlobLayout;
use crate::blob::hasher::BackgroundHasher;
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::vfs::{Fs, FsFile};

/// A temp file being written, with its running hash.
pub(crate) struct BlobWriter {
    fs: Arc<dyn Fs>,
    file: Option<Box<dyn FsFile>>,
    path: PathBuf,
    hasher: Option<BackgroundHasher>,
    hashed: u64,
    pos: u64,
    len: u64,
}

/// A finished temp file: complete content with its hash, not yet durable.
pub(crate) struct Finished {
    pub(crate) file: Box<dyn FsFile>,
    pub(crate) path: PathBuf,
    pub(crate) hash: ContentHash,
    pub(crate) size: u64,
}

impl BlobWriter {
    /// Creates an empty temp file of this session.
    pub(crate) fn create(fs: Arc<dyn Fs>, layout: &BlobLayout) -> Result<Self> {
        let path = layout.new_tmp_path();
        let file = fs
            .create_new(&path)
            .map_err(|e| Error::io("create temporary file", &path, e))?;
        Ok(BlobWriter {
            fs,
            file: Some(file),
            path,
            hasher: Some(BackgroundHasher::new()),
            hashed: 0,
            pos: 0,
            len: 0,
        })
    }

    /// The temp file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn file(&mut self) -> io::Result<&mut Box<dyn FsFile>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("temporary file already finished"))
    }

    /// Sets the length (for `truncate`).
    pub(crate) fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file()?.set_len(len)?;
        if len < self.hashed {
            self.hasher = None;
        }
        self.len = len;
        Ok(())
    }

    /// Completes the content: returns the file with its hash and size.
    ///
    /// # Errors
    /// [`Error::Io`] if re-reading the file for its hash fails.
    pub(crate) fn finish(mut self) -> Result<Finished> {
        let path = self.path.clone();
        let io_err = |e| Error::io("hash temporary file", &path, e);
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io_err(io::Error::other("finished twice")))?;
        let running = match self.hasher.take() {
            Some(hasher) if self.hashed == self.len => hasher.finalize(),
            _ => None,
        };
        let hash = match running {
            Some(hash) => hash,
            None => {
                file.seek(SeekFrom::Start(0)).map_err(io_err)?;
                let mut hasher = blake3::Hasher::new();
                io::copy(&mut file, &mut hasher).map_err(io_err)?;
                hasher.finalize().into()
            }
        };
        Ok(Finished {
            file,
            path: self.path.clone(),
            hash,
            size: self.len,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // An aborted write: the temp file is garbage. If removal fails, gc removes it
            // once this session has ended.
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

impl Write for BlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let pos = self.pos;
        let n = self.file()?.write(data)?;
        match &mut self.hasher {
            Some(hasher) if pos == self.hashed => {
                hasher.update(&data[..n]);
                self.hashed += n as u64;
            }
            _ => self.hasher = None,
        }
        self.pos += n as u64;
        self.len = self.len.max(self.pos);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Read for BlobWriter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file()?.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BlobWriter {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.file()?.seek(to)?;
        Ok(self.pos)
    }
}

impl Finished {
    /// Discards the temp file (its content is already stored elsewhere).
    pub(crate) fn discard(self, fs: &dyn Fs) {
        drop(self.file);
        // Best effort: an orphaned temp file is removed by gc later.
        let _ = fs.remove_file(&self.path);
    }
}
