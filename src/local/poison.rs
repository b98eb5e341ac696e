//! A failed sync poisons a [`LocalFileStore`](super::LocalFileStore) handle, as it poisons
//! the engine: after a sync fails, what it should have made durable may be visible but not
//! durable (a directory, a key file, a record), and later operations would trust it. So the
//! handle refuses every later write with [`Error::Poisoned`]; a sync is never retried.
//!
//! [`PoisonFs`] is the store's file system with that watch built in: every directory,
//! file-system and file sync goes through it and a failure records its cause. Its directory
//! syncs are grouped across the handle's concurrent callers (`group.rs`).
//!
//! Invariant: once a sync failed, [`Poison::check`] fails for the rest of the handle's life.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use redb::Database;

use crate::error::{Error, Result};
use crate::local::group::DirSyncs;
use crate::vfs::{Fs, FsFile, LockGuard, Meta};

/// The cause of the first failed sync, if any.
#[derive(Debug, Default)]
pub(crate) struct Poison(Mutex<Option<String>>);

impl Poison {
    /// Fails with [`Error::Poisoned`] once a sync failed.
    pub(crate) fn check(&self) -> Result<()> {
        match &*self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Passes `result` on, recording its error (the first one) as the cause.
    fn watch<T>(&self, what: &Path, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            let mut cause = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            cause.get_or_insert_with(|| format!("sync of {} failed: {e}", what.display()));
        }
        result
    }
}

/// A file system whose failed syncs poison the store.
#[derive(Debug)]
pub(crate) struct PoisonFs {
    inner: Arc<dyn Fs>,
    poison: Arc<Poison>,
    dir_syncs: DirSyncs,
}

impl PoisonFs {
    pub(crate) fn new(inner: Arc<dyn Fs>, poison: Arc<Poison>) -> Self {
        PoisonFs {
            inner,
            poison,
            dir_syncs: DirSyncs::default(),
        }
    }

    fn file(&self, file: Box<dyn FsFile>, path: &Path) -> Box<dyn FsFile> {
        Box::new(PoisonFile {
            file,
            path: path.to_owned(),
            poison: self.poison.clone(),
        })
    }
}

/// A file whose failed syncs poison the store.
struct PoisonFile {
    file: Box<dyn FsFile>,
    path: PathBuf,
    poison: Arc<Poison>,
}

impl Read for PoisonFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for PoisonFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for PoisonFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.file.seek(to)
    }
}

impl FsFile for PoisonFile {
    fn sync_data(&mut self) -> io::Result<()> {
        let result = self.file.sync_data();
        self.poison.watch(&self.path, result)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.file.read_at(buf, pos)
    }

    fn stat(&self) -> io::Result<Meta> {
        self.file.stat()
    }
}

impl Fs for PoisonFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.file(self.inner.create_new(path)?, path))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.file(self.inner.open_rw(path)?, path))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.file(self.inner.open_read(path)?, path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let result = self.dir_syncs.sync(path, |dir| self.inner.sync_dir(dir));
        self.poison.watch(path, result)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.read_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.inner.is_file(path)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        self.inner.canonicalize(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.inner.file_len(path)
    }

    fn lock_store(&self, root: &Path) -> Result<LockGuard> {
        self.inner.lock_store(root)
    }

    fn open_database(&self, path: &Path, check_integrity: bool) -> Result<Database> {
        self.inner.open_database(path, check_integrity)
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        self.inner.metadata(path)
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir(path)
    }

    fn lock_file(&self, path: &Path) -> Result<LockGuard> {
        self.inner.lock_file(path)
    }

    fn sync_file_system(&self, path: &Path) -> io::Result<()> {
        let result = self.inner.sync_file_system(path);
        self.poison.watch(path, result)
    }

    fn process_id(&self) -> u32 {
        self.inner.process_id()
    }

    fn process_lives(&self, pid: u32) -> bool {
        self.inner.process_lives(pid)
    }
}
