//! Workloads W1 (sweep writes), W2 (reduce) and W3 (scale), each run in rounds: one round
//! measures every system back to back, in an order rotated from round to round, so each
//! ratio compares figures taken minutes apart at most (the disk flips between fast and slow
//! fsync states).
//!
//! Invariants: every measurement is followed by a check of what was stored (count, and the
//! bytes of sampled values), and a failed check stops the benchmark; fills are untimed; a
//! system that cannot be filled to a size within the cap is reported as stopping there.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sweepstore::{Durability, InMemoryStore, LocalFileStore, RedbOptions, RedbStore};

use crate::fluidml::{self, Fluidml};
use crate::options::Options;
use crate::results::Results;
use crate::support::BenchResult;
use crate::support::data::{scratch, settle, splitmix};
use crate::support::disk::append_fdatasync;
use crate::support::timing::{Budget, measure};
use crate::systems::{BATCH_RUNS, Codecs, RawRedb, Sqlite, Sweepstore, Synchronous, System};

/// Length of the weights payload: its `binary` (postcard) encoding is exactly 64 KiB.
pub const WEIGHTS_LEN: usize = 65_536 - 3;
/// Threads that fill a store before a measurement: many for RedbStore (group commit), two
/// for LocalFileStore (more only contend on the directory's fsyncs), one for the rest.
fn fill_threads(sys: Sys) -> usize {
    match sys {
        Sys::RedbImmediate | Sys::RedbRelaxed => 32,
        Sys::Local => 2,
        _ => 1,
    }
}
/// Keys per fill step (the cap is checked between steps).
const FILL_STEP: u64 = 200;
/// Untimed operations before every timed per-op phase.
const WARMUP: u64 = 20;
pub const TASK_W2: &str = "reduce";
pub const TASK_W3: &str = "scale";

/// The Rust systems under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sys {
    RedbImmediate,
    RedbRelaxed,
    Local,
    Memory,
    RawRedb,
    RawRedbBatched,
    SqliteFull,
    SqliteNormal,
}

impl Sys {
    pub const W1: [Sys; 8] = [
        Sys::RedbImmediate,
        Sys::RedbRelaxed,
        Sys::Local,
        Sys::Memory,
        Sys::RawRedb,
        Sys::RawRedbBatched,
        Sys::SqliteFull,
        Sys::SqliteNormal,
    ];
    /// Per-op workloads: batching has no per-op meaning. Relaxed RedbStore is here for its
    /// saves, the like-for-like comparison with fluidml, which never fsyncs.
    pub const PER_OP: [Sys; 7] = [
        Sys::RedbImmediate,
        Sys::RedbRelaxed,
        Sys::Local,
        Sys::Memory,
        Sys::RawRedb,
        Sys::SqliteFull,
        Sys::SqliteNormal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Sys::RedbImmediate => "RedbStore (Immediate)",
            Sys::RedbRelaxed => "RedbStore (Relaxed 200 ms)",
            Sys::Local => "LocalFileStore",
            Sys::Memory => "InMemoryStore",
            Sys::RawRedb => "raw redb, 1 durable txn/save",
            Sys::RawRedbBatched => "raw redb, 500 runs/durable txn",
            Sys::SqliteFull => "SQLite WAL, synchronous FULL",
            Sys::SqliteNormal => "SQLite WAL, synchronous NORMAL",
        }
    }

    /// What an acknowledged save survives.
    pub fn durability(self) -> &'static str {
        match self {
            Sys::RedbImmediate | Sys::RawRedb | Sys::RawRedbBatched | Sys::SqliteFull => {
                "fsync before ack: survives power loss"
            }
            Sys::Local => "4 fsyncs per overwrite save: survives power loss",
            Sys::RedbRelaxed => "no fsync before ack (synced ≤ 200 ms later): survives kill -9",
            Sys::SqliteNormal => "no fsync before ack (at checkpoints): survives kill -9",
            Sys::Memory => "none (process memory)",
        }
    }

    pub fn open(self, dir: &Path, threads: usize, codecs: &Codecs) -> BenchResult<Box<dyn System>> {
        let redb = |durability| -> BenchResult<Box<dyn System>> {
            let options = RedbOptions::default().durability(durability);
            Ok(Box::new(Sweepstore(RedbStore::open(dir, options)?)))
        };
        match self {
            Sys::RedbImmediate => redb(Durability::Immediate),
            Sys::RedbRelaxed => redb(Durability::Relaxed {
                sync_interval: Duration::from_millis(200),
            }),
            Sys::Local => Ok(Box::new(Sweepstore(LocalFileStore::new(dir)?))),
            Sys::Memory => Ok(Box::new(Sweepstore(InMemoryStore::new()))),
            Sys::RawRedb | Sys::RawRedbBatched => {
                Ok(Box::new(RawRedb::create(dir, codecs.clone())?))
            }
            Sys::SqliteFull => Ok(Box::new(Sqlite::open(
                dir,
                Synchronous::Full,
                threads,
                codecs.clone(),
            )?)),
            Sys::SqliteNormal => Ok(Box::new(Sqlite::open(
                dir,
                Synchronous::Normal,
                threads,
                codecs.clone(),
            )?)),
        }
    }
}

/// The same inputs for every system.
pub struct Inputs {
    /// The shared 64 KiB payload; each run's weights stamp it with (t, i).
    pub payload: Vec<u8>,
    pub codecs: Codecs,
}

/// A run's metrics: about 1 KiB of JSON, the same dict `compare.py` builds.
pub fn metrics(t: u64, i: u64) -> Value {
    let history: Vec<f64> = (0..48)
        .map(|k| (k + 1) as f64 / (i + k + 3) as f64)
        .collect();
    json!({ "worker": t, "i": i, "loss": 1.0 / (i + 1) as f64, "history": history })
}

pub fn config(t: u64, i: u64) -> Value {
    json!({ "worker": t, "i": i })
}

fn scale_config(k: u64) -> Value {
    json!({ "i": k })
}

fn scale_metrics(k: u64) -> Value {
    metrics(0, k)
}

impl Inputs {
    /// A run's weights: the payload with its first 16 bytes stamped with `t` and `i`.
    pub fn weights(&self, t: u64, i: u64) -> Vec<u8> {
        let mut w = self.payload.clone();
        w[..8].copy_from_slice(&t.to_le_bytes());
        w[8..16].copy_from_slice(&i.to_le_bytes());
        w
    }
}

/// Rotates `items` by `rep`, so no system always goes first.
pub fn rotated<T: Copy>(items: &[T], rep: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if !v.is_empty() {
        v.rotate_left(rep % items.len());
    }
    v
}

fn stopped(results: &mut Results, what: String) {
    results.note(what);
}

// ---------------------------------------------------------------------------------------
// W1

pub fn w1_case(threads: usize) -> String {
    format!("W1 {threads} threads")
}

/// One round of W1: every system, every thread count.
pub fn w1_round(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    rep: usize,
    fluid: Option<&mut Fluidml>,
    r: &mut Results,
) -> BenchResult<()> {
    let mut fluid = fluid;
    for &threads in &o.threads {
        let case = w1_case(threads);
        crate::run::progress(rep, &case);
        for sys in rotated(&Sys::W1, rep) {
            let runs_per_sec = w1_rust(o, inputs, root, sys, threads)?;
            r.put(rep, &case, sys.label(), runs_per_sec);
        }
        if let Some(f) = fluid.as_deref_mut() {
            for kind in rotated(&fluidml::Kind::ALL, rep) {
                let (runs, secs) = f.w1(kind, threads, o.secs, o.max_runs)?;
                r.put(rep, &case, kind.label(), runs as f64 / secs);
            }
        }
        // The disk's limit for one writer: one append + fdatasync of a run's bytes.
        let record = vec![0x5a; inputs.run_bytes()?];
        let fsync = append_fdatasync(root, &record, o.secs)?;
        r.put(rep, &case, DISK_APPEND, fsync.rate());
    }
    Ok(())
}

/// Label of the disk's append+fdatasync rate (one run's ~65 KiB of bytes per sync).
pub const DISK_APPEND: &str = "disk: 65 KiB append+fdatasync, 1 thread";

impl Inputs {
    /// Bytes a run stores: its encoded metrics and weights.
    fn run_bytes(&self) -> BenchResult<usize> {
        Ok(serde_json::to_vec(&metrics(0, 0))?.len() + WEIGHTS_LEN + 3)
    }
}

fn w1_rust(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    sys: Sys,
    threads: usize,
) -> BenchResult<f64> {
    let dir = scratch(root)?;
    let (system, batched) = if sys == Sys::RawRedbBatched {
        (
            None,
            Some(RawRedb::create(dir.path(), inputs.codecs.clone())?),
        )
    } else {
        (Some(sys.open(dir.path(), threads, &inputs.codecs)?), None)
    };
    let per_thread = (o.max_runs / threads as u64).max(1);
    settle()?;
    let measured = if let Some(db) = &batched {
        let budget = Budget::SecsOrOps(o.secs, per_thread.div_ceil(BATCH_RUNS));
        measure(threads, budget, |t, i| {
            let runs: Vec<_> = (i * BATCH_RUNS..(i + 1) * BATCH_RUNS)
                .map(|k| {
                    (
                        config(t as u64, k),
                        metrics(t as u64, k),
                        inputs.weights(t as u64, k),
                    )
                })
                .collect();
            db.save_batch("train", &runs)?;
            Ok(BATCH_RUNS)
        })?
    } else {
        let system = system.as_deref().ok_or("no system opened")?;
        measure(threads, Budget::SecsOrOps(o.secs, per_thread), |t, i| {
            let (t, i) = (t as u64, i);
            system.save_run(
                t as usize,
                "train",
                &config(t, i),
                &metrics(t, i),
                &inputs.weights(t, i),
            )?;
            Ok(1)
        })?
    };
    let checked: &dyn System = match (&batched, &system) {
        (Some(db), _) => db,
        (None, Some(system)) => system.as_ref(),
        (None, None) => return Err("no system opened".into()),
    };
    verify_runs(checked, inputs, measured.items, sys.label(), true)?;
    Ok(measured.rate())
}

/// Every saved run of task `train` is stored with the right metrics; with `weights`, sampled
/// runs have the right weights too.
pub fn verify_runs(
    system: &dyn System,
    inputs: &Inputs,
    saved: u64,
    label: &str,
    weights: bool,
) -> BenchResult<()> {
    let stored = system.reduce("train", false)?;
    if stored.len() as u64 != saved {
        return Err(format!("{label}: {saved} runs saved but {} stored", stored.len()).into());
    }
    for (n, (config, value)) in stored.iter().enumerate() {
        let t = config["worker"].as_u64().ok_or("config without worker")?;
        let i = config["i"].as_u64().ok_or("config without i")?;
        if *value != metrics(t, i) {
            return Err(format!("{label}: wrong metrics for {config}").into());
        }
        if weights && (splitmix(n as u64).is_multiple_of(64) || n == 0) {
            let weights = system.load_weights("train", config)?;
            if weights.as_deref() != Some(inputs.weights(t, i).as_slice()) {
                return Err(format!("{label}: wrong weights for {config}").into());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Filled stores (W2, W3)

/// A Rust system filled with `{"i": k}` runs of one task.
pub struct Filled {
    pub sys: Sys,
    pub system: Box<dyn System>,
    pub runs: u64,
    /// Its own directory (`None` for SQLite, which shares the fleet's).
    dir: Option<tempfile::TempDir>,
}

/// Every per-op system, each in its own directory under `root`; both SQLite settings share
/// one database file (one connection each), so it is filled once.
pub struct Fleet {
    pub stores: Vec<Filled>,
    /// Runs in the shared SQLite database.
    sqlite_runs: u64,
    _sqlite_dir: tempfile::TempDir,
}

impl Fleet {
    pub fn open(root: &Path, inputs: &Inputs) -> BenchResult<Self> {
        let sqlite_dir = scratch(root)?;
        let mut stores = Vec::new();
        for sys in Sys::PER_OP {
            let (system, dir): (Box<dyn System>, _) = match sys {
                Sys::SqliteFull | Sys::SqliteNormal => {
                    let sync = if sys == Sys::SqliteFull {
                        Synchronous::Full
                    } else {
                        Synchronous::Normal
                    };
                    let codecs = inputs.codecs.clone();
                    (
                        Box::new(Sqlite::open(sqlite_dir.path(), sync, 1, codecs)?),
                        None,
                    )
                }
                _ => {
                    let dir = scratch(root)?;
                    (sys.open(dir.path(), 1, &inputs.codecs)?, Some(dir))
                }
            };
            stores.push(Filled {
                sys,
                system,
                runs: 0,
                dir,
            });
        }
        Ok(Fleet {
            stores,
            sqlite_runs: 0,
            _sqlite_dir: sqlite_dir,
        })
    }
}

/// Grows `f` to `target` runs of `task`; `Ok(false)` if `cap` ran out first.
fn grow(
    f: &mut Filled,
    task: &str,
    target: u64,
    cap: Option<f64>,
    sqlite_runs: &mut u64,
    codecs: &Codecs,
) -> BenchResult<bool> {
    let start = Instant::now();
    let is_sqlite = matches!(f.sys, Sys::SqliteFull | Sys::SqliteNormal);
    if is_sqlite && *sqlite_runs >= target {
        f.runs = target;
        return Ok(true);
    }
    // RedbStore fills with relaxed durability (the same files; the fill is not timed) and is
    // reopened with `Immediate` for the measurement.
    let redb_dir = match (&f.dir, f.sys) {
        (Some(dir), Sys::RedbImmediate) => Some(dir.path().to_owned()),
        _ => None,
    };
    if let Some(dir) = &redb_dir {
        f.system = Box::new(Sweepstore(InMemoryStore::new())); // closes the store
        f.system = Sys::RedbRelaxed.open(dir, 1, codecs)?;
    }
    let complete = fill_to(f, task, target, cap, start)?;
    if let Some(dir) = &redb_dir {
        f.system = Box::new(Sweepstore(InMemoryStore::new()));
        f.system = Sys::RedbImmediate.open(dir, 1, codecs)?;
    }
    if is_sqlite && complete {
        *sqlite_runs = target;
    }
    Ok(complete)
}

/// Saves runs `f.runs..target` into `f`, in steps; `Ok(false)` if `cap` ran out first.
fn fill_to(
    f: &mut Filled,
    task: &str,
    target: u64,
    cap: Option<f64>,
    start: Instant,
) -> BenchResult<bool> {
    let threads = fill_threads(f.sys);
    while f.runs < target {
        if cap.is_some_and(|cap| start.elapsed().as_secs_f64() > cap) {
            return Ok(false);
        }
        let end = (f.runs + FILL_STEP).min(target);
        let keys: Vec<u64> = (f.runs..end).collect();
        if threads > 1 {
            let next = AtomicU64::new(0);
            std::thread::scope(|s| -> BenchResult<()> {
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        s.spawn(|| -> BenchResult<()> {
                            loop {
                                let j = next.fetch_add(1, Ordering::Relaxed) as usize;
                                let Some(&k) = keys.get(j) else { return Ok(()) };
                                f.system.save_metrics(
                                    0,
                                    task,
                                    &scale_config(k),
                                    &scale_metrics(k),
                                )?;
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().map_err(|_| "a fill thread panicked")??;
                }
                Ok(())
            })?;
        } else {
            f.system.fill(task, &keys, &scale_config, &scale_metrics)?;
        }
        f.runs = end;
    }
    Ok(true)
}

/// Checks that `task` holds exactly `runs` runs, each with its own metrics.
fn verify_filled(f: &Filled, task: &str, runs: u64) -> BenchResult<()> {
    let stored = f.system.reduce(task, false)?;
    if stored.len() as u64 != runs {
        return Err(format!(
            "{}: {runs} runs filled but {} stored",
            f.sys.label(),
            stored.len()
        )
        .into());
    }
    for (config, value) in &stored {
        let k = config["i"].as_u64().ok_or("config without i")?;
        if *value != scale_metrics(k) {
            return Err(format!("{}: wrong metrics for {config}", f.sys.label()).into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// W2

pub fn w2_case(lazy: bool) -> &'static str {
    if lazy {
        "W2 lazy sweep"
    } else {
        "W2 eager sweep"
    }
}

/// W2: fills every system with `o.reduce_runs` runs, then in each round loads the metrics
/// of all of them, eagerly and lazily; figures are runs/s.
pub fn w2(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    mut fluid: Option<&mut Fluidml>,
    r: &mut Results,
) -> BenchResult<()> {
    let mut fleet = Fleet::open(root, inputs)?;
    for f in &mut fleet.stores {
        grow(
            f,
            TASK_W2,
            o.reduce_runs,
            None,
            &mut fleet.sqlite_runs,
            &inputs.codecs,
        )?;
    }
    let stores = &fleet.stores;
    if let Some(fl) = fluid.as_deref_mut() {
        for kind in fluidml::Kind::ALL {
            fl.fill(kind, TASK_W2, o.reduce_runs, None)?;
        }
    }
    for rep in 0..o.reps {
        crate::run::progress(rep, "W2 reduce");
        let order: Vec<usize> = rotated(&(0..stores.len()).collect::<Vec<_>>(), rep);
        for lazy in [false, true] {
            let case = w2_case(lazy);
            for &j in &order {
                let f = &stores[j];
                f.system.reduce(TASK_W2, lazy)?; // warm-up
                // Whole reduces, repeated for the per-op phase length (one takes milliseconds).
                let measured = measure(1, Budget::Secs(o.secs_per_op), |_, _| {
                    let stored = f.system.reduce(TASK_W2, lazy)?;
                    check_reduce(&stored, o.reduce_runs, f.sys.label())?;
                    Ok(o.reduce_runs)
                })?;
                r.put(rep, case, f.sys.label(), measured.rate());
            }
            if let Some(fl) = fluid.as_deref_mut() {
                for kind in rotated(&fluidml::Kind::ALL, rep) {
                    let secs = fl.reduce(kind, TASK_W2, o.reduce_runs, lazy)?;
                    r.put(rep, case, kind.label(), o.reduce_runs as f64 / secs);
                }
            }
        }
    }
    Ok(())
}

fn check_reduce(stored: &[(Value, Value)], runs: u64, label: &str) -> BenchResult<()> {
    if stored.len() as u64 != runs {
        return Err(format!("{label}: reduce saw {} runs, not {runs}", stored.len()).into());
    }
    for (config, value) in stored {
        let k = config["i"].as_u64().ok_or("config without i")?;
        if *value != scale_metrics(k) {
            return Err(format!("{label}: reduce got wrong metrics for {config}").into());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// W3

pub fn w3_case(op: &str, runs: u64) -> String {
    format!("W3 {op} {runs}")
}

/// W3: for each size, grows every system to that many runs (untimed, within the cap except
/// for the first size), then in each round measures per-op overwrite and load costs of
/// random runs from one thread; figures are ops/s.
pub fn w3(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    mut fluid: Option<&mut Fluidml>,
    r: &mut Results,
) -> BenchResult<()> {
    let mut fleet = Fleet::open(root, inputs)?;
    let mut live = vec![true; fleet.stores.len()];
    let mut fluid_live = [true; 2];
    for (size_index, &runs) in o.sizes.iter().enumerate() {
        let cap = (size_index > 0).then_some(o.cap_secs);
        for (j, f) in fleet.stores.iter_mut().enumerate() {
            if !live[j] {
                continue;
            }
            let start = Instant::now();
            if grow(
                f,
                TASK_W3,
                runs,
                cap,
                &mut fleet.sqlite_runs,
                &inputs.codecs,
            )? {
                verify_filled(f, TASK_W3, runs)?;
                eprintln!(
                    "  W3: {} filled to {runs} runs ({:.1} s)",
                    f.sys.label(),
                    start.elapsed().as_secs_f64()
                );
            } else {
                live[j] = false;
                stopped(
                    r,
                    format!(
                        "W3: {} stops at {} runs: growing to {runs} took more than the {} s cap",
                        f.sys.label(),
                        o.sizes[size_index - 1],
                        o.cap_secs
                    ),
                );
            }
        }
        if let Some(fl) = fluid.as_deref_mut() {
            for (k, kind) in fluidml::Kind::ALL.into_iter().enumerate() {
                if !fluid_live[k] {
                    continue;
                }
                let (have, secs) = fl.fill(kind, TASK_W3, runs, cap)?;
                if have < runs {
                    fluid_live[k] = false;
                    stopped(
                        r,
                        format!(
                            "W3: {} stops at {} runs: growing to {runs} took more than the {} s cap (reached {have})",
                            kind.label(),
                            o.sizes[size_index - 1],
                            o.cap_secs
                        ),
                    );
                } else {
                    eprintln!("  W3: {} filled to {runs} runs ({secs:.1} s)", kind.label());
                }
            }
        }
        for rep in 0..o.reps {
            crate::run::progress(rep, &format!("W3 {runs} runs"));
            let order: Vec<usize> = rotated(&(0..fleet.stores.len()).collect::<Vec<_>>(), rep);
            for &j in &order {
                if !live[j] {
                    continue;
                }
                let f = &fleet.stores[j];
                let (save, load) = per_op(f, runs, o.secs_per_op, rep as u64)?;
                r.put(rep, &w3_case("save", runs), f.sys.label(), save);
                r.put(rep, &w3_case("load", runs), f.sys.label(), load);
            }
            if let Some(fl) = fluid.as_deref_mut() {
                for (k, kind) in fluidml::Kind::ALL.into_iter().enumerate() {
                    if fluid_live[k] {
                        let (save, load) = fl.scale(kind, TASK_W3, runs, o.secs_per_op, WARMUP)?;
                        r.put(rep, &w3_case("save", runs), kind.label(), save);
                        r.put(rep, &w3_case("load", runs), kind.label(), load);
                    }
                }
            }
        }
    }
    Ok(())
}

/// (overwrites/s, loads/s) of random runs of a task of `runs` runs, after a warm-up.
fn per_op(f: &Filled, runs: u64, secs: f64, seed: u64) -> BenchResult<(f64, f64)> {
    let pick = |i: u64| splitmix(i ^ splitmix(seed)) % runs;
    let save = |i: u64| -> BenchResult<u64> {
        let k = pick(i);
        f.system
            .save_metrics(0, TASK_W3, &scale_config(k), &scale_metrics(k))?;
        Ok(1)
    };
    let load = |i: u64| -> BenchResult<u64> {
        let k = pick(i);
        let value = f.system.load_metrics(TASK_W3, &scale_config(k))?;
        if value != Some(scale_metrics(k)) {
            return Err(format!("{}: wrong metrics for run {k}", f.sys.label()).into());
        }
        Ok(1)
    };
    for i in 0..WARMUP {
        save(u64::MAX - i)?;
        load(u64::MAX - i)?;
    }
    settle()?;
    let saves = measure(1, Budget::Secs(secs), |_, i| save(i))?;
    let loads = measure(1, Budget::Secs(secs), |_, i| load(i))?;
    Ok((saves.rate(), loads.rate()))
}
