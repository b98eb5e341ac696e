//! The one durable-write protocol: temp file on the same file system → write → sync → rename
//! → sync the destination directory.
//!
//! Invariant: after [`publish`] returns `Ok`, the destination holds the complete new content
//! and survives power loss; a crash at any earlier point leaves the destination as it was
//! (absent or old), never torn.

use std::path::Path;

use crate::error::{Error, Result};
use crate::vfs::{Fs, FsFile};

/// Makes `tmp` (already fully written, at `tmp_path` on the same file system as `dest`)
/// durable and atomically moves it to `dest`.
///
/// # Errors
/// [`Error::Io`] naming the step and path.
pub(crate) fn publish(
    fs: &dyn Fs,
    mut tmp: Box<dyn FsFile>,
    tmp_path: &Path,
    dest: &Path,
) -> Result<()> {
    tmp.sync_data()
        .map_err(|e| Error::io("sync temporary file", tmp_path, e))?;
    drop(tmp);
    fs.rename(tmp_path, dest)
        .map_err(|e| Error::io("rename into place", dest, e))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    // IMPORTANT: without this the rename itself may be lost on power loss.
    fs.sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))
}
