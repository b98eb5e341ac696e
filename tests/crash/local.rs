//! LocalFileStore crash safety on the simulated disk, proven the way `sim.rs` and
//! `fault_injection.rs` prove the engine's: the shared deterministic workload (saves of new
//! and existing runs, a streamed write-open, overwrites, deletes, `delete_run`, run states,
//! `gc`) runs once to count its sync points; then for every sync point a fresh disk crashes
//! there — as a process crash, as power loss (unsynced writes kept, dropped or garbled, per
//! seed) and as power loss with that sync torn halfway — and a store reopened on what
//! survives must hold every acknowledged operation, the one in flight wholly or not at all,
//! nothing torn (every value loads and verifies; sweeps list no damaged run), and no
//! temporary left behind once the open and `gc` ran. The injected-fault loop fails the Nth
//! I/O operation instead (error, full disk, short write, failed sync; once or for good).
//!
//! Controls: every crash point is reached and interrupts an operation; power loss had
//! unsynced writes to lose; crashes left temporaries for the open and `gc` to remove; and
//! the same checker, given a bulk write whose syncs were skipped, does find lost saves.

use crate::workload as common;

use std::path::{Path, PathBuf};

use common::{
    Model, NAMES, Op, allowed, assert_allowed, config, crash_images, fault_passes, run_store_op,
    summary, workload,
};
use sweepstore::sim::{CrashMode, IoFault, SimDisk};
use sweepstore::{Error, LocalFileStore, Result, ResultName, ResultsStore, StoreExt, TaskName};

const BASE: &str = "/base";

fn run_op(store: &LocalFileStore, op: &Op) -> Result<()> {
    match op {
        Op::Gc => store.gc(false).map(|_| ()),
        // A LocalFileStore has no log to checkpoint.
        op => run_store_op(store, op),
    }
}

/// Every operation of the workload with its outcome; stops at the first failure when
/// `stop_at_error` (a crash: the process is gone).
fn run_all(disk: &SimDisk, stop_at_error: bool) -> Vec<(Op, bool)> {
    let Ok(store) = LocalFileStore::open_simulated(BASE, disk) else {
        return Vec::new();
    };
    let mut outcomes = Vec::new();
    for op in workload() {
        let ok = run_op(&store, &op).is_ok();
        outcomes.push((op, ok));
        if !ok && stop_at_error {
            break;
        }
    }
    outcomes
}

/// Reads back every (run, name) the workload can produce, and checks that a sweep over each
/// name lists no damaged run.
fn observe(store: &LocalFileStore) -> Result<Model> {
    let model = common::observe(store)?;
    let task = TaskName::new("t")?;
    for name in NAMES {
        for item in store.lazy_sweep(&task, &ResultName::new(name)?)? {
            item?.value.bytes()?;
        }
    }
    Ok(model)
}

/// Temporaries (`.sweepstore-*.tmp`) below the base directory, by path, with whether a
/// load-information file beside it names it as its `staged` content (then it *is* the
/// committed value, not a leftover).
fn temporaries(disk: &SimDisk, base: &str) -> Vec<(PathBuf, bool)> {
    let is_temp = |c: &std::ffi::OsStr| {
        c.to_str()
            .is_some_and(|c| c.starts_with(".sweepstore-") && c.ends_with(".tmp"))
    };
    let mut found = Vec::new();
    for path in disk.files_below(base) {
        let Some(temp) = path
            .ancestors()
            .find(|a| a.file_name().is_some_and(is_temp))
        else {
            continue;
        };
        let staged = temp == path && names_as_staged(disk, &path);
        if !found.iter().any(|(p, _)| p == temp) {
            found.push((temp.to_owned(), staged));
        }
    }
    found
}

fn names_as_staged(disk: &SimDisk, path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    disk.list_files(dir).iter().any(|info| {
        info.to_str()
            .is_some_and(|i| i.ends_with("_load_info.json"))
            && disk
                .read_file(info)
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .is_some_and(|v| v["staged"] == name)
    })
}

/// Whether run states agree: every acknowledged finish is there, and a run finished only if
/// acknowledged or by a failed operation.
fn states_agree(seen: &Model, outcomes: &[(Op, bool)], acked: &Model) -> bool {
    let may_finish = |run: &u8| {
        acked.finished.contains(run)
            || outcomes
                .iter()
                .any(|(op, ok)| !ok && matches!(op, Op::Finish(r) if r == run))
    };
    acked.finished.iter().all(|r| seen.finished.contains(r)) && seen.finished.iter().all(may_finish)
}

/// Reopens `image` and checks the invariants of the module docs; returns how many
/// temporaries the open and `gc` removed.
fn check_recovered(image: &SimDisk, outcomes: &[(Op, bool)], what: &str) -> Result<usize> {
    check_recovered_in(BASE, image, outcomes, what)
}

/// [`check_recovered`] for a store in `base`.
fn check_recovered_in(
    base: &str,
    image: &SimDisk,
    outcomes: &[(Op, bool)],
    what: &str,
) -> Result<usize> {
    let (acked, allowed) = allowed(outcomes.iter().map(|(op, ok)| (op, *ok)));
    let before = temporaries(image, base).iter().filter(|(_, s)| !s).count();
    let store = LocalFileStore::open_simulated(base, image)?;
    // The open removes what crashed writers left in the tasks' own temporary folders.
    for (path, _) in temporaries(image, base) {
        let in_stage = path
            .components()
            .any(|c| c.as_os_str() == "tmp" || c.as_os_str() == "trash");
        assert!(!in_stage, "{what}: the open left {}", path.display());
    }
    let seen = observe(&store).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_allowed(&seen, &allowed, what, || {
        format!(
            "\nrecovered: {:?}\nacknowledged: {:?}",
            summary(&seen),
            summary(&acked)
        )
    });
    assert!(
        states_agree(&seen, outcomes, &acked),
        "{what}: finished runs {:?}, acknowledged {:?}",
        seen.finished,
        acked.finished
    );
    store.gc(false)?;
    let left: Vec<_> = temporaries(image, base)
        .into_iter()
        .filter(|(_, s)| !s)
        .collect();
    assert!(left.is_empty(), "{what}: gc left {left:?}");
    // The recovered store keeps working, and reads the same after gc.
    assert_eq!(observe(&store)?, seen, "{what}: gc changed what loads");
    store
        .run("t", &config(9)?)?
        .save_bytes("after", "bytes", b"after")?;
    let again = LocalFileStore::open_simulated(base, image)?;
    assert_eq!(
        again.run("t", &config(9)?)?.load::<Vec<u8>>("after")?,
        Some(b"after".to_vec()),
        "{what}: a save after recovery was lost"
    );
    Ok(before)
}

fn total_sync_points() -> u64 {
    let disk = SimDisk::new();
    let outcomes = run_all(&disk, true);
    assert!(
        outcomes.len() == workload().len() && outcomes.iter().all(|(_, ok)| *ok),
        "the workload fails without a crash"
    );
    disk.sync_points()
}

#[test]
fn every_sync_point_survives_process_crash_power_loss_and_torn_sync() -> Result<()> {
    let total = total_sync_points();
    assert!(total > 40, "the workload has only {total} sync points");
    let (mut interrupted, mut with_unsynced, mut with_temps, mut checks) = (0, 0, 0, 0);
    for point in 1..=total {
        for torn in [false, true] {
            let disk = SimDisk::new();
            disk.crash_at_sync(point, torn);
            let outcomes = run_all(&disk, true);
            // Control: the crash happened, at this point, and failed an operation.
            assert!(disk.crashed(), "sync point {point} was never reached");
            interrupted += usize::from(outcomes.last().is_some_and(|(_, ok)| !ok));
            with_unsynced += usize::from(disk.unsynced_changes() > 0);
            for (mode, seed, image) in crash_images(&disk, torn) {
                let what =
                    format!("sync point {point}/{total}, torn {torn}, {mode:?}, seed {seed}");
                with_temps += usize::from(check_recovered(&image, &outcomes, &what)? > 0);
                checks += 1;
            }
        }
    }
    // Controls: the crashes interrupted operations, power loss had unsynced writes to lose,
    // and crashes left temporaries behind for the open and gc to remove.
    assert!(
        interrupted as u64 >= total,
        "only {interrupted} crashes interrupted an operation"
    );
    assert!(with_unsynced > 0, "no crash left unsynced writes behind");
    assert!(with_temps > 0, "no crash left a temporary behind");
    println!(
        "sync points: {total}; recoveries checked: {checks}; crashes that interrupted an \
         operation: {interrupted}; with unsynced writes: {with_unsynced}; recoveries that \
         removed temporaries: {with_temps}"
    );
    Ok(())
}

#[test]
fn an_io_fault_at_any_operation_never_acknowledges_lost_work() -> Result<()> {
    let clean = SimDisk::new();
    run_all(&clean, true);
    let (io_ops, sync_ops) = (clean.io_ops(), clean.sync_ops());
    let passes = fault_passes(io_ops, sync_ops);
    let (mut trials, mut struck) = (0, 0);
    for (kind, persistent, limit) in passes {
        for n in 1..=limit {
            let disk = SimDisk::new();
            disk.fail_io(n, kind, persistent);
            // The process lives on after a failed operation and keeps going.
            let outcomes = run_all(&disk, false);
            // Control: the fault struck.
            assert!(
                disk.faults_hit() > 0,
                "{kind:?} at operation {n} never struck"
            );
            struck += usize::from(outcomes.iter().any(|(_, ok)| !ok));
            for (mode, seed) in [(CrashMode::Process, 0), (CrashMode::PowerLoss, 1)] {
                let what = format!("{kind:?} at operation {n} (persistent {persistent}), {mode:?}");
                check_recovered(&disk.after_crash(mode, seed), &outcomes, &what)?;
            }
            trials += 1;
        }
    }
    // Control: faults failed operations (a fault may also strike only a best-effort step).
    assert!(
        struck * 2 > trials,
        "only {struck} of {trials} faults failed an operation"
    );
    println!(
        "I/O operations: {io_ops}; syncs: {sync_ops}; fault trials: {trials}; failed an operation: {struck}"
    );
    Ok(())
}

/// The control for the checker itself: saves acknowledged in bulk mode skip their syncs, so
/// power loss before `finish` must lose some of them — and the checker must notice.
#[test]
fn the_checker_catches_saves_whose_syncs_were_skipped() -> Result<()> {
    let (mut caught, mut trials) = (0, 0);
    // Bulk mode is per base directory and process-wide: this test has its own.
    const BULK_BASE: &str = "/bulk";
    for seed in 0..8 {
        let disk = SimDisk::new();
        let store = LocalFileStore::open_simulated(BULK_BASE, &disk)?;
        let bulk = store.begin_bulk()?;
        let outcomes: Vec<(Op, bool)> = workload()
            .into_iter()
            .map(|op| {
                let ok = run_op(&store, &op).is_ok();
                (op, ok)
            })
            .collect();
        assert!(
            outcomes.iter().all(|(_, ok)| *ok),
            "the bulk workload failed"
        );
        assert!(disk.unsynced_changes() > 0, "bulk mode synced everything");
        let image = disk.after_crash(CrashMode::PowerLoss, seed);
        drop(bulk);
        let result =
            std::panic::catch_unwind(|| check_recovered_in(BULK_BASE, &image, &outcomes, "bulk"));
        caught += usize::from(!matches!(result, Ok(Ok(_))));
        trials += 1;
    }
    assert!(
        caught > 0,
        "power loss lost no unsynced save in {trials} trials"
    );
    println!("bulk-mode power losses caught by the checker: {caught} of {trials}");
    Ok(())
}

/// A crash while the store's base directory is being created leaves a directory a store
/// opens on, and power loss after the first acknowledged save keeps it.
#[test]
fn power_loss_right_after_the_first_save_keeps_the_base_directory() -> Result<()> {
    let disk = SimDisk::new();
    let store = LocalFileStore::open_simulated("/deep/er/base", &disk)?;
    store
        .run("t", &config(0)?)?
        .save_bytes("m", "bytes", b"first")?;
    let image = disk.after_crash(CrashMode::PowerLoss, 3);
    let store = LocalFileStore::open_simulated("/deep/er/base", &image)?;
    assert_eq!(
        store.run("t", &config(0)?)?.load::<Vec<u8>>("m")?,
        Some(b"first".to_vec())
    );
    Ok(())
}

/// Concurrent savers share their directory syncs (`group.rs`); every save acknowledged to
/// any of them survives power loss.
#[test]
fn concurrent_savers_sharing_syncs_keep_every_acknowledged_save() -> Result<()> {
    const THREADS: u8 = 8;
    const RUNS: u8 = 6;
    let disk = SimDisk::new();
    let store = LocalFileStore::open_simulated(BASE, &disk)?;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = store.clone();
                scope.spawn(move || -> Result<()> {
                    for i in 0..RUNS {
                        let run = store.run("t", &config(t * RUNS + i)?)?;
                        run.save_bytes("metrics", "bytes", &[t, i])?;
                        run.save_bytes("weights", "bytes", &[i; 300])?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    // Control: power loss now has unsynced writes to lose (fluidml's unsynced copies).
    assert!(disk.unsynced_changes() > 0);
    for seed in 0..4 {
        let image = disk.after_crash(CrashMode::PowerLoss, seed);
        let store = LocalFileStore::open_simulated(BASE, &image)?;
        for t in 0..THREADS {
            for i in 0..RUNS {
                let run = store.run("t", &config(t * RUNS + i)?)?;
                assert_eq!(run.load::<Vec<u8>>("metrics")?, Some(vec![t, i]));
                assert_eq!(run.load::<Vec<u8>>("weights")?, Some(vec![i; 300]));
            }
        }
    }
    Ok(())
}

/// A failed fsync poisons the handle: later writes are refused (never built on state that
/// may not be durable), reads go on, and a reopened store works.
#[test]
fn a_failed_fsync_poisons_the_handle_until_it_is_reopened() -> Result<()> {
    let disk = SimDisk::new();
    let store = LocalFileStore::open_simulated(BASE, &disk)?;
    store
        .run("t", &config(0)?)?
        .save_bytes("m", "bytes", b"0")?;
    disk.fail_io(1, IoFault::SyncError, false);
    let failed = store.run("t", &config(1)?)?.save_bytes("m", "bytes", b"1");
    // Control: the injected failure struck this save.
    assert_eq!(disk.faults_hit(), 1);
    assert!(failed.is_err(), "{failed:?}");
    // Syncs work again, but the handle never retries: later writes are refused.
    let later = store.run("t", &config(2)?)?.save_bytes("m", "bytes", b"2");
    assert!(matches!(later, Err(Error::Poisoned { .. })), "{later:?}");
    let finish = store.run("t", &config(0)?)?.finish();
    assert!(matches!(finish, Err(Error::Poisoned { .. })), "{finish:?}");
    assert_eq!(
        store.run("t", &config(0)?)?.load::<Vec<u8>>("m")?,
        Some(b"0".to_vec())
    );
    let reopened = LocalFileStore::open_simulated(BASE, &disk)?;
    reopened
        .run("t", &config(2)?)?
        .save_bytes("m", "bytes", b"2")?;
    Ok(())
}

/// The task's `next` counter is written unsynced, but `delete_run` makes it durable first:
/// after power loss a new run never gets the counter of a deleted one (L3).
#[test]
fn power_loss_after_delete_run_never_reuses_its_counter() -> Result<()> {
    let next = format!("{BASE}/t/.sweepstore/next");
    let mut lost_before_delete = 0;
    for seed in 0..8 {
        let disk = SimDisk::new();
        let store = LocalFileStore::open_simulated(BASE, &disk)?;
        for run in 0..3 {
            store
                .run("t", &config(run)?)?
                .save_bytes("m", "bytes", &[run])?;
        }
        // Control: without delete_run's sync, power loss may lose the newest `next`.
        let image = disk.after_crash(CrashMode::PowerLoss, seed);
        lost_before_delete += usize::from(image.read_file(&next) != Some(b"3\n".to_vec()));
        assert!(store.run("t", &config(2)?)?.delete_run()?);
        let image = disk.after_crash(CrashMode::PowerLoss, seed);
        let store = LocalFileStore::open_simulated(BASE, &image)?;
        store
            .run("t", &config(7)?)?
            .save_bytes("m", "bytes", b"new")?;
        assert!(
            image
                .read_file(format!("{BASE}/t/003/config.json"))
                .is_some(),
            "seed {seed}: the new run did not get counter 003: {:?}",
            image.files_below(format!("{BASE}/t"))
        );
        assert!(
            image
                .read_file(format!("{BASE}/t/002/config.json"))
                .is_none()
        );
    }
    assert!(
        lost_before_delete > 0,
        "power loss never lost an unsynced `next`"
    );
    Ok(())
}
