//! SQLite-style fault-simulation loop and group-commit fault isolation, on the simulated disk.
//!
//! For N = 1, 2, … until the workload runs without a fault, the N-th I/O operation fails once
//! (and, in a second pass, persistently) as an I/O error, a full disk, a short write or a
//! failed sync. Whatever happens: no caller gets `Ok` for work that is not durable (checked
//! by reopening after simulated power loss), once the store reports `Poisoned` it refuses
//! everything after, and the reopened store holds every acknowledged operation and, per key,
//! nothing but an acknowledged or a failed-and-unknown value.

use crate::workload as common;

use std::sync::Mutex;

use common::{Op, ROOT, allowed, assert_allowed, config, fault_passes, observe, run_op, workload};
use sweepstore::sim::{CrashMode, IoFault, SimDisk};
use sweepstore::{Error, RedbOptions, RedbStore, Result, StoreExt};

/// Every operation's outcome, in order.
type Outcomes = Vec<(Op, std::result::Result<(), String>, bool)>;

/// Runs the whole workload, recording each result (`true` = a `Poisoned` error).
fn run_all(disk: &SimDisk) -> Outcomes {
    let Ok(store) = RedbStore::open_simulated(ROOT, RedbOptions::default(), disk) else {
        return Vec::new();
    };
    let outcomes = workload()
        .into_iter()
        .map(|op| {
            let result = run_op(&store, &op);
            let poisoned = matches!(result, Err(Error::Poisoned { .. }));
            (op, result.map_err(|e| e.to_string()), poisoned)
        })
        .collect();
    // Close may fail too; its work is covered by the oracle like any other.
    let _ = store.close();
    outcomes
}

fn check(disk: &SimDisk, outcomes: &Outcomes, what: &str) -> Result<()> {
    // Once poisoned, always refused.
    if let Some(first) = outcomes.iter().position(|(_, _, poisoned)| *poisoned) {
        let later_ok = outcomes[first..]
            .iter()
            .any(|(_, result, _)| result.is_ok());
        assert!(
            !later_ok,
            "{what}: an operation succeeded after the store was poisoned"
        );
    }
    let (_, allowed) = allowed(outcomes.iter().map(|(op, result, _)| (op, result.is_ok())));
    for (mode, seed) in [
        (CrashMode::Process, 0),
        (CrashMode::PowerLoss, 1),
        (CrashMode::PowerLoss, 2),
    ] {
        let image = disk.after_crash(mode, seed);
        let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &image)?;
        let seen = observe(&store)?;
        assert_allowed(
            &seen,
            &allowed,
            &format!("{what}, {mode:?} seed {seed}"),
            String::new,
        );
        store
            .run("t", &config(9)?)?
            .save_bytes("after", "bytes", b"after")?;
        store.close()?;
    }
    Ok(())
}

fn clean_run_counts() -> (u64, u64) {
    let disk = SimDisk::new();
    let outcomes = run_all(&disk);
    assert!(
        outcomes.iter().all(|(_, r, _)| r.is_ok()) && !outcomes.is_empty(),
        "the workload fails without faults"
    );
    (disk.io_ops(), disk.sync_ops())
}

#[test]
fn an_io_fault_at_any_operation_never_acknowledges_lost_work() -> Result<()> {
    let (io_ops, sync_ops) = clean_run_counts();
    let mut trials = 0;
    let mut hit = 0;
    let passes = fault_passes(io_ops, sync_ops);
    for (kind, persistent, limit) in passes {
        for n in 1..=limit + 1 {
            let disk = SimDisk::new();
            disk.fail_io(n, kind, persistent);
            let outcomes = run_all(&disk);
            hit += usize::from(disk.faults_hit() > 0);
            let what = format!("{kind:?} at operation {n} (persistent: {persistent})");
            check(&disk, &outcomes, &what)?;
            trials += 1;
        }
    }
    // Control: the faults really struck (all but the one-past-the-end trial of each pass).
    assert!(
        hit + passes.len() >= trials,
        "only {hit} of {trials} injected faults struck"
    );
    println!(
        "I/O operations: {io_ops}; sync operations: {sync_ops}; fault trials: {trials}; faults that struck: {hit}"
    );
    Ok(())
}

#[test]
fn a_failed_batch_sync_fails_exactly_its_callers_and_later_ones() -> Result<()> {
    const THREADS: u8 = 32;
    const PER_THREAD: u8 = 20;
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    // Fail the WAL sync of the 5th group commit from now (inline saves sync nothing else).
    disk.fail_io(5, IoFault::SyncError, false);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (store, results) = (&store, &results);
            scope.spawn(move || {
                for i in 0..PER_THREAD {
                    let outcome = config(t).and_then(|c| {
                        store
                            .run("group", &c)?
                            .save_bytes(&format!("v{i}"), "bytes", &[t, i])
                    });
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((t, i, outcome.is_ok()));
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(
        disk.faults_hit(),
        1,
        "the injected sync failure did not strike once"
    );
    let acked: Vec<_> = results.iter().filter(|r| r.2).collect();
    let failed = results.len() - acked.len();
    // Controls: earlier batches succeeded, the failing one (and all later ones) did not.
    assert!(
        !acked.is_empty() && failed > 0,
        "acked {}, failed {failed}",
        acked.len()
    );
    for t in 0..THREADS {
        let mine: Vec<bool> = results.iter().filter(|r| r.0 == t).map(|r| r.2).collect();
        let first_err = mine.iter().position(|ok| !ok).unwrap_or(mine.len());
        assert!(
            mine[first_err..].iter().all(|ok| !ok),
            "thread {t} succeeded after a failure: {mine:?}"
        );
    }
    drop(store);
    let image = disk.after_crash(CrashMode::Process, 0);
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &image)?;
    for (t, i, ok) in &results {
        let got = store
            .run("group", &config(*t)?)?
            .load::<Vec<u8>>(&format!("v{i}"))?;
        let expected = ok.then(|| vec![*t, *i]);
        assert_eq!(got, expected, "thread {t} save {i} (acknowledged: {ok})");
    }
    println!("saves acknowledged: {}; failed: {failed}", acked.len());
    Ok(())
}

#[test]
fn a_failed_fsync_poisons_the_store_until_it_is_reopened() -> Result<()> {
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    store
        .run("t", &config(0)?)?
        .save_bytes("m", "bytes", b"0")?;
    disk.fail_io(1, IoFault::SyncError, false);
    let failed = store.run("t", &config(1)?)?.save_bytes("m", "bytes", b"1");
    // Control: the injected failure struck this save's WAL sync.
    assert_eq!(disk.faults_hit(), 1);
    assert!(
        matches!(&failed, Err(Error::Poisoned { cause }) if cause.contains("injected")),
        "{failed:?}"
    );
    // Syncs work again, but a poisoned store never retries: later writes are refused.
    let later = store.run("t", &config(2)?)?.save_bytes("m", "bytes", b"2");
    assert!(matches!(later, Err(Error::Poisoned { .. })), "{later:?}");
    assert!(matches!(store.checkpoint(), Err(Error::Poisoned { .. })));
    // Reads still answer from what was committed.
    assert_eq!(
        store.run("t", &config(0)?)?.load::<Vec<u8>>("m")?,
        Some(b"0".to_vec())
    );
    drop(store);
    let store = RedbStore::open_simulated(
        ROOT,
        RedbOptions::default(),
        &disk.after_crash(CrashMode::Process, 0),
    )?;
    assert_eq!(
        store.run("t", &config(0)?)?.load::<Vec<u8>>("m")?,
        Some(b"0".to_vec())
    );
    assert_eq!(store.run("t", &config(1)?)?.load::<Vec<u8>>("m")?, None);
    store
        .run("t", &config(3)?)?
        .save_bytes("m", "bytes", b"3")?;
    Ok(())
}
