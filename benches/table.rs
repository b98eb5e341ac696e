//! `sweepstore table` on a store of 10 000 runs: how long the whole command takes (process
//! start, open, listing, loading every run's `metrics`, flattening, sorting, printing), for
//! text, `--json` and a filtered, sorted, limited query.
//!
//! The store is built first (task `train`, config `{"Train": {"lr", "opt"}, "seed"}`, a json
//! `metrics` of 4 fields per run, every run finished), then each query runs `--reps` times
//! (default 5) as a child process with stdout discarded; the figure is the median wall time,
//! with the min–max. Run it with
//!
//! ```text
//! cargo bench --bench table -- [--reps N] [--runs N]
//! ```
//!
//! It writes under `target/bench-table/` and prints a Markdown table; the binary timed is the
//! one Cargo built with the bench (`CARGO_BIN_EXE_sweepstore`, so the same profile).

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use sweepstore::{RedbOptions, RedbStore, StoreExt, UniqueConfig};

type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

fn arg_value(name: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(at) => Ok(args.get(at + 1).ok_or("a value")?.parse()?),
        None => Ok(default),
    }
}

/// A store of `runs` finished runs of task `train`.
fn build(path: &Path, runs: usize) -> Result {
    let store = RedbStore::open(path, RedbOptions::default())?;
    for i in 0..runs {
        let lr = [0.1, 0.03, 0.01, 0.003][i % 4];
        let opt = ["adam", "sgd"][i / 4 % 2];
        let config = UniqueConfig::new(json!({"Train": {"lr": lr, "opt": opt}, "seed": i / 8}))?;
        let run = store.run("train", &config)?;
        let loss = 1.0 / (1.0 + i as f64);
        run.save(
            "metrics",
            "json",
            &json!({"loss": loss, "acc": 1.0 - loss, "epochs": 20, "best": i % 20}),
        )?;
        run.finish()?;
    }
    Ok(())
}

fn time(store: &Path, query: &[&str]) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_sweepstore"))
        .arg("table")
        .arg(store)
        .arg("train")
        .args(query)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("table {query:?} failed: {status}").into());
    }
    Ok(started.elapsed())
}

fn main() -> Result {
    let reps = arg_value("--reps", 5)?.max(1);
    let runs = arg_value("--runs", 10_000)?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-table");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = dir.join("store");
    eprintln!("building a store of {runs} runs ...");
    build(&store, runs)?;
    println!("| query ({runs} runs) | median | min–max |\n|---|---|---|");
    let queries: [&[&str]; 3] = [
        &[],
        &["--json"],
        &[
            "--where", "opt=adam", "--where", "lr<=0.01", "--sort", "-acc", "--limit", "10",
        ],
    ];
    for query in queries {
        let mut times: Vec<Duration> = (0..reps)
            .map(|_| time(&store, query))
            .collect::<Result<_>>()?;
        times.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| `table STORE train {}` | {} | {}–{} |",
            query.join(" "),
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
    Ok(())
}
