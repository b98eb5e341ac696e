//! Engine benchmark: [`RedbStore`] against raw baselines measured in the same process.
//!
//! Every figure is the median of `--reps` repetitions (with min–max). Each repetition runs a
//! baseline and the sweepstore measurement it is compared with back to back, alternating which
//! goes first, so both see the same machine and disk state (the disk of the dev machine flips
//! between fast and slow fsync modes). A ratio is the median of the per-repetition ratios
//! `sweepstore ÷ baseline`. Every phase that syncs starts after a system-wide `sync`, so it
//! does not pay for the writeback of the phase before; every read phase starts after one
//! untimed pass over the keys it reads (warm caches).
//!
//! Baselines (all on a temp dir under `target/`, the filesystem the stores use):
//! 1. a raw `write` + `fdatasync` loop appending 1 KiB records to one file (ops/s, latency);
//! 2. raw redb, one durable (`Durability::Immediate`) write transaction per 1 KiB insert, from
//!    1 and from 16 threads;
//! 3. raw redb, 1000 1 KiB inserts per durable transaction;
//! 4. raw redb point read of a 1 KiB value in a fresh read transaction;
//! 5. raw sequential write of 1 MiB chunks, then `fsync` (MiB/s).
//!
//! sweepstore (`RedbStore`, default options, `Durability::Immediate`):
//! - durable saves/s of distinct 1 KiB `bytes` values from 1, 4 and 16 worker threads, each save
//!   to its own run (config `{"worker": t, "i": i}`, built inside the timed loop as a user would);
//! - the median latency of one save from one worker;
//! - loads of a 1 KiB result (`run.load::<Vec<u8>>` and `load_lazy` + `bytes()`) from one
//!   thread, cycling through handles on 4096 random runs built before the clock starts;
//! - the per-op cost of durable saves (16 workers, new runs) and of loads in a store of
//!   `--runs-small` runs (a fresh one per repetition) versus one of `--runs-large` runs (filled
//!   once by 32 threads with `Durability::Relaxed`, measured with `Immediate`), in interleaved
//!   rounds;
//! - a large value streamed through `run.open(name, "wb", None)` + `close()` (MiB/s), and the
//!   peak RSS (`VmHWM`, which includes the process's own baseline) of a child process (this
//!   binary re-executed) that does only that.
//!
//! Run it (defaults take a few minutes on a 2-core machine):
//!
//! ```text
//! cargo bench --bench engine -- [--reps N] [--secs S] [--runs-small N] [--runs-large N]
//!                               [--stream-mib N] [--quick]
//! ```
//!
//! Defaults: 5 repetitions, 1 s phases, 10^3 vs 10^5 runs, a 256 MiB value. The issue's full
//! sizes are `--runs-large 1000000 --stream-mib 1024`. `--quick` is a smoke test (small sizes,
//! one repetition). The report is a Markdown table on stdout, also written to
//! `target/bench-engine.md`; progress goes to stderr.

mod support;

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};
use serde_json::json;
use sweepstore::{Durability, RedbOptions, RedbStore, Run, StoreExt, UniqueConfig};

use support::BenchResult;
use support::data::{pseudo_random, scratch, settle, splitmix, stamp};
use support::disk::{CHUNK_LEN, append_fdatasync, sequential_write};
use support::machine::{Machine, load_average, proc_status_kib};
use support::stats::Spread;
use support::timing::{Budget, Measured, interleave, measure, sandwich};

/// Size of every small value.
const VALUE_LEN: usize = 1024;
/// The raw redb baselines' table: 32-byte keys (like sweepstore's hashes), byte values.
const TABLE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("bench");
const REPORT_PATH: &str = "target/bench-engine.md";
/// Hidden subcommand: `<bench> __stream-child <store dir> <MiB>`.
const CHILD_COMMAND: &str = "__stream-child";
const MAX_WORKERS: usize = 16;
const FILL_THREADS: usize = 32;
const REDB_BATCH: u64 = 1000;
/// Runs a load phase cycles through.
const LOAD_POOL: u64 = 4096;
const RSS_LIMIT_MIB: f64 = 64.0;
/// Rounds per repetition of the small-vs-large store comparison (order small, large, large,
/// small, ... so slow drifts cancel).
const SCALING_ROUNDS: u64 = 4;

// ---------------------------------------------------------------------------------------
// Options

/// What to measure and how long.
#[derive(Debug, Clone)]
struct Options {
    reps: usize,
    /// Length of every timed throughput or latency phase.
    secs: f64,
    runs_small: u64,
    runs_large: u64,
    /// Durable saves per repetition and store size in the scaling comparison.
    sample_saves: u64,
    stream_mib: u64,
    quick: bool,
    /// The arguments as given (for the report).
    args: Vec<String>,
}

impl Options {
    fn full() -> Self {
        Options {
            reps: 5,
            secs: 1.0,
            runs_small: 1_000,
            runs_large: 100_000,
            sample_saves: 1_024,
            stream_mib: 256,
            quick: false,
            args: Vec::new(),
        }
    }

    fn quick() -> Self {
        Options {
            reps: 1,
            secs: 0.2,
            runs_small: 100,
            runs_large: 2_000,
            sample_saves: 256,
            stream_mib: 16,
            quick: true,
            args: Vec::new(),
        }
    }

    /// Saves per worker and round in the scaling comparison.
    fn sample_saves_per_round(&self) -> u64 {
        (self.sample_saves / SCALING_ROUNDS / MAX_WORKERS as u64).max(1)
    }

    /// Saves per repetition and store size in the scaling comparison, as actually done.
    fn sample_saves_per_rep(&self) -> u64 {
        self.sample_saves_per_round() * SCALING_ROUNDS * MAX_WORKERS as u64
    }
}

enum Invocation {
    Bench(Options),
    Help,
    StreamChild { dir: PathBuf, mib: u64 },
}

const USAGE: &str = "usage: cargo bench --bench engine -- [--reps N] [--secs S] \
[--runs-small N] [--runs-large N] [--stream-mib N] [--quick]";

fn parse_args(args: Vec<String>) -> BenchResult<Invocation> {
    if args.first().map(String::as_str) == Some(CHILD_COMMAND) {
        let dir = args.get(1).ok_or("stream child: missing store directory")?;
        let mib = parse_number(CHILD_COMMAND, args.get(2))?;
        return Ok(Invocation::StreamChild {
            dir: PathBuf::from(dir),
            mib,
        });
    }
    // `cargo bench` passes `--bench` to every bench binary.
    let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
    let mut options = if args.iter().any(|a| a == "--quick") {
        Options::quick()
    } else {
        Options::full()
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {}
            "--reps" => options.reps = parse_number(flag, it.next())?,
            "--secs" => options.secs = parse_number(flag, it.next())?,
            "--runs-small" => options.runs_small = parse_number(flag, it.next())?,
            "--runs-large" => options.runs_large = parse_number(flag, it.next())?,
            "--stream-mib" => options.stream_mib = parse_number(flag, it.next())?,
            "-h" | "--help" => return Ok(Invocation::Help),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    validate(&options)?;
    options.args = args;
    Ok(Invocation::Bench(options))
}

fn parse_number<T: FromStr>(flag: &str, value: Option<&String>) -> BenchResult<T> {
    let value = value.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a valid number\n{USAGE}").into())
}

fn validate(o: &Options) -> BenchResult<()> {
    if o.reps == 0 || o.runs_small == 0 || o.runs_large == 0 || o.stream_mib == 0 {
        return Err(
            "--reps, --runs-small, --runs-large and --stream-mib must be at least 1".into(),
        );
    }
    if !(o.secs > 0.0 && o.secs.is_finite()) {
        return Err("--secs must be a positive number of seconds".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Data

/// A distinct 1 KiB value for op `i` of thread `t` (no dedup helps anyone).
fn value(t: u64, i: u64) -> Vec<u8> {
    pseudo_random(VALUE_LEN, splitmix(t) ^ i)
}

/// A random-looking 32-byte key, like sweepstore's run keys.
fn key(t: u64, i: u64) -> [u8; 32] {
    let mut input = [0u8; 16];
    input[..8].copy_from_slice(&t.to_le_bytes());
    input[8..].copy_from_slice(&i.to_le_bytes());
    *blake3::hash(&input).as_bytes()
}

/// A pseudo-random index below `n` for op `i`.
fn pick(i: u64, n: u64) -> u64 {
    splitmix(i ^ 0x5EED) % n
}

fn check_len(bytes: &[u8]) -> BenchResult<()> {
    if bytes.len() == VALUE_LEN {
        Ok(())
    } else {
        Err(format!("read {} bytes, expected {VALUE_LEN}", bytes.len()).into())
    }
}

// ---------------------------------------------------------------------------------------
// Baselines

fn create_redb(dir: &Path) -> BenchResult<Database> {
    let db = Database::create(dir.join("raw.redb"))?;
    let txn = db.begin_write()?;
    txn.open_table(TABLE)?;
    txn.commit()?;
    Ok(db)
}

/// Inserts `count` values keyed `key(t, first..first + count)` in one durable transaction.
fn redb_insert(db: &Database, t: u64, first: u64, count: u64) -> BenchResult<u64> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(TABLE)?;
        for i in first..first + count {
            table.insert(&key(t, i), value(t, i).as_slice())?;
        }
    }
    txn.commit()?;
    Ok(count)
}

/// Baseline 2: one durable redb transaction per 1 KiB insert from `threads` threads.
fn redb_txn_per_insert(root: &Path, threads: usize, secs: f64) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let db = create_redb(dir.path())?;
    settle()?;
    measure(threads, Budget::Secs(secs), |t, i| {
        redb_insert(&db, t as u64, i, 1)
    })
}

/// Baseline 3: 1000 1 KiB inserts per durable redb transaction.
fn redb_batched(root: &Path, secs: f64) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let db = create_redb(dir.path())?;
    settle()?;
    measure(1, Budget::Secs(secs), |_, i| {
        redb_insert(&db, 0, i * REDB_BATCH, REDB_BATCH)
    })
}

/// A raw redb database with `n` 1 KiB values, keyed `key(0, 0..n)`, for baseline 4.
fn redb_read_db(dir: &Path, n: u64) -> BenchResult<Database> {
    let db = create_redb(dir)?;
    for first in (0..n).step_by(REDB_BATCH as usize) {
        redb_insert(&db, 0, first, REDB_BATCH.min(n - first))?;
    }
    Ok(db)
}

/// Baseline 4: point read of a random 1 KiB value in a fresh read transaction.
fn redb_point_reads(db: &Database, n: u64, secs: f64) -> BenchResult<Measured> {
    let read = |i: u64| -> BenchResult<u64> {
        let txn = db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let bytes = table
            .get(&key(0, pick(i, n)))?
            .ok_or("raw redb: missing key")?
            .value()
            .to_vec();
        check_len(&bytes)?;
        Ok(1)
    };
    // Warm, and cycling through as many keys as the sweepstore loads.
    for i in 0..LOAD_POOL {
        read(i)?;
    }
    measure(1, Budget::Secs(secs), |_, i| read(i % LOAD_POOL))
}

// ---------------------------------------------------------------------------------------
// sweepstore

fn open_store(dir: &Path, durability: Durability) -> BenchResult<RedbStore> {
    Ok(RedbStore::open(
        dir,
        RedbOptions::default().durability(durability),
    )?)
}

fn save_run(
    store: &RedbStore,
    task: &str,
    config: serde_json::Value,
    bytes: &[u8],
) -> BenchResult<u64> {
    let config = UniqueConfig::new(config)?;
    store
        .run(task, &config)?
        .save_bytes("value", "bytes", bytes)?;
    Ok(1)
}

/// Durable saves of distinct 1 KiB values from `workers` threads, each to its own run, in a
/// fresh store.
fn saves(root: &Path, workers: usize, secs: f64) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let store = open_store(dir.path(), Durability::Immediate)?;
    settle()?;
    let measured = measure(workers, Budget::Secs(secs), |t, i| {
        let bytes = value(t as u64, i);
        save_run(&store, "train", json!({ "worker": t, "i": i }), &bytes)
    })?;
    store.close()?;
    Ok(measured)
}

/// Fills a new store in `dir` with `runs` runs of task `fill` (config `{"i": k}`, one 1 KiB
/// result `value`) using relaxed durability, then reopens it with `Immediate` durability.
fn filled_store(dir: &Path, runs: u64) -> BenchResult<RedbStore> {
    let relaxed = Durability::Relaxed {
        sync_interval: Duration::from_millis(200),
    };
    let store = open_store(dir, relaxed)?;
    let threads = FILL_THREADS as u64;
    measure(
        FILL_THREADS,
        Budget::OpsPerThread(runs.div_ceil(threads)),
        |t, i| {
            let k = i * threads + t as u64;
            if k >= runs {
                return Ok(0);
            }
            save_run(&store, "fill", json!({ "i": k }), &value(u64::MAX, k))
        },
    )?;
    store.close()?;
    open_store(dir, Durability::Immediate)
}

/// Handles on `LOAD_POOL` random runs of a filled store (built before a load phase starts,
/// as a reduce step holds its runs).
fn run_pool(store: &RedbStore, runs: u64, seed: u64) -> BenchResult<Vec<Run<'_, RedbStore>>> {
    (0..LOAD_POOL)
        .map(|j| {
            let config = UniqueConfig::new(json!({ "i": pick(splitmix(seed) ^ j, runs) }))?;
            Ok(store.run("fill", &config)?)
        })
        .collect()
}

/// Loads of random 1 KiB results of a filled store, with `load` or `load_lazy` + `bytes`.
fn loads(store: &RedbStore, runs: u64, secs: f64, lazy: bool, seed: u64) -> BenchResult<Measured> {
    let pool = run_pool(store, runs, seed)?;
    let load = |i: u64| -> BenchResult<u64> {
        let run = &pool[(i % LOAD_POOL) as usize];
        let bytes = if lazy {
            run.load_lazy("value")?.ok_or("missing result")?.bytes()?
        } else {
            run.load::<Vec<u8>>("value")?.ok_or("missing result")?
        };
        check_len(&bytes)?;
        Ok(1)
    };
    // One untimed pass warms the caches, so stores of every size are compared warm.
    for i in 0..LOAD_POOL {
        load(i)?;
    }
    measure(1, Budget::Secs(secs), |_, i| load(i))
}

/// `per_thread` durable saves of new runs from 16 workers into `store`.
fn sample_saves(store: &RedbStore, tag: u64, per_thread: u64) -> BenchResult<Measured> {
    settle()?;
    measure(MAX_WORKERS, Budget::OpsPerThread(per_thread), |t, i| {
        let bytes = value(tag, (t as u64) << 32 | i);
        save_run(
            store,
            "sample",
            json!({ "tag": tag, "worker": t, "i": i }),
            &bytes,
        )
    })
}

/// Streams `mib` MiB through `open(.., "wb", ..)` in a child process; its figures.
fn stream_in_child(root: &Path, mib: u64) -> BenchResult<StreamFigures> {
    let dir = scratch(root)?;
    settle()?;
    let output = Command::new(std::env::current_exe()?)
        .arg(CHILD_COMMAND)
        .arg(dir.path())
        .arg(mib.to_string())
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("stream child failed ({}): {stderr}", output.status).into());
    }
    StreamFigures::parse(&String::from_utf8_lossy(&output.stdout))
}

/// What the stream child reports.
#[derive(Debug)]
struct StreamFigures {
    mib_per_sec: f64,
    rss_before_mib: f64,
    peak_rss_mib: f64,
}

impl StreamFigures {
    fn parse(text: &str) -> BenchResult<Self> {
        let field = |name: &str| -> BenchResult<f64> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
                .ok_or_else(|| format!("stream child did not report `{name}`"))?
                .trim()
                .parse::<f64>()
                .map_err(|e| format!("stream child `{name}`: {e}").into())
        };
        Ok(StreamFigures {
            mib_per_sec: field("mib_per_sec")?,
            rss_before_mib: field("rss_before_kib")? / 1024.0,
            peak_rss_mib: field("peak_rss_kib")? / 1024.0,
        })
    }
}

/// The child: stream `mib` MiB into a new store in `dir`, then print bandwidth and VmHWM.
fn stream_child(dir: &Path, mib: u64) -> BenchResult<()> {
    let store = open_store(dir, Durability::Immediate)?;
    let run = store.run("train", &UniqueConfig::new(json!({ "model": "large" }))?)?;
    let mut chunk = pseudo_random(CHUNK_LEN, 5);
    let rss_before = proc_status_kib("VmRSS")?;
    let start = Instant::now();
    let mut file = run.open("weights", "wb", None)?;
    for n in 0..mib {
        stamp(&mut chunk, n);
        file.write_all(&chunk)?;
    }
    file.close()?;
    let mib_per_sec = mib as f64 / start.elapsed().as_secs_f64();
    let stored = run
        .load_lazy("weights")?
        .ok_or("streamed value missing")?
        .size();
    if stored != mib * CHUNK_LEN as u64 {
        return Err(format!("streamed {mib} MiB but {stored} bytes are stored").into());
    }
    store.close()?;
    let peak = proc_status_kib("VmHWM")?;
    println!("mib_per_sec {mib_per_sec}\nrss_before_kib {rss_before}\npeak_rss_kib {peak}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// One repetition

/// The figures of one repetition.
#[derive(Debug, Default, Clone)]
struct Rep {
    fsync_ops: f64,
    fsync_latency_us: f64,
    redb_txn_1: f64,
    redb_txn_16: f64,
    redb_batched: f64,
    redb_read: f64,
    redb_read_latency_us: f64,
    sequential_mib_s: f64,
    saves: [f64; 3],
    save_latency_us: f64,
    load: f64,
    load_latency_us: f64,
    load_lazy: f64,
    save_small_us: f64,
    save_large_us: f64,
    load_small_us: f64,
    load_large_us: f64,
    raw_read_small_us: f64,
    raw_read_large_us: f64,
    stream_mib_s: f64,
    stream_rss_before_mib: f64,
    stream_peak_rss_mib: f64,
}

/// What every repetition shares.
struct Bench<'a> {
    options: &'a Options,
    root: &'a Path,
    /// Raw redb with `runs_small` keys (baseline 4) and with `runs_large` keys (control).
    read_db: &'a Database,
    read_db_large: &'a Database,
    large: &'a RedbStore,
}

/// Figures of one store size in the scaling comparison.
#[derive(Debug, Default)]
struct SizeFigures {
    saves: Measured,
    loads: Measured,
    raw_reads: Measured,
}

impl Bench<'_> {
    fn repetition(&self, rep: usize) -> BenchResult<Rep> {
        let mut r = Rep::default();
        self.single_writer(rep, &mut r)?;
        self.concurrent_writers(rep, &mut r)?;
        let small_dir = scratch(self.root)?;
        let small = filled_store(small_dir.path(), self.options.runs_small)?;
        self.reads(rep, &small, &mut r)?;
        self.scaling(rep, &small, &mut r)?;
        small.close()?;
        self.streaming(rep, &mut r)?;
        Ok(r)
    }

    /// One worker between the append+fdatasync loop and raw redb from one thread.
    fn single_writer(&self, rep: usize, r: &mut Rep) -> BenchResult<()> {
        let (secs, root) = (self.options.secs, self.root);
        progress(rep, "append+fdatasync, 1 worker, raw redb 1 thread");
        let (fsync, save, txn) = sandwich(
            rep,
            || append_fdatasync(root, &value(0, 0), secs),
            || saves(root, 1, secs),
            || redb_txn_per_insert(root, 1, secs),
        )?;
        r.fsync_ops = fsync.rate();
        r.fsync_latency_us = fsync.median_latency_micros();
        r.redb_txn_1 = txn.rate();
        r.saves[0] = save.rate();
        r.save_latency_us = save.median_latency_micros();
        Ok(())
    }

    /// 16 workers between the two raw redb baselines, then 4 workers.
    fn concurrent_writers(&self, rep: usize, r: &mut Rep) -> BenchResult<()> {
        let (secs, root) = (self.options.secs, self.root);
        progress(
            rep,
            "raw redb 16 threads, 16 workers, raw redb batched, 4 workers",
        );
        let (txn, sixteen, batched) = sandwich(
            rep,
            || redb_txn_per_insert(root, MAX_WORKERS, secs),
            || saves(root, MAX_WORKERS, secs),
            || redb_batched(root, secs),
        )?;
        let four = saves(root, 4, secs)?;
        r.redb_txn_16 = txn.rate();
        r.redb_batched = batched.rate();
        r.saves[1] = four.rate();
        r.saves[2] = sixteen.rate();
        Ok(())
    }

    fn reads(&self, rep: usize, small: &RedbStore, r: &mut Rep) -> BenchResult<()> {
        let (secs, n) = (self.options.secs / 2.0, self.options.runs_small);
        progress(rep, "raw redb point reads, loads");
        let (read, (load, lazy)) = interleave(
            rep,
            || redb_point_reads(self.read_db, n, secs),
            || {
                let seed = rep as u64;
                Ok((
                    loads(small, n, secs, false, seed)?,
                    loads(small, n, secs, true, seed)?,
                ))
            },
        )?;
        r.redb_read = read.rate();
        r.redb_read_latency_us = read.median_latency_micros();
        r.load = load.rate();
        r.load_latency_us = load.median_latency_micros();
        r.load_lazy = lazy.rate();
        Ok(())
    }

    /// Small vs large store, in rounds ordered small, large, large, small, ... (reversed on
    /// odd repetitions). Raw redb point reads at both sizes are the control.
    fn scaling(&self, rep: usize, small: &RedbStore, r: &mut Rep) -> BenchResult<()> {
        progress(rep, "per-op cost, small vs large store");
        let o = self.options;
        let per_round = o.sample_saves_per_round();
        let read_secs = o.secs / SCALING_ROUNDS as f64;
        let sides = [
            (small, self.read_db, o.runs_small),
            (self.large, self.read_db_large, o.runs_large),
        ];
        let mut figures: [SizeFigures; 2] = Default::default();
        for round in 0..SCALING_ROUNDS {
            let large_first = (round % 2 == 1) != (rep % 2 == 1);
            let order = if large_first { [1, 0] } else { [0, 1] };
            for which in order {
                let (store, raw, runs) = sides[which];
                let tag = (rep as u64) << 8 | round;
                let f = &mut figures[which];
                f.raw_reads.add(redb_point_reads(raw, runs, read_secs)?);
                f.loads.add(loads(store, runs, read_secs, false, tag)?);
                f.saves.add(sample_saves(store, tag, per_round)?);
            }
        }
        let [small, large] = figures;
        r.save_small_us = small.saves.micros_per_item();
        r.save_large_us = large.saves.micros_per_item();
        r.load_small_us = small.loads.median_latency_micros();
        r.load_large_us = large.loads.median_latency_micros();
        r.raw_read_small_us = small.raw_reads.median_latency_micros();
        r.raw_read_large_us = large.raw_reads.median_latency_micros();
        Ok(())
    }

    fn streaming(&self, rep: usize, r: &mut Rep) -> BenchResult<()> {
        let (mib, root) = (self.options.stream_mib, self.root);
        progress(rep, "sequential write+fsync, streamed write");
        let (sequential, stream) = interleave(
            rep,
            || sequential_write(root, mib),
            || stream_in_child(root, mib),
        )?;
        r.sequential_mib_s = sequential;
        r.stream_mib_s = stream.mib_per_sec;
        r.stream_rss_before_mib = stream.rss_before_mib;
        r.stream_peak_rss_mib = stream.peak_rss_mib;
        Ok(())
    }
}

fn progress(rep: usize, what: &str) {
    eprintln!("  rep {}: {what}", rep + 1);
}

// ---------------------------------------------------------------------------------------
// Statistics and report

type Field = fn(&Rep) -> f64;

#[derive(Debug, Clone, Copy)]
enum Target {
    RatioAtLeast(f64),
    RatioAtMost(f64),
    ValueAtMost(f64),
    Info,
}

/// One line of the main table.
struct Row {
    what: &'static str,
    unit: &'static str,
    sweepstore: Field,
    /// The baseline's label and figure; `None` when the target is absolute.
    baseline: Option<(&'static str, Field)>,
    target: Target,
}

fn rows() -> Vec<Row> {
    use Target::*;
    vec![
        Row {
            what: "durable saves/s, 16 workers ÷ raw redb 1000 inserts/txn",
            unit: "/s",
            sweepstore: |r| r.saves[2],
            baseline: Some(("", |r| r.redb_batched)),
            target: RatioAtLeast(0.6),
        },
        Row {
            what: "durable saves/s, 16 workers ÷ raw redb 1 txn/insert, 16 threads",
            unit: "/s",
            sweepstore: |r| r.saves[2],
            baseline: Some(("", |r| r.redb_txn_16)),
            target: RatioAtLeast(4.0),
        },
        Row {
            what: "durable saves/s, 4 workers ÷ raw redb 1000 inserts/txn",
            unit: "/s",
            sweepstore: |r| r.saves[1],
            baseline: Some(("", |r| r.redb_batched)),
            target: Info,
        },
        Row {
            what: "durable saves/s, 1 worker ÷ raw redb 1 txn/insert, 1 thread",
            unit: "/s",
            sweepstore: |r| r.saves[0],
            baseline: Some(("", |r| r.redb_txn_1)),
            target: Info,
        },
        Row {
            what: "median save latency, 1 worker ÷ one 1 KiB append+fdatasync",
            unit: "µs",
            sweepstore: |r| r.save_latency_us,
            baseline: Some(("", |r| r.fsync_latency_us)),
            target: RatioAtMost(1.5),
        },
        Row {
            what: "loads/s of a 1 KiB result (`load::<Vec<u8>>`) ÷ raw redb point reads/s",
            unit: "/s",
            sweepstore: |r| r.load,
            baseline: Some(("", |r| r.redb_read)),
            target: RatioAtLeast(0.5),
        },
        Row {
            what: "loads/s (`load_lazy` + `bytes()`) ÷ raw redb point reads/s",
            unit: "/s",
            sweepstore: |r| r.load_lazy,
            baseline: Some(("", |r| r.redb_read)),
            target: RatioAtLeast(0.5),
        },
        Row {
            what: "durable save cost (16 workers), large ÷ small store",
            unit: "µs/op",
            sweepstore: |r| r.save_large_us,
            baseline: Some(("small store", |r| r.save_small_us)),
            target: RatioAtMost(1.5),
        },
        Row {
            what: "median load latency, large ÷ small store",
            unit: "µs",
            sweepstore: |r| r.load_large_us,
            baseline: Some(("small store", |r| r.load_small_us)),
            target: RatioAtMost(1.5),
        },
        Row {
            what: "value streamed through `open(.., \"wb\")` + `close()` ÷ raw write+fsync",
            unit: "MiB/s",
            sweepstore: |r| r.stream_mib_s,
            baseline: Some(("", |r| r.sequential_mib_s)),
            target: RatioAtLeast(0.8),
        },
        Row {
            what: "peak RSS (VmHWM) of a process streaming that value",
            unit: "MiB",
            sweepstore: |r| r.stream_peak_rss_mib,
            baseline: None,
            target: ValueAtMost(RSS_LIMIT_MIB),
        },
    ]
}

fn spread(reps: &[Rep], field: Field) -> Spread {
    Spread::of(reps.iter().map(field).collect())
}

fn table_row(row: &Row, reps: &[Rep]) -> String {
    let ours = spread(reps, row.sweepstore);
    let (baseline, ratio) = match row.baseline {
        Some((label, field)) => {
            let base = spread(reps, field).show(row.unit);
            let base = if label.is_empty() {
                base
            } else {
                format!("{label}: {base}")
            };
            let ratios = reps
                .iter()
                .map(|r| (row.sweepstore)(r) / field(r))
                .collect();
            (base, Some(Spread::of(ratios)))
        }
        None => ("—".to_owned(), None),
    };
    let (target, met) = match (row.target, ratio) {
        (Target::RatioAtLeast(x), Some(q)) => (format!("≥ {x}×"), q.median >= x),
        (Target::RatioAtMost(x), Some(q)) => (format!("≤ {x}×"), q.median <= x),
        (Target::ValueAtMost(x), _) => (format!("≤ {x} {}", row.unit), ours.median <= x),
        _ => ("—".to_owned(), true),
    };
    let met = match row.target {
        Target::Info => "—",
        _ if met => "yes",
        _ => "**no**",
    };
    let ratio = ratio.map_or_else(|| "—".to_owned(), |q| q.show("×"));
    format!(
        "| {} | {} | {baseline} | {ratio} | {target} | {met} |",
        row.what,
        ours.show(row.unit)
    )
}

fn command_line(options: &Options) -> String {
    if options.args.is_empty() {
        "cargo bench --bench engine".to_owned()
    } else {
        format!("cargo bench --bench engine -- {}", options.args.join(" "))
    }
}

fn report(options: &Options, machine: &Machine, reps: &[Rep], fill_secs: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## sweepstore engine benchmark\n");
    let _ = writeln!(
        out,
        "Command: `{}` (source: {})\n",
        command_line(options),
        machine.source
    );
    let fsync = spread(reps, |r| r.fsync_latency_us).show("µs");
    let _ = writeln!(
        out,
        "Machine: nproc {}, kernel {}, temp dirs on {}; disk: one 1 KiB append+fdatasync \
         takes {fsync} (median of per-rep medians, min–max); load average {} at start, {} at \
         end.\n",
        machine.nproc, machine.kernel, machine.filesystem, machine.load_start, machine.load_end
    );
    let _ = writeln!(
        out,
        "Settings: {} repetition(s), {} s per timed phase, small store {} runs, large store {} \
         runs (filled in {fill_secs:.1} s by {FILL_THREADS} threads with relaxed durability; \
         each repetition adds {} sample runs to both), streamed value {} MiB.\n",
        options.reps,
        options.secs,
        options.runs_small,
        options.runs_large,
        options.sample_saves_per_rep(),
        options.stream_mib,
    );
    let _ = writeln!(
        out,
        "| measurement | sweepstore | baseline | ratio | target | met? |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for row in rows() {
        let _ = writeln!(out, "{}", table_row(&row, reps));
    }
    out.push('\n');
    out.push_str(&baseline_table(reps));
    out.push_str(
        "\nEach figure: median of the repetitions (min–max). Ratio: median of the \
         per-repetition ratios sweepstore ÷ baseline (min–max); each repetition runs the \
         baseline and the sweepstore figure back to back, alternating which goes first. \
         Saves are durable (`Durability::Immediate`), 1 KiB distinct `bytes` values, one new \
         run per save (the timed loop includes building the run's `UniqueConfig`); loads \
         cycle through handles on 4096 random runs built beforehand, raw reads through as \
         many keys, both after one warm-up pass. Every phase that syncs starts after a \
         system-wide `sync`.\n",
    );
    out
}

fn baseline_table(reps: &[Rep]) -> String {
    let lines: &[(&str, Field, &str)] = &[
        ("append+fdatasync of 1 KiB", |r| r.fsync_ops, "ops/s"),
        (
            "append+fdatasync of 1 KiB, median latency",
            |r| r.fsync_latency_us,
            "µs",
        ),
        (
            "raw redb, 1 durable txn per 1 KiB insert, 1 thread",
            |r| r.redb_txn_1,
            "inserts/s",
        ),
        (
            "raw redb, 1 durable txn per 1 KiB insert, 16 threads",
            |r| r.redb_txn_16,
            "inserts/s",
        ),
        (
            "raw redb, 1000 1 KiB inserts per durable txn",
            |r| r.redb_batched,
            "inserts/s",
        ),
        (
            "raw redb point read, fresh read txn",
            |r| r.redb_read,
            "reads/s",
        ),
        (
            "raw redb point read, median latency",
            |r| r.redb_read_latency_us,
            "µs",
        ),
        (
            "sweepstore load, median latency",
            |r| r.load_latency_us,
            "µs",
        ),
        (
            "control: raw redb point read latency, small db",
            |r| r.raw_read_small_us,
            "µs",
        ),
        (
            "control: raw redb point read latency, large db",
            |r| r.raw_read_large_us,
            "µs",
        ),
        (
            "control: raw redb point read latency, large ÷ small db",
            |r| r.raw_read_large_us / r.raw_read_small_us,
            "×",
        ),
        (
            "raw sequential write (1 MiB chunks) + fsync",
            |r| r.sequential_mib_s,
            "MiB/s",
        ),
        (
            "stream child RSS before streaming",
            |r| r.stream_rss_before_mib,
            "MiB",
        ),
        ("stream child peak RSS", |r| r.stream_peak_rss_mib, "MiB"),
    ];
    let mut out = String::from("| other figures | median (min–max) |\n|---|---|\n");
    for (what, field, unit) in lines {
        let _ = writeln!(out, "| {what} | {} |", spread(reps, *field).show(unit));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Main

fn run_bench(options: &Options) -> BenchResult<()> {
    let root_dir = tempfile::Builder::new()
        .prefix("bench-engine-")
        .tempdir_in("target")?;
    let root = root_dir.path();
    let mut machine = Machine::probe(root);
    eprintln!(
        "setup: raw redb read databases, large store ({} runs)",
        options.runs_large
    );
    let read_dir = scratch(root)?;
    let read_db = redb_read_db(read_dir.path(), options.runs_small)?;
    let read_dir_large = scratch(root)?;
    let read_db_large = redb_read_db(read_dir_large.path(), options.runs_large)?;
    let large_dir = scratch(root)?;
    let fill_start = Instant::now();
    let large = filled_store(large_dir.path(), options.runs_large)?;
    let fill_secs = fill_start.elapsed().as_secs_f64();
    let bench = Bench {
        options,
        root,
        read_db: &read_db,
        read_db_large: &read_db_large,
        large: &large,
    };
    let mut reps = Vec::with_capacity(options.reps);
    for rep in 0..options.reps {
        eprintln!("repetition {}/{}", rep + 1, options.reps);
        reps.push(bench.repetition(rep)?);
    }
    large.close()?;
    machine.load_end = load_average();
    let text = report(options, &machine, &reps, fill_secs);
    println!("{text}");
    fs::write(REPORT_PATH, &text)?;
    eprintln!("written to {REPORT_PATH}");
    Ok(())
}

fn run(invocation: Invocation) -> BenchResult<()> {
    match invocation {
        Invocation::StreamChild { dir, mib } => stream_child(&dir, mib),
        Invocation::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Invocation::Bench(options) => {
            if options.quick {
                eprintln!("--quick: smoke-test sizes, figures are not meaningful");
            }
            run_bench(&options)
        }
    }
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1).collect()).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
