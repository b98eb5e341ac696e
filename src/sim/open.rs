//! [`RedbStore::open_simulated`] and [`LocalFileStore::open_simulated`]: the engine and the
//! file store on a [`SimDisk`], for crash and fault tests.
//!
//! The hooks live on the test side: the backends know only their `Fs` seam
//! (`RedbStore::open_with_fs`, `LocalFileStore::with_fs`, crate-private) and import nothing
//! from `sim`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::{RedbOptions, RedbStore};
use crate::error::Result;
use crate::local::LocalFileStore;
use crate::sim::disk::SimDisk;
use crate::sim::fs::SimFs;

impl RedbStore {
    /// Opens the store at absolute `path` on a simulated disk (feature `sim`, for crash and
    /// fault-injection tests).
    ///
    /// # Errors
    /// As [`RedbStore::open`].
    pub fn open_simulated(
        path: impl AsRef<Path>,
        options: RedbOptions,
        disk: &SimDisk,
    ) -> Result<Self> {
        let fs = Arc::new(SimFs::new(disk.clone()));
        Self::open_with_fs(path.as_ref(), options, fs)
    }
}

impl LocalFileStore {
    /// The store in absolute `base_dir` on a simulated disk (feature `sim`, for crash and
    /// fault-injection tests). Path types (`save_with_path`) need real files and fail here.
    ///
    /// # Errors
    /// As [`LocalFileStore::new`].
    pub fn open_simulated(base_dir: impl Into<PathBuf>, disk: &SimDisk) -> Result<Self> {
        Self::with_fs(base_dir.into(), Arc::new(SimFs::new(disk.clone())))
    }
}
