//! Where blobs and temporary files live under a store's root.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::key::ContentHash;

/// Paths of the blob store under a store root, and this session's temp-file names.
#[derive(Debug)]
pub(crate) struct BlobLayout {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Unique per open of the store, so temp files of earlier (crashed) sessions are
    /// recognizable as orphans.
    session: String,
    next_tmp: AtomicU64,
}

impl BlobLayout {
    pub(crate) fn new(root: &Path, session: String) -> Self {
        BlobLayout {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            session,
            next_tmp: AtomicU64::new(0),
        }
    }

    /// The `blobs/` directory.
    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.blobs
    }

    /// The `tmp/` directory.
    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// The fan-out directory of `hash`.
    pub(crate) fn fan_dir(&self, hash: &ContentHash) -> PathBuf {
        self.blobs.join(&hash.to_hex()[..2])
    }

    /// The file of `hash`.
    pub(crate) fn path(&self, hash: &ContentHash) -> PathBuf {
        self.fan_dir(hash).join(hash.to_hex())
    }

    /// A fresh temp-file path of this session.
    pub(crate) fn new_tmp_path(&self) -> PathBuf {
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{}-{n}.tmp", self.session))
    }

    /// Whether a temp file belongs to this session (otherwise it is an orphan of a crash).
    pub(crate) fn is_own_tmp(&self, path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{}-", self.session)))
    }

    /// The hash a file under `blobs/` is named for, if it is a blob file.
    pub(crate) fn hash_of(path: &Path) -> Option<ContentHash> {
        path.file_name()?.to_str()?.parse().ok()
    }
}
