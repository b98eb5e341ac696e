//! The deterministic workload, its oracle model and the recovery check shared by the
//! simulated-disk suites (`sim.rs`, `fault_injection.rs`).

// Each suite uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::json;
use sweepstore::sim::{CrashMode, IoFault, SimDisk};
use sweepstore::{RedbOptions, RedbStore, Result, ResultsStore, RunState, StoreExt, UniqueConfig};

pub const ROOT: &str = "/store";

/// One step of the workload.
#[derive(Debug, Clone)]
pub enum Op {
    Save(u8, &'static str, Vec<u8>),
    Stream(u8, &'static str, Vec<u8>),
    Delete(u8, &'static str),
    DeleteRun(u8),
    Finish(u8),
    Checkpoint,
    Gc,
}

pub fn config(run: u8) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "run": run }))?)
}

pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

pub fn workload() -> Vec<Op> {
    vec![
        Op::Save(0, "metrics", bytes(1, 100)),
        Op::Save(1, "weights", bytes(2, 100 * 1024)),
        Op::Save(0, "log", bytes(3, 300)),
        Op::Finish(0),
        Op::Save(1, "weights", bytes(4, 90 * 1024)),
        Op::Delete(0, "log"),
        Op::Checkpoint,
        Op::Save(2, "metrics", bytes(5, 2000)),
        Op::Stream(2, "trace", bytes(6, 150 * 1024)),
        Op::DeleteRun(1),
        Op::Gc,
        Op::Save(3, "metrics", bytes(7, 10)),
        Op::Save(0, "metrics", bytes(8, 100)),
        Op::Finish(3),
    ]
}

/// The state a sequence of operations leaves: (run, name) → value, and finished runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub values: BTreeMap<(u8, String), Vec<u8>>,
    pub finished: Vec<u8>,
}

impl Model {
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Save(run, name, value) | Op::Stream(run, name, value) => {
                self.values
                    .insert((*run, (*name).to_owned()), value.clone());
            }
            Op::Delete(run, name) => {
                self.values.remove(&(*run, (*name).to_owned()));
            }
            Op::DeleteRun(run) => {
                self.values.retain(|(r, _), _| r != run);
                self.finished.retain(|r| r != run);
            }
            Op::Finish(run) => {
                if !self.finished.contains(run) {
                    self.finished.push(*run);
                    self.finished.sort_unstable();
                }
            }
            Op::Checkpoint | Op::Gc => {}
        }
    }
}

pub fn run_op(store: &RedbStore, op: &Op) -> Result<()> {
    match op {
        Op::Checkpoint => store.checkpoint(),
        Op::Gc => store.gc(false).map(|_| ()),
        op => run_store_op(store, op),
    }
}

/// Runs `op` on any store; the maintenance operations (`Checkpoint`, `Gc`) are the caller's
/// and do nothing here.
pub fn run_store_op(store: &impl ResultsStore, op: &Op) -> Result<()> {
    match op {
        Op::Save(run, name, value) => store
            .run("t", &config(*run)?)?
            .save_bytes(name, "bytes", value),
        Op::Stream(run, name, value) => {
            let mut file = store
                .run("t", &config(*run)?)?
                .open(name, "wb", Some("bytes"))?;
            std::io::Write::write_all(&mut file, value).map_err(|source| {
                sweepstore::Error::Stream {
                    op: "stream",
                    source,
                }
            })?;
            file.close()
        }
        Op::Delete(run, name) => store.run("t", &config(*run)?)?.delete(name).map(|_| ()),
        Op::DeleteRun(run) => store.run("t", &config(*run)?)?.delete_run().map(|_| ()),
        Op::Finish(run) => store.run("t", &config(*run)?)?.finish(),
        Op::Checkpoint | Op::Gc => Ok(()),
    }
}

/// The passes of the injected-fault loops: (fault, persistent, how many operations it can
/// strike) for a workload of `io_ops` I/O operations of which `sync_ops` are syncs.
pub fn fault_passes(io_ops: u64, sync_ops: u64) -> [(IoFault, bool, u64); 6] {
    [
        (IoFault::Error, false, io_ops),
        (IoFault::Error, true, io_ops),
        (IoFault::NoSpace, false, io_ops),
        (IoFault::ShortWrite, false, io_ops),
        (IoFault::SyncError, false, sync_ops),
        (IoFault::SyncError, true, sync_ops),
    ]
}

/// The disks a crash of `disk` (at a sync point, `torn` or not) can leave, by mode and seed:
/// power loss with three seeds, and for an untorn sync a process crash too (a process crash
/// tears no sync).
pub fn crash_images(disk: &SimDisk, torn: bool) -> Vec<(CrashMode, u64, SimDisk)> {
    let modes: &[CrashMode] = if torn {
        &[CrashMode::PowerLoss]
    } else {
        &[CrashMode::Process, CrashMode::PowerLoss]
    };
    modes
        .iter()
        .flat_map(|&mode| (0..3).map(move |seed| (mode, seed, disk.after_crash(mode, seed))))
        .collect()
}

/// The result names the workload uses.
pub const NAMES: [&str; 4] = ["metrics", "weights", "log", "trace"];

/// What an operation would set a key to (`None`: absent).
type Effect = ((u8, String), Option<Vec<u8>>);

/// Per key, the values a recovered store may hold.
pub type Allowed = BTreeMap<(u8, String), Vec<Option<Vec<u8>>>>;

/// Asserts that every key of `seen` holds one of the values `allowed` gives it; a failure
/// names `what`, the lengths involved and what `detail` adds.
pub fn assert_allowed(seen: &Model, allowed: &Allowed, what: &str, detail: impl Fn() -> String) {
    for (key, values) in allowed {
        let got = seen.values.get(key).cloned();
        assert!(
            values.contains(&got),
            "{what}: {key:?} holds {:?} bytes, allowed {:?}{}",
            got.as_ref().map(Vec::len),
            values
                .iter()
                .map(|v| v.as_ref().map(Vec::len))
                .collect::<Vec<_>>(),
            detail(),
        );
    }
}

/// From each operation and whether it was acknowledged: the acknowledged state, and per
/// key the values a recovered store may hold — the acknowledged one, or the effect of an
/// operation on that key that failed after the last acknowledged one.
pub fn allowed<'a>(outcomes: impl IntoIterator<Item = (&'a Op, bool)>) -> (Model, Allowed) {
    let mut acked = Model::default();
    let mut failed_after = Allowed::new();
    for (op, ok) in outcomes {
        let touched: Vec<Effect> = match op {
            Op::Save(run, name, value) | Op::Stream(run, name, value) => {
                vec![((*run, (*name).to_owned()), Some(value.clone()))]
            }
            Op::Delete(run, name) => vec![((*run, (*name).to_owned()), None)],
            Op::DeleteRun(run) => NAMES
                .iter()
                .map(|n| ((*run, (*n).to_owned()), None))
                .collect(),
            Op::Finish(_) | Op::Checkpoint | Op::Gc => Vec::new(),
        };
        if ok {
            acked.apply(op);
            for (key, _) in &touched {
                failed_after.remove(key);
            }
        } else {
            for (key, effect) in touched {
                failed_after.entry(key).or_default().push(effect);
            }
        }
    }
    let mut allowed = Allowed::new();
    for run in 0..4u8 {
        for name in NAMES {
            let key = (run, name.to_owned());
            let mut values = vec![acked.values.get(&key).cloned()];
            values.extend(failed_after.remove(&key).unwrap_or_default());
            allowed.insert(key, values);
        }
    }
    (acked, allowed)
}

/// What a workload run on `disk` got acknowledged, and the operation in flight at the crash.
pub struct Outcome {
    pub acked: Model,
    pub in_flight: Option<Op>,
}

pub fn run_workload(disk: &SimDisk) -> Outcome {
    let mut acked = Model::default();
    let store = match RedbStore::open_simulated(ROOT, RedbOptions::default(), disk) {
        Ok(store) => store,
        Err(_) => {
            return Outcome {
                acked,
                in_flight: None,
            };
        }
    };
    for op in workload() {
        match run_op(&store, &op) {
            Ok(()) => acked.apply(&op),
            Err(_) => {
                return Outcome {
                    acked,
                    in_flight: Some(op),
                };
            }
        }
    }
    // A crash point may also fall into the final checkpoint of close: nothing is in flight.
    let _ = store.close();
    Outcome {
        acked,
        in_flight: None,
    }
}

/// Reads back every (run, name) the workload can produce.
pub fn observe(store: &impl ResultsStore) -> Result<Model> {
    let mut model = Model::default();
    for run in 0..4u8 {
        let handle = store.run("t", &config(run)?)?;
        for name in NAMES {
            if let Some(value) = handle.load::<Vec<u8>>(name)? {
                model.values.insert((run, name.to_owned()), value);
            }
        }
        if handle.state()? == Some(RunState::Finished) {
            model.finished.push(run);
        }
    }
    Ok(model)
}

/// Reopens `image` and checks it holds the acknowledged state, or that plus the op in flight.
pub fn check_recovered(image: &SimDisk, outcome: &Outcome, what: &str) -> Result<()> {
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), image)?;
    let seen = observe(&store)?;
    let mut with_in_flight = outcome.acked.clone();
    if let Some(op) = &outcome.in_flight {
        with_in_flight.apply(op);
    }
    assert!(
        seen == outcome.acked || seen == with_in_flight,
        "{what}: recovered state matches neither the acknowledged operations nor those plus \
         the one in flight ({:?})\nrecovered: {:?}\nacknowledged: {:?}",
        outcome.in_flight,
        summary(&seen),
        summary(&outcome.acked),
    );
    // The recovered store keeps working.
    store
        .run("t", &config(9)?)?
        .save_bytes("after", "bytes", b"after")?;
    store.close()?;
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), image)?;
    assert_eq!(
        store.run("t", &config(9)?)?.load::<Vec<u8>>("after")?,
        Some(b"after".to_vec()),
        "{what}: a save after recovery was lost"
    );
    Ok(())
}

pub fn summary(model: &Model) -> Vec<String> {
    let mut out: Vec<String> = model
        .values
        .iter()
        .map(|((run, name), v)| format!("{run}/{name}:{}b", v.len()))
        .collect();
    out.push(format!("finished {:?}", model.finished));
    out
}
