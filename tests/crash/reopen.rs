//! What a reopen skips, on the simulated disk (`docs/design.md` §10.5): a clean reopen
//! continues the newest WAL segment and checkpoints nothing, and a recovery that replayed
//! records leaves them in the log until the actor's first checkpoint. Both must keep every
//! acknowledged save through a later power loss.
//!
//! Controls: a reopen under the other durability mode does start a new segment (so the
//! comparison of the log's files can fail), a recovery did replay (the log still holds the segment
//! after it), and closing the recovered store does checkpoint (the old segment goes).

use std::path::PathBuf;

use crate::workload::{ROOT, config};
use sweepstore::sim::{CrashMode, SimDisk};
use sweepstore::{Durability, RedbOptions, RedbStore, Result, StoreExt};

fn wal_files(disk: &SimDisk) -> Vec<PathBuf> {
    disk.list_files(format!("{ROOT}/wal"))
}

fn save(store: &RedbStore, run: u8, value: &[u8]) -> Result<()> {
    store
        .run("t", &config(run)?)?
        .save_bytes("m", "bytes", value)
}

fn load(store: &RedbStore, run: u8) -> Result<Option<Vec<u8>>> {
    store.run("t", &config(run)?)?.load::<Vec<u8>>("m")
}

/// Power loss now (three ways of losing unsynced writes) keeps every `(run, value)` saved.
fn survives_power_loss(disk: &SimDisk, saved: &[(u8, &[u8])]) -> Result<()> {
    for seed in 0..3 {
        let image = disk.after_crash(CrashMode::PowerLoss, seed);
        let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &image)?;
        for &(run, value) in saved {
            assert_eq!(load(&store, run)?, Some(value.to_vec()), "seed {seed}");
        }
    }
    Ok(())
}

#[test]
fn a_clean_reopen_continues_the_newest_segment_and_keeps_saves_through_power_loss() -> Result<()> {
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    save(&store, 0, b"before")?;
    store.close()?;
    let segments = wal_files(&disk);
    assert_eq!(segments.len(), 1, "{segments:?}");
    let head = disk.read_file(&segments[0]);

    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    assert_eq!(load(&store, 0)?, Some(b"before".to_vec()));
    assert_eq!(
        wal_files(&disk),
        segments,
        "a clean reopen started a segment"
    );
    assert_eq!(
        disk.read_file(&segments[0]),
        head,
        "a clean reopen wrote to the log"
    );
    // The next save goes into the continued segment and is durable when acknowledged.
    save(&store, 1, b"after")?;
    assert_eq!(wal_files(&disk), segments);
    let grown = disk.read_file(&segments[0]).map_or(0, |b| b.len());
    assert!(
        grown > head.map_or(0, |b| b.len()),
        "the save did not reach the segment"
    );
    survives_power_loss(&disk, &[(0, b"before"), (1, b"after")])?;
    store.close()?;

    // Control: a segment written under `Immediate` is not continued under `Relaxed`; the
    // new one (the same name: it holds no record yet) has another header.
    let before = wal_files(&disk);
    let bytes = before.iter().map(|s| disk.read_file(s)).collect::<Vec<_>>();
    let relaxed = RedbOptions::default().durability(Durability::Relaxed {
        sync_interval: std::time::Duration::from_millis(10),
    });
    let store = RedbStore::open_simulated(ROOT, relaxed, &disk)?;
    let now = wal_files(&disk)
        .iter()
        .map(|s| disk.read_file(s))
        .collect::<Vec<_>>();
    assert_ne!(now, bytes, "the control saw no new segment");
    assert_eq!(load(&store, 1)?, Some(b"after".to_vec()));
    Ok(())
}

#[test]
fn records_replayed_without_a_checkpoint_survive_power_loss_until_the_first_checkpoint()
-> Result<()> {
    let disk = SimDisk::new();
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk)?;
    save(&store, 0, b"checkpointed")?;
    store.checkpoint()?;
    save(&store, 1, b"only in the log")?;
    // A process crash: the store never closes, so its last save is only in the WAL.
    let crashed = disk.after_crash(CrashMode::Process, 0);
    drop(store);
    let segments = wal_files(&crashed);

    let recovered = RedbStore::open_simulated(ROOT, RedbOptions::default(), &crashed)?;
    assert_eq!(load(&recovered, 1)?, Some(b"only in the log".to_vec()));
    // Control: the replayed record is still in the log (no checkpoint trimmed it).
    assert_eq!(wal_files(&crashed), segments, "recovery checkpointed");
    survives_power_loss(&crashed, &[(0, b"checkpointed"), (1, b"only in the log")])?;
    // Closing checkpoints what recovery applied: the replayed segment is then removed.
    recovered.close()?;
    let after = wal_files(&crashed);
    assert!(
        segments.iter().all(|s| !after.contains(s)),
        "closing did not checkpoint: {after:?}"
    );
    let reopened = RedbStore::open_simulated(ROOT, RedbOptions::default(), &crashed)?;
    assert_eq!(load(&reopened, 1)?, Some(b"only in the log".to_vec()));
    Ok(())
}
