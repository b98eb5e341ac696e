//! Test support: a reference model of a [`RedbStore`] and an executor that runs operation
//! sequences — with crashes and reopens — against a real store on a [`SimDisk`], checking
//! every observation against the model.
//!
//! Shared by the property test (`tests/crash/model.rs`), the fuzz targets (`fuzz/`) and their
//! corpus replay (`tests/engine/fuzz_corpus.rs`), so there is one model and one executor.
//!
//! The model has two views. The *acknowledged* view is what every returned operation implies.
//! The *durable floor* is the newest state that must survive power loss:
//!
//! - with [`Durability::Immediate`] every acknowledged operation is durable (`docs/design.md`
//!   §10.2, invariant 6);
//! - with [`Durability::Relaxed`] an acknowledged operation is only written, not synced; it
//!   becomes durable at the next sync. The syncs a test can name are those of a checkpoint
//!   (§10.3: [`RedbStore::checkpoint`], a real [`RedbStore::gc`], [`RedbStore::close`]) and
//!   of recovery (§10.5 step 5, a `Durability::Immediate` commit). The timed sync
//!   (`sync_interval`) may make more durable, never less, so the floor is a lower bound.
//!
//! After a process crash the recovered state must equal the acknowledged view (the kernel
//! kept every written byte). After power loss it must equal the model after *some prefix* of
//! the acknowledged operations that is at least the durable floor — never a state outside
//! that chain, never a torn value (a value the model never saved). Whatever was recovered
//! becomes both views: recovery checkpoints it durably.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::json;

use crate::engine::{Durability, RedbOptions, RedbStore};
use crate::error::Error;
use crate::run::RunState;
use crate::sim::{CrashMode, SimDisk};
use crate::store_ext::StoreExt;
use crate::{Result as StoreResult, UniqueConfig};

/// The store's directory on the simulated disk.
pub const ROOT: &str = "/store";
/// The task every run belongs to.
pub const TASK: &str = "t";
/// How many runs (configs `{"run": 0}` … `{"run": RUNS - 1}`) the model uses. Their configs
/// share one key with distinct values, so none is a subset of another and lookups are exact.
pub const RUNS: u8 = 3;
/// The result names the model uses.
pub const NAMES: [&str; 3] = ["metrics", "weights", "log"];
/// The default inline limit (`docs/design.md` §10.4): longer values are blob files.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// A value the model saves: `len` bytes derived from `seed` (byte `i` is
/// `seed + i mod 251`). Equal pairs are equal values, so content is deduplicated and shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value {
    /// Picks the byte pattern (and is the first byte).
    pub seed: u8,
    /// Length in bytes, at least 1.
    pub len: u32,
}

impl Value {
    /// A value stored inline: 1 to 4096 bytes.
    pub fn inline(seed: u8, size: u16) -> Value {
        Value {
            seed,
            len: 1 + u32::from(size % 4096),
        }
    }

    /// A value above the inline limit (stored as a blob file): 64 KiB + 1 to + 4096 bytes.
    pub fn blob(seed: u8, size: u16) -> Value {
        Value {
            seed,
            len: INLINE_LIMIT as u32 + 1 + u32::from(size % 4096),
        }
    }

    /// Whether this value is stored as a blob file under the default options.
    pub fn is_blob(&self) -> bool {
        self.len as usize > INLINE_LIMIT
    }

    /// The bytes.
    pub fn bytes(&self) -> Vec<u8> {
        (0..self.len as usize)
            .map(|i| self.seed.wrapping_add((i % 251) as u8))
            .collect()
    }

    /// The value whose bytes these are, if any: `None` for bytes the model never writes
    /// (a torn, garbled or foreign value).
    pub fn from_bytes(bytes: &[u8]) -> Option<Value> {
        let value = Value {
            seed: *bytes.first()?,
            len: u32::try_from(bytes.len()).ok()?,
        };
        (value.bytes() == bytes).then_some(value)
    }
}

/// One step of a sequence. Runs and names are indices (taken modulo [`RUNS`] and
/// `NAMES.len()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Save `value` as result `name` of run `run` (creating the run).
    Save {
        /// Run index.
        run: u8,
        /// Name index.
        name: u8,
        /// The value.
        value: Value,
    },
    /// Overwrite an existing result: the `pick`-th (modulo their number, in key order) of
    /// the acknowledged results; a save to run 0, name 0 if there is none.
    Overwrite {
        /// Which existing result.
        pick: u8,
        /// The new value.
        value: Value,
    },
    /// Delete result `name` of run `run` (whether or not it exists).
    Delete {
        /// Run index.
        run: u8,
        /// Name index.
        name: u8,
    },
    /// Delete run `run` and its results (whether or not it exists).
    DeleteRun {
        /// Run index.
        run: u8,
    },
    /// Mark run `run` finished (creating it).
    Finish {
        /// Run index.
        run: u8,
    },
    /// [`RedbStore::checkpoint`].
    Checkpoint,
    /// [`RedbStore::gc`] (a real run).
    Gc,
    /// Close the store cleanly and open it again.
    Reopen,
    /// Crash now: take the disk a restarted process would find (`SimDisk::after_crash`),
    /// drop the old store, and open the store on that image.
    Crash {
        /// Process crash or power loss.
        mode: CrashMode,
        /// Picks the fate of each unsynced write under power loss.
        seed: u64,
    },
}

/// The observable state of the store: runs with their state, and results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Existing runs (by index) and their state.
    pub runs: BTreeMap<u8, RunState>,
    /// Results: (run, name) → value.
    pub values: BTreeMap<(u8, u8), Value>,
}

impl State {
    /// The concrete run and name an [`Op::Overwrite`] targets in this state.
    pub fn overwrite_target(&self, pick: u8) -> (u8, u8) {
        let count = self.values.len();
        if count == 0 {
            return (0, 0);
        }
        self.values
            .keys()
            .nth(usize::from(pick) % count)
            .copied()
            .unwrap_or((0, 0))
    }

    /// Applies an acknowledged op; returns whether the state changed.
    pub fn apply(&mut self, op: &Op) -> bool {
        let before = self.clone();
        match *op {
            Op::Save { run, name, value } => {
                self.save(run % RUNS, name % NAMES.len() as u8, value);
            }
            Op::Overwrite { pick, value } => {
                let (run, name) = self.overwrite_target(pick);
                self.save(run, name, value);
            }
            Op::Delete { run, name } => {
                self.values.remove(&(run % RUNS, name % NAMES.len() as u8));
            }
            Op::DeleteRun { run } => {
                let run = run % RUNS;
                self.runs.remove(&run);
                self.values.retain(|(r, _), _| *r != run);
            }
            Op::Finish { run } => {
                self.runs.insert(run % RUNS, RunState::Finished);
            }
            Op::Checkpoint | Op::Gc | Op::Reopen | Op::Crash { .. } => {}
        }
        *self != before
    }

    fn save(&mut self, run: u8, name: u8, value: Value) {
        self.runs.entry(run).or_insert(RunState::Running);
        self.values.insert((run, name), value);
    }

    /// A short description (`run/name=seed:len` and run states) for failure messages.
    pub fn summary(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|((r, n), v)| format!("{r}/{}={}:{}", NAMES[usize::from(*n)], v.seed, v.len))
            .collect();
        let runs: Vec<String> = self
            .runs
            .iter()
            .map(|(r, s)| format!("{r}:{s:?}"))
            .collect();
        format!("values [{}] runs [{}]", values.join(" "), runs.join(" "))
    }
}

/// The reference model: the states after each acknowledged change since the durable floor.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// `history[0]` is the durable floor, the last entry the acknowledged state.
    history: Vec<State>,
}

impl Default for Oracle {
    fn default() -> Self {
        Oracle {
            history: vec![State::default()],
        }
    }
}

impl Oracle {
    /// The acknowledged state.
    pub fn acknowledged(&self) -> &State {
        // `history` is never empty.
        &self.history[self.history.len() - 1]
    }

    /// The durable floor.
    pub fn durable(&self) -> &State {
        &self.history[0]
    }

    /// Every state power loss may leave: the floor, then each later acknowledged state.
    pub fn allowed_after_power_loss(&self) -> &[State] {
        &self.history
    }

    /// Records an acknowledged op.
    pub fn acknowledge(&mut self, op: &Op) {
        let mut next = self.acknowledged().clone();
        if next.apply(op) {
            self.history.push(next);
        }
    }

    /// Everything acknowledged is now durable.
    pub fn make_durable(&mut self) {
        let acked = self.acknowledged().clone();
        self.history = vec![acked];
    }

    /// Checks a recovered state: with `exact`, it must be the acknowledged state, else any
    /// state from the floor on. Returns how many acknowledged changes it lost, and makes it
    /// both the acknowledged and the durable state.
    ///
    /// # Errors
    /// A description of the mismatch.
    pub fn recovered(&mut self, seen: &State, exact: bool) -> Result<usize, String> {
        let latest = self.history.len() - 1;
        let found = if exact {
            (seen == self.acknowledged()).then_some(latest)
        } else {
            self.history.iter().rposition(|state| state == seen)
        };
        match found {
            Some(index) => {
                self.history = vec![seen.clone()];
                Ok(latest - index)
            }
            None => {
                let allowed: Vec<String> = if exact {
                    vec![self.acknowledged().summary()]
                } else {
                    self.history.iter().map(State::summary).collect()
                };
                Err(format!(
                    "recovered {}\nallowed (durable floor first):\n  {}",
                    seen.summary(),
                    allowed.join("\n  ")
                ))
            }
        }
    }
}

/// Why a sequence failed: the store broke its contract, or an operation that must succeed
/// failed.
#[derive(Debug)]
pub enum HarnessError {
    /// An operation failed that should have succeeded.
    Store {
        /// Index of the op in the sequence (the sequence length for the final check).
        step: usize,
        /// What was being done.
        what: String,
        /// The store's error.
        source: Error,
    },
    /// The store's contents or answer contradict the model.
    Mismatch {
        /// Index of the op in the sequence.
        step: usize,
        /// What was being done.
        what: String,
        /// The difference.
        detail: String,
    },
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Store { step, what, source } => {
                write!(f, "step {step} ({what}) failed: {source}")
            }
            HarnessError::Mismatch { step, what, detail } => {
                write!(f, "step {step} ({what}) contradicts the model: {detail}")
            }
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Store { source, .. } => Some(source),
            HarnessError::Mismatch { .. } => None,
        }
    }
}

/// Counts of what a sequence did (controls for the tests that run it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Ops executed.
    pub ops: u64,
    /// Ops that changed the acknowledged state.
    pub changes: u64,
    /// Values saved as blob files.
    pub blob_saves: u64,
    /// Crashes (process or power loss).
    pub crashes: u64,
    /// Power losses.
    pub power_losses: u64,
    /// Crashes taken while the disk had unsynced writes (something could be lost).
    pub crashes_with_unsynced: u64,
    /// Crashes taken while acknowledged changes were above the durable floor.
    pub crashes_above_floor: u64,
    /// Crashes taken while acknowledged changes were newer than the last checkpoint, so
    /// only the WAL had them and recovery had to replay it.
    pub crashes_needing_replay: u64,
    /// Acknowledged changes that power loss took away (only allowed under `Relaxed`).
    pub changes_lost: u64,
    /// Clean reopens (including the final one).
    pub reopens: u64,
}

impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, other: Report) {
        self.ops += other.ops;
        self.changes += other.changes;
        self.blob_saves += other.blob_saves;
        self.crashes += other.crashes;
        self.power_losses += other.power_losses;
        self.crashes_with_unsynced += other.crashes_with_unsynced;
        self.crashes_above_floor += other.crashes_above_floor;
        self.crashes_needing_replay += other.crashes_needing_replay;
        self.changes_lost += other.changes_lost;
        self.reopens += other.reopens;
    }
}

fn config(run: u8) -> StoreResult<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "run": run }))?)
}

/// Reads back every run and result the model can produce.
///
/// # Errors
/// Any store error, including a hash mismatch of a damaged value; a value the model never
/// wrote is reported as [`Error::CorruptRecord`].
pub fn observe(store: &RedbStore) -> StoreResult<State> {
    let mut state = State::default();
    for run in 0..RUNS {
        let handle = store.run(TASK, &config(run)?)?;
        if let Some(run_state) = handle.state()? {
            state.runs.insert(run, run_state);
        }
        for (index, name) in NAMES.iter().enumerate() {
            let Some(bytes) = handle.load::<Vec<u8>>(name)? else {
                continue;
            };
            let value = Value::from_bytes(&bytes).ok_or_else(|| Error::CorruptRecord {
                what: format!("result {run}/{name}"),
                reason: format!(
                    "{} bytes the model never saved (torn or foreign)",
                    bytes.len()
                ),
            })?;
            state.values.insert((run, index as u8), value);
        }
    }
    Ok(state)
}

/// Runs one op against `store`; returns the model op it acknowledged (an overwrite resolved
/// to its target), after checking the store's answer.
fn execute(store: &RedbStore, acked: &State, op: &Op) -> Result<Op, String> {
    let fail = |e: Error| e.to_string();
    let resolved = match *op {
        Op::Overwrite { pick, value } => {
            let (run, name) = acked.overwrite_target(pick);
            Op::Save { run, name, value }
        }
        other => other,
    };
    match resolved {
        Op::Save { run, name, value } => {
            let run = run % RUNS;
            let name = NAMES[usize::from(name) % NAMES.len()];
            store
                .run(TASK, &config(run).map_err(fail)?)
                .and_then(|h| h.save_bytes(name, "bytes", &value.bytes()))
                .map_err(fail)?;
        }
        Op::Delete { run, name } => {
            let (run, index) = (run % RUNS, name % NAMES.len() as u8);
            let existed = store
                .run(TASK, &config(run).map_err(fail)?)
                .and_then(|h| h.delete(NAMES[usize::from(index)]))
                .map_err(fail)?;
            let expected = acked.values.contains_key(&(run, index));
            if existed != expected {
                return Err(format!(
                    "delete answered {existed}, the model says {expected}"
                ));
            }
        }
        Op::DeleteRun { run } => {
            let run = run % RUNS;
            let existed = store
                .run(TASK, &config(run).map_err(fail)?)
                .and_then(|h| h.delete_run())
                .map_err(fail)?;
            let expected = acked.runs.contains_key(&run);
            if existed != expected {
                return Err(format!(
                    "delete_run answered {existed}, the model says {expected}"
                ));
            }
        }
        Op::Finish { run } => {
            store
                .run(TASK, &config(run % RUNS).map_err(fail)?)
                .and_then(|h| h.finish())
                .map_err(fail)?;
        }
        Op::Checkpoint => store.checkpoint().map_err(fail)?,
        Op::Gc => {
            store.gc(false).map_err(fail)?;
        }
        Op::Overwrite { .. } | Op::Reopen | Op::Crash { .. } => {}
    }
    Ok(resolved)
}

/// A store on a simulated disk under test, with its model.
#[derive(Debug)]
pub struct Harness {
    options: RedbOptions,
    relaxed: bool,
    disk: SimDisk,
    store: Option<RedbStore>,
    oracle: Oracle,
    report: Report,
    /// Acknowledged changes since the last checkpoint (of any kind).
    since_checkpoint: u64,
}

impl Harness {
    /// Opens a new store at [`ROOT`] on a fresh disk.
    ///
    /// # Errors
    /// The open's error.
    pub fn new(options: RedbOptions) -> StoreResult<Harness> {
        Harness::on_disk(options, SimDisk::new())
    }

    /// Opens the store at [`ROOT`] on `disk`, whose state must be empty or the model's
    /// initial state.
    ///
    /// # Errors
    /// The open's error.
    pub fn on_disk(options: RedbOptions, disk: SimDisk) -> StoreResult<Harness> {
        let relaxed = matches!(options.durability, Durability::Relaxed { .. });
        let store = RedbStore::open_simulated(ROOT, options.clone(), &disk)?;
        Ok(Harness {
            options,
            relaxed,
            disk,
            store: Some(store),
            oracle: Oracle::default(),
            report: Report::default(),
            since_checkpoint: 0,
        })
    }

    /// The disk the store currently runs on.
    pub fn disk(&self) -> &SimDisk {
        &self.disk
    }

    /// The open store (`None` only after a failed reopen).
    pub fn store(&self) -> Option<&RedbStore> {
        self.store.as_ref()
    }

    /// The model.
    pub fn oracle(&self) -> &Oracle {
        &self.oracle
    }

    /// What the ops so far did.
    pub fn report(&self) -> Report {
        self.report
    }

    fn open(&mut self, step: usize, what: &str) -> Result<&RedbStore, HarnessError> {
        let store = RedbStore::open_simulated(ROOT, self.options.clone(), &self.disk).map_err(
            |source| HarnessError::Store {
                step,
                what: what.to_owned(),
                source,
            },
        )?;
        Ok(self.store.insert(store))
    }

    fn observe_exact(&self, step: usize, what: &str) -> Result<(), HarnessError> {
        let store = self.live(step, what)?;
        let seen = observe(store).map_err(|source| HarnessError::Store {
            step,
            what: format!("read back after {what}"),
            source,
        })?;
        if &seen != self.oracle.acknowledged() {
            return Err(HarnessError::Mismatch {
                step,
                what: what.to_owned(),
                detail: format!(
                    "the store holds {}\nacknowledged: {}",
                    seen.summary(),
                    self.oracle.acknowledged().summary()
                ),
            });
        }
        Ok(())
    }

    fn live(&self, step: usize, what: &str) -> Result<&RedbStore, HarnessError> {
        self.store.as_ref().ok_or_else(|| HarnessError::Store {
            step,
            what: what.to_owned(),
            source: Error::Closed,
        })
    }

    /// Runs op number `step` and checks the store against the model afterwards.
    ///
    /// # Errors
    /// [`HarnessError`] if the store fails or contradicts the model.
    pub fn step(&mut self, step: usize, op: &Op) -> Result<(), HarnessError> {
        self.report.ops += 1;
        let what = format!("{op:?}");
        match *op {
            Op::Reopen => {
                if let Some(store) = self.store.take() {
                    store.close().map_err(|source| HarnessError::Store {
                        step,
                        what: format!("close before {what}"),
                        source,
                    })?;
                }
                self.oracle.make_durable();
                self.since_checkpoint = 0;
                self.open(step, &what)?;
                self.report.reopens += 1;
            }
            Op::Crash { mode, seed } => self.crash(step, &what, mode, seed)?,
            _ => {
                let store = self.live(step, &what)?;
                let acked = self.oracle.acknowledged();
                let resolved =
                    execute(store, acked, op).map_err(|detail| HarnessError::Mismatch {
                        step,
                        what: what.clone(),
                        detail,
                    })?;
                if let Op::Save { value, .. } = resolved
                    && value.is_blob()
                {
                    self.report.blob_saves += 1;
                }
                let changed = {
                    let before = self.oracle.acknowledged().clone();
                    self.oracle.acknowledge(&resolved);
                    self.oracle.acknowledged() != &before
                };
                if changed {
                    self.report.changes += 1;
                    self.since_checkpoint += 1;
                }
                if matches!(op, Op::Checkpoint | Op::Gc) {
                    self.since_checkpoint = 0;
                }
                // Immediate: acknowledged means durable. Any mode: a checkpoint (and a real
                // gc, which ends with one) syncs the log and commits the database durably.
                if !self.relaxed || matches!(op, Op::Checkpoint | Op::Gc) {
                    self.oracle.make_durable();
                }
            }
        }
        self.observe_exact(step, &what)
    }

    fn crash(
        &mut self,
        step: usize,
        what: &str,
        mode: CrashMode,
        seed: u64,
    ) -> Result<(), HarnessError> {
        let image = self.disk.after_crash(mode, seed);
        self.report.crashes += 1;
        self.report.crashes_with_unsynced += u64::from(self.disk.unsynced_changes() > 0);
        self.report.crashes_above_floor +=
            u64::from(self.oracle.allowed_after_power_loss().len() > 1);
        self.report.crashes_needing_replay += u64::from(self.since_checkpoint > 0);
        // Recovery ends with a checkpoint.
        self.since_checkpoint = 0;
        if mode == CrashMode::PowerLoss {
            self.report.power_losses += 1;
        }
        // The old process is gone: what its store does from now on (its final checkpoint
        // when dropped) happens on the old disk, which nobody looks at again.
        drop(self.store.take());
        self.disk = image;
        let store = self.open(step, &format!("reopen after {what}"))?;
        let seen = observe(store).map_err(|source| HarnessError::Store {
            step,
            what: format!("read back after {what}"),
            source,
        })?;
        // Immediate: the floor is the acknowledged state, so "some prefix from the floor"
        // means exactly it. Relaxed: a process crash keeps every written byte.
        let exact = mode == CrashMode::Process;
        let lost =
            self.oracle
                .recovered(&seen, exact)
                .map_err(|detail| HarnessError::Mismatch {
                    step,
                    what: what.to_owned(),
                    detail,
                })?;
        self.report.changes_lost += lost as u64;
        Ok(())
    }

    /// Closes the store, reopens it and checks that it holds exactly the acknowledged state
    /// (a clean close makes everything durable).
    ///
    /// # Errors
    /// As [`Harness::step`].
    pub fn finish(mut self, step: usize) -> Result<Report, HarnessError> {
        self.step(step, &Op::Reopen)?;
        if let Some(store) = self.store.take() {
            store.close().map_err(|source| HarnessError::Store {
                step,
                what: "final close".to_owned(),
                source,
            })?;
        }
        Ok(self.report)
    }
}

/// Runs `ops` against a new store on a fresh simulated disk, checking the model after every
/// op and after a final clean reopen.
///
/// # Errors
/// The first [`HarnessError`].
pub fn run_ops(options: RedbOptions, ops: &[Op]) -> Result<Report, HarnessError> {
    let mut harness = Harness::new(options).map_err(|source| HarnessError::Store {
        step: 0,
        what: "open a new store".to_owned(),
        source,
    })?;
    for (step, op) in ops.iter().enumerate() {
        harness.step(step, op)?;
    }
    harness.finish(ops.len())
}
