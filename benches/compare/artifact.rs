//! Workloads W4 (a large artifact streamed in and out) and W5 (reopen after a crash with a
//! full WAL, and after a clean close). Both run their writers in child processes (this
//! binary re-executed with a hidden subcommand), so peak RSS is the writer's own and a crash
//! is a real process death.
//!
//! Invariants: W4 reads back every byte it wrote and checks each chunk's stamp; W5's child
//! reports how many runs were acknowledged before it died, and the reopened store must hold
//! exactly that many, with sampled values intact. The crash is `std::process::abort()` right
//! after the last acknowledgement: no close, no checkpoint, no destructor runs.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};
use rusqlite::params;
use serde_json::json;
use sweepstore::{
    Durability, InMemoryStore, LocalFileStore, RedbOptions, RedbStore, StoreExt, UniqueConfig,
};

use crate::fluidml::{self, Fluidml};
use crate::options::Options;
use crate::results::Results;
use crate::support::BenchResult;
use crate::support::data::{pseudo_random, scratch, settle, stamp};
use crate::support::disk::CHUNK_LEN;
use crate::support::machine::proc_status_kib;
use crate::systems::{RawRedb, Sqlite, Synchronous, System, sqlite_connection};
use crate::workloads::{Inputs, Sys, config, metrics, rotated};

/// Hidden subcommand of the child processes.
pub const CHILD: &str = "__child";
const CHUNKS: TableDefinition<u64, &[u8]> = TableDefinition::new("chunks");
/// Runs per transaction of the baselines' W5 writers.
const WAL_TXN_RUNS: u64 = 64;
/// Threads of the RedbStore W5 writer.
const WAL_THREADS: u64 = 8;
pub const DISK_FILE: &str = "disk: sequential write+fsync, read back";

/// Systems of W4.
pub const W4: [Sys; 5] = [
    Sys::RedbImmediate,
    Sys::Local,
    Sys::Memory,
    Sys::RawRedb,
    Sys::SqliteFull,
];
/// Systems of W5.
pub const W5: [Sys; 3] = [Sys::RedbImmediate, Sys::RawRedb, Sys::SqliteFull];

fn sys_name(sys: Option<Sys>) -> &'static str {
    match sys {
        Some(Sys::RedbImmediate) => "redb-store",
        Some(Sys::Local) => "local",
        Some(Sys::Memory) => "memory",
        Some(Sys::RawRedb) => "raw-redb",
        Some(Sys::SqliteFull) => "sqlite",
        _ => "disk",
    }
}

fn parse_sys(name: &str) -> BenchResult<Option<Sys>> {
    Ok(match name {
        "redb-store" => Some(Sys::RedbImmediate),
        "local" => Some(Sys::Local),
        "memory" => Some(Sys::Memory),
        "raw-redb" => Some(Sys::RawRedb),
        "sqlite" => Some(Sys::SqliteFull),
        "disk" => None,
        other => return Err(format!("unknown child system `{other}`").into()),
    })
}

fn run_child(args: &[String]) -> BenchResult<String> {
    let output = Command::new(std::env::current_exe()?)
        .arg(CHILD)
        .args(args)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() && !stdout.contains("acknowledged") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("child {args:?} failed ({}): {stderr}", output.status).into());
    }
    Ok(stdout)
}

fn field(text: &str, name: &str) -> BenchResult<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .ok_or_else(|| format!("child did not report `{name}`: {text}"))?
        .trim()
        .parse::<f64>()
        .map_err(|e| format!("child `{name}`: {e}").into())
}

/// Runs a child invocation (`args` after the hidden subcommand).
pub fn child_main(args: &[String]) -> BenchResult<()> {
    let arg = |k: usize| args.get(k).ok_or("child: missing argument");
    let sys = parse_sys(arg(1)?)?;
    let dir = Path::new(arg(2)?);
    let mib: u64 = arg(3)?.parse()?;
    match arg(0)?.as_str() {
        "artifact" => artifact_child(sys, dir, mib),
        "wal" => wal_child(
            sys.ok_or("wal: no such system")?,
            dir,
            mib,
            arg(4)? == "crash",
        ),
        other => Err(format!("unknown child command `{other}`").into()),
    }
}

// ---------------------------------------------------------------------------------------
// W4

pub fn w4_case(direction: &str) -> String {
    format!("W4 {direction}")
}

/// W4, one round: every system streams `o.artifact_mib` MiB in and out in a child process.
pub fn w4_round(
    o: &Options,
    root: &Path,
    rep: usize,
    fluid: Option<&Fluidml>,
    r: &mut Results,
) -> BenchResult<()> {
    crate::run::progress(rep, "W4 artifact");
    let mut systems: Vec<Option<Sys>> = W4.iter().copied().map(Some).collect();
    systems.push(None);
    let systems = rotated(&systems, rep);
    for sys in systems {
        let dir = scratch(root)?;
        settle()?;
        let out = run_child(&[
            "artifact".into(),
            sys_name(sys).into(),
            dir.path().display().to_string(),
            o.artifact_mib.to_string(),
        ])?;
        let label = sys.map_or(DISK_FILE, Sys::label);
        r.put(rep, &w4_case("write"), label, field(&out, "write_mib_s")?);
        r.put(rep, &w4_case("read"), label, field(&out, "read_mib_s")?);
        r.put(
            rep,
            &w4_case("peak RSS"),
            label,
            field(&out, "peak_rss_kib")? / 1024.0,
        );
    }
    if let Some(fl) = fluid {
        let dir = scratch(root)?;
        let (write, read, rss) = fl.artifact(dir.path(), o.artifact_mib)?;
        let label = fluidml::Kind::Local.label();
        r.put(rep, &w4_case("write"), label, write);
        r.put(rep, &w4_case("read"), label, read);
        r.put(rep, &w4_case("peak RSS"), label, rss);
    }
    Ok(())
}

fn chunks(mib: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut chunk = pseudo_random(CHUNK_LEN, 5);
    (0..mib).map(move |n| {
        stamp(&mut chunk, n);
        chunk.clone()
    })
}

/// Checks read-back chunks byte for byte against what was written, so every system's read
/// touches every byte (a zero-copy read is not a free one).
struct Checker {
    expected: Vec<u8>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            expected: pseudo_random(CHUNK_LEN, 5),
        }
    }

    fn check(&mut self, n: u64, data: &[u8]) -> BenchResult<()> {
        stamp(&mut self.expected, n);
        if data == self.expected.as_slice() {
            Ok(())
        } else {
            Err(format!("chunk {n} read back wrong ({} bytes)", data.len()).into())
        }
    }
}

/// Reads `reader` in 1 MiB chunks, checking each.
fn read_chunks(reader: &mut dyn Read, mib: u64) -> BenchResult<()> {
    let mut buf = vec![0; CHUNK_LEN];
    let mut checker = Checker::new();
    for n in 0..mib {
        reader.read_exact(&mut buf)?;
        checker.check(n, &buf)?;
    }
    if reader.read(&mut buf)? != 0 {
        return Err("more bytes read back than written".into());
    }
    Ok(())
}

fn stream_store<S: StoreExt>(store: &S, mib: u64) -> BenchResult<(f64, f64)> {
    let run = store.run("train", &UniqueConfig::new(json!({ "model": "large" }))?)?;
    let start = Instant::now();
    let mut file = run.open("weights", "wb", None)?;
    for chunk in chunks(mib) {
        file.write_all(&chunk)?;
    }
    file.close()?;
    let write = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut file = run.open("weights", "rb", None)?;
    read_chunks(&mut file, mib)?;
    Ok((write, start.elapsed().as_secs_f64()))
}

fn stream_raw_redb(dir: &Path, mib: u64) -> BenchResult<(f64, f64)> {
    let db = Database::create(dir.join("raw.redb"))?;
    let start = Instant::now();
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(CHUNKS)?;
        for (n, chunk) in chunks(mib).enumerate() {
            table.insert(n as u64, chunk.as_slice())?;
        }
    }
    txn.commit()?;
    let write = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let txn = db.begin_read()?;
    let table = txn.open_table(CHUNKS)?;
    let (mut n, mut checker) = (0, Checker::new());
    for entry in table.range(0..)? {
        checker.check(n, entry?.1.value())?;
        n += 1;
    }
    if n != mib {
        return Err(format!("raw redb: {n} chunks read back, {mib} written").into());
    }
    Ok((write, start.elapsed().as_secs_f64()))
}

fn stream_sqlite(dir: &Path, mib: u64) -> BenchResult<(f64, f64)> {
    let mut conn = sqlite_connection(dir, Synchronous::Full)?;
    conn.execute_batch("CREATE TABLE chunks (n INTEGER PRIMARY KEY, data BLOB NOT NULL)")?;
    let start = Instant::now();
    let txn = conn.transaction()?;
    for (n, chunk) in chunks(mib).enumerate() {
        txn.execute(
            "INSERT INTO chunks (n, data) VALUES (?1, ?2)",
            params![n as i64, chunk],
        )?;
    }
    txn.commit()?;
    let write = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut stmt = conn.prepare("SELECT n, data FROM chunks ORDER BY n")?;
    let mut rows = stmt.query([])?;
    let (mut n, mut checker) = (0, Checker::new());
    while let Some(row) = rows.next()? {
        checker.check(n, row.get_ref(1)?.as_blob()?)?;
        n += 1;
    }
    if n != mib {
        return Err(format!("SQLite: {n} chunks read back, {mib} written").into());
    }
    Ok((write, start.elapsed().as_secs_f64()))
}

fn stream_disk(dir: &Path, mib: u64) -> BenchResult<(f64, f64)> {
    let path = dir.join("sequential.bin");
    let start = Instant::now();
    let mut file = File::create(&path)?;
    for chunk in chunks(mib) {
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    let write = start.elapsed().as_secs_f64();
    let start = Instant::now();
    read_chunks(&mut File::open(&path)?, mib)?;
    Ok((write, start.elapsed().as_secs_f64()))
}

fn artifact_child(sys: Option<Sys>, dir: &Path, mib: u64) -> BenchResult<()> {
    let (write, read) = match sys {
        Some(Sys::RedbImmediate) => {
            let store = RedbStore::open(dir, RedbOptions::default())?;
            let secs = stream_store(&store, mib)?;
            store.close()?;
            secs
        }
        Some(Sys::Local) => stream_store(&LocalFileStore::new(dir)?, mib)?,
        Some(Sys::Memory) => stream_store(&InMemoryStore::new(), mib)?,
        Some(Sys::RawRedb) => stream_raw_redb(dir, mib)?,
        Some(Sys::SqliteFull) => stream_sqlite(dir, mib)?,
        _ => stream_disk(dir, mib)?,
    };
    let peak = proc_status_kib("VmHWM")?;
    println!(
        "write_mib_s {}\nread_mib_s {}\npeak_rss_kib {peak}",
        mib as f64 / write,
        mib as f64 / read
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// W5

pub fn w5_case(crash: bool) -> &'static str {
    if crash {
        "W5 reopen after crash"
    } else {
        "W5 reopen after clean close"
    }
}

/// W5, one round: for each system and each ending, a child writes runs until `o.wal_mib` MiB
/// are acknowledged and crashes or closes; the parent times the reopen (with the first read,
/// which is when SQLite rebuilds its WAL index) and checks the runs; figures are reopens/s.
pub fn w5_round(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    rep: usize,
    r: &mut Results,
) -> BenchResult<()> {
    crate::run::progress(rep, "W5 recovery");
    let systems = rotated(&W5, rep);
    for sys in systems {
        for crash in [true, false] {
            let dir = scratch(root)?;
            let mode = if crash { "crash" } else { "clean" };
            let out = run_child(&[
                "wal".into(),
                sys_name(Some(sys)).into(),
                dir.path().display().to_string(),
                o.wal_mib.to_string(),
                mode.into(),
            ])?;
            let acknowledged = field(&out, "acknowledged")? as u64;
            if let (true, Ok(bytes)) = (rep == 0, field(&out, "wal_bytes")) {
                let mib = bytes / f64::from(1 << 20);
                r.note(format!(
                    "W5: {} had {mib:.0} MiB of WAL when its writer crashed",
                    sys.label()
                ));
            }
            settle()?;
            let (secs, system) = reopen(sys, dir.path(), inputs)?;
            verify_reopened(system.as_ref(), inputs, acknowledged, sys.label())?;
            r.put(rep, w5_case(crash), sys.label(), 1.0 / secs);
        }
    }
    Ok(())
}

/// Seconds to reopen and count the runs, and the reopened system.
fn reopen(sys: Sys, dir: &Path, inputs: &Inputs) -> BenchResult<(f64, Box<dyn System>)> {
    let start = Instant::now();
    let system: Box<dyn System> = match sys {
        Sys::RedbImmediate => {
            let store = RedbStore::open(dir, RedbOptions::default())?;
            store
                .run("train", &UniqueConfig::new(config(0, 0))?)?
                .load::<serde_json::Value>("metrics")?;
            Box::new(crate::systems::Sweepstore(store))
        }
        Sys::RawRedb => {
            let db = RawRedb::open(dir, inputs.codecs.clone())?;
            db.load_metrics("train", &config(0, 0))?;
            Box::new(db)
        }
        _ => {
            let db = Sqlite::open(dir, Synchronous::Full, 1, inputs.codecs.clone())?;
            db.load_metrics("train", &config(0, 0))?;
            Box::new(db)
        }
    };
    Ok((start.elapsed().as_secs_f64(), system))
}

fn verify_reopened(
    system: &dyn System,
    inputs: &Inputs,
    acknowledged: u64,
    label: &str,
) -> BenchResult<()> {
    let stored = system.reduce("train", false)?;
    if (stored.len() as u64) != acknowledged {
        return Err(format!(
            "{label}: {acknowledged} runs acknowledged, {} after reopen",
            stored.len()
        )
        .into());
    }
    let last = stored.last().ok_or("nothing stored")?;
    let (t, i) = (
        last.0["worker"].as_u64().ok_or("no worker")?,
        last.0["i"].as_u64().ok_or("no i")?,
    );
    if last.1 != metrics(t, i)
        || system.load_weights("train", &last.0)?.as_deref()
            != Some(inputs.weights(t, i).as_slice())
    {
        return Err(format!("{label}: run {t}/{i} damaged after reopen").into());
    }
    Ok(())
}

fn wal_child(sys: Sys, dir: &Path, mib: u64, crash: bool) -> BenchResult<()> {
    let inputs = Inputs {
        payload: pseudo_random(crate::workloads::WEIGHTS_LEN, 64),
        codecs: crate::systems::Codecs::new()?,
    };
    let runs = (mib << 20).div_ceil(inputs.payload.len() as u64 + 1024);
    // Each arm returns the open system, which must stay open until the crash: dropping it
    // would close it cleanly (RedbStore and SQLite checkpoint, redb records a clean shutdown).
    let (acknowledged, open): (u64, Box<dyn FnOnce() -> BenchResult<()>>) = match sys {
        Sys::RedbImmediate => {
            let options = RedbOptions::default()
                .durability(Durability::Immediate)
                .checkpoint_wal_bytes((mib + 64) << 20)
                .checkpoint_interval(Duration::from_secs(3600));
            let store = crate::systems::Sweepstore(RedbStore::open(dir, options)?);
            let per_thread = runs.div_ceil(WAL_THREADS);
            std::thread::scope(|s| -> BenchResult<()> {
                let handles: Vec<_> = (0..WAL_THREADS)
                    .map(|t| {
                        let (store, inputs) = (&store, &inputs);
                        s.spawn(move || -> BenchResult<()> {
                            for i in 0..per_thread {
                                let weights = inputs.weights(t, i);
                                store.save_run(
                                    0,
                                    "train",
                                    &config(t, i),
                                    &metrics(t, i),
                                    &weights,
                                )?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().map_err(|_| "writer panicked")??;
                }
                Ok(())
            })?;
            let close = move || -> BenchResult<()> { Ok(store.0.close()?) };
            (per_thread * WAL_THREADS, Box::new(close))
        }
        Sys::RawRedb => {
            let db = RawRedb::create(dir, inputs.codecs.clone())?;
            let n = write_batches(runs, &inputs, |batch| db.save_batch("train", batch))?;
            (
                n,
                Box::new(move || -> BenchResult<()> {
                    drop(db);
                    Ok(())
                }),
            )
        }
        _ => {
            // No automatic checkpoints: the WAL keeps every commit until the clean close.
            let db = Sqlite::open(dir, Synchronous::Full, 1, inputs.codecs.clone())?;
            db.without_autocheckpoint()?;
            let n = write_batches(runs, &inputs, |batch| db.save_batch("train", batch))?;
            (
                n,
                Box::new(move || -> BenchResult<()> {
                    drop(db);
                    Ok(())
                }),
            )
        }
    };
    if crash {
        if let Some(size) = wal_bytes(sys, dir) {
            println!("wal_bytes {size}");
        }
        println!("acknowledged {acknowledged}");
        std::io::stdout().flush()?;
        std::process::abort();
    }
    open()?;
    println!("acknowledged {acknowledged}");
    Ok(())
}

/// Bytes of write-ahead log waiting to be replayed (RedbStore's WAL segments, SQLite's
/// `-wal` file); `None` for raw redb, which has none.
fn wal_bytes(sys: Sys, dir: &Path) -> Option<u64> {
    let files: Vec<std::path::PathBuf> = match sys {
        Sys::RedbImmediate => std::fs::read_dir(dir.join("wal"))
            .ok()?
            .filter_map(|e| Some(e.ok()?.path()))
            .collect(),
        Sys::SqliteFull => vec![dir.join("results.sqlite-wal")],
        _ => return None,
    };
    Some(
        files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum(),
    )
}

fn write_batches(
    runs: u64,
    inputs: &Inputs,
    mut save: impl FnMut(&[(serde_json::Value, serde_json::Value, Vec<u8>)]) -> BenchResult<()>,
) -> BenchResult<u64> {
    let mut done = 0;
    while done < runs {
        let batch: Vec<_> = (done..(done + WAL_TXN_RUNS).min(runs))
            .map(|i| (config(0, i), metrics(0, i), inputs.weights(0, i)))
            .collect();
        save(&batch)?;
        done += batch.len() as u64;
    }
    Ok(done)
}
