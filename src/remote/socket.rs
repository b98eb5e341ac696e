//! The server's socket file: created with mode 0600 without a moment in which another user
//! could connect, stale files of killed servers replaced, live ones refused.
//!
//! How 0600 is reached without `umask` (a process-wide `unsafe` call): the socket is bound
//! inside a fresh private directory created with mode 0700 next to the final path, chmod-ed
//! to 0600 there, then renamed to the final path (a rename within one file system keeps the
//! bound socket working). While it is in the private directory no other user can reach it
//! (the directory is not searchable for them, whatever the umask); when it appears at the
//! final path it is already 0600. Binding at a temporary name *beside* the final path would
//! leave it connectable under the umask's mode until the chmod.
//!
//! Invariants: an existing path is replaced only if it is a socket nobody accepts on
//! (connecting is refused: its server is gone); a socket that accepts makes
//! [`bind`] fail with [`Error::AlreadyServed`]; a path that is not a socket is never touched.
//! The socket file is removed when the server stops, and only if it is still the one this
//! server bound (same device and inode).

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The socket path `sweepstore serve` uses when given none: inside the store directory.
pub const DEFAULT_SOCKET_NAME: &str = "serve.sock";

/// The longest path a Unix socket address holds (108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A bound socket file; [`SocketFile::remove`] deletes it if it is still this one.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file unless another one has replaced it.
    pub(crate) fn remove(&self) {
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours && let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(socket = %self.path.display(), error = %e, "could not remove the socket file");
        }
    }
}

/// Binds a listening socket at `path` with mode 0600, replacing a stale socket file.
///
/// # Errors
/// [`Error::AlreadyServed`] if a server accepts on `path`; [`Error::TooLarge`] if the path
/// (or the temporary one it is bound at) is longer than the 107 bytes a Unix socket address
/// holds; [`Error::Io`] if `path` exists and is not a socket, or binding fails.
pub(crate) fn bind(path: &Path) -> Result<(UnixListener, SocketFile)> {
    check_existing(path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let private = private_dir(parent)?;
    let bound = bind_private(&private, path);
    if let Err(e) = fs::remove_dir_all(&private) {
        tracing::warn!(dir = %private.display(), error = %e, "could not remove a temporary directory");
    }
    bound
}

fn bind_private(private: &Path, path: &Path) -> Result<(UnixListener, SocketFile)> {
    let staged = private.join("s");
    let len = staged.as_os_str().len().max(path.as_os_str().len());
    if len > MAX_SOCKET_PATH {
        return Err(Error::TooLarge {
            what: format!(
                "socket path {} (bound first in a private directory beside it; pass a \
                 shorter --socket)",
                path.display()
            ),
            size: len as u64,
            limit: MAX_SOCKET_PATH as u64,
        });
    }
    let listener =
        UnixListener::bind(&staged).map_err(|e| Error::io("bind a socket at", &staged, e))?;
    fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("set mode 0600 on", &staged, e))?;
    fs::rename(&staged, path).map_err(|e| Error::io("move the new socket to", path, e))?;
    let meta = fs::symlink_metadata(path).map_err(|e| Error::io("inspect", path, e))?;
    Ok((
        listener,
        SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        },
    ))
}

/// Fails unless `path` is free or a stale socket.
fn check_existing(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspect", path, e)),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::io(
            "use as the server's socket (it exists and is not a socket)",
            path,
            io::ErrorKind::AlreadyExists.into(),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(Error::AlreadyServed {
            socket: path.to_owned(),
        }),
        // Nobody accepts: the server that bound it is gone.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
        Err(e) => Err(Error::io("check whether a server listens on", path, e)),
    }
}

/// Creates a new directory only its owner can enter, in `parent`.
fn private_dir(parent: &Path) -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(".ss{}-{n}", std::process::id()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create a private directory", &dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_0600_stale_ones_are_replaced_and_live_ones_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("create", "tmp", e))?;
        let path = dir.path().join("s.sock");
        let (listener, file) = bind(&path)?;
        let mode = fs::metadata(&path).map_err(|e| Error::io("stat", &path, e))?;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        assert!(matches!(bind(&path), Err(Error::AlreadyServed { .. })));
        // No private directory is left behind.
        let entries = fs::read_dir(dir.path()).map_err(|e| Error::io("list", dir.path(), e))?;
        assert_eq!(entries.count(), 1);
        drop(listener);
        // Stale: the file stays, nobody accepts.
        assert!(path.exists());
        let (_listener, second) = bind(&path)?;
        // The first server's cleanup leaves the second's socket alone.
        file.remove();
        assert!(path.exists());
        second.remove();
        assert!(!path.exists());

        let long = dir.path().join("x".repeat(MAX_SOCKET_PATH));
        assert!(matches!(
            bind(&long),
            Err(Error::TooLarge { limit: 107, .. })
        ));

        fs::write(&path, b"not a socket").map_err(|e| Error::io("write", &path, e))?;
        assert!(matches!(bind(&path), Err(Error::Io { .. })));
        assert_eq!(
            fs::read(&path).map_err(|e| Error::io("read", &path, e))?,
            b"not a socket"
        );
        Ok(())
    }
}
