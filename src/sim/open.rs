//! [`RedbStore::open_simulated`]: the engine on a [`SimDisk`], for crash and fault tests.
//!
//! The hook lives on the test side: the engine knows only its `Fs` seam
//! (`RedbStore::open_with_fs`, crate-private) and imports nothing from `sim`.

use std::path::Path;
use std::sync::Arc;

use crate::engine::{RedbOptions, RedbStore};
use crate::error::Result;
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
