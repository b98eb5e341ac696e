//! [`SimFs`]: the engine's `Fs` over a [`SimDisk`].

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use redb::{Builder, Database};

use crate::error::{Error, Result};
use crate::sim::backend::SimBackend;
use crate::sim::disk::SimDisk;
use crate::vfs::{Fs, FsFile, Kind, LockGuard, Meta};

/// The engine's file system on a simulated disk. Paths must be absolute.
#[derive(Debug, Clone)]
pub(crate) struct SimFs {
    disk: SimDisk,
}

impl SimFs {
    pub(crate) fn new(disk: SimDisk) -> Self {
        SimFs { disk }
    }

    fn inode(&self, path: &Path) -> io::Result<usize> {
        self.disk
            .lock()
            .files
            .get(path)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn file(&self, ino: usize) -> Box<dyn FsFile> {
        Box::new(SimFile {
            disk: self.disk.clone(),
            ino,
            pos: 0,
        })
    }
}

/// An open file on the simulated disk.
struct SimFile {
    disk: SimDisk,
    ino: usize,
    pos: u64,
}

impl Read for SimFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for SimFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.disk.lock().write(self.ino, self.pos, buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for SimFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.disk.lock().inodes[self.ino].data.len() as u64;
        self.pos = crate::vfs::seek_position(self.pos, len, to)?;
        Ok(self.pos)
    }
}

impl FsFile for SimFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.disk.lock().sync_file(self.ino)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.disk.lock().set_len(self.ino, len)
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let state = self.disk.lock();
        let data = &state.inodes[self.ino].data;
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn stat(&self) -> io::Result<Meta> {
        let len = self.disk.lock().inodes[self.ino].data.len() as u64;
        Ok(Meta {
            kind: Kind::File,
            len,
            modified: Some(self.disk.mtime()),
        })
    }
}

/// A lock of [`Fs::lock_file`] on the simulated disk.
struct SimLock {
    disk: SimDisk,
    path: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.disk.unlock(&self.path);
    }
}

fn parent_exists(state: &crate::sim::disk::State, path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if state.dirs.contains(parent) => Ok(()),
        _ => Err(io::Error::from(io::ErrorKind::NotFound)),
    }
}

impl Fs for SimFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let ino = {
            let mut state = self.disk.lock();
            state.namespace_op()?;
            parent_exists(&state, path)?;
            if state.files.contains_key(path) || state.dirs.contains(path) {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            let ino = state.new_inode();
            state.files.insert(path.to_owned(), ino);
            ino
        };
        Ok(self.file(ino))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.file(self.inode(path)?))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.file(self.inode(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.namespace_op()?;
        parent_exists(&state, to)?;
        if state.dirs.contains(from) {
            if state.files.contains_key(to) || state.dirs.contains(to) {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            state.rename_dir(from, to);
            return Ok(());
        }
        let ino = state
            .files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        state.files.insert(to.to_owned(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.namespace_op()?;
        state
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.disk.lock().sync_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.namespace_op()?;
        for dir in path.ancestors() {
            if state.files.contains_key(dir) {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            state.dirs.insert(dir.to_owned());
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let state = self.disk.lock();
        if !state.dirs.contains(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let in_dir = |p: &&PathBuf| p.parent() == Some(path);
        let files = state.files.keys().filter(in_dir);
        let dirs = state.dirs.iter().filter(in_dir);
        Ok(files.chain(dirs).cloned().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.disk.lock();
        state.files.contains_key(path) || state.dirs.contains(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.disk.lock().files.contains_key(path)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        if path.is_absolute() && self.exists(path) {
            Ok(path.to_owned())
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.namespace_op()?;
        state.files.retain(|p, _| !p.starts_with(path));
        state.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let ino = self.inode(path)?;
        Ok(self.disk.lock().inodes[ino].data.len() as u64)
    }

    fn lock_store(&self, _root: &Path) -> Result<LockGuard> {
        // One simulated process per disk: there is nobody to exclude.
        Ok(Box::new(()))
    }

    fn open_database(&self, path: &Path, check_integrity: bool) -> Result<Database> {
        let ino = match self.inode(path) {
            Ok(ino) => ino,
            Err(_) => {
                drop(
                    self.create_new(path)
                        .map_err(|e| Error::io("create database file", path, e))?,
                );
                self.inode(path)
                    .map_err(|e| Error::io("create database file", path, e))?
            }
        };
        let backend = SimBackend::new(self.disk.clone(), ino);
        Builder::new()
            .set_check_integrity_on_open(check_integrity)
            .create_with_backend(backend)
            .map_err(|e| Error::storage("open the database", e))
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        let (kind, len) = {
            let state = self.disk.lock();
            if let Some(&ino) = state.files.get(path) {
                (Kind::File, state.inodes[ino].data.len() as u64)
            } else if state.dirs.contains(path) {
                (Kind::Dir, 0)
            } else {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
        };
        Ok(Meta {
            kind,
            len,
            modified: Some(self.disk.mtime()),
        })
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.namespace_op()?;
        parent_exists(&state, path)?;
        if state.files.contains_key(path) || state.dirs.contains(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        state.dirs.insert(path.to_owned());
        Ok(())
    }

    fn lock_file(&self, path: &Path) -> Result<LockGuard> {
        if !self.is_file(path) {
            match self.create_new(path) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("open lock file", path, e)),
            }
        }
        self.disk.lock_path(path);
        Ok(Box::new(SimLock {
            disk: self.disk.clone(),
            path: path.to_owned(),
        }))
    }

    fn sync_file_system(&self, _path: &Path) -> io::Result<()> {
        self.disk.lock().sync_all()
    }

    fn process_id(&self) -> u32 {
        self.disk.pid()
    }

    fn process_lives(&self, pid: u32) -> bool {
        // One simulated process per disk: every other one is gone.
        pid == self.disk.pid()
    }
}
