//! [`OverlayFs`]: the file system of a read-only open — the real files underneath, every
//! change in memory.
//!
//! The usual open runs unchanged on it (directory checks, WAL replay, the checkpoint that
//! follows, the final checkpoint on close): files it creates, renames or removes live in an
//! in-memory overlay for as long as the store is open, and the database goes through
//! [`CowBackend`]. The store's `LOCK` is taken as a *shared* lock from a read-only handle,
//! so a live writer (which holds it exclusively) is detected; if `LOCK` cannot be opened (a
//! store the user may not write, made before `LOCK` existed) the open goes on without it
//! and says so in the log.
//!
//! Invariant: no method opens a real file for writing, creates, renames or removes one, so
//! a read-only open changes no byte, length or mtime and adds no file.

use std::collections::HashMap;
use std::fs::{self, TryLockError};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Builder, Database};

use super::cow_backend::CowBackend;
use super::{Fs, FsFile, Kind, LockGuard, Meta, RealFs};
use crate::error::{Error, Result};

/// What the overlay says about a path.
#[derive(Debug, Clone)]
enum Entry {
    /// A file with these contents.
    File(Arc<Mutex<Vec<u8>>>),
    /// A directory.
    Dir,
    /// Removed (with everything under it).
    Removed,
}

/// The real file system read-only, with an in-memory overlay for every change.
#[derive(Debug, Default)]
pub(crate) struct OverlayFs {
    entries: Mutex<HashMap<PathBuf, Entry>>,
}

/// An open file of the overlay.
struct MemFile {
    data: Arc<Mutex<Vec<u8>>>,
    pos: u64,
}

impl MemFile {
    fn data(&self) -> io::Result<MutexGuard<'_, Vec<u8>>> {
        self.data
            .lock()
            .map_err(|_| io::Error::other("an overlay file was poisoned"))
    }
}

impl Read for MemFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let data = self.data()?;
        let mut cursor = Cursor::new(&data[..]);
        cursor.set_position(self.pos);
        let n = cursor.read(buf)?;
        drop(data);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for MemFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut data = self.data()?;
        let mut cursor = Cursor::new(&mut *data);
        cursor.set_position(self.pos);
        let n = cursor.write(buf)?;
        drop(data);
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MemFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.data()?.len() as u64;
        self.pos = crate::vfs::seek_position(self.pos, len, to)?;
        Ok(self.pos)
    }
}

impl FsFile for MemFile {
    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.data()?.resize(len, 0);
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let data = self.data()?;
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn stat(&self) -> io::Result<Meta> {
        Ok(Meta {
            kind: Kind::File,
            len: self.data()?.len() as u64,
            modified: None,
        })
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl OverlayFs {
    fn entries(&self) -> MutexGuard<'_, HashMap<PathBuf, Entry>> {
        // A panic while holding this lock leaves the map consistent (each change is one
        // insert), so a poisoned lock is still safe to use.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The overlay's word on `path`: its own entry, or `Removed` if an ancestor was removed,
    /// or `None` (ask the real file system).
    fn lookup(&self, path: &Path) -> Option<Entry> {
        let entries = self.entries();
        if let Some(entry) = entries.get(path) {
            return Some(entry.clone());
        }
        path.ancestors()
            .skip(1)
            .any(|a| matches!(entries.get(a), Some(Entry::Removed)))
            .then_some(Entry::Removed)
    }

    fn new_file(&self, path: &Path, data: Vec<u8>) -> Box<dyn FsFile> {
        let data = Arc::new(Mutex::new(data));
        self.entries()
            .insert(path.to_owned(), Entry::File(data.clone()));
        Box::new(MemFile { data, pos: 0 })
    }

    /// The current contents of the file at `path`.
    fn contents(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self.lookup(path) {
            Some(Entry::File(data)) => Ok(data.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            Some(_) => Err(not_found()),
            None => fs::read(path),
        }
    }
}

impl Fs for OverlayFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        if self.exists(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        Ok(self.new_file(path, Vec::new()))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        if let Some(Entry::File(data)) = self.lookup(path) {
            return Ok(Box::new(MemFile { data, pos: 0 }));
        }
        let bytes = self.contents(path)?;
        Ok(self.new_file(path, bytes))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        match self.lookup(path) {
            Some(Entry::File(data)) => Ok(Box::new(MemFile { data, pos: 0 })),
            Some(_) => Err(not_found()),
            None => RealFs.open_read(path),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let bytes = self.contents(from)?;
        self.new_file(to, bytes);
        self.entries().insert(from.to_owned(), Entry::Removed);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        if !self.exists(path) {
            return Err(not_found());
        }
        self.entries().insert(path.to_owned(), Entry::Removed);
        Ok(())
    }

    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        if self.lookup(path).is_none() && path.is_dir() {
            return Ok(());
        }
        let mut entries = self.entries();
        for dir in path.ancestors() {
            let real = !matches!(entries.get(dir), Some(Entry::Removed)) && dir.is_dir();
            if real || matches!(entries.get(dir), Some(Entry::Dir)) {
                break;
            }
            entries.insert(dir.to_owned(), Entry::Dir);
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut found = match self.lookup(path) {
            Some(Entry::Dir) => Vec::new(),
            Some(_) => return Err(not_found()),
            None => RealFs.read_dir(path)?,
        };
        found.retain(|p| self.lookup(p).is_none());
        let entries = self.entries();
        found.extend(
            entries
                .iter()
                .filter(|(p, e)| p.parent() == Some(path) && !matches!(e, Entry::Removed))
                .map(|(p, _)| p.clone()),
        );
        Ok(found)
    }

    fn exists(&self, path: &Path) -> bool {
        match self.lookup(path) {
            Some(Entry::Removed) => false,
            Some(_) => true,
            None => path.exists(),
        }
    }

    fn is_file(&self, path: &Path) -> bool {
        match self.lookup(path) {
            Some(entry) => matches!(entry, Entry::File(_)),
            None => path.is_file(),
        }
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        fs::canonicalize(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.remove_file(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        match self.lookup(path) {
            Some(Entry::File(data)) => {
                Ok(data.lock().unwrap_or_else(|e| e.into_inner()).len() as u64)
            }
            Some(_) => Err(not_found()),
            None => RealFs.file_len(path),
        }
    }

    fn lock_store(&self, root: &Path) -> Result<LockGuard> {
        let path = root.join("LOCK");
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) => {
                tracing::info!(lock = %path.display(), error = %e,
                    "cannot open the store's LOCK; reading without it (a writer would go unnoticed)");
                return Ok(Box::new(()));
            }
        };
        super::retry_while_already_open(|| match file.try_lock_shared() {
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(Error::AlreadyOpen {
                path: root.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io("lock (shared)", &path, e)),
        })?;
        Ok(Box::new(file))
    }

    fn open_database(&self, path: &Path, check_integrity: bool) -> Result<Database> {
        if self.lookup(path).is_some() {
            return Err(Error::io(
                "open read-only (it was changed in memory)",
                path,
                io::Error::from(io::ErrorKind::Unsupported),
            ));
        }
        let backend = CowBackend::open(path).map_err(|e| Error::io("open", path, e))?;
        let mut builder = Builder::new();
        builder.set_check_integrity_on_open(check_integrity);
        builder
            .create_with_backend(backend)
            .map_err(|e| Error::storage("open the database", e))
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        match self.lookup(path) {
            Some(Entry::File(data)) => Ok(Meta {
                kind: Kind::File,
                len: data.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
                modified: None,
            }),
            Some(Entry::Dir) => Ok(Meta {
                kind: Kind::Dir,
                len: 0,
                modified: None,
            }),
            Some(Entry::Removed) => Err(not_found()),
            None => RealFs.metadata(path),
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        if self.exists(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        self.entries().insert(path.to_owned(), Entry::Dir);
        Ok(())
    }

    fn lock_file(&self, _path: &Path) -> Result<LockGuard> {
        // What is written through the overlay reaches no other handle or process: there is
        // nobody to exclude, and taking a real lock would create a file.
        Ok(Box::new(()))
    }

    fn sync_file_system(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
}
