//! What one MongoStore handle remembers between calls, without the server: the sweep
//! counters it reserved and has not handed out (`counters.rs` reserves them), and the runs
//! it has seen exist (`runs.rs` orders a write's steps by it).
//!
//! Invariants: both are hints or local state only — losing them (a new process) costs
//! round trips or leaves counter gaps, never a wrong result; every update of either map is
//! a single step under its lock, so a poisoned lock still holds sound data.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::Result;
use crate::key::RunKey;
use crate::names::TaskName;

/// The largest block of counters one reservation takes.
pub(crate) const MAX_BLOCK: u64 = 64;
/// Runs remembered as seen; the set is emptied when it reaches this size.
const KNOWN_RUNS: usize = 1 << 16;

/// Counters of one task held by this store.
#[derive(Debug, Default)]
struct Block {
    /// Given back by creations that found their run; handed out first, lowest first.
    returned: Vec<u64>,
    /// The unused rest of the reserved block.
    next: u64,
    end: u64,
    /// Size of the next reservation.
    size: u64,
}

/// This store's reserved counters, per task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    tasks: Mutex<HashMap<String, Block>>,
}

impl Counters {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Block>> {
        // Every update of the map is a single step, so a poisoned lock holds sound data.
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A counter of `task` for a new run: a given-back one, else the next of the block,
    /// else the first of a block of the size passed to `reserve`, which returns its end.
    ///
    /// # Errors
    /// The errors of `reserve`.
    pub(crate) fn take(
        &self,
        task: &TaskName,
        reserve: impl FnOnce(u64) -> Result<u64>,
    ) -> Result<u64> {
        let mut tasks = self.lock();
        let block = tasks.entry(task.as_str().to_owned()).or_default();
        if let Some((i, _)) = block.returned.iter().enumerate().min_by_key(|(_, c)| **c) {
            return Ok(block.returned.swap_remove(i));
        }
        if block.next == block.end {
            // Threads of this store wait for the one reservation instead of each making one.
            let size = block.size.clamp(1, MAX_BLOCK);
            let end = reserve(size)?;
            block.next = end - size;
            block.end = end;
            block.size = (size * 2).min(MAX_BLOCK);
        }
        block.next += 1;
        Ok(block.next - 1)
    }

    /// Gives back a counter that [`Counters::take`] handed out and no run consumed.
    pub(crate) fn give_back(&self, task: &TaskName, counter: u64) {
        if let Some(block) = self.lock().get_mut(task.as_str()) {
            block.returned.push(counter);
        }
    }

    /// Forgets the rest of `task`'s block and the counters given back, so the next
    /// [`Counters::take`] reserves anew (after `counters::repair` raised the server's `next`).
    pub(crate) fn drop_block(&self, task: &TaskName) {
        if let Some(block) = self.lock().get_mut(task.as_str()) {
            block.next = block.end;
            block.returned.clear();
        }
    }
}

/// Run keys this store has seen exist (a hint for the order of a write's steps).
#[derive(Debug, Default)]
pub(crate) struct KnownRuns(Mutex<HashSet<RunKey>>);

impl KnownRuns {
    pub(crate) fn contains(&self, key: &RunKey) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    pub(crate) fn insert(&self, key: RunKey) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= KNOWN_RUNS {
            known.clear();
        }
        known.insert(key);
    }
}
