//! Grouped directory fsyncs (a group commit for directories): concurrent savers of a
//! [`LocalFileStore`](super::LocalFileStore) handle that need the same directory synced — the
//! task directory after a claim, the key-file directory, a run's `.fluidml/` — share one
//! fsync instead of queueing one each.
//!
//! Per directory, callers take increasing tickets. The first caller that finds no fsync of
//! the directory running becomes its syncer: it notes the highest ticket taken so far, runs
//! one fsync, and acknowledges every ticket up to the noted one; callers that arrived during
//! its fsync wait, and the next of them syncs for all of those. File fsyncs are not grouped:
//! each file needs its own, and concurrent ones already share the file system's journal
//! commit.
//!
//! Invariants: a ticket is acknowledged only by an fsync that *started* after the ticket was
//! taken, so it covers every change its caller made before asking; a failed fsync fails
//! every ticket it was to cover and is not retried (the store is poisoned, `poison.rs`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The fsync state of one directory.
#[derive(Debug, Default)]
struct Dir {
    /// The last ticket taken.
    taken: u64,
    /// Every ticket up to this one is synced.
    synced: u64,
    /// Tickets up to this one failed, with the error.
    failed: Option<(u64, io::ErrorKind, String)>,
    /// Whether a caller is running an fsync now.
    running: bool,
    /// Callers inside [`DirSyncs::sync`] for this directory.
    users: u64,
}

/// The directory fsyncs of one store handle.
#[derive(Debug, Default)]
pub(crate) struct DirSyncs {
    dirs: Mutex<HashMap<PathBuf, Dir>>,
    done: Condvar,
}

impl DirSyncs {
    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Dir>> {
        // Every update is a few field writes under the lock: nothing half-done to see.
        self.dirs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `dir`'s entries durable as of this call, by `fsync` (the directory's real sync),
    /// sharing it with concurrent callers for the same directory.
    pub(crate) fn sync(
        &self,
        dir: &Path,
        fsync: impl Fn(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut dirs = self.lock();
        let state = dirs.entry(dir.to_owned()).or_default();
        state.taken += 1;
        state.users += 1;
        let ticket = state.taken;
        let result = loop {
            let state = dirs.entry(dir.to_owned()).or_default();
            if let Some((upto, kind, message)) = &state.failed
                && ticket <= *upto
            {
                break Err(io::Error::new(*kind, message.clone()));
            }
            if state.synced >= ticket {
                break Ok(());
            }
            if !state.running {
                state.running = true;
                let upto = state.taken;
                drop(dirs);
                let result = fsync(dir);
                dirs = self.lock();
                let state = dirs.entry(dir.to_owned()).or_default();
                state.running = false;
                match &result {
                    Ok(()) => state.synced = state.synced.max(upto),
                    Err(e) => state.failed = Some((upto, e.kind(), e.to_string())),
                }
                self.done.notify_all();
                break result;
            }
            dirs = self.done.wait(dirs).unwrap_or_else(PoisonError::into_inner);
        };
        // The last caller out forgets the directory: no ticket of it is pending.
        let state = dirs.entry(dir.to_owned()).or_default();
        state.users -= 1;
        if state.users == 0 {
            dirs.remove(dir);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn concurrent_callers_share_fsyncs_and_each_is_covered() {
        let syncs = Arc::new(DirSyncs::default());
        let count = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (syncs, count) = (syncs.clone(), count.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        syncs
                            .sync(Path::new("/d"), |_| {
                                count.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(2));
                                Ok(())
                            })
                            .map_err(|e| e.to_string())?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().ok(), Some(Ok(())));
        }
        let fsyncs = count.load(Ordering::SeqCst);
        // 320 requests; a shared fsync serves every caller waiting when it starts.
        assert!(
            (1..320).contains(&fsyncs),
            "{fsyncs} fsyncs for 320 requests"
        );
        // Control: a lone caller always gets an fsync of its own.
        let before = count.load(Ordering::SeqCst);
        syncs
            .sync(Path::new("/d"), |_| {
                count.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .ok();
        assert_eq!(count.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn a_failed_fsync_fails_its_tickets_and_is_not_retried_for_them() {
        let syncs = DirSyncs::default();
        let failed = syncs.sync(Path::new("/d"), |_| Err(io::Error::other("EIO")));
        assert!(failed.is_err());
        // A later ticket gets its own attempt (the store is poisoned by then anyway).
        let calls = AtomicU64::new(0);
        let later = syncs.sync(Path::new("/d"), |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        assert!(later.is_ok() && calls.load(Ordering::SeqCst) == 1);
    }
}
