//! The files of a run directory that no load information describes — a user's notes, a
//! log a task wrote into its `run_dir` — which are not results, so copies (`export`,
//! `import`) do not carry them; they are named instead (`docs/design.md` §13.4).
//!
//! Invariant: only reads. A run's own records (`config.json`, `fluidml_info.json`,
//! `.fluidml/`, `.load_info/`), every result's object (a file, or a path type's whole
//! directory) and temporaries of interrupted writes (`.sweepstore-….tmp`, `gc`'s business)
//! are left out; everything else below the run directory that is not a directory is listed,
//! symbolic links included (never followed).

use std::collections::HashSet;
use std::path::PathBuf;

use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::local::info::read_load_info;
use crate::local::layout::{CONFIG_FILE, FLUIDML_INFO, META_DIR, OLD_META_DIR, RunDir};
use crate::local::object;
use crate::vfs::Kind;

/// The files below `run` that are none of its results or records, sorted.
///
/// # Errors
/// [`Error::Io`] if a directory cannot be listed; errors reading load information.
pub(crate) fn unlisted_files(run: &RunDir, types: &TypeRegistry) -> Result<Vec<PathBuf>> {
    let mut described = HashSet::new();
    for name in object::names(run, types)? {
        if let Some((info, _)) = read_load_info(run, &name, types)? {
            described.insert(run.obj_dir(&info.obj_dir).join(&info.file));
        }
    }
    let records = [CONFIG_FILE, FLUIDML_INFO, META_DIR, OLD_META_DIR];
    let mut found = Vec::new();
    // An explicit stack: the depth of a directory tree is not ours to bound.
    let mut pending = vec![run.path.clone()];
    while let Some(dir) = pending.pop() {
        let entries = run
            .fs
            .read_dir(&dir)
            .map_err(|e| Error::io("list", &dir, e))?;
        for path in entries {
            let Some(name) = path.file_name() else {
                continue;
            };
            let top_level_record = dir == run.path && records.iter().any(|r| name == *r);
            let temporary = name
                .to_str()
                .is_some_and(|n| n.starts_with(".sweepstore-") && n.ends_with(".tmp"));
            if top_level_record || temporary || described.contains(&path) {
                continue;
            }
            let meta = run
                .fs
                .metadata(&path)
                .map_err(|e| Error::io("inspect", &path, e))?;
            if matches!(meta.kind, Kind::Dir) {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
