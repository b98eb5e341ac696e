//! Leftovers of interrupted writes in a [`LocalFileStore`](super::LocalFileStore): temporary
//! files and directories (`.sweepstore-<pid>-<n>-<nanos>.tmp`) that a crashed or killed
//! process left in a task's `.sweepstore/` folders, in run directories and their `.fluidml/`
//! folders, and run directories moved to `trash/` by an interrupted `delete_run`.
//!
//! Invariants: a temporary is removed only if the process that made it (the pid in its
//! name) is gone — so a live writer's work in progress, in this process or another, is never
//! touched — and, in `.fluidml/`, only if no load information names it as its `staged`
//! content (that entry *is* the committed value until it is renamed into place). Nothing else
//! is ever removed. Where the system cannot tell whether a process lives (no `/proc`),
//! nothing is removed. A process of another machine sharing the directory looks dead:
//! opening a store therefore also requires a temporary to be untouched for ten minutes,
//! and an explicit gc must not run while other machines write into the directory.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::GcReport;
use crate::error::{Error, Result};
use crate::local::info::LoadInfo;
use crate::local::layout::{
    INDEX_DIR, INFO_SUFFIX, META_DIR, STAGE_DIR, TRASH_DIR, read_optional, remove_any,
};
use crate::vfs::{Fs, Kind};

/// The leftovers below `base`, removed unless `dry_run`.
pub(crate) fn collect(fs: &dyn Fs, base: &Path, dry_run: bool) -> Result<GcReport> {
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    let mut dirs = vec![base.to_owned()];
    for task in subdirs(fs, base)? {
        dirs.extend([
            task.join(INDEX_DIR),
            task.join(STAGE_DIR),
            task.join(TRASH_DIR),
            task.join(INDEX_DIR).join("runs"),
        ]);
        for run in subdirs(fs, &task)? {
            dirs.push(run.join(META_DIR));
            dirs.push(run);
        }
    }
    for dir in dirs {
        let staged = staged_names(fs, &dir)?;
        for (path, name) in entries(fs, &dir)? {
            if !is_abandoned(fs, &name) || staged.contains(&name) {
                continue;
            }
            report.temp_files += 1;
            report.temp_bytes += size_of(fs, &path);
            if !dry_run {
                remove_any(fs, &path)?;
            }
        }
    }
    Ok(report)
}

/// How long a temporary must have been left alone before opening a store removes it: a
/// directory shared with other machines (NFS) holds temporaries of processes this one
/// cannot see, which are in use only while they are being written.
const UNTOUCHED_ON_OPEN: Duration = Duration::from_secs(600);

/// Removes the leftovers of dead processes, untouched for [`UNTOUCHED_ON_OPEN`], in the task
/// folders of `base` that only the store's own temporaries use (`.sweepstore/tmp/` and
/// `.sweepstore/trash/`): what a store does when it is opened. Failures are only logged:
/// the store works without it.
pub(crate) fn clean_on_open(fs: &dyn Fs, base: &Path) {
    let tasks = match subdirs(fs, base) {
        Ok(tasks) => tasks,
        Err(e) => {
            tracing::debug!("not cleaning temporaries: {e}");
            return;
        }
    };
    for task in tasks {
        for dir in [task.join(STAGE_DIR), task.join(TRASH_DIR)] {
            let Ok(entries) = entries(fs, &dir) else {
                continue;
            };
            for (path, name) in entries {
                let untouched = fs.metadata(&path).is_ok_and(|m| {
                    m.modified
                        .is_some_and(|t| t.elapsed().is_ok_and(|age| age > UNTOUCHED_ON_OPEN))
                });
                if is_abandoned(fs, &name)
                    && untouched
                    && let Err(e) = remove_any(fs, &path)
                {
                    tracing::warn!("could not remove leftover {}: {e}", path.display());
                }
            }
        }
    }
}

/// The non-hidden real directories in `dir` (task or run directories).
fn subdirs(fs: &dyn Fs, dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(fs, dir)?
        .into_iter()
        .filter(|(path, name)| {
            !name.starts_with('.') && fs.metadata(path).is_ok_and(|m| m.kind == Kind::Dir)
        })
        .map(|(path, _)| path)
        .collect())
}

/// The entries of `dir` with their names (none if it does not exist).
fn entries(fs: &dyn Fs, dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let listing = match fs.read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    Ok(listing
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            Some((path, name))
        })
        .collect())
}

/// The `staged` entries the load information in `dir` names (only `.fluidml/` has any).
fn staged_names(fs: &dyn Fs, dir: &Path) -> Result<BTreeSet<String>> {
    let mut staged = BTreeSet::new();
    if dir.file_name().and_then(|n| n.to_str()) != Some(META_DIR) {
        return Ok(staged);
    }
    for (path, name) in entries(fs, dir)? {
        if !name.ends_with(INFO_SUFFIX) {
            continue;
        }
        // Removed meanwhile (a concurrent delete): it names nothing any more.
        let Some(bytes) = read_optional(fs, &path)? else {
            continue;
        };
        // A damaged record names nothing we could keep; `verify`-like tools report it.
        if let Ok(info) = LoadInfo::from_bytes(&bytes, &path)
            && let Some(name) = info.staged
        {
            staged.insert(name);
        }
    }
    Ok(staged)
}

/// Whether `name` is one of the store's temporaries whose process is gone.
fn is_abandoned(fs: &dyn Fs, name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(".sweepstore-")
        .and_then(|r| r.strip_suffix(".tmp"))
    else {
        return false;
    };
    let Some(pid) = rest
        .split('-')
        .next()
        .and_then(|pid| u32::from_str_radix(pid, 16).ok())
    else {
        return false;
    };
    pid != fs.process_id() && !fs.process_lives(pid)
}

/// The bytes a file or tree occupies (0 if it cannot be read).
fn size_of(fs: &dyn Fs, path: &Path) -> u64 {
    match fs.metadata(path) {
        Ok(meta) if meta.kind == Kind::Dir => entries(fs, path)
            .map(|entries| entries.iter().map(|(p, _)| size_of(fs, p)).sum())
            .unwrap_or(0),
        Ok(meta) => meta.len,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::RealFs;

    #[test]
    fn only_temporaries_of_dead_processes_are_abandoned() {
        let own = format!(".sweepstore-{:x}-0-0.tmp", std::process::id());
        assert!(!is_abandoned(&RealFs, &own), "this process lives");
        // pid 0x7ffffffe is above Linux's pid limit, so no process has it.
        assert!(
            is_abandoned(&RealFs, ".sweepstore-7ffffffe-3-1f.tmp")
                || !Path::new("/proc/self").exists()
        );
        assert!(!is_abandoned(&RealFs, "metrics.json"));
        assert!(!is_abandoned(&RealFs, ".sweepstore-zz-0-0.tmp"));
        assert!(!is_abandoned(&RealFs, ".sweepstore-bulk"));
    }
}
