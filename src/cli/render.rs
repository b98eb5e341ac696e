//! How runs and sizes look on the command line: the `--json` shapes (shared by `ls` and
//! `show`, which scripts depend on: see the README) and human-readable sizes.
//!
//! Invariant: the JSON of a run is built in one place, [`run_json`], so every subcommand that
//! prints a run prints the same shape.

use serde_json::{Value, json};
use sweepstore::{RunState, RunSummary};

/// `{"run_key", "task", "config", "state", "results": [{"name", "type", "size", "hash",
/// "sub_dir"}]}`; `state` is `"running"`, `"finished"`, `"failed"` or `null` (never set),
/// `hash` and `sub_dir` are `null` where the store records none.
pub fn run_json(run: &RunSummary) -> Value {
    let results: Vec<Value> = run
        .results
        .iter()
        .map(|r| {
            json!({
                "name": r.name.as_str(),
                "type": r.type_name,
                "size": r.size,
                "hash": r.hash.map(|h| h.to_hex()),
                "sub_dir": r.sub_dir.as_ref().map(|d| d.as_str()),
            })
        })
        .collect();
    json!({
        "run_key": run.key.to_hex(),
        "task": run.task.as_str(),
        "config": run.config.to_value(),
        "state": run.state.map(state_name),
        "results": results,
    })
}

/// The state's name as the JSON shapes and listings spell it.
pub fn state_name(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running",
        RunState::Finished => "finished",
        RunState::Failed => "failed",
    }
}

/// The state of a run as listings print it (`-` if never set).
pub fn state_text(state: Option<RunState>) -> &'static str {
    state.map_or("-", state_name)
}

/// `bytes` in B, KiB, MiB, GiB or TiB with one decimal (`512 B`, `2.9 KiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(3000), "2.9 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
        assert_eq!(size(3 << 40), "3.0 TiB");
        assert_eq!(size(u64::MAX), "16777216.0 TiB");
    }
}
