//! The comparison benchmark: sweepstore's stores against what users would pick instead —
//! raw redb, SQLite (WAL; synchronous FULL and NORMAL), fluidml 0.3.4's own stores (through
//! `benches/compare.py`) and the disk's limits — on six workloads:
//!
//! - W0 smallest sweep record: K threads each saving one new run with a ~1 KiB `json`
//!   metrics per save (the per-save cost: handoff, commit, sync);
//! - W1 sweep writes: K threads (1, 4, 16, 64) each saving a ~1 KiB `json` metrics and a
//!   64 KiB `binary` weights per new run;
//! - W2 reduce: the metrics of every run of a task, eager and lazy sweep;
//! - W3 scale: per-op overwrite and load cost in a task of 10³ → 10⁵ runs (10⁶ with
//!   `--sizes`), each system only as far as it can be filled within a time cap;
//! - W4 artifact: a large value streamed in and out (MiB/s, peak RSS of the process);
//! - W5 recovery: reopen after a crash with a full WAL, and after a clean close.
//!
//! Every workload runs in rounds (`--reps`, default 5): one round measures every system back
//! to back, so a ratio sweepstore ÷ baseline is formed within a round; the report shows the
//! median of those ratios with min–max, next to the targets. Every measurement is verified
//! (counts and sampled bytes) before it counts.
//!
//! ```text
//! cargo bench --bench compare -- [--quick] [--reps N] [--python PATH] [--out DIR] ...
//! ```
//!
//! `bash benches/report.sh` is the one command that makes the virtualenv with fluidml, runs
//! this and the engine bench, and writes the report; `--help` lists every flag.

#[path = "../support/mod.rs"]
mod support;

mod artifact;
mod fluidml;
mod options;
mod plots;
mod report;
mod results;
mod run;
mod systems;
mod w0;
mod workloads;

use std::process::ExitCode;

use options::Invocation;
use support::BenchResult;

fn run(invocation: Invocation) -> BenchResult<()> {
    match invocation {
        Invocation::Child(args) => artifact::child_main(&args),
        Invocation::Help => {
            println!("{}", options::USAGE);
            Ok(())
        }
        Invocation::Bench(o) => {
            if o.quick {
                eprintln!("--quick: smoke-test sizes, figures are not meaningful");
            }
            run::run_bench(&o)
        }
    }
}

fn main() -> ExitCode {
    match options::parse(std::env::args().skip(1).collect()).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
