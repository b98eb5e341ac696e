//! Simulated power loss at every sync point (the model of SQLite's crash VFS and redb's
//! crash-consistency tests), on the `sim` feature's simulated disk.
//!
//! A deterministic workload runs once to count its sync points (WAL, blob, directory and
//! database-file syncs). Then, for every sync point, a fresh disk crashes there — as a
//! process crash, as power loss (unsynced writes kept, dropped or garbled, per seed) and as
//! power loss with that sync torn halfway — and the store is reopened with the real recovery
//! code and compared with an oracle: every acknowledged operation is there, the one operation
//! in flight is wholly there or wholly absent, nothing else. A second crash during recovery is
//! tested too. Controls: every crash point is reached and interrupts the workload, and power
//! loss has unsynced writes to lose.

use crate::workload as common;

use common::{ROOT, check_recovered, config, crash_images, run_workload};
use sweepstore::sim::{CrashMode, SimDisk};
use sweepstore::{RedbOptions, RedbStore, Result, StoreExt};

fn total_sync_points() -> u64 {
    let disk = SimDisk::new();
    let outcome = run_workload(&disk);
    assert!(
        outcome.in_flight.is_none(),
        "the workload fails without a crash"
    );
    disk.sync_points()
}

#[test]
fn every_sync_point_survives_process_crash_power_loss_and_torn_sync() -> Result<()> {
    let total = total_sync_points();
    assert!(total > 20, "the workload has only {total} sync points");
    let (mut interrupted, mut with_unsynced, mut checks) = (0, 0, 0);
    for point in 1..=total {
        for torn in [false, true] {
            let disk = SimDisk::new();
            disk.crash_at_sync(point, torn);
            let outcome = run_workload(&disk);
            // Control: the crash happened, at this point.
            assert!(disk.crashed(), "sync point {point} was never reached");
            interrupted += usize::from(outcome.in_flight.is_some());
            with_unsynced += usize::from(disk.unsynced_changes() > 0);
            for (mode, seed, image) in crash_images(&disk, torn) {
                let what =
                    format!("sync point {point}/{total}, torn {torn}, {mode:?}, seed {seed}");
                check_recovered(&image, &outcome, &what)?;
                checks += 1;
            }
        }
    }
    // Controls: crashes interrupted operations, and power loss had unsynced writes to lose.
    assert!(
        interrupted as u64 > total,
        "only {interrupted} crashes interrupted an operation"
    );
    assert!(with_unsynced > 0, "no crash left unsynced writes behind");
    println!(
        "sync points: {total}; crash trials: {}; recoveries checked: {checks}; \
         crashes that interrupted an operation: {interrupted}; with unsynced writes: {with_unsynced}",
        total * 2
    );
    Ok(())
}

#[test]
fn a_second_crash_during_recovery_loses_nothing() -> Result<()> {
    let total = total_sync_points();
    let mut checks = 0;
    for point in (1..=total).step_by(3) {
        let disk = SimDisk::new();
        disk.crash_at_sync(point, false);
        let outcome = run_workload(&disk);
        let image = disk.after_crash(CrashMode::PowerLoss, point);
        // Count the sync points of recovery itself, then crash at each of them.
        let probe = image.after_crash(CrashMode::Process, 0);
        let before = probe.sync_points();
        drop(RedbStore::open_simulated(
            ROOT,
            RedbOptions::default(),
            &probe,
        )?);
        let recovery_syncs = probe.sync_points() - before;
        assert!(recovery_syncs > 0, "recovery passed no sync point");
        for second in 1..=recovery_syncs {
            let again = image.after_crash(CrashMode::Process, 0);
            again.crash_at_sync(again.sync_points() + second, false);
            let reopened = RedbStore::open_simulated(ROOT, RedbOptions::default(), &again);
            drop(reopened);
            // Control: the second crash happened inside recovery.
            assert!(
                again.crashed(),
                "recovery sync point {second} was never reached"
            );
            for seed in 0..2 {
                let what = format!("crash at {point}, then at recovery sync {second}, seed {seed}");
                eprintln!("TRIAL {what} pending={}", again.unsynced_changes());
                check_recovered(
                    &again.after_crash(CrashMode::PowerLoss, seed),
                    &outcome,
                    &what,
                )?;
                checks += 1;
            }
        }
    }
    println!("double-crash recoveries checked: {checks}");
    Ok(())
}

/// Regression: a crash during the very first open left `wal/`, `blobs/` and `tmp/` but no
/// `store.redb`, and the next open refused the directory as "not a store" (or found a redb
/// file without its header).
#[test]
fn regression_a_crash_while_creating_a_store_leaves_it_openable() -> Result<()> {
    let probe = SimDisk::new();
    let opened = RedbStore::open_simulated(ROOT, RedbOptions::default(), &probe)?;
    let creation_syncs = probe.sync_points();
    drop(opened);
    for point in 1..=creation_syncs {
        for mode in [CrashMode::Process, CrashMode::PowerLoss] {
            let disk = SimDisk::new();
            disk.crash_at_sync(point, false);
            let failed = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk);
            assert!(
                failed.is_err(),
                "the crash at {point} did not interrupt the open"
            );
            let store = RedbStore::open_simulated(
                ROOT,
                RedbOptions::default(),
                &disk.after_crash(mode, 1),
            )?;
            store
                .run("t", &config(0)?)?
                .save_bytes("m", "bytes", b"works")?;
        }
    }
    Ok(())
}

/// Regression: `store.redb`'s directory entry was never synced, so power loss after a
/// checkpoint could drop the whole database file while the trimmed WAL survived.
#[test]
fn regression_power_loss_after_a_checkpoint_keeps_the_database_file() -> Result<()> {
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    for (run, value) in [(0, b"acknowledged"), (1, b"second-value")] {
        store
            .run("t", &config(run)?)?
            .save_bytes("m", "bytes", value)?;
        // The second checkpoint makes the first one's WAL trimming durable, so the log
        // alone can no longer restore the first value.
        store.checkpoint()?;
    }
    let image = disk.after_crash(CrashMode::PowerLoss, 7);
    drop(store);
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &image)?;
    for (run, value) in [(0, b"acknowledged"), (1, b"second-value")] {
        assert_eq!(
            store.run("t", &config(run)?)?.load::<Vec<u8>>("m")?,
            Some(value.to_vec())
        );
    }
    Ok(())
}
