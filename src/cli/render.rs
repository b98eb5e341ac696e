//! How runs, sizes and times look on the command line: the `--json` shapes (shared by `ls` and
//! `show`, which scripts depend on: see the README) and human-readable sizes.
//!
//! Invariant: the JSON of a run is built in one place, [`run_json`], so every subcommand that
//! prints a run prints the same shape.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// `time` as `YYYY-MM-DD HH:MM:SS UTC` (times before 1970 print as the epoch).
pub fn utc(time: SystemTime) -> String {
    let (date, clock) = date_and_clock(time);
    format!("{date} {clock} UTC")
}

/// `time` as RFC 3339 in UTC to the second, `YYYY-MM-DDTHH:MM:SSZ` (sorts as text; times
/// before 1970 print as the epoch).
pub fn rfc3339(time: SystemTime) -> String {
    let (date, clock) = date_and_clock(time);
    format!("{date}T{clock}Z")
}

/// `YYYY-MM-DD` and `HH:MM:SS` of `time` in UTC.
fn date_and_clock(time: SystemTime) -> (String, String) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60),
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        let at = |secs| utc(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_795_692_770), "2026-11-26 11:32:50 UTC");
        assert_eq!(at(4_107_542_399), "2100-02-28 23:59:59 UTC");
        assert_eq!(at(4_107_542_400), "2100-03-01 00:00:00 UTC");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_692_770)),
            "2026-11-26T11:32:50Z"
        );
        assert_eq!(
            utc(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01 00:00:00 UTC"
        );
    }

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
