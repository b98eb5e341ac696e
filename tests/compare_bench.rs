//! Smoke test of the comparison benchmark (`benches/compare/`): `cargo test` compiles the
//! bench's code and runs workloads W0–W3 at `--quick` sizes (without fluidml, which needs
//! Python), so a broken benchmark fails here rather than in the one-command report.
//!
//! What it checks: every workload verified what it stored (the bench stops with an error
//! otherwise), the report has a figure for every system of W0, W1 and W3, per-round ratios
//! and the targets' rows, and the plots were written.

// The bench's modules, compiled here as in `benches/compare/main.rs`; W4 and W5 run child
// processes of the bench binary and are not exercised from this test binary.
#![allow(dead_code)]

#[path = "../benches/support/mod.rs"]
mod support;

#[path = "../benches/compare/artifact.rs"]
mod artifact;
#[path = "../benches/compare/fluidml.rs"]
mod fluidml;
#[path = "../benches/compare/options.rs"]
mod options;
#[path = "../benches/compare/plots.rs"]
mod plots;
#[path = "../benches/compare/report.rs"]
mod report;
#[path = "../benches/compare/results.rs"]
mod results;
#[path = "../benches/compare/run.rs"]
mod run;
#[path = "../benches/compare/systems.rs"]
mod systems;
#[path = "../benches/compare/w0.rs"]
mod w0;
#[path = "../benches/compare/workloads.rs"]
mod workloads;

use options::Invocation;
use support::BenchResult;
use workloads::Sys;

#[test]
fn quick_run_of_w0_to_w3_verifies_and_reports() -> BenchResult<()> {
    let out = tempfile::tempdir()?;
    let args = [
        "--quick",
        "--reps",
        "2",
        "--only",
        "w0,w1,w2,w3",
        "--threads",
        "1,2",
        "--max-runs",
        "100",
        "--reduce-runs",
        "20",
        "--sizes",
        "20,60",
        "--out",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(out.path().display().to_string());
    let Invocation::Bench(options) = options::parse(args)? else {
        panic!("the quick options are a benchmark run");
    };
    // Fails if any workload's check of what it stored fails.
    run::run_bench(&options)?;

    let report = std::fs::read_to_string(out.path().join("README.md"))?;
    for heading in [
        "## Targets",
        "## W0 smallest sweep record",
        "## W1 sweep writes",
        "## W2 reduce",
        "## W3 scale",
    ] {
        assert!(report.contains(heading), "missing {heading}");
    }
    assert!(!report.contains("## W4"), "W4 was not selected");
    // Every W1 system has figures in both thread columns, not dashes.
    for sys in Sys::W1 {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", sys.label())))
            .unwrap_or_else(|| panic!("no W1 row for {}", sys.label()));
        assert!(row.contains("/s"), "W1 row without figures: {row}");
    }
    // In W0's section, every system and the disk have figures in both thread columns and in
    // the latency table.
    let w0_section = report
        .split("## W0 smallest sweep record")
        .nth(1)
        .and_then(|rest| rest.split("## W1").next())
        .unwrap_or_default();
    for label in w0::W0
        .iter()
        .map(|s| s.label())
        .chain([w0::DISK_APPEND_1K, w0::DISK_OVERWRITE_1K])
    {
        let rows: Vec<_> = w0_section
            .lines()
            .filter(|l| l.starts_with(&format!("| {label} |")))
            .collect();
        assert!(
            rows.iter().any(|r| r.matches(" /s").count() >= 2),
            "no W0 rate row for {label}"
        );
        assert!(
            rows.iter().any(|r| r.contains(" µs")),
            "no W0 latency row for {label}"
        );
    }
    // Issue 21's W0 targets are measured at 1 thread, not at 16 (not run).
    let target = |what: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {what} |")))
            .unwrap_or_else(|| panic!("no target row {what}"))
            .to_owned()
    };
    assert!(target("W0, 1 thread: RedbStore (Immediate) ÷ SQLite FULL, saves/s").contains(" × "));
    assert!(
        target("W0, 16 threads: RedbStore (Immediate) ÷ SQLite FULL, saves/s")
            .contains("not measured")
    );
    // The W1 target rows are there (16 threads were not run, so they are not measured).
    assert!(report.contains(
        "| W1, 16 threads: RedbStore (Immediate) ÷ SQLite FULL, runs/s | not measured |"
    ));
    assert!(report.contains("| RedbStore (Immediate) ÷ SQLite WAL, synchronous FULL | "));
    assert!(
        report.contains(" × ("),
        "ratios show their min–max over rounds"
    );
    for plot in ["w1-throughput.svg", "w3-save.svg", "w3-load.svg"] {
        let svg = std::fs::read_to_string(out.path().join(plot))?;
        assert!(svg.starts_with("<svg"), "{plot} is an SVG");
    }
    Ok(())
}

#[test]
fn ratios_are_formed_within_rounds() {
    let mut r = results::Results::default();
    // Round 0: a slow disk, round 1: a fast one; sweepstore is 2× the baseline in both.
    r.put(0, "case", "ours", 100.0);
    r.put(0, "case", "base", 50.0);
    r.put(1, "case", "ours", 1000.0);
    r.put(1, "case", "base", 500.0);
    // A round that measured only one side does not count.
    r.put(2, "case", "ours", 7.0);
    let ratio = r
        .ratio("case", "ours", "base")
        .map(|q| (q.median, q.min, q.max));
    assert_eq!(ratio, Some((2.0, 2.0, 2.0)));
    assert!(r.ratio("case", "ours", "missing").is_none());
}

#[test]
fn bad_flags_are_errors() {
    let parse = |args: &[&str]| options::parse(args.iter().map(|s| s.to_string()).collect());
    assert!(parse(&["--reps", "0"]).is_err());
    assert!(parse(&["--sizes", "1000,100"]).is_err());
    assert!(parse(&["--threads", "x"]).is_err());
    assert!(parse(&["--bogus"]).is_err());
    assert!(matches!(parse(&["--help"]), Ok(Invocation::Help)));
}
