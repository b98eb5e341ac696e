//! LocalFileStore benchmark: save and load in a task of 100, 1 000 and 10 000 runs, against a
//! plain-file baseline measured in the same process.
//!
//! For each task size the store is filled first (one 1 KiB-ish `json` result per run, config
//! `{"run": i}`), then every repetition runs, back to back:
//! - baseline write: `File::create` + `write_all` + `sync_all` of the same bytes (what
//!   `std::fs::write` followed by an fsync costs), into files of one directory;
//! - save: `run.save("metrics", "json", ..)` overwriting the result of a random existing run
//!   (a durable commit: staged file sync, load information published with sync + rename +
//!   directory sync);
//! - new run: the first save of a new config (claims a run directory under the task lock);
//! - baseline read: `std::fs::read` of one of the baseline files;
//! - load: `run.load::<Value>("metrics")` of a random run (key-file lookup, load information,
//!   open, read, blake3 check, JSON decode).
//!
//! Then, once per task size, the whole task is imported into a new RedbStore and exported
//! from it into a new directory in bulk mode (as `sweepstore import`/`export` do).
//!
//! Every figure is the median over `--reps` repetitions (default 5) of the per-operation mean
//! within a repetition, with the min–max over repetitions; a ratio is the median of the
//! per-repetition ratios. Run it with
//!
//! ```text
//! cargo bench --bench local -- [--reps N] [--quick]
//! cargo bench --bench local -- --transfer 10000   # only the import and export
//! ```
//!
//! It writes under `target/bench-local/` (the file system the project lives on) and prints a
//! Markdown table, also saved to `target/bench-local.md`; progress goes to stderr. `--quick`
//! is a smoke test (small tasks, one repetition).

mod support;

use std::error::Error;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use sweepstore::{
    CopyPlan, EXPORT_THREADS, IMPORT_THREADS, LocalFileStore, RedbOptions, RedbStore, StoreExt,
    UniqueConfig, copy_planned,
};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// Operations per repetition.
const SAVES: usize = 40;
const NEW_RUNS: usize = 10;
const LOADS: usize = 400;

/// A small deterministic generator, so runs are picked the same way every time.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn value(i: usize) -> Value {
    json!({"run": i, "loss": [0.5, 0.25, 0.125], "note": "x".repeat(900)})
}

fn config(key: &str, i: usize) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ key: i }))?)
}

/// Mean microseconds per call of `op` over `n` calls.
fn per_op(n: usize, mut op: impl FnMut(usize) -> Result) -> Result<f64> {
    let start = Instant::now();
    for i in 0..n {
        op(i)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn median(values: &[f64]) -> f64 {
    support::stats::median(&mut values.to_vec())
}

fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{:.0} µs ({:.0}–{:.0})", median(values), min, max)
}

/// Per-repetition figures of one task size, in microseconds per operation.
#[derive(Default)]
struct Figures {
    baseline_write: Vec<f64>,
    save: Vec<f64>,
    new_run: Vec<f64>,
    baseline_read: Vec<f64>,
    load: Vec<f64>,
}

fn measure(root: &Path, runs: usize, reps: usize) -> Result<Figures> {
    let dir = root.join(format!("{runs}"));
    let _ = fs::remove_dir_all(&dir);
    let store = LocalFileStore::new(dir.join("store"))?;
    let baseline = dir.join("baseline");
    fs::create_dir_all(&baseline)?;
    let bytes = serde_json::to_vec(&value(0))?;

    let fill = Instant::now();
    for i in 0..runs {
        store
            .run("train", &config("run", i)?)?
            .save("metrics", "json", &value(i))?;
        fs::write(baseline.join(format!("{i}.json")), &bytes)?;
    }
    eprintln!(
        "  filled {runs} runs in {:.1} s",
        fill.elapsed().as_secs_f64()
    );

    let mut rng = Lcg(runs as u64);
    let mut figures = Figures::default();
    for rep in 0..reps {
        figures.baseline_write.push(per_op(SAVES, |_| {
            let path = baseline.join(format!("{}.json", rng.below(runs)));
            let mut file = File::create(path)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            Ok(())
        })?);
        figures.save.push(per_op(SAVES, |_| {
            let i = rng.below(runs);
            let run = store.run("train", &config("run", i)?)?;
            Ok(run.save("metrics", "json", &value(i))?)
        })?);
        figures.new_run.push(per_op(NEW_RUNS, |k| {
            let run = store.run("train", &config("new", rep * NEW_RUNS + k)?)?;
            Ok(run.save("metrics", "json", &value(k))?)
        })?);
        figures.baseline_read.push(per_op(LOADS, |_| {
            let read = fs::read(baseline.join(format!("{}.json", rng.below(runs))))?;
            assert_eq!(read.len(), bytes.len());
            Ok(())
        })?);
        figures.load.push(per_op(LOADS, |_| {
            let i = rng.below(runs);
            let loaded = store
                .run("train", &config("run", i)?)?
                .load::<Value>("metrics")?;
            assert_eq!(loaded.as_ref().map(|v| &v["run"]), Some(&json!(i)));
            Ok(())
        })?);
        eprintln!("  rep {}: done", rep + 1);
    }
    Ok(figures)
}

/// Seconds to import the filled LocalFileStore of `runs` runs (plus the new runs of the
/// repetitions) into a new RedbStore, and to export that into a new directory, the way
/// `sweepstore import` and `export` do: with their default threads ([`IMPORT_THREADS`],
/// [`EXPORT_THREADS`]), the export in bulk mode (one `syncfs` at the end). Once each.
fn transfer(root: &Path, runs: usize) -> Result<(usize, f64, f64)> {
    let dir = root.join(format!("{runs}"));
    let local = LocalFileStore::new(dir.join("store"))?;
    let redb = RedbStore::open(dir.join("redb"), RedbOptions::default())?;
    let start = Instant::now();
    let mut plan = CopyPlan::new(&local, true)?;
    plan.threads(IMPORT_THREADS);
    let imported = copy_planned(&local, &redb, &plan, &mut |_| {})?;
    let import = start.elapsed().as_secs_f64();
    let exported = LocalFileStore::new(dir.join("exported"))?;
    let start = Instant::now();
    let bulk = exported.begin_bulk()?;
    let mut plan = CopyPlan::new(&redb, true)?;
    plan.threads(EXPORT_THREADS);
    copy_planned(&redb, &exported, &plan, &mut |_| {})?;
    bulk.finish()?;
    let export = start.elapsed().as_secs_f64();
    eprintln!("  import {import:.1} s, export {export:.1} s");
    Ok((imported.runs as usize, import, export))
}

/// `--transfer N`: only the import and export of a task of `N` runs, filled in bulk mode
/// (one `syncfs` instead of nine fsyncs per new run) so that large sizes are quick to set up.
fn transfer_only(root: &Path, runs: usize) -> Result {
    let dir = root.join(format!("{runs}"));
    let _ = fs::remove_dir_all(&dir);
    let store = LocalFileStore::new(dir.join("store"))?;
    let bulk = store.begin_bulk()?;
    for i in 0..runs {
        store
            .run("train", &config("run", i)?)?
            .save("metrics", "json", &value(i))?;
    }
    bulk.finish()?;
    drop(store);
    let (runs, import, export) = transfer(root, runs)?;
    println!(
        "| {runs} | {import:.2} s | {:.2} ms | {export:.2} s | {:.2} ms |",
        import * 1e3 / runs as f64,
        export * 1e3 / runs as f64
    );
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

fn ratios(ours: &[f64], baseline: &[f64]) -> f64 {
    let per_rep: Vec<f64> = ours.iter().zip(baseline).map(|(a, b)| a / b).collect();
    median(&per_rep)
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args.get(i + 1).ok_or("--reps needs a number")?.parse()?,
        None if quick => 1,
        None => 5,
    };
    let sizes: &[usize] = if quick {
        &[100, 300]
    } else {
        &[100, 1_000, 10_000]
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-local");
    if let Some(i) = args.iter().position(|a| a == "--transfer") {
        let runs: usize = args
            .get(i + 1)
            .ok_or("--transfer needs a number")?
            .parse()?;
        return transfer_only(&root, runs);
    }

    let mut all = Vec::new();
    let mut transfers = Vec::new();
    for &runs in sizes {
        eprintln!("{runs} runs:");
        all.push((runs, measure(&root, runs, reps)?));
        transfers.push(transfer(&root, runs)?);
    }
    let _ = fs::remove_dir_all(&root);

    let mut out = String::new();
    writeln!(
        out,
        "| runs in the task | operation | LocalFileStore per op, median (min–max) | \
         baseline per op | ratio |"
    )?;
    writeln!(out, "|---:|---|---:|---:|---:|")?;
    for (runs, f) in &all {
        let rows = [
            (
                "save (overwrite)",
                &f.save,
                &f.baseline_write,
                "create+write+fsync",
            ),
            (
                "save (new run)",
                &f.new_run,
                &f.baseline_write,
                "create+write+fsync",
            ),
            ("load", &f.load, &f.baseline_read, "std::fs::read"),
        ];
        for (op, ours, base, base_name) in rows {
            writeln!(
                out,
                "| {runs} | {op} | {} | {} {base_name} | {:.1}× |",
                spread(ours),
                spread(base),
                ratios(ours, base)
            )?;
        }
    }
    if let (Some((small, first)), Some((large, last))) = (all.first(), all.last()) {
        writeln!(out)?;
        writeln!(
            out,
            "Scaling, per-op cost at {large} runs ÷ at {small} runs (target ≤ 1.5):"
        )?;
        writeln!(out)?;
        for (op, a, b) in [
            ("save (overwrite)", &first.save, &last.save),
            ("save (new run)", &first.new_run, &last.new_run),
            ("load", &first.load, &last.load),
        ] {
            writeln!(out, "- {op}: {:.2}", median(b) / median(a))?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "| runs | import into a RedbStore | per run | export (bulk) | per run |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|")?;
    for (runs, import, export) in &transfers {
        writeln!(
            out,
            "| {runs} | {import:.2} s | {:.2} ms | {export:.2} s | {:.2} ms |",
            import * 1e3 / *runs as f64,
            export * 1e3 / *runs as f64
        )?;
    }
    print!("{out}");
    fs::write(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-local.md"),
        &out,
    )?;
    Ok(())
}
