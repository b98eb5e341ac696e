//! The Markdown report: machine and settings, the targets with measured ratios marked met
//! or missed, the engine bench's own targets (embedded from its report), then one table of
//! figures and one of ratios per workload, the plots and the notes.
//!
//! Invariants: a ratio is always the median of per-round ratios (min–max), never a ratio of
//! medians; a target whose figures are missing says "not measured", never "met"; every
//! system's durability is stated next to its figures.

use std::fmt::Write as _;
use std::fs;
use std::process::Command;

use crate::artifact::{self, DISK_FILE};
use crate::fluidml::Kind;
use crate::options::Options;
use crate::plots::Plot;
use crate::results::Results;
use crate::support::BenchResult;
use crate::support::machine::{Machine, read_trimmed};
use crate::support::stats::Spread;
use crate::w0::{self, DISK_APPEND_1K, DISK_OVERWRITE_1K, W0_LATENCY, w0_case};
use crate::workloads::{DISK_APPEND, Sys, w1_case, w2_case, w3_case};

const FLUIDML_DURABILITY: &str = "no fsync: survives kill -9, not power loss";

/// How figures (all stored as rates) are shown.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// As stored, with this unit.
    Rate(&'static str),
    /// Microseconds per op (1e6 / rate).
    Micros,
    /// Milliseconds (1e3 / rate).
    Millis,
}

impl Unit {
    fn show(self, s: Spread) -> String {
        match self {
            Unit::Rate(unit) => s.show(unit),
            Unit::Micros => inverse(s, 1e6).show("µs"),
            Unit::Millis => inverse(s, 1e3).show("ms"),
        }
    }
}

fn inverse(s: Spread, scale: f64) -> Spread {
    Spread {
        median: scale / s.median,
        min: scale / s.max,
        max: scale / s.min,
    }
}

/// A system row: label and what its acknowledgement survives.
fn rust_rows(systems: &[Sys]) -> Vec<(&'static str, &'static str)> {
    systems
        .iter()
        .map(|s| (s.label(), s.durability()))
        .collect()
}

fn fluid_rows(o: &Options, kinds: &[Kind]) -> Vec<(&'static str, &'static str)> {
    if o.python.is_none() {
        return Vec::new();
    }
    kinds
        .iter()
        .map(|k| (k.label(), FLUIDML_DURABILITY))
        .collect()
}

fn figure_table(
    r: &Results,
    cases: &[(String, String)],
    rows: &[(&str, &str)],
    unit: Unit,
) -> String {
    let mut out = String::from("| system | durability |");
    for (_, header) in cases {
        let _ = write!(out, " {header} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---:|".repeat(cases.len()));
    out.push('\n');
    for (label, durability) in rows {
        let _ = write!(out, "| {label} | {durability} |");
        for (case, _) in cases {
            let cell = r
                .spread(case, label)
                .map_or("—".to_owned(), |s| unit.show(s));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

fn ratio_table(r: &Results, cases: &[(String, String)], pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("| ratio (× faster) |");
    for (_, header) in cases {
        let _ = write!(out, " {header} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(cases.len()));
    out.push('\n');
    for (ours, base) in pairs {
        let _ = write!(out, "| {ours} ÷ {base} |");
        for (case, _) in cases {
            let cell = r
                .ratio(case, ours, base)
                .map_or("—".to_owned(), |s| s.show("×"));
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

/// "1 thread", "16 threads".
fn threads_text(threads: usize) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

/// One column per thread count run: (case, header).
fn thread_cases(o: &Options, case: fn(usize) -> String) -> Vec<(String, String)> {
    o.threads
        .iter()
        .map(|&t| (case(t), threads_text(t)))
        .collect()
}

/// One target: a ratio in one case that must reach `at_least`.
struct Target {
    what: String,
    case: String,
    ours: &'static str,
    base: &'static str,
    at_least: f64,
}

impl Target {
    fn new(what: String, case: String, ours: Sys, base: &'static str, at_least: f64) -> Self {
        Target {
            what,
            case,
            ours: ours.label(),
            base,
            at_least,
        }
    }
}

/// Issue 21's per-save targets, the same for W0 (smallest record, figures in saves/s) and W1
/// (metrics + weights, runs/s).
fn write_targets(o: &Options, workload: &str, case: fn(usize) -> String) -> Vec<Target> {
    if !o.runs(&workload.to_lowercase()) {
        return Vec::new();
    }
    let unit = if workload == "W0" {
        "saves/s"
    } else {
        "runs/s"
    };
    let (imm, rel) = (Sys::RedbImmediate, Sys::RedbRelaxed);
    let (full, normal) = (Sys::SqliteFull.label(), Sys::SqliteNormal.label());
    let rows = [
        (1, imm, full, "(Immediate) ÷ SQLite FULL", 1.2),
        (1, rel, normal, "(Relaxed) ÷ SQLite NORMAL", 1.5),
        (4, rel, normal, "(Relaxed) ÷ SQLite NORMAL", 1.5),
        (16, imm, full, "(Immediate) ÷ SQLite FULL", 3.0),
        (
            16,
            imm,
            normal,
            "(Immediate) ÷ SQLite NORMAL (which does not fsync)",
            1.5,
        ),
        (
            64,
            rel,
            imm.label(),
            "(Relaxed) ÷ RedbStore (Immediate)",
            1.0,
        ),
    ];
    rows.into_iter()
        .map(|(threads, ours, base, what, at_least)| {
            let what = format!(
                "{workload}, {}: RedbStore {what}, {unit}",
                threads_text(threads)
            );
            Target::new(what, case(threads), ours, base, at_least)
        })
        .collect()
}

fn targets(o: &Options) -> Vec<Target> {
    let mut out = write_targets(o, "W0", w0_case);
    if o.runs("w0") {
        out.push(Target::new(
            "W0, 1 thread: median save latency, RedbStore (Immediate) ÷ one 1 KiB append + fdatasync (as 1 / latency: ≥ 1 means the save takes at most one sync)".into(),
            W0_LATENCY.into(),
            Sys::RedbImmediate,
            DISK_APPEND_1K,
            1.0,
        ));
    }
    out.extend(write_targets(o, "W1", w1_case));
    let fluid = Kind::Local.label();
    if o.sizes.contains(&1000) && o.runs("w3") {
        let save = w3_case("save", 1000);
        out.push(Target::new(
            "W3, 1 000 runs: RedbStore (Immediate) ÷ SQLite FULL, per-op save".into(),
            save.clone(),
            Sys::RedbImmediate,
            Sys::SqliteFull.label(),
            1.2,
        ));
        // Like durability: neither side fsyncs before acknowledging. (A durable save cannot
        // beat one fdatasync, so "Immediate ≥ 500× fluidml" is retired; the W0 latency row
        // replaces it.)
        out.push(Target::new(
            format!(
                "W3, 1 000 runs: {} ÷ fluidml LocalFileStore, per-op save (neither fsyncs before the ack)",
                Sys::RedbRelaxed.label()
            ),
            save,
            Sys::RedbRelaxed,
            fluid,
            500.0,
        ));
        for op in ["save", "load"] {
            out.push(Target::new(
                format!("W3, 1 000 runs: LocalFileStore ÷ fluidml LocalFileStore, per-op {op}"),
                w3_case(op, 1000),
                Sys::Local,
                fluid,
                10.0,
            ));
        }
        out.push(Target::new(
            "W3, 1 000 runs: RedbStore (Immediate) ÷ fluidml LocalFileStore, per-op load".into(),
            w3_case("load", 1000),
            Sys::RedbImmediate,
            fluid,
            500.0,
        ));
    }
    out
}

fn target_table(o: &Options, r: &Results) -> String {
    let mut out = String::from(
        "| target | measured (median of per-round ratios, min–max) | target | met? |\n|---|---:|---:|---|\n",
    );
    for t in targets(o) {
        let (measured, met) = match r.ratio(&t.case, t.ours, t.base) {
            Some(q) => (
                q.show("×"),
                if q.median >= t.at_least {
                    "met"
                } else {
                    "**missed**"
                },
            ),
            None => ("not measured".to_owned(), "—"),
        };
        let _ = writeln!(
            out,
            "| {} | {measured} | ≥ {}× | {met} |",
            t.what, t.at_least
        );
    }
    out
}

fn shell(args: &[&str]) -> String {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

fn cpu_and_memory() -> String {
    let cpuinfo = read_trimmed("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |s| s.trim().to_owned());
    let meminfo = read_trimmed("/proc/meminfo");
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN);
    format!("{cpu}, {:.0} GiB RAM", mem_kib / (1024.0 * 1024.0))
}

fn command_line(o: &Options) -> String {
    if o.args.is_empty() {
        "cargo bench --bench compare".to_owned()
    } else {
        format!("cargo bench --bench compare -- {}", o.args.join(" "))
    }
}

/// The whole report.
pub fn markdown(
    o: &Options,
    m: &Machine,
    fluidml: Option<&str>,
    r: &Results,
    plots: &[Plot],
) -> BenchResult<String> {
    let mut out = String::new();
    let w = &mut out;
    writeln!(
        w,
        "# sweepstore compared with what users would pick instead\n"
    )?;
    writeln!(
        w,
        "Made by `{}` (source {}) on {}{}.\n",
        command_line(o),
        m.source,
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
        if o.engine_report.is_some() {
            ", run by `bash benches/report.sh`"
        } else {
            ""
        }
    )?;
    writeln!(
        w,
        "Machine: {} cores, {}, kernel {}, stores on {}. Load average {} at start, {} at end (other jobs share this machine: read the ratios, which are formed within one round, not the absolute figures).\n",
        m.nproc,
        cpu_and_memory(),
        m.kernel,
        m.filesystem,
        m.load_start,
        m.load_end
    )?;
    match fluidml {
        Some(v) => writeln!(
            w,
            "fluidml {v} (Python, `benches/compare.py`), in the same rounds as the Rust systems.\n"
        )?,
        None => writeln!(w, "fluidml was not measured (no `--python`).\n")?,
    }
    writeln!(
        w,
        "Settings: {} rounds; W1 phases of {} s (at most {} runs each), threads {:?}; W2 {} runs; W3 sizes {:?}, {} s per timed phase, {} s cap to grow to the next size; W4 {} MiB; W5 {} MiB of acknowledged runs.\n",
        o.reps,
        o.secs,
        o.max_runs,
        o.threads,
        o.reduce_runs,
        o.sizes,
        o.secs_per_op,
        o.cap_secs,
        o.artifact_mib,
        o.wal_mib
    )?;
    if o.quick {
        writeln!(
            w,
            "**--quick run: smoke-test sizes, the figures mean nothing.**\n"
        )?;
    }
    writeln!(w, "## Targets\n")?;
    writeln!(w, "{}", target_table(o, r))?;
    if let Some(path) = &o.engine_report {
        writeln!(
            w,
            "## Engine targets (issue 3, `cargo bench --bench engine`)\n"
        )?;
        match fs::read_to_string(path) {
            Ok(text) => {
                let body = text
                    .lines()
                    .skip_while(|l| l.starts_with("## ") || l.is_empty());
                for line in body {
                    writeln!(w, "{line}")?;
                }
                writeln!(w)?;
            }
            Err(e) => writeln!(w, "Not available ({}: {e}).\n", path.display())?,
        }
    }
    let redb = Sys::RedbImmediate.label();
    let local = Sys::Local.label();
    let fluid_local = Kind::Local.label();
    let fluid_on = o.python.is_some();
    if o.runs("w0") {
        writeln!(w, "## W0 smallest sweep record (saves/s)\n")?;
        writeln!(
            w,
            "Each worker thread saves new runs (config `{{\"worker\": t, \"i\": i}}`), each with one ~1 KiB `json` metrics and nothing else, for {} s per phase, in a fresh store, after one unrecorded warm-up round; SQLite and raw redb commit one transaction per save. Every run is read back and compared. The latency column is the median over every save of the 1-thread phase.\n",
            o.secs
        )?;
        let mut cases = thread_cases(o, w0_case);
        let mut rows = rust_rows(&w0::W0);
        rows.push((DISK_APPEND_1K, "fdatasync per append"));
        rows.push((DISK_OVERWRITE_1K, "fdatasync per overwrite"));
        writeln!(w, "{}", figure_table(r, &cases, &rows, Unit::Rate("/s")))?;
        if o.threads.contains(&1) {
            let latency = [(W0_LATENCY.to_owned(), "median latency, 1 thread".to_owned())];
            writeln!(w, "{}", figure_table(r, &latency, &rows, Unit::Micros))?;
            cases.extend(latency);
        }
        let (imm, rel) = (Sys::RedbImmediate.label(), Sys::RedbRelaxed.label());
        let pairs = [
            (imm, Sys::SqliteFull.label()),
            (imm, Sys::SqliteNormal.label()),
            (imm, Sys::RawRedb.label()),
            (imm, DISK_APPEND_1K),
            (imm, DISK_OVERWRITE_1K),
            (rel, Sys::SqliteNormal.label()),
            (rel, imm),
            (DISK_OVERWRITE_1K, DISK_APPEND_1K),
        ];
        writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
    }
    if o.runs("w1") {
        writeln!(w, "## W1 sweep writes (runs/s)\n")?;
        writeln!(
            w,
            "Each worker thread saves new runs (config `{{\"worker\": t, \"i\": i}}`), each a ~1 KiB `json` metrics and then a 64 KiB `binary` weights (two saves, each durable as the system's durability says), for {} s per phase, in a fresh store, after one unrecorded warm-up round; afterwards every run's metrics and sampled weights are read back and compared. fluidml runs Python threads (one GIL) sharing one store behind the `RLock` fluidml itself uses for multi-worker runs.\n",
            o.secs
        )?;
        let cases = thread_cases(o, w1_case);
        let mut rows = rust_rows(&Sys::W1);
        rows.extend(fluid_rows(o, &Kind::ALL));
        rows.push((DISK_APPEND, "fdatasync per append"));
        writeln!(w, "{}", figure_table(r, &cases, &rows, Unit::Rate("/s")))?;
        let mut pairs: Vec<(&str, &str)> = [
            Sys::SqliteFull,
            Sys::SqliteNormal,
            Sys::RawRedb,
            Sys::RawRedbBatched,
        ]
        .iter()
        .map(|s| (redb, s.label()))
        .collect();
        pairs.push((redb, DISK_APPEND));
        pairs.push((Sys::RedbRelaxed.label(), Sys::SqliteNormal.label()));
        if fluid_on {
            pairs.push((redb, fluid_local));
            pairs.push((local, fluid_local));
        }
        writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
    }
    if o.runs("w2") {
        writeln!(w, "## W2 reduce (runs/s)\n")?;
        writeln!(
            w,
            "Load the metrics of all {} runs of a task with their configs (sweepstore: `task.sweep` / `task.lazy_sweep` + `load`; SQLite: one join query; raw redb: one range scan; fluidml: one `load` per config, as its reduce step does; `lazy=True` promises for LocalFileStore). Warm: each measurement follows an untimed pass; Rust systems repeat the whole reduce for the per-op phase length. Every value of every pass is compared with what was saved.\n",
            o.reduce_runs
        )?;
        let cases: Vec<_> = [false, true]
            .iter()
            .map(|&l| (w2_case(l).to_owned(), w2_case(l)[3..].to_owned()))
            .collect();
        let mut rows = rust_rows(&Sys::PER_OP);
        rows.extend(fluid_rows(o, &Kind::ALL));
        writeln!(
            w,
            "{}",
            figure_table(r, &cases, &rows, Unit::Rate("runs/s"))
        )?;
        let mut pairs: Vec<(&str, &str)> = vec![
            (redb, Sys::SqliteFull.label()),
            (redb, Sys::RawRedb.label()),
        ];
        if fluid_on {
            pairs.push((redb, fluid_local));
            pairs.push((local, fluid_local));
        }
        writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
    }
    if o.runs("w3") {
        writeln!(w, "## W3 scale (µs per op, one thread)\n")?;
        writeln!(
            w,
            "A task is grown to each size (untimed; configs `{{\"i\": k}}`, ~1 KiB metrics), then each round times overwrites of the metrics of random runs (a durable save where the system is durable) and loads of random runs (each compared with what was saved), each after {} untimed warm-up ops. A system stops where growing to the next size took longer than the cap (see the notes).\n",
            20
        )?;
        for op in ["save", "load"] {
            writeln!(w, "### {op}\n")?;
            let cases: Vec<_> = o
                .sizes
                .iter()
                .map(|&n| (w3_case(op, n), format!("{n} runs")))
                .collect();
            let mut rows = rust_rows(&Sys::PER_OP);
            rows.extend(fluid_rows(o, &Kind::ALL));
            writeln!(w, "{}", figure_table(r, &cases, &rows, Unit::Micros))?;
            let mut pairs: Vec<(&str, &str)> = vec![
                (redb, Sys::SqliteFull.label()),
                (redb, Sys::RawRedb.label()),
            ];
            if fluid_on {
                pairs.push((redb, fluid_local));
                pairs.push((Sys::RedbRelaxed.label(), fluid_local));
                pairs.push((local, fluid_local));
                pairs.push((Sys::Memory.label(), Kind::Memory.label()));
            }
            writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
        }
    }
    if o.runs("w4") {
        writeln!(w, "## W4 artifact ({} MiB)\n", o.artifact_mib)?;
        writeln!(
            w,
            "A child process streams the value in 1 MiB chunks (sweepstore: `run.open(\"weights\", \"wb\")` … `close()`, then `open(.., \"rb\")`; raw redb and SQLite: 1 MiB chunk rows in one durable transaction; fluidml: its `open(.., mode=\"wb\")` file, not synced, read back through the file object its `File` wraps because fluidml 0.3.4's `File.read()` returns `None`; disk: `write` + `fsync` of one file) and reads it back (warm page cache), checking every chunk. Peak RSS is the child's `VmHWM` (fluidml: `ru_maxrss` of its Python process).\n"
        )?;
        let cases: Vec<_> = ["write", "read"]
            .iter()
            .map(|d| (artifact::w4_case(d), format!("{d} MiB/s")))
            .collect();
        let mut rows = rust_rows(&artifact::W4);
        rows.extend(fluid_rows(o, &[Kind::Local]));
        rows.push((DISK_FILE, "fsync at the end"));
        let mut table = figure_table(r, &cases, &rows, Unit::Rate(""));
        let rss = figure_table(
            r,
            &[(artifact::w4_case("peak RSS"), "peak RSS".into())],
            &rows,
            Unit::Rate("MiB"),
        );
        table.push('\n');
        table.push_str(&rss);
        writeln!(w, "{table}")?;
        let mut pairs: Vec<(&str, &str)> = vec![
            (redb, DISK_FILE),
            (redb, Sys::SqliteFull.label()),
            (redb, Sys::RawRedb.label()),
        ];
        if fluid_on {
            pairs.push((redb, fluid_local));
        }
        writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
    }
    if o.runs("w5") {
        writeln!(w, "## W5 recovery (time to reopen)\n")?;
        writeln!(
            w,
            "A child process saves runs (metrics + 64 KiB weights) until {} MiB are acknowledged — RedbStore with 8 threads and checkpoints held off, so all of it is WAL to replay; raw redb and SQLite in durable transactions of 64 runs, SQLite with `wal_autocheckpoint=0` — and then either dies (`abort()`: no close, no checkpoint) or closes cleanly. The time is the reopen plus the first load (when SQLite rebuilds its WAL index); then every acknowledged run is counted and the last one's bytes compared. fluidml and LocalFileStore have no recovery step; InMemoryStore loses everything.\n",
            o.wal_mib
        )?;
        let cases: Vec<_> = [true, false]
            .iter()
            .map(|&c| {
                (
                    crate::artifact::w5_case(c).to_owned(),
                    crate::artifact::w5_case(c)[3..].to_owned(),
                )
            })
            .collect();
        writeln!(
            w,
            "{}",
            figure_table(r, &cases, &rust_rows(&artifact::W5), Unit::Millis)
        )?;
        let pairs: Vec<(&str, &str)> = vec![
            (redb, Sys::SqliteFull.label()),
            (redb, Sys::RawRedb.label()),
        ];
        writeln!(w, "{}", ratio_table(r, &cases, &pairs))?;
    }
    if !plots.is_empty() {
        writeln!(w, "## Plots\n")?;
        for p in plots {
            writeln!(w, "![{}]({})\n", p.title, p.file)?;
        }
    }
    writeln!(w, "## Method and notes\n")?;
    writeln!(
        w,
        "- Figures: median over the rounds (min–max). Ratios: the median of per-round ratios sweepstore ÷ baseline in throughput terms (> 1: sweepstore is faster), min–max over rounds. A round measures every system back to back in an order rotated from round to round; every phase that syncs starts after a system-wide `sync`."
    )?;
    writeln!(
        w,
        "- Same bytes everywhere: metrics are sweepstore's `json` encoding and weights its `binary` (postcard) encoding of the same 65 533-byte payload (64 KiB encoded), encoded inside the timed op for every Rust system; fluidml saves the same dict as `json` and the same payload bytes as `pickle`."
    )?;
    writeln!(
        w,
        "- Durability: the `durability` column says what an acknowledged save survives. SQLite NORMAL and RedbStore Relaxed do not fsync before acknowledging; fluidml never fsyncs; InMemoryStore keeps nothing."
    )?;
    for note in &r.notes {
        writeln!(w, "- {note}")?;
    }
    Ok(out)
}
