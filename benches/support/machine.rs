//! Facts about the machine a report came from: cores, kernel, file system, source revision,
//! load average, and the process's own memory figures from `/proc/self/status`.
//!
//! Invariants: probing never fails; what cannot be read is reported as `unknown`.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::BenchResult;

/// Machine facts gathered at start and end.
pub struct Machine {
    pub nproc: usize,
    pub kernel: String,
    pub filesystem: String,
    pub source: String,
    pub load_start: String,
    pub load_end: String,
}

impl Machine {
    pub fn probe(root: &Path) -> Self {
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            filesystem: filesystem_of(root),
            source: git_revision(),
            load_start: load_average(),
            load_end: String::new(),
        }
    }
}

/// The checked-out commit and whether tracked files differ from it (best effort).
pub fn git_revision() -> String {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    match (
        git(&["rev-parse", "--short", "HEAD"]),
        git(&["status", "--porcelain", "--untracked-files=no"]),
    ) {
        (Some(rev), Some(changes)) if changes.is_empty() => format!("git {rev}"),
        (Some(rev), Some(_)) => format!("git {rev} with uncommitted changes"),
        _ => "not a git checkout".to_owned(),
    }
}

pub fn read_trimmed(path: &str) -> String {
    fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

pub fn load_average() -> String {
    let text = read_trimmed("/proc/loadavg");
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The mount (device, mount point, type) holding `path`, from `/proc/mounts`.
pub fn filesystem_of(path: &Path) -> String {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {} ({})", f[0], f[1], f[2])))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, fs)| fs)
}

/// A `kB` field of `/proc/self/status`.
pub fn proc_status_kib(field: &str) -> BenchResult<f64> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/self/status").into())
}
