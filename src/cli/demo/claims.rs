//! How the demo's workers — threads of one demo, worker processes of `--processes`, or the
//! workers of several demos on one store — split the grid: each run is claimed
//! (`ResultsStore::claim_run`) before it is trained, so no two of them train a config at the
//! same time, and a finished run is never trained again.
//!
//! Protocol: a worker takes the next grid point from its [`Queue`] and claims it under its
//! process's owner name for [`LEASE`]: claimed → train, save, finish (which releases the
//! claim); finished → nothing to do; taken by another owner → back to the end of the queue,
//! tried again after [`RETRY_TAKEN`] (so a sweep ends only when every run of the grid is
//! finished, by it or by someone else — or when the lease of a dead owner ran out and it
//! trained the run itself). The queue empties when every point is finished.
//!
//! Invariants: a worker checks `stop` before each claim, never mid-run, so a stopped demo
//! leaves no claim behind (an interrupted run would hold its claim until the lease ends);
//! the lease is far longer than one run takes, so a live owner's claim never lapses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sweepstore::{ClaimOutcome, Error, ResultsStore, RunKey, StoreExt};

use super::learn::{Dataset, Metrics};
use super::train::{Job, TASK, train_one};

/// How long a claim holds without its owner finishing the run: one run trains in
/// milliseconds, so this is only how long the runs of a killed demo wait for another one.
pub const LEASE: Duration = Duration::from_secs(10);

/// How long a run claimed by someone else waits before it is tried again.
const RETRY_TAKEN: Duration = Duration::from_millis(100);

/// This process's owner name in claims.
pub fn owner() -> String {
    format!("sweepstore-demo:{}", std::process::id())
}

/// Grid points still to be dealt with (by index into the grid), each with the earliest
/// moment it may be tried.
pub struct Queue {
    points: Mutex<VecDeque<(usize, Instant)>>,
}

impl Queue {
    /// A queue of grid points `indices`.
    pub fn new(indices: impl IntoIterator<Item = usize>) -> Self {
        let now = Instant::now();
        Queue {
            points: Mutex::new(indices.into_iter().map(|i| (i, now)).collect()),
        }
    }

    /// The next point, waiting until it may be tried; `None` once the queue is empty.
    fn next(&self) -> Option<usize> {
        let (index, ready) = self
            .points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()?;
        let now = Instant::now();
        if ready > now {
            std::thread::sleep(ready - now);
        }
        Some(index)
    }

    fn retry_later(&self, index: usize) {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((index, Instant::now() + RETRY_TAKEN));
    }
}

/// One worker: claims and trains grid points from `queue` until it is empty or `stop` is
/// set, calling `trained` after each run it finished.
///
/// # Errors
/// The first store error, or the first error of `trained`.
pub fn work(
    store: &(impl ResultsStore + ?Sized),
    data: &Dataset,
    jobs: &[Job],
    queue: &Queue,
    stop: &AtomicBool,
    trained: &mut dyn FnMut(usize, RunKey, Metrics) -> Result<(), Error>,
) -> Result<(), Error> {
    let owner = owner();
    while !stop.load(Ordering::Relaxed) {
        let Some(index) = queue.next() else {
            return Ok(());
        };
        let job = jobs.get(index).ok_or_else(|| Error::NotFound {
            what: format!("grid point {index}"),
        })?;
        match store.run(TASK, &job.config)?.claim(&owner, LEASE)? {
            ClaimOutcome::Claimed => {
                let (key, metrics) = train_one(store, data, job)?;
                trained(index, key, metrics)?;
            }
            ClaimOutcome::Taken { .. } => queue.retry_later(index),
            // Finished (by another sweep), or an outcome a newer store knows: not ours.
            _ => {}
        }
    }
    Ok(())
}
