//! The file-system seam of the storage engine.
//!
//! Every file operation of the engine — the write-ahead log, blobs, temp files, run
//! directories, the store lock and the redb database file itself — and of the
//! `LocalFileStore` (its run directories, index, locks and temporaries) goes through [`Fs`], so
//! tests can substitute a simulated file system that loses unsynced writes or fails at the
//! Nth I/O (see `sim`, behind the `sim` feature). [`RealFs`] is the real one.
//! [`OverlayFs`] reads the real files and keeps every change in memory, for a read-only open
//! (`docs/design.md` 10.5a).
//!
//! Invariant: implementations never report success for a sync they did not perform.

mod cow_backend;
mod overlay;

use std::fmt;
use std::fs::{self, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use redb::{Builder, Database, DatabaseError};

use crate::error::{Error, Result};

pub(crate) use overlay::OverlayFs;

/// Something held for as long as a store is open (an OS file lock for [`RealFs`]).
pub(crate) type LockGuard = Box<dyn Send + Sync>;

/// An open file of an [`Fs`].
pub(crate) trait FsFile: Read + Write + Seek + Send + Sync {
    /// Flushes data (and the size) to stable storage (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Sets the file's length.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Reads at `pos` without moving the file's position, so readers can share the file.
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// The file's current length and modification time.
    fn stat(&self) -> io::Result<Meta>;
}

/// What a path is, as [`Fs::metadata`] sees it (a symbolic link is not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
}

/// What [`Fs::metadata`] reports about a path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub(crate) kind: Kind,
    /// The length of a file.
    pub(crate) len: u64,
    /// When it last changed, where the file system knows.
    pub(crate) modified: Option<SystemTime>,
}

/// The file operations the engine uses.
pub(crate) trait Fs: Send + Sync + fmt::Debug {
    /// Creates a new file for reading and writing; fails if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for reading and writing.
    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Opens an existing file for reading.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The entries of a directory (full paths), unsorted.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Whether `path` is a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// The absolute form of an existing `path`.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    /// Removes a directory and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The length of a file.
    fn file_len(&self, path: &Path) -> io::Result<u64>;
    /// Takes the exclusive lock of the store at `root` for the life of the guard.
    ///
    /// # Errors
    /// [`Error::AlreadyOpen`] if someone holds it.
    fn lock_store(&self, root: &Path) -> Result<LockGuard>;
    /// Opens (or creates) the redb database at `path`; with `check_integrity`, redb first
    /// verifies the checksum of every page.
    ///
    /// # Errors
    /// [`Error::AlreadyOpen`], or [`Error::Storage`].
    fn open_database(&self, path: &Path, check_integrity: bool) -> Result<Database>;
    /// What is at `path`, without following a symbolic link.
    fn metadata(&self, path: &Path) -> io::Result<Meta>;
    /// Creates one directory; fails with `AlreadyExists` if anything is at `path`.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Waits for and takes an exclusive lock on the file `path` (created if missing), held
    /// until the guard drops; it excludes other threads and other processes.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path.
    fn lock_file(&self, path: &Path) -> Result<LockGuard>;
    /// Makes everything written to the file system holding `path` durable (`syncfs`).
    fn sync_file_system(&self, path: &Path) -> io::Result<()>;
    /// The id of this process as temporary names record it.
    fn process_id(&self) -> u32 {
        std::process::id()
    }
    /// Whether the process with id `pid` lives; `true` where that cannot be known.
    fn process_lives(&self, pid: u32) -> bool {
        let proc = Path::new("/proc");
        !proc.join("self").exists() || proc.join(pid.to_string()).exists()
    }
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RealFs;

impl FsFile for fs::File {
    fn sync_data(&mut self) -> io::Result<()> {
        fs::File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        fs::File::set_len(self, len)
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, pos)
    }

    /// On Windows this moves the cursor, which no shared reader relies on.
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(self, buf, pos)
    }

    fn stat(&self) -> io::Result<Meta> {
        let meta = self.metadata()?;
        Ok(Meta {
            kind: Kind::File,
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

impl Fs for RealFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(file))
    }

    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = fs::OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Box::new(file))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(fs::File::open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        fs::File::open(path)?.sync_all()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        fs::read_dir(path)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        fs::canonicalize(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    fn lock_store(&self, root: &Path) -> Result<LockGuard> {
        let path = root.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        retry_while_already_open(|| match file.try_lock() {
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(Error::AlreadyOpen {
                path: root.to_owned(),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
        })?;
        Ok(Box::new(file))
    }

    fn open_database(&self, path: &Path, check_integrity: bool) -> Result<Database> {
        retry_while_already_open(|| {
            let mut builder = Builder::new();
            builder.set_check_integrity_on_open(check_integrity);
            builder.create(path).map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => Error::AlreadyOpen {
                    path: path.parent().unwrap_or(path).to_owned(),
                },
                other => Error::storage("open the database", other),
            })
        })
    }

    fn metadata(&self, path: &Path) -> io::Result<Meta> {
        let meta = fs::symlink_metadata(path)?;
        let kind = if meta.file_type().is_symlink() {
            Kind::Symlink
        } else if meta.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        Ok(Meta {
            kind,
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn lock_file(&self, path: &Path) -> Result<LockGuard> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open lock file", path, e))?;
        // OS file locks belong to the open file description, so separate opens also
        // exclude other threads of this process.
        file.lock().map_err(|e| Error::io("lock", path, e))?;
        Ok(Box::new(file))
    }

    #[cfg(target_os = "linux")]
    fn sync_file_system(&self, path: &Path) -> io::Result<()> {
        let handle = fs::File::open(path)?;
        rustix::fs::syncfs(&handle).map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn sync_file_system(&self, _path: &Path) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// The position a seek `to` reaches from `pos` in a file of `len` bytes (for in-memory files).
pub(crate) fn seek_position(pos: u64, len: u64, to: io::SeekFrom) -> io::Result<u64> {
    match to {
        io::SeekFrom::Start(p) => Some(p),
        io::SeekFrom::End(d) => len.checked_add_signed(d),
        io::SeekFrom::Current(d) => pos.checked_add_signed(d),
    }
    .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

/// How long a lock that looks taken is retried before the store counts as open elsewhere.
const LOCK_GRACE: Duration = Duration::from_millis(250);

/// Retries `attempt` while it fails with [`Error::AlreadyOpen`], for at most [`LOCK_GRACE`].
///
/// File locks belong to an open file description, and a child process forked by any thread
/// of this process holds a copy of every descriptor until it `exec`s: for that instant a lock
/// just released (a store just closed) still looks taken. A real second owner holds it far
/// longer than the grace period.
fn retry_while_already_open<T>(mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        match attempt() {
            Err(Error::AlreadyOpen { .. }) if start.elapsed() < LOCK_GRACE => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}
