//! MongoStore benchmark: saves/s and loads/s of a 1 KiB value from 1 and 8 threads, next to
//! a raw `mongodb` driver loop on the same server in the same run.
//!
//! Every repetition uses a fresh database and measures, back to back, for 1 and for 8
//! threads (each thread on its own runs; one store, hence one client, shared by all):
//! - raw insert: `insert_one` of a document holding the 1 KiB value (the issue's baseline);
//! - save: `run.save_bytes("metrics", "bytes", ..)` overwriting the value of an existing run
//!   (one `update_one` of the run document);
//! - first save: the first save of a new run (reads the task's counter, upserts the run
//!   document, raises the counter);
//! - raw find: `find_one` by `_id` of one of the raw documents;
//! - load: `run.load::<Vec<u8>>("metrics")` (exact lookup by run key, document checks,
//!   blake3 verification).
//!
//! At 8, the raw insert and the first save are also measured from 8 *processes* (the
//! multi-machine case): this binary re-executed with `--child raw|first <db> <count> <id>`,
//! each connecting on its own, then waiting for a line on stdin so all start together; the
//! rate is all their operations over the wall time from that line to the last one's exit.
//!
//! Raw and store writes use the same write concern: `j: true` (the store's default), or the
//! server's default with `--no-journal` (and `MongoOptions::journal = false`). Each
//! figure is the median over `--reps` repetitions (default 3) with min–max; a ratio is the
//! median of the per-repetition ratios. Needs a server: run it with
//!
//! ```text
//! tests/run.sh bench [--reps N] [--quick] [--no-journal]
//! ```
//!
//! which starts one and sets `SWEEPSTORE_MONGO_URI` (or set that variable yourself and run
//! `cargo bench --features mongodb --bench mongo`). It prints a Markdown table, also saved
//! to `target/bench-mongo.md`; progress goes to stderr.

use std::error::Error;
use std::fmt::Write as _;
use std::io::{BufRead, Write as _};
use std::process::{Command, Stdio};
use std::time::Instant;

use mongodb::bson::{Binary, Document, doc, spec::BinarySubtype};
use mongodb::options::WriteConcern;
use serde_json::json;
use sweepstore::{MongoOptions, MongoStore, StoreExt, UniqueConfig};

type Result<T = ()> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const VALUE_LEN: usize = 1024;
const THREAD_COUNTS: [usize; 2] = [1, 8];

fn value(i: usize) -> Vec<u8> {
    (0..VALUE_LEN).map(|j| (i + j) as u8).collect()
}

fn config(thread: usize, i: usize) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "thread": thread, "i": i }))?)
}

/// Runs `op(thread, i)` for `per_thread` values of `i` on each of `threads` threads at once;
/// returns operations per second over all threads.
fn rate(
    threads: usize,
    per_thread: usize,
    op: impl Fn(usize, usize) -> Result + Sync,
) -> Result<f64> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let op = &op;
                scope.spawn(move || (0..per_thread).try_for_each(|i| op(t, i)))
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })?;
    Ok((threads * per_thread) as f64 / start.elapsed().as_secs_f64())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Picks one figure.
type Pick = fn(&Figures) -> f64;

/// Figures of one repetition at one thread count, in operations per second.
#[derive(Default, Clone, Copy)]
struct Figures {
    raw_insert: f64,
    save: f64,
    first_save: f64,
    raw_find: f64,
    load: f64,
    /// From as many processes as threads (0 when not measured).
    raw_insert_processes: f64,
    first_save_processes: f64,
}

/// In a child process: connects, says `ready`, waits for a line on stdin, then does `count`
/// raw inserts or first saves of new runs (as process `id`).
fn child(uri: &str, kind: &str, db: &str, count: usize, id: usize) -> Result {
    let store = MongoStore::connect(uri, db, "runs")?;
    let raw = mongodb::sync::Client::with_uri_str(uri)?
        .database(db)
        .collection::<Document>("raw_processes");
    let bytes: Vec<Vec<u8>> = (0..count).map(value).collect();
    println!("ready");
    std::io::stdout().flush()?;
    std::io::stdin().lock().read_line(&mut String::new())?;
    for (i, value) in bytes.iter().enumerate() {
        if kind == "raw" {
            let data = Binary {
                subtype: BinarySubtype::Generic,
                bytes: value.clone(),
            };
            raw.insert_one(doc! { "_id": format!("{id}-{i}"), "data": data })
                .run()?;
        } else {
            store
                .run("processes", &config(id, i)?)?
                .save_bytes("metrics", "bytes", value)?;
        }
    }
    Ok(())
}

/// `processes` children doing `kind` at once; operations per second over all of them.
fn process_rate(uri: &str, kind: &str, db: &str, processes: usize, count: usize) -> Result<f64> {
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for id in 0..processes {
        let mut c = Command::new(&exe)
            .args(["--child", kind, db, &count.to_string(), &id.to_string()])
            .env("SWEEPSTORE_MONGO_URI", uri)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().ok_or("no child stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("a child did not get ready: {line:?}").into());
        }
        children.push(c);
    }
    let start = Instant::now();
    for c in &mut children {
        writeln!(c.stdin.take().ok_or("no child stdin")?, "go")?;
    }
    for mut c in children {
        if !c.wait()?.success() {
            return Err("a child process failed".into());
        }
    }
    Ok((processes * count) as f64 / start.elapsed().as_secs_f64())
}

fn repetition(
    uri: &str,
    journal: bool,
    rep: usize,
    threads: usize,
    per_thread: usize,
) -> Result<Figures> {
    let db = format!("bench_mongo_{}_{rep}_{threads}", std::process::id());
    let mut options = MongoOptions::default();
    options.journal = journal;
    let store = MongoStore::connect_with(uri, &db, "runs", options)?;
    let client = mongodb::sync::Client::with_uri_str(uri)?;
    let mut concern = WriteConcern::default();
    concern.journal = journal.then_some(true);
    let options = mongodb::options::CollectionOptions::builder()
        .write_concern(concern)
        .build();
    let raw = client
        .database(&db)
        .collection_with_options::<Document>("raw", options);
    let bytes: Vec<Vec<u8>> = (0..per_thread).map(value).collect();

    // The store's runs exist before the save loop: it measures overwrites.
    rate(threads, per_thread, |t, i| {
        Ok(store
            .run("train", &config(t, i)?)?
            .save_bytes("metrics", "bytes", &bytes[i])?)
    })?;

    let mut figures = Figures {
        raw_insert: rate(threads, per_thread, |t, i| {
            let data = Binary {
                subtype: BinarySubtype::Generic,
                bytes: bytes[i].clone(),
            };
            raw.insert_one(doc! { "_id": format!("{t}-{i}"), "data": data })
                .run()?;
            Ok(())
        })?,
        ..Figures::default()
    };
    figures.save = rate(threads, per_thread, |t, i| {
        Ok(store.run("train", &config(t, i)?)?.save_bytes(
            "metrics",
            "bytes",
            &bytes[(i + 1) % per_thread],
        )?)
    })?;
    figures.first_save = rate(threads, per_thread, |t, i| {
        Ok(store
            .run("fresh", &config(t, i)?)?
            .save_bytes("metrics", "bytes", &bytes[i])?)
    })?;
    figures.raw_find = rate(threads, per_thread, |t, i| {
        let found = raw.find_one(doc! { "_id": format!("{t}-{i}") }).run()?;
        if found.is_none() {
            return Err("a raw document is missing".into());
        }
        Ok(())
    })?;
    figures.load = rate(threads, per_thread, |t, i| {
        let loaded = store
            .run("train", &config(t, i)?)?
            .load::<Vec<u8>>("metrics")?;
        if loaded.as_ref() != Some(&bytes[(i + 1) % per_thread]) {
            return Err("a loaded value differs from the saved one".into());
        }
        Ok(())
    })?;
    if threads > 1 {
        figures.raw_insert_processes = process_rate(uri, "raw", &db, threads, per_thread)?;
        figures.first_save_processes = process_rate(uri, "first", &db, threads, per_thread)?;
    }
    client.database(&db).drop().run()?;
    Ok(figures)
}

fn main() -> Result {
    let mut reps = 3;
    let mut quick = false;
    let mut journal = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => reps = args.next().ok_or("--reps needs a number")?.parse()?,
            "--quick" => quick = true,
            "--no-journal" => journal = false,
            "--bench" => {}
            "--child" => {
                let mut next = || args.next().ok_or("--child needs kind, db, count, id");
                let (kind, db) = (next()?, next()?);
                let (count, id) = (next()?.parse()?, next()?.parse()?);
                let uri = std::env::var("SWEEPSTORE_MONGO_URI")?;
                return child(&uri, &kind, &db, count, id);
            }
            "--help" | "-h" => {
                println!("tests/run.sh bench [--reps N] [--quick] [--no-journal]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let uri = std::env::var("SWEEPSTORE_MONGO_URI").map_err(|_| {
        "SWEEPSTORE_MONGO_URI is not set: run this benchmark with `tests/run.sh bench`, which \
         starts a server, or point the variable at a MongoDB of your own"
    })?;
    let (reps, per_op_total) = if quick { (1, 40) } else { (reps.max(1), 400) };

    let mut out = String::new();
    let concern = if journal {
        "j: true"
    } else {
        "server default (no j)"
    };
    writeln!(out, "write concern: {concern}\n")?;
    writeln!(
        out,
        "| threads | measurement | sweepstore /s | raw driver /s | ratio |\n|---|---|---|---|---|"
    )?;
    for threads in THREAD_COUNTS {
        let per_thread = per_op_total / threads;
        let mut all = Vec::new();
        for rep in 0..reps {
            eprintln!("threads {threads}, repetition {}/{reps}", rep + 1);
            all.push(repetition(&uri, journal, rep, threads, per_thread)?);
        }
        let mut rows: Vec<(&str, Pick, Pick)> = vec![
            (
                "save (overwrite) ÷ raw insert_one",
                |f| f.save,
                |f| f.raw_insert,
            ),
            (
                "first save of a new run ÷ raw insert_one",
                |f| f.first_save,
                |f| f.raw_insert,
            ),
            ("load ÷ raw find_one by _id", |f| f.load, |f| f.raw_find),
        ];
        if threads > 1 {
            rows.push((
                "first save of a new run ÷ raw insert_one, from processes",
                |f| f.first_save_processes,
                |f| f.raw_insert_processes,
            ));
        }
        for (name, ours, base) in rows {
            let ours: Vec<f64> = all.iter().map(ours).collect();
            let base: Vec<f64> = all.iter().map(base).collect();
            let ratios: Vec<f64> = ours.iter().zip(&base).map(|(o, b)| o / b).collect();
            let (lo, hi) = range(&ratios);
            writeln!(
                out,
                "| {threads} | {name} | {:.0} | {:.0} | {:.2} × ({lo:.2}–{hi:.2}) |",
                median(&ours),
                median(&base),
                median(&ratios),
            )?;
        }
    }
    print!("{out}");
    std::fs::create_dir_all("target")?;
    std::fs::write("target/bench-mongo.md", &out)?;
    Ok(())
}
