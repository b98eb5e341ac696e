//! [`Shared`]: what the handles, the actor and promises of one open store share.
//!
//! Invariants: the store directory's `LOCK` file is held (an exclusive OS file lock) for as
//! long as this value lives, so no other process or handle can open the store; once
//! poisoned, a store stays poisoned until it is reopened; a pinned content hash is never
//! deleted by gc (pins are taken before a blob is published and released after the save
//! that refers to it has been answered).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use redb::Database;

use crate::blob::BlobLayout;
use crate::codec::TypeRegistry;
use crate::engine::options::RedbOptions;
use crate::engine::reader::Reader;
use crate::engine::snapshot::Snapshots;
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::vfs::{Fs, LockGuard};

/// State shared by every handle of one open store.
pub(crate) struct Shared {
    pub(crate) root: PathBuf,
    /// Declared before `db`, so the cached read transaction ends before the database closes.
    pub(crate) snapshots: Snapshots,
    pub(crate) db: Database,
    pub(crate) fs: Arc<dyn Fs>,
    pub(crate) layout: BlobLayout,
    pub(crate) types: TypeRegistry,
    pub(crate) options: RedbOptions,
    pins: Mutex<HashMap<ContentHash, usize>>,
    poison: OnceLock<String>,
    /// Held for the store lock; released when dropped.
    _lock: LockGuard,
}

/// Unpins a content hash when dropped.
pub(crate) struct Pin<'a> {
    shared: &'a Shared,
    hash: ContentHash,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let mut pins = self.shared.pins();
        if let Some(count) = pins.get_mut(&self.hash) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.hash);
            }
        }
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        root: PathBuf,
        db: Database,
        fs: Arc<dyn Fs>,
        layout: BlobLayout,
        types: TypeRegistry,
        options: RedbOptions,
        lock: LockGuard,
    ) -> Self {
        Shared {
            root,
            snapshots: Snapshots::default(),
            db,
            fs,
            layout,
            types,
            options,
            pins: Mutex::new(HashMap::new()),
            poison: OnceLock::new(),
            _lock: lock,
        }
    }

    /// The pin table. Its updates are single inserts and removals, so a lock poisoned by a
    /// panic elsewhere still guards a consistent map.
    pub(crate) fn pins(&self) -> MutexGuard<'_, HashMap<ContentHash, usize>> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pins `hash` until the returned guard drops.
    pub(crate) fn pin(&self, hash: ContentHash) -> Pin<'_> {
        *self.pins().entry(hash).or_insert(0) += 1;
        Pin { shared: self, hash }
    }

    /// A read snapshot containing every commit made before this call.
    pub(crate) fn snapshot(&self) -> Result<Arc<Reader>> {
        self.snapshots.get(&self.db)
    }

    /// Marks the store poisoned by `cause` (the first cause wins).
    pub(crate) fn poison(&self, cause: &Error) {
        let first = self.poison.set(cause.to_string()).is_ok();
        if first {
            tracing::error!(store = %self.root.display(), cause = %cause, "store poisoned");
        }
    }

    /// The poison error, if the store is poisoned.
    pub(crate) fn check_poison(&self) -> Result<()> {
        match self.poison.get() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }
}
