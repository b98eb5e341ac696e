//! [`Snapshots`]: one shared read snapshot, reused by every load until the next commit.
//!
//! Beginning a redb read transaction and opening its tables costs more than the point reads
//! a load makes, so readers share one [`Reader`] for as long as nothing has been committed.
//!
//! Invariants:
//! - The actor calls [`Snapshots::invalidate`] after every commit attempt and before it
//!   answers any command of that commit, so a caller that has been acknowledged never
//!   receives a snapshot older than its own write (read-your-writes).
//! - A snapshot is cached only under the generation that was current before it began, and is
//!   handed out only while that generation is still current: it contains every commit
//!   counted by it.
//! - After a commit the cache is empty, so a stale snapshot lives only as long as the loads
//!   already using it; it never pins pages that later commits free for longer than that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redb::Database;

use crate::engine::reader::Reader;
use crate::error::Result;

/// The cached snapshot and the commit generation it belongs to.
#[derive(Default)]
pub(crate) struct Snapshots {
    /// Bumped after every commit.
    generation: AtomicU64,
    current: Mutex<Option<(u64, Arc<Reader>)>>,
}

impl Snapshots {
    /// A snapshot containing every commit made before this call.
    pub(crate) fn get(&self, db: &Database) -> Result<Arc<Reader>> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((cached, reader)) = &*self.current()
            && *cached == generation
        {
            return Ok(Arc::clone(reader));
        }
        let reader = Arc::new(Reader::begin(db)?);
        let mut current = self.current();
        if self.generation.load(Ordering::Acquire) == generation {
            *current = Some((generation, Arc::clone(&reader)));
        }
        Ok(reader)
    }

    /// Retires the cached snapshot; called by the actor after each commit.
    pub(crate) fn invalidate(&self) {
        let stale = {
            let mut current = self.current();
            self.generation.fetch_add(1, Ordering::AcqRel);
            current.take()
        };
        // Dropped outside the lock: ending a read transaction does work in redb.
        drop(stale);
    }

    /// The cache. Its updates are single assignments, so a lock poisoned by a panic
    /// elsewhere still guards a consistent value.
    fn current(&self) -> MutexGuard<'_, Option<(u64, Arc<Reader>)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
