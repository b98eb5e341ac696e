//! W0 smallest sweep record: K threads (1, 4, 16, 64) each saving one new run per save, a
//! ~1 KiB `json` metrics and nothing else — SQLite and raw redb one row per transaction. It
//! shows the per-save cost of a store (handoff, commit, inserts, sync) that W1's 64 KiB
//! weights hide behind write bandwidth. Two disk baselines bound a durable save from one
//! thread: a 1 KiB append + `fdatasync`, and the same overwriting a preallocated block.
//!
//! Invariants: one round measures every system back to back in an order rotated from round
//! to round; every measurement is followed by a check that every saved run is stored with
//! its own metrics; the 1-thread latency figure is the median over every save of the phase,
//! stored as a rate (1 / latency) so that "higher is better" holds for it too.

use std::path::Path;

use crate::options::Options;
use crate::results::Results;
use crate::support::BenchResult;
use crate::support::data::{scratch, settle};
use crate::support::disk::{append_fdatasync, overwrite_fdatasync};
use crate::support::timing::{Budget, Measured, measure};
use crate::workloads::{Inputs, Sys, config, metrics, rotated, verify_runs};

/// The systems of W0: per-save durable and not-durable stores (fluidml and the file stores
/// are measured by W1 and W3).
pub const W0: [Sys; 5] = [
    Sys::RedbImmediate,
    Sys::RedbRelaxed,
    Sys::RawRedb,
    Sys::SqliteFull,
    Sys::SqliteNormal,
];

/// Label of the disk's limit for one W0 save: one append of the metrics' bytes + fdatasync.
pub const DISK_APPEND_1K: &str = "disk: 1 KiB append+fdatasync, 1 thread";
/// The same bytes overwriting a preallocated, synced block + fdatasync: the limit a
/// preallocated WAL would have (`docs/design.md` §10.8.2).
pub const DISK_OVERWRITE_1K: &str =
    "disk: 1 KiB overwrite of a preallocated block+fdatasync, 1 thread";

/// The task W1 uses too (what `verify_runs` reads back).
const TASK: &str = "train";

pub fn w0_case(threads: usize) -> String {
    format!("W0 {threads} threads")
}

/// The case of the 1-thread median save latency (stored as 1 / latency).
pub const W0_LATENCY: &str = "W0 median latency, 1 thread";

/// One round of W0: every system, every thread count, and the disk's limit.
pub fn w0_round(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    rep: usize,
    r: &mut Results,
) -> BenchResult<()> {
    let record = vec![0x5a; serde_json::to_vec(&metrics(0, 0))?.len()];
    for &threads in &o.threads {
        let case = w0_case(threads);
        crate::run::progress(rep, &case);
        for sys in rotated(&W0, rep) {
            let measured = w0_rust(o, inputs, root, sys, threads)?;
            put(r, rep, &case, threads, sys.label(), &measured);
        }
        let disk = append_fdatasync(root, &record, o.secs)?;
        put(r, rep, &case, threads, DISK_APPEND_1K, &disk);
        let disk = overwrite_fdatasync(root, &record, o.secs)?;
        put(r, rep, &case, threads, DISK_OVERWRITE_1K, &disk);
    }
    Ok(())
}

fn put(r: &mut Results, rep: usize, case: &str, threads: usize, label: &str, m: &Measured) {
    r.put(rep, case, label, m.rate());
    if threads == 1 {
        r.put(rep, W0_LATENCY, label, 1e6 / m.median_latency_micros());
    }
}

fn w0_rust(
    o: &Options,
    inputs: &Inputs,
    root: &Path,
    sys: Sys,
    threads: usize,
) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let system = sys.open(dir.path(), threads, &inputs.codecs)?;
    let per_thread = (o.max_runs / threads as u64).max(1);
    settle()?;
    let measured = measure(threads, Budget::SecsOrOps(o.secs, per_thread), |t, i| {
        let t = t as u64;
        system.save_metrics(t as usize, TASK, &config(t, i), &metrics(t, i))?;
        Ok(1)
    })?;
    verify_runs(system.as_ref(), inputs, measured.items, sys.label(), false)?;
    Ok(measured)
}
