//! kill -9 supervisor (issue 4, item 2): a child process runs a multi-threaded sweep workload
//! on a [`RedbStore`] and is killed with SIGKILL at random moments; each next child reopens
//! the same store (recovery in a fresh process), reports everything in it, and is checked
//! against an oracle of the operations the killed children had acknowledged.
//!
//! Protocol (child stdout, one line per event, each written with one `write` and flushed):
//! the child announces every operation *before* issuing it (`b`, with the blake3 of a value
//! being saved) and acknowledges it (`a`) only after the call returned `Ok`. So after a kill
//! the parent knows, per worker, the acknowledged history and at most one operation in
//! flight. Every worker owns its own runs, so its keys change only through its own,
//! sequential operations, and the store's state of a worker's runs must be exactly
//! - the state the acknowledged operations produce, or
//! - that state with the in-flight operation applied wholly (a save's exact new value, a
//!   delete, a whole `delete_run`),
//!
//! and nothing else: no lost acknowledged write, no resurrected acknowledged delete, no
//! partial, torn or foreign value (values are compared by blake3 and length, and loading them
//! verifies their content hash). The oracle then takes whichever outcome was found, and the
//! next child continues the workload in the same, growing store.
//!
//! The workload: 8 worker threads, 3 runs each with 5 result names; saves of `json` values
//! (up to a few KiB) and `bytes` values (up to 16 KiB inline, and 64–96 KiB so blob files are
//! written), values shared between workers (content deduplication), overwrites, deletes,
//! `delete_run`, marking runs finished, and an occasional `gc` racing the saves. Half the
//! children checkpoint every 256 KiB of WAL, so kills also land in checkpoints.
//!
//! Kill moments ([`Mix::Workload`], the CI and the long variant): mostly a random delay
//! (0–2 ms, 0–30 ms, 0–150 ms, now and then 150–800 ms) after the child reports that its
//! workload started, so kills land mid-batch; one in ten 0–40 ms after the store opened, so
//! kills also land in the report and in the first batches. [`Mix::Recovery`] kills anywhere
//! from the spawn to just past the end of the open, i.e. mostly inside recovery; it finds a
//! bug (see [`kill_nines_during_recovery_never_leave_the_store_unopenable`]), which is why
//! the workload mix does not kill before the open returned.
//!
//! Controls: every child must end by SIGKILL (not on its own); the number of kills with
//! operations in flight must be positive, as must the number of in-flight operations that
//! were rolled back; the number of acknowledged operations checked must be large, and
//! include blob-sized saves, deletes, `delete_run`s and gcs.
//!
//! Counts are printed at the end of each test (`cargo test --test crash -- kill9:: --nocapture`).
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::shared::child_test;
use serde_json::json;
use sweepstore::{
    Error, RedbOptions, RedbStore, Result, ResultName, ResultsStore, RunState, StoreExt,
    UniqueConfig,
};

const STORE_ENV: &str = "SWEEPSTORE_KILL9_STORE";
const SEED_ENV: &str = "SWEEPSTORE_KILL9_SEED";
const MODE_ENV: &str = "SWEEPSTORE_KILL9_MODE";
const CHILD_TEST: &str = "child_recovers_reports_the_store_and_runs_the_workload_until_killed";

const WORKERS: u32 = 8;
const RUNS: u32 = 3;
const NAMES: u32 = 5;
const TASK: &str = "sweep";
const INLINE_LIMIT: usize = 64 * 1024;
/// A child that lives this long was not killed: it stops (and the parent fails).
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
/// How long the parent waits for a child to start its workload.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

use crate::shared::{io, io_err, plumbing};

/// A check against the oracle failed.
fn failure(message: impl Into<String>) -> Error {
    plumbing("check the recovered store against the oracle", message)
}

fn config(worker: u32, run: u32) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "worker": worker, "run": run }))?)
}

fn result_name(n: u32) -> String {
    format!("n{n}")
}

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

use crate::shared::rng::Rng;

/// A stored value as the oracle knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Val {
    type_name: String,
    blake3: String,
    len: usize,
}

impl Val {
    fn of(type_name: &str, bytes: &[u8]) -> Self {
        Val {
            type_name: type_name.to_owned(),
            blake3: hex(bytes),
            len: bytes.len(),
        }
    }
}

/// One run of a worker: its state and its results by name index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunModel {
    state: String,
    values: BTreeMap<u32, Val>,
}

/// Everything a worker owns: its runs by index (absent = the run does not exist).
type WorkerModel = BTreeMap<u32, RunModel>;

const RUNNING: &str = "running";
const FINISHED: &str = "finished";

/// A workload operation as announced and modelled (values by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Save { run: u32, name: u32, val: Val },
    Delete { run: u32, name: u32 },
    DeleteRun { run: u32 },
    Finish { run: u32 },
    Gc,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Save { run, name, val } => write!(
                f,
                "save {run} {name} {} {} {}",
                val.type_name, val.blake3, val.len
            ),
            Op::Delete { run, name } => write!(f, "delete {run} {name}"),
            Op::DeleteRun { run } => write!(f, "delete_run {run}"),
            Op::Finish { run } => write!(f, "finish {run}"),
            Op::Gc => write!(f, "gc"),
        }
    }
}

fn num<T: std::str::FromStr>(token: Option<&str>, line: &str) -> Result<T> {
    token
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| plumbing("parse a line of the child", line))
}

fn word<'a>(token: Option<&'a str>, line: &str) -> Result<&'a str> {
    token.ok_or_else(|| plumbing("parse a line of the child", line))
}

impl Op {
    fn parse<'a>(mut tokens: impl Iterator<Item = &'a str>, line: &str) -> Result<Self> {
        Ok(match word(tokens.next(), line)? {
            "save" => Op::Save {
                run: num(tokens.next(), line)?,
                name: num(tokens.next(), line)?,
                val: Val {
                    type_name: word(tokens.next(), line)?.to_owned(),
                    blake3: word(tokens.next(), line)?.to_owned(),
                    len: num(tokens.next(), line)?,
                },
            },
            "delete" => Op::Delete {
                run: num(tokens.next(), line)?,
                name: num(tokens.next(), line)?,
            },
            "delete_run" => Op::DeleteRun {
                run: num(tokens.next(), line)?,
            },
            "finish" => Op::Finish {
                run: num(tokens.next(), line)?,
            },
            "gc" => Op::Gc,
            _ => return Err(plumbing("parse an operation", line)),
        })
    }

    /// Applies the op to a worker's model; for deletes, whether something was deleted.
    fn apply(&self, model: &mut WorkerModel) -> Option<bool> {
        match self {
            Op::Save { run, name, val } => {
                model
                    .entry(*run)
                    .or_insert_with(|| RunModel {
                        state: RUNNING.to_owned(),
                        values: BTreeMap::new(),
                    })
                    .values
                    .insert(*name, val.clone());
                None
            }
            Op::Delete { run, name } => Some(
                model
                    .get_mut(run)
                    .is_some_and(|r| r.values.remove(name).is_some()),
            ),
            Op::DeleteRun { run } => Some(model.remove(run).is_some()),
            Op::Finish { run } => {
                model
                    .entry(*run)
                    .or_insert_with(|| RunModel {
                        state: RUNNING.to_owned(),
                        values: BTreeMap::new(),
                    })
                    .state = FINISHED.to_owned();
                None
            }
            Op::Gc => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The child.

/// Writes one line to stdout with one `write`, flushed, so the parent sees it at once and a
/// kill never splits it (a partial last line would be ignored anyway).
fn emit(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{line}\n").as_bytes())
        .and_then(|()| out.flush())
        .map_err(io_err("report to the supervising test"))
}

/// A value shared by all workers (and all children): saved by several names at once, it
/// exercises content deduplication, and gc of content that is about to be saved again.
fn pooled(i: u64) -> Vec<u8> {
    let len = [100, 5_000, 70_000, 90_000][(i % 4) as usize];
    Rng::new(1_000 + i).bytes(len)
}

/// Picks the next operation of worker `w`, with the value to save if it is a save.
fn next_op(rng: &mut Rng, seed: u64, w: u32, seq: u64) -> (Op, Option<Payload>) {
    let run = rng.below_u64(u64::from(RUNS)) as u32;
    let name = rng.below_u64(u64::from(NAMES)) as u32;
    let roll = rng.below_u64(100);
    let payload = match roll {
        0..=44 => {
            let pad = rng.below_u64(3_000) as usize;
            let value = json!({ "worker": w, "seed": seed, "seq": seq, "pad": rng.letters(pad) });
            Payload::Json(value)
        }
        45..=59 => {
            let len = 1 + rng.below_u64(16 * 1024) as usize;
            Payload::Bytes(rng.bytes(len))
        }
        60..=64 => {
            let len = INLINE_LIMIT + 1 + rng.below_u64(32 * 1024) as usize;
            Payload::Bytes(rng.bytes(len))
        }
        65..=69 => Payload::Bytes(pooled(rng.below_u64(4))),
        70..=83 => return (Op::Delete { run, name }, None),
        84..=89 => return (Op::Finish { run }, None),
        90..=94 => return (Op::DeleteRun { run }, None),
        99 if w == 0 => return (Op::Gc, None),
        _ => Payload::Json(json!({ "worker": w, "seed": seed, "seq": seq })),
    };
    let val = match &payload {
        Payload::Json(value) => match serde_json::to_vec(value) {
            Ok(bytes) => Val::of("json", &bytes),
            Err(_) => Val::of("json", b""),
        },
        Payload::Bytes(bytes) => Val::of("bytes", bytes),
    };
    (Op::Save { run, name, val }, Some(payload))
}

/// What a save stores.
enum Payload {
    /// Saved through the `json` codec (which writes `serde_json::to_vec`).
    Json(serde_json::Value),
    /// Saved as raw `bytes`.
    Bytes(Vec<u8>),
}

/// Issues one operation; for deletes, what the store answered.
fn perform(store: &RedbStore, w: u32, op: &Op, payload: Option<Payload>) -> Result<Option<bool>> {
    match (op, payload) {
        (Op::Save { run, name, .. }, Some(Payload::Json(value))) => {
            let run = store.run(TASK, &config(w, *run)?)?;
            run.save(&result_name(*name), "json", &value)?;
            Ok(None)
        }
        (Op::Save { run, name, .. }, Some(Payload::Bytes(bytes))) => {
            let run = store.run(TASK, &config(w, *run)?)?;
            run.save_bytes(&result_name(*name), "bytes", &bytes)?;
            Ok(None)
        }
        (Op::Save { .. }, None) => Err(plumbing("save", "no payload")),
        (Op::Delete { run, name }, _) => Ok(Some(
            store
                .run(TASK, &config(w, *run)?)?
                .delete(&result_name(*name))?,
        )),
        (Op::DeleteRun { run }, _) => Ok(Some(store.run(TASK, &config(w, *run)?)?.delete_run()?)),
        (Op::Finish { run }, _) => {
            store.run(TASK, &config(w, *run)?)?.finish()?;
            Ok(None)
        }
        (Op::Gc, _) => {
            store.gc(false)?;
            Ok(None)
        }
    }
}

/// One worker of the child: announce, issue, acknowledge, until killed (or until
/// [`CHILD_LIFETIME`] passed, which the parent reports as a failure).
fn worker(store: &RedbStore, seed: u64, w: u32) -> Result<()> {
    let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(u64::from(w)));
    let started = Instant::now();
    let mut seq = 0_u64;
    while started.elapsed() < CHILD_LIFETIME {
        seq += 1;
        let (op, payload) = next_op(&mut rng, seed, w, seq);
        emit(&format!("@@ b {w} {seq} {op}"))?;
        let answer = match perform(store, w, &op, payload) {
            Ok(answer) => answer,
            Err(e) => {
                emit(&format!("@@ error worker {w} op {seq} ({op}): {e}"))?;
                std::process::exit(3);
            }
        };
        let answer = answer.map_or_else(|| "-".to_owned(), |b| b.to_string());
        emit(&format!("@@ a {w} {seq} {answer}"))?;
    }
    Ok(())
}

/// Reports every run and value of the workload's key space (`s` and `v` lines).
fn report_contents(store: &RedbStore) -> Result<()> {
    for w in 0..WORKERS {
        for r in 0..RUNS {
            let run = store.run(TASK, &config(w, r)?)?;
            let Some(state) = run.state()? else {
                continue;
            };
            let state = match state {
                RunState::Running => RUNNING,
                RunState::Finished => FINISHED,
                RunState::Failed => "failed",
            };
            emit(&format!("@@ s {w} {r} {state}"))?;
            for n in 0..NAMES {
                let name = ResultName::new(&result_name(n))?;
                if let Some((type_name, bytes)) = store.load_bytes(run.id(), &name)? {
                    let val = Val::of(&type_name, &bytes);
                    emit(&format!(
                        "@@ v {w} {r} {n} {} {} {}",
                        val.type_name, val.blake3, val.len
                    ))?;
                }
            }
        }
    }
    Ok(())
}

fn child_body(dir: PathBuf, seed: u64, check_only: bool) -> Result<()> {
    let options = if seed.is_multiple_of(2) {
        RedbOptions::default().checkpoint_wal_bytes(256 * 1024)
    } else {
        RedbOptions::default()
    };
    let store = RedbStore::open(dir, options)?;
    emit("@@ opened")?;
    report_contents(&store)?;
    emit("@@ reported")?;
    if check_only {
        store.close()?;
        return emit("@@ closed");
    }
    emit("@@ ready")?;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let store = &store;
                scope.spawn(move || worker(store, seed, w))
            })
            .collect();
        workers.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| plumbing("join a worker", "it panicked"))?
        })
    })
}

/// Runs in a child process (started by the supervisor): opens the store (recovering it),
/// reports its contents, then runs the workload until killed — or, in check mode, closes.
#[test]
fn child_recovers_reports_the_store_and_runs_the_workload_until_killed() -> Result<()> {
    let Some(dir) = std::env::var_os(STORE_ENV) else {
        return Ok(());
    };
    // libtest may have written "test … " without a newline: start a fresh line.
    emit("")?;
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let check_only = std::env::var(MODE_ENV).is_ok_and(|m| m == "check");
    let outcome = child_body(PathBuf::from(dir), seed, check_only);
    if let Err(e) = &outcome {
        emit(&format!("@@ error {e}"))?;
    }
    outcome
}

// ---------------------------------------------------------------------------------------
// The supervisor.

/// When to kill a child.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// This long after the spawn: in recovery, in the report, or early in the workload.
    Spawn(Duration),
    /// This long after the child's store opened (recovery done): in the report, or early
    /// in the workload.
    Opened(Duration),
    /// This long after the child reported that its workload started.
    Ready(Duration),
}

/// Which kill moments a supervisor picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Mostly mid-workload, some in the report of the store's contents.
    Workload,
    /// Anywhere from the spawn to a little past the end of the open (recovery).
    Recovery,
}

impl Plan {
    /// `open_time`: how long a child's open has been taking (spawn to `opened`).
    fn pick(rng: &mut Rng, mix: Mix, open_time: Duration) -> Self {
        let micros = |rng: &mut Rng, max: u64| Duration::from_micros(rng.below_u64(max));
        if mix == Mix::Recovery {
            let span = open_time.as_micros() as u64 * 5 / 4;
            return Plan::Spawn(micros(rng, span.max(1)));
        }
        match rng.below_u64(100) {
            0..=9 => Plan::Opened(micros(rng, 40_000)),
            10..=34 => Plan::Ready(micros(rng, 2_000)),
            35..=69 => Plan::Ready(micros(rng, 30_000)),
            70..=91 => Plan::Ready(micros(rng, 150_000)),
            // Long enough for a gc (which checkpoints) to finish now and then.
            _ => Plan::Ready(Duration::from_millis(150) + micros(rng, 650_000)),
        }
    }
}

/// Counts reported at the end of a run.
#[derive(Debug, Default)]
struct Stats {
    kill_points: u64,
    kills_with_ops_in_flight: u64,
    ops_in_flight_at_kills: u64,
    kills_before_open_returned: u64,
    kills_before_workload: u64,
    in_flight_found_applied: u64,
    in_flight_found_rolled_back: u64,
    in_flight_without_effect: u64,
    acked_saves: u64,
    acked_blob_saves: u64,
    acked_deletes: u64,
    acked_delete_runs: u64,
    acked_finishes: u64,
    acked_gcs: u64,
    reports_checked: u64,
    values_compared: u64,
    absences_checked: u64,
    run_states_checked: u64,
}

impl Stats {
    fn acked_writes(&self) -> u64 {
        self.acked_saves + self.acked_finishes
    }

    fn acked_deletes_all(&self) -> u64 {
        self.acked_deletes + self.acked_delete_runs
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kill points: {} ({} with operations in flight, {} operations in flight in all; \
             {} before the open returned, {} before the workload started)",
            self.kill_points,
            self.kills_with_ops_in_flight,
            self.ops_in_flight_at_kills,
            self.kills_before_open_returned,
            self.kills_before_workload
        )?;
        writeln!(
            f,
            "in-flight operations found after recovery: {} applied (durable, unacknowledged), \
             {} rolled back, {} without visible effect",
            self.in_flight_found_applied,
            self.in_flight_found_rolled_back,
            self.in_flight_without_effect
        )?;
        writeln!(
            f,
            "acknowledged writes checked: {} ({} saves, {} of them blob-sized, {} finishes); \
             acknowledged deletes checked: {} ({} deletes, {} delete_runs); {} gcs",
            self.acked_writes(),
            self.acked_saves,
            self.acked_blob_saves,
            self.acked_finishes,
            self.acked_deletes_all(),
            self.acked_deletes,
            self.acked_delete_runs,
            self.acked_gcs
        )?;
        write!(
            f,
            "recovered stores checked: {} ({} values compared by blake3, {} absences, {} run \
             states)",
            self.reports_checked,
            self.values_compared,
            self.absences_checked,
            self.run_states_checked
        )
    }
}

/// The parent: the store, the oracle and the counts.
struct Supervisor {
    /// Removes the store when the test passes; taken (kept) when it fails.
    guard: Option<tempfile::TempDir>,
    /// The directory holding the store.
    dir: PathBuf,
    exe: PathBuf,
    /// The previous kill, for failure reports.
    previous: String,
    /// How long the last child that got that far took to open the store.
    open_time: Duration,
    /// What the acknowledged operations produced, per worker.
    model: Vec<WorkerModel>,
    /// Per worker: the announced, unacknowledged operation (sequence number and op).
    in_flight: Vec<Option<(u64, Op)>>,
    stats: Stats,
}

/// A child and the threads reading its output.
struct Running {
    child: Child,
    /// The child's whole lines, with the moment each arrived.
    lines: Receiver<(Instant, String)>,
    spawned: Instant,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

impl Supervisor {
    fn new() -> Result<Self> {
        let guard = crate::shared::tempdir()?;
        let dir = guard.path().to_owned();
        let exe = std::env::current_exe().map_err(io("find the test binary", &dir))?;
        Ok(Supervisor {
            guard: Some(guard),
            dir,
            exe,
            previous: "none".to_owned(),
            open_time: Duration::from_millis(50),
            model: vec![WorkerModel::new(); WORKERS as usize],
            in_flight: vec![None; WORKERS as usize],
            stats: Stats::default(),
        })
    }

    fn spawn(&self, seed: u64, mode: &str) -> Result<Running> {
        let store = self.dir.join("store");
        let spawned = Instant::now();
        let mut child = Command::new(&self.exe)
            .args([
                "--exact",
                &child_test(module_path!(), CHILD_TEST),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(STORE_ENV, &store)
            .env(SEED_ENV, seed.to_string())
            .env(MODE_ENV, mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io("run the child", &store))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| plumbing("read the child", "no stdout"))?;
        let mut err = child
            .stderr
            .take()
            .ok_or_else(|| plumbing("read the child", "no stderr"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut line = Vec::new();
            loop {
                line.clear();
                match out.read_until(b'\n', &mut line) {
                    // Only whole lines count: a kill may cut the last one.
                    Ok(_) if line.last() == Some(&b'\n') => {
                        line.pop();
                        let text = String::from_utf8_lossy(&line).into_owned();
                        if tx.send((Instant::now(), text)).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Ok(Running {
            child,
            lines,
            spawned,
            stdout,
            stderr,
        })
    }

    /// One kill point: spawn a child, kill it as `plan` says, check what it reported.
    fn kill_once(&mut self, seed: u64, plan: Plan) -> Result<()> {
        let mut running = self.spawn(seed, "work")?;
        let mut lines = Vec::new();
        let (delay, wait_for) = match plan {
            Plan::Spawn(delay) => (delay, None),
            Plan::Opened(delay) => (delay, Some("@@ opened")),
            Plan::Ready(delay) => (delay, Some("@@ ready")),
        };
        if let Some(wait_for) = wait_for {
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match running.lines.recv_timeout(left) {
                    Ok((at, line)) => {
                        let reached = line == wait_for || line.starts_with("@@ error");
                        lines.push((at, line));
                        if reached {
                            break;
                        }
                    }
                    // The child ended on its own; the exit status check below says so.
                    Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(plumbing("wait for the child", "it never started"));
                    }
                }
            }
        }
        std::thread::sleep(delay);
        running
            .child
            .kill()
            .map_err(io("kill the child", &self.dir))?;
        let status = running
            .child
            .wait()
            .map_err(io("wait for the child", &self.dir))?;
        lines.extend(running.lines.iter());
        if let Some((at, _)) = lines.iter().find(|(_, l)| l == "@@ opened") {
            self.open_time = at.saturating_duration_since(running.spawned);
        }
        let lines: Vec<String> = lines.into_iter().map(|(_, line)| line).collect();
        running
            .stdout
            .join()
            .map_err(|_| plumbing("read the child", "the reader panicked"))?;
        let stderr = running
            .stderr
            .join()
            .map_err(|_| plumbing("read the child", "the reader panicked"))?;
        let context = || {
            format!(
                "seed {seed}, {plan:?}, status {status}; last lines:\n{}\nstderr:\n{stderr}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            )
        };
        // Control: the kill, not the child, ended the child.
        if status.signal() != Some(9) {
            return Err(failure(format!("not killed by SIGKILL: {}", context())));
        }
        self.stats.kill_points += 1;
        self.absorb(&lines)
            .map_err(|e| failure(format!("{e}\n{}", context())))?;
        let opened = lines.iter().any(|l| l == "@@ opened");
        let started = lines.iter().any(|l| l == "@@ ready");
        let in_flight = self.in_flight.iter().flatten().count() as u64;
        if !opened {
            self.stats.kills_before_open_returned += 1;
        }
        if !started {
            self.stats.kills_before_workload += 1;
        } else if in_flight > 0 {
            self.stats.kills_with_ops_in_flight += 1;
            self.stats.ops_in_flight_at_kills += in_flight;
        }
        self.previous = format!(
            "seed {seed}, {plan:?}, opened: {opened}, workload started: {started}, {in_flight} \
             ops in flight; last lines:\n{}",
            lines[lines.len().saturating_sub(5)..].join("\n")
        );
        Ok(())
    }

    /// Keeps the store directory for inspection and describes its WAL; for failure reports.
    fn preserve(&mut self) -> String {
        if let Some(guard) = self.guard.take() {
            let _ = guard.keep();
        }
        let wal = self.dir.join("store").join("wal");
        let mut listing = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&wal) {
            for entry in entries.flatten() {
                let len = entry.metadata().map_or(0, |m| m.len());
                listing.push(format!(
                    "  {} ({len} bytes)",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
        listing.sort();
        format!(
            "the store is kept at {}; its WAL segments:\n{}\nthe kill before: {}",
            self.dir.join("store").display(),
            listing.join("\n"),
            self.previous
        )
    }

    /// The final check: a child that opens, reports and closes cleanly.
    fn check_last(&mut self) -> Result<()> {
        let running = self.spawn(0, "check")?;
        let lines: Vec<String> = running.lines.iter().map(|(_, line)| line).collect();
        let mut child = running.child;
        let status = child.wait().map_err(io("wait for the child", &self.dir))?;
        let stderr = running.stderr.join().unwrap_or_default();
        if !status.success() || !lines.iter().any(|l| l == "@@ closed") {
            return Err(failure(format!(
                "the checking child failed ({status}): {}\n{stderr}",
                lines.join("\n")
            )));
        }
        self.absorb(&lines)?;
        if self.in_flight.iter().any(Option::is_some) {
            return Err(failure("the final check left operations unresolved"));
        }
        Ok(())
    }

    /// Applies a child's lines to the oracle, checking its report of the store.
    fn absorb(&mut self, lines: &[String]) -> Result<()> {
        let mut reported = vec![WorkerModel::new(); WORKERS as usize];
        let mut report_done = false;
        for line in lines {
            let Some(rest) = line.strip_prefix("@@ ") else {
                continue;
            };
            let mut tokens = rest.split(' ');
            match word(tokens.next(), line)? {
                "opened" | "ready" | "closed" => {}
                "error" => return Err(plumbing("run the workload", line.clone())),
                "s" => {
                    let w: usize = num(tokens.next(), line)?;
                    let r: u32 = num(tokens.next(), line)?;
                    let state = word(tokens.next(), line)?.to_owned();
                    let slot = reported
                        .get_mut(w)
                        .ok_or_else(|| plumbing("parse", line.clone()))?;
                    slot.insert(
                        r,
                        RunModel {
                            state,
                            values: BTreeMap::new(),
                        },
                    );
                }
                "v" => {
                    let w: usize = num(tokens.next(), line)?;
                    let r: u32 = num(tokens.next(), line)?;
                    let n: u32 = num(tokens.next(), line)?;
                    let val = Val {
                        type_name: word(tokens.next(), line)?.to_owned(),
                        blake3: word(tokens.next(), line)?.to_owned(),
                        len: num(tokens.next(), line)?,
                    };
                    reported
                        .get_mut(w)
                        .and_then(|m| m.get_mut(&r))
                        .ok_or_else(|| plumbing("parse (a value outside a run)", line.clone()))?
                        .values
                        .insert(n, val);
                }
                "reported" => {
                    self.check_report(&reported)?;
                    report_done = true;
                }
                "b" | "a" if !report_done => {
                    return Err(plumbing("parse", format!("work before the report: {line}")));
                }
                "b" => {
                    let w: usize = num(tokens.next(), line)?;
                    let seq: u64 = num(tokens.next(), line)?;
                    let op = Op::parse(tokens, line)?;
                    let slot = self
                        .in_flight
                        .get_mut(w)
                        .ok_or_else(|| plumbing("parse", line.clone()))?;
                    if let Some((earlier, _)) = slot {
                        return Err(plumbing(
                            "parse",
                            format!("worker {w} began {seq} with {earlier} unacknowledged"),
                        ));
                    }
                    *slot = Some((seq, op));
                }
                "a" => {
                    let w: usize = num(tokens.next(), line)?;
                    let seq: u64 = num(tokens.next(), line)?;
                    let answer = word(tokens.next(), line)?;
                    let Some((begun, op)) = self.in_flight.get_mut(w).and_then(Option::take) else {
                        return Err(plumbing("parse", format!("unannounced ack: {line}")));
                    };
                    if begun != seq {
                        return Err(plumbing("parse", format!("ack of {seq}, {begun} began")));
                    }
                    let expected = op.apply(&mut self.model[w]);
                    let expected = expected.map_or_else(|| "-".to_owned(), |b| b.to_string());
                    if answer != expected {
                        return Err(failure(format!(
                            "worker {w} op {seq} ({op}) answered {answer}, the oracle says \
                             {expected}"
                        )));
                    }
                    self.count_ack(&op);
                }
                _ => return Err(plumbing("parse", format!("unknown line: {line}"))),
            }
        }
        Ok(())
    }

    fn count_ack(&mut self, op: &Op) {
        let s = &mut self.stats;
        match op {
            Op::Save { val, .. } => {
                s.acked_saves += 1;
                if val.len > INLINE_LIMIT {
                    s.acked_blob_saves += 1;
                }
            }
            Op::Delete { .. } => s.acked_deletes += 1,
            Op::DeleteRun { .. } => s.acked_delete_runs += 1,
            Op::Finish { .. } => s.acked_finishes += 1,
            Op::Gc => s.acked_gcs += 1,
        }
    }

    /// Checks a recovered store against the oracle: per worker, exactly the acknowledged
    /// state, or that state with its in-flight operation applied wholly. The oracle takes
    /// the outcome found, and nothing is in flight any more.
    fn check_report(&mut self, reported: &[WorkerModel]) -> Result<()> {
        for (w, found) in reported.iter().enumerate() {
            let acked = &self.model[w];
            match self.in_flight[w].take() {
                None if found != acked => {
                    return Err(failure(format!(
                        "worker {w}: the recovered store differs from the acknowledged \
                         operations (nothing was in flight):\n{}",
                        diff(acked, found)
                    )));
                }
                None => {}
                Some((seq, op)) => {
                    let mut applied = acked.clone();
                    op.apply(&mut applied);
                    if applied == *acked {
                        self.stats.in_flight_without_effect += 1;
                    } else if found == acked {
                        self.stats.in_flight_found_rolled_back += 1;
                    } else if *found == applied {
                        self.stats.in_flight_found_applied += 1;
                    }
                    if found != acked && *found != applied {
                        return Err(failure(format!(
                            "worker {w}: the recovered store is neither the acknowledged state \
                             nor that state with in-flight op {seq} ({op}) applied wholly.\n\
                             against the acknowledged state:\n{}\nagainst the state with the \
                             op applied:\n{}",
                            diff(acked, found),
                            diff(&applied, found)
                        )));
                    }
                    self.model[w] = found.clone();
                }
            }
            let present: u64 = found.values().map(|r| r.values.len() as u64).sum();
            self.stats.values_compared += present;
            self.stats.absences_checked += u64::from(RUNS * NAMES) - present;
            self.stats.run_states_checked += u64::from(RUNS);
        }
        self.stats.reports_checked += 1;
        Ok(())
    }
}

/// The differences between an expected and a found worker state, one per line.
fn diff(expected: &WorkerModel, found: &WorkerModel) -> String {
    let mut out = Vec::new();
    for r in 0..RUNS {
        let (e, f) = (expected.get(&r), found.get(&r));
        let state = |m: Option<&RunModel>| m.map_or("absent".to_owned(), |m| m.state.clone());
        if state(e) != state(f) {
            out.push(format!(
                "run {r}: state {} expected, {} found",
                state(e),
                state(f)
            ));
        }
        for n in 0..NAMES {
            let ev = e.and_then(|m| m.values.get(&n));
            let fv = f.and_then(|m| m.values.get(&n));
            if ev != fv {
                out.push(format!("run {r} name {n}: {ev:?} expected, {fv:?} found"));
            }
        }
    }
    out.join("\n")
}

/// Runs `kill_points` kills and the final check; prints and returns the counts.
fn supervise(kill_points: u64, base_seed: u64, mix: Mix) -> Result<Stats> {
    let started = Instant::now();
    let mut supervisor = Supervisor::new()?;
    let mut rng = Rng::new(base_seed);
    for i in 0..kill_points {
        let plan = Plan::pick(&mut rng, mix, supervisor.open_time);
        if let Err(e) = supervisor.kill_once(base_seed.wrapping_add(i), plan) {
            panic!("kill point {i}: {e}\n{}", supervisor.preserve());
        }
    }
    if let Err(e) = supervisor.check_last() {
        panic!("final check: {e}\n{}", supervisor.preserve());
    }
    let stats = supervisor.stats;
    println!(
        "kill -9 supervisor ({mix:?} mix), {kill_points} kill points in {:.1?}:\n{stats}",
        started.elapsed()
    );
    Ok(stats)
}

/// The controls every variant asserts.
fn assert_controls(stats: &Stats, kill_points: u64) {
    assert_eq!(stats.kill_points, kill_points);
    // The kills interrupted work: operations were in flight, and some of them were lost
    // (rolled back) because the kill came before their batch was logged.
    assert!(
        stats.kills_with_ops_in_flight > 0,
        "no kill landed mid-work\n{stats}"
    );
    assert!(
        stats.in_flight_found_rolled_back > 0,
        "no in-flight operation was interrupted before it was logged\n{stats}"
    );
    // Enough acknowledged work was checked, of every kind.
    assert!(
        stats.acked_writes() >= 10 * kill_points,
        "too few acknowledged writes\n{stats}"
    );
    assert!(stats.acked_blob_saves > 0, "no blob-sized save\n{stats}");
    assert!(
        stats.acked_deletes > 0 && stats.acked_delete_runs > 0,
        "no deletes\n{stats}"
    );
    assert!(stats.acked_gcs > 0, "no gc\n{stats}");
}

#[test]
fn two_hundred_kill_nines_lose_no_acknowledged_operation_and_tear_no_value() -> Result<()> {
    let stats = supervise(200, 0x5157_0000, Mix::Workload)?;
    assert_controls(&stats, 200);
    Ok(())
}

/// The long run: `cargo test --test crash -- kill9:: --ignored --nocapture`.
#[test]
#[ignore = "long: 5000 kill points (run with --ignored)"]
fn five_thousand_kill_nines_lose_no_acknowledged_operation_and_tear_no_value() -> Result<()> {
    let stats = supervise(5_000, 0x5157_1000, Mix::Workload)?;
    assert_controls(&stats, 5_000);
    Ok(())
}

/// Kills aimed at recovery: each child is killed at a random moment between its spawn and a
/// little past the time an open has been taking, so most kills land inside `RedbStore::open`
/// (lock, redb, format check, WAL replay, new segment, checkpoint, removal of old segments)
/// of a store whose newest segment is usually still empty. Recovery must be restartable
/// after a crash anywhere in it (docs/design.md §10.5: "A crash during recovery leaves the
/// previous checkpoint and the log, so recovery runs again").
///
/// Bug: it is not. When the segment the checkpoint names as `wal_head` holds no record,
/// Regression: recovery used to unlink the record-less WAL-head segment and only then
/// create its replacement and commit the new checkpoint; a kill between the two left a
/// checkpoint naming a segment that no longer existed, and every later open failed with
/// `WalCorrupt` ("missing"). Segments are now created under a temporary name and renamed
/// over the old one, so a file of that name exists at every moment.
#[test]
fn kill_nines_during_recovery_never_leave_the_store_unopenable() -> Result<()> {
    let stats = supervise(300, 0x5157_2000, Mix::Recovery)?;
    assert_eq!(stats.kill_points, 300);
    // Control: the kills landed inside the open.
    assert!(
        stats.kills_before_open_returned >= 100,
        "too few kills landed in recovery\n{stats}"
    );
    Ok(())
}
