//! Where a [`LocalFileStore`](super::LocalFileStore) keeps things, and the small file-system
//! steps the rest of the backend shares: run-directory naming and claiming, safe directory
//! creation, temporary names and locks.
//!
//! ```text
//! BASE/<task>/<run dir>/config.json                 the run's unique config
//! BASE/<task>/<run dir>/[<sub_dir>/]<name>.<ext>    a result (fluidml's layout)
//! BASE/<task>/<run dir>/.fluidml/...                load information, run record, lock
//! BASE/<task>/.sweepstore/...                       the task's run index (see index.rs)
//! ```
//!
//! Invariants: every path is built here from validated names (`names.rs`), so none leaves
//! BASE through `..` or an absolute path; the store never follows a symbolic link below BASE
//! ([`real_dir`] refuses one); a run directory is claimed with create-exclusive `mkdir`, so two
//! claimers (threads or processes) never get the same directory.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::key::RunKey;
use crate::names::{ResultName, RunName, SubDir, TaskName};
use crate::vfs::{Fs, Kind, LockGuard};

/// A run's unique config, as fluidml names it.
pub(crate) const CONFIG_FILE: &str = "config.json";
/// fluidml's hidden folder in each run directory: load information and our run record.
pub(crate) const META_DIR: &str = ".fluidml";
/// fluidml's older name for [`META_DIR`], read for compatibility.
pub(crate) const OLD_META_DIR: &str = ".load_info";
/// The result name under which fluidml saves a run's `TaskInfo` (its state), type json.
pub(crate) const FLUIDML_INFO_NAME: &str = "fluidml_info";
/// The state file fluidml saves as result `fluidml_info` (type json).
pub(crate) const FLUIDML_INFO: &str = "fluidml_info.json";
/// The result name under which fluidml's `Task.save` keeps the list of a run's results,
/// type json, in sub_dir `.fluidml`.
pub(crate) const SAVED_RESULTS: &str = ".saved_results";
/// Suffix of our load-information files: `.<name>_load_info.json`.
pub(crate) const INFO_SUFFIX: &str = "_load_info.json";
/// Suffix of fluidml's load-information pickles: `.<name>_load_info.p`.
pub(crate) const PICKLE_INFO_SUFFIX: &str = "_load_info.p";
/// A task's index directory, relative to the task directory (hidden; fluidml skips it, as it
/// has no `config.json`).
pub(crate) const INDEX_DIR: &str = ".sweepstore";
/// The run-key files, relative to the task directory.
pub(crate) const KEYS_DIR: &str = ".sweepstore/runs";
/// Where saves and write-opens stage content before it moves into a run, relative to the
/// task directory.
pub(crate) const STAGE_DIR: &str = ".sweepstore/tmp";
/// Where `delete_run` moves a run directory before removing it, relative to the task
/// directory.
pub(crate) const TRASH_DIR: &str = ".sweepstore/trash";

/// The paths of one store, on the file system that holds them (the real one, or a
/// simulated disk in crash tests).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    base: PathBuf,
    fs: Arc<dyn Fs>,
}

impl Layout {
    pub(crate) fn new(base: PathBuf, fs: Arc<dyn Fs>) -> Self {
        Layout { base, fs }
    }

    /// The base directory.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// The file system of the store.
    pub(crate) fn fs(&self) -> &Arc<dyn Fs> {
        &self.fs
    }

    /// The paths of task `task`.
    pub(crate) fn task(&self, task: &TaskName) -> TaskPaths {
        TaskPaths {
            dir: self.base.join(task.as_str()),
            fs: self.fs.clone(),
        }
    }
}

/// The paths of one task directory.
#[derive(Debug, Clone)]
pub(crate) struct TaskPaths {
    pub(crate) dir: PathBuf,
    pub(crate) fs: Arc<dyn Fs>,
}

impl TaskPaths {
    /// The directory of run-key files.
    pub(crate) fn keys_dir(&self) -> PathBuf {
        self.dir.join(KEYS_DIR)
    }

    /// The run-key file of `key`: it holds the name of the run's directory.
    pub(crate) fn key_file(&self, key: RunKey) -> PathBuf {
        self.keys_dir().join(key.to_hex())
    }

    /// The file holding the task's next sweep counter; its presence marks an index.
    pub(crate) fn next_file(&self) -> PathBuf {
        self.dir.join(INDEX_DIR).join("next")
    }

    /// The lock held while a run of the task is created or deleted.
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.dir.join(INDEX_DIR).join("lock")
    }

    /// Where `delete_run` moves a run directory before removing it.
    pub(crate) fn trash_dir(&self) -> PathBuf {
        self.dir.join(TRASH_DIR)
    }

    /// The run directory called `name`.
    pub(crate) fn run(&self, name: &str) -> RunDir {
        RunDir {
            path: self.dir.join(name),
            name: name.to_owned(),
            fs: self.fs.clone(),
        }
    }
}

/// One run directory, on its store's file system.
#[derive(Debug, Clone)]
pub(crate) struct RunDir {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) fs: Arc<dyn Fs>,
}

impl PartialEq for RunDir {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for RunDir {}

impl RunDir {
    /// The file system holding the run.
    pub(crate) fn fs(&self) -> &dyn Fs {
        &*self.fs
    }

    /// The sweep counter in the directory's name (`007` or `<run name>-007`).
    pub(crate) fn counter(&self) -> Option<u64> {
        counter_of(&self.name)
    }

    /// The sweep counter as fluidml reports it: the name after its last `-`.
    pub(crate) fn sweep_counter(&self) -> String {
        self.name
            .rsplit('-')
            .next()
            .unwrap_or(&self.name)
            .to_owned()
    }

    pub(crate) fn config_file(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    pub(crate) fn meta_dir(&self) -> PathBuf {
        self.path.join(META_DIR)
    }

    /// Our record of the run (its state); its presence marks a directory sweepstore made.
    pub(crate) fn record_file(&self) -> PathBuf {
        self.meta_dir().join("sweepstore_run.json")
    }

    /// Our record of when the run was created and finished (`info::RunTimes`).
    pub(crate) fn times_file(&self) -> PathBuf {
        self.meta_dir().join("sweepstore_times.json")
    }

    /// The lock held while a result of the run is committed.
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.meta_dir().join("sweepstore.lock")
    }

    pub(crate) fn fluidml_info(&self) -> PathBuf {
        self.path.join(FLUIDML_INFO)
    }

    /// Our load information of result `name`.
    pub(crate) fn info_file(&self, name: &ResultName) -> PathBuf {
        let name = fit(name.as_str(), 1 + INFO_SUFFIX.len());
        self.meta_dir().join(format!(".{name}{INFO_SUFFIX}"))
    }

    /// fluidml's load-information pickles of result `name`, newest location first (fluidml
    /// strips leading dots from the name here).
    pub(crate) fn pickle_info_files(&self, name: &ResultName) -> [PathBuf; 2] {
        let stripped = name.as_str().trim_start_matches('.');
        let file = format!(
            ".{}{PICKLE_INFO_SUFFIX}",
            fit(stripped, 1 + PICKLE_INFO_SUFFIX.len())
        );
        [
            self.meta_dir().join(&file),
            self.path.join(OLD_META_DIR).join(&file),
        ]
    }

    /// The directory of a result: the run directory or its `obj_dir` (`.` or a sub_dir).
    pub(crate) fn obj_dir(&self, obj_dir: &str) -> PathBuf {
        if obj_dir == "." {
            self.path.clone()
        } else {
            self.path.join(obj_dir)
        }
    }
}

/// The sweep counter at the end of a run directory name, if it has one.
pub(crate) fn counter_of(dir_name: &str) -> Option<u64> {
    let suffix = dir_name.rsplit('-').next()?;
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    suffix.parse().ok()
}

/// A run directory name: `007`, or `<run name>-007`.
pub(crate) fn run_dir_name(run_name: Option<&RunName>, counter: u64) -> String {
    let counter = crate::run::sweep_counter(counter);
    match run_name {
        Some(run_name) => format!("{run_name}-{counter}"),
        None => counter,
    }
}

/// The file name of a result: `<name>.<ext>`, or `<name>` for types without an extension
/// (shortened by [`fit`] if that is too long for a file name).
pub(crate) fn object_file(name: &ResultName, extension: &str) -> String {
    if extension.is_empty() {
        fit(name.as_str(), 0).into_owned()
    } else {
        format!("{}.{extension}", fit(name.as_str(), 1 + extension.len()))
    }
}

/// Longest file name the store creates (the usual `NAME_MAX`).
const MAX_FILE_NAME: usize = 255;
/// Length of the `~<16 hex digits>` that marks a shortened name.
const SHORTENED_TAIL: usize = 17;

/// `name`, or if it would not fit in a file name together with `reserve` more bytes, its
/// longest prefix (at a character boundary) that does, followed by `~` and the first 16 hex
/// digits of its blake3, so distinct names stay distinct.
pub(crate) fn fit(name: &str, reserve: usize) -> std::borrow::Cow<'_, str> {
    if name.len() + reserve <= MAX_FILE_NAME {
        return name.into();
    }
    let mut end = MAX_FILE_NAME.saturating_sub(reserve + SHORTENED_TAIL);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let hash = blake3::hash(name.as_bytes()).to_hex();
    format!("{}~{}", &name[..end], &hash[..SHORTENED_TAIL - 1]).into()
}

/// Whether a name in a file name may have been shortened by [`fit`] (ends in `~` and 16 hex
/// digits), so the full name must be read from the file.
pub(crate) fn maybe_shortened(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= SHORTENED_TAIL
        && bytes[bytes.len() - SHORTENED_TAIL] == b'~'
        && bytes[bytes.len() - SHORTENED_TAIL + 1..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// Fails unless a result at `obj_dir`/`file` leaves the store's own files alone.
pub(crate) fn check_not_reserved(obj_dir: &str, file: &str) -> Result<()> {
    let first = obj_dir.split('/').next().unwrap_or(obj_dir);
    let top_level = obj_dir == ".";
    let reserved = [META_DIR, OLD_META_DIR].contains(&first)
        || (top_level && [CONFIG_FILE, META_DIR, OLD_META_DIR].contains(&file));
    if reserved {
        let path = if top_level {
            file.to_owned()
        } else {
            format!("{obj_dir}/{file}")
        };
        return Err(Error::ReservedPath { path });
    }
    Ok(())
}

/// A sub_dir as stored in load information: `.` for none.
pub(crate) fn obj_dir_name(sub_dir: Option<&SubDir>) -> String {
    sub_dir.map_or_else(|| ".".to_owned(), |s| s.as_str().to_owned())
}

/// Claims a new run directory in `task_dir`: the first free name from counter `first` on,
/// created with create-exclusive `mkdir` and made durable in the task directory.
pub(crate) fn claim_run_dir(
    task: &TaskPaths,
    run_name: Option<&RunName>,
    first: u64,
) -> Result<(RunDir, u64)> {
    let mut counter = first;
    loop {
        let run = task.run(&run_dir_name(run_name, counter));
        match task.fs.create_dir(&run.path) {
            Ok(()) => {
                sync_dir(&*task.fs, &task.dir)?;
                return Ok((run, counter));
            }
            // Someone else (fluidml, or a hand-made directory) holds this name: next one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => counter += 1,
            Err(e) => return Err(Error::io("create run directory", &run.path, e)),
        }
    }
}

/// Claims the run directory named exactly `name` in `task` (create-exclusive `mkdir`, made
/// durable in the task directory); `None` if that name is taken or hidden.
pub(crate) fn claim_exact_run_dir(task: &TaskPaths, name: &RunName) -> Result<Option<RunDir>> {
    if name.as_str().starts_with('.') {
        return Ok(None);
    }
    let run = task.run(name.as_str());
    match task.fs.create_dir(&run.path) {
        Ok(()) => {
            sync_dir(&*task.fs, &task.dir)?;
            Ok(Some(run))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(Error::io("create run directory", &run.path, e)),
    }
}

/// Whether `path` is a real directory: `Ok(false)` if it does not exist.
///
/// # Errors
/// [`Error::SymlinkInStore`] for a symbolic link; [`Error::CorruptFile`] for a file.
pub(crate) fn real_dir(fs: &dyn Fs, path: &Path) -> Result<bool> {
    match fs.metadata(path) {
        Ok(meta) if meta.kind == Kind::Symlink => Err(Error::SymlinkInStore {
            path: path.to_owned(),
        }),
        Ok(meta) if meta.kind == Kind::Dir => Ok(true),
        Ok(_) => Err(Error::CorruptFile {
            path: path.to_owned(),
            reason: "a directory was expected, but this is a file".to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

/// Makes sure `base/rel` is a real directory, creating missing components (each made
/// durable in its parent) and refusing symbolic links along the way.
pub(crate) fn ensure_dirs(fs: &dyn Fs, base: &Path, rel: &str) -> Result<PathBuf> {
    let mut dir = base.to_owned();
    if !real_dir(fs, &dir)? {
        return Err(Error::CorruptFile {
            path: dir,
            reason: "the directory vanished (was the run deleted meanwhile?)".to_owned(),
        });
    }
    // A file where a directory is needed is not damage: a sub_dir names a result's file.
    let in_the_way = |dir: &Path| match real_dir(fs, dir) {
        Err(Error::CorruptFile { path, .. }) => Err(Error::FileInTheWay { path }),
        other => other,
    };
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = dir.clone();
        dir.push(part);
        if in_the_way(&dir)? {
            continue;
        }
        match fs.create_dir(&dir) {
            Ok(()) => sync_dir(fs, &parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                in_the_way(&dir)?;
            }
            Err(e) => return Err(Error::io("create directory", &dir, e)),
        }
    }
    Ok(dir)
}

/// Makes `dir`'s entries durable (deferred in bulk mode, see [`deferred`]).
pub(crate) fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    if deferred(dir) {
        return Ok(());
    }
    fs.sync_dir(dir)
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Base directories this process writes in bulk mode
/// ([`LocalFileStore::begin_bulk`](super::LocalFileStore::begin_bulk)).
static BULK: RwLock<Vec<PathBuf>> = RwLock::new(Vec::new());

/// Whether syncs of `path` are deferred: it lies below a base directory in bulk mode, whose
/// writes are made durable all at once by one `syncfs` when the bulk write finishes.
pub(crate) fn deferred(path: &Path) -> bool {
    let bulk = BULK.read().unwrap_or_else(PoisonError::into_inner);
    bulk.iter().any(|base| path.starts_with(base))
}

/// Puts `base` in bulk mode (`true`) or takes it out (`false`).
pub(crate) fn set_bulk(base: &Path, on: bool) {
    let mut bulk = BULK.write().unwrap_or_else(PoisonError::into_inner);
    bulk.retain(|b| b != base);
    if on {
        bulk.push(base.to_owned());
    }
}

/// A name for a temporary file or directory, unique across threads and processes:
/// `.sweepstore-<pid>-<n>-<nanos>.tmp` (the pid as `fs` knows it).
pub(crate) fn temp_name(fs: &dyn Fs) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(".sweepstore-{:x}-{n:x}-{nanos:x}.tmp", fs.process_id())
}

/// An exclusive lock on `path` (created if needed) against other threads and processes,
/// held until the guard drops.
pub(crate) fn lock(fs: &dyn Fs, path: &Path) -> Result<LockGuard> {
    fs.lock_file(path)
}

/// Reads a small file; `None` if it does not exist.
pub(crate) fn read_optional(fs: &dyn Fs, path: &Path) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match fs
        .open_read(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
    {
        Ok(_) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Removes a file or a directory tree; `false` if there was nothing.
pub(crate) fn remove_any(fs: &dyn Fs, path: &Path) -> Result<bool> {
    let result = match fs.metadata(path) {
        Ok(meta) if meta.kind == Kind::Dir => fs.remove_dir_all(path),
        Ok(_) => fs.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_come_from_the_end_of_run_directory_names() -> Result<()> {
        assert_eq!(counter_of("007"), Some(7));
        assert_eq!(counter_of("my-run-012"), Some(12));
        assert_eq!(counter_of("notes"), None);
        assert_eq!(counter_of("run-"), None);
        assert_eq!(run_dir_name(None, 3), "003");
        assert_eq!(
            run_dir_name(Some(&RunName::new("bert")?), 1234),
            "bert-1234"
        );
        Ok(())
    }

    #[test]
    fn names_too_long_for_a_file_name_are_shortened_distinctly() -> Result<()> {
        let a = ResultName::new(&"a".repeat(255))?;
        let b = ResultName::new(&format!("{}b", "a".repeat(254)))?;
        let (fa, fb) = (object_file(&a, "json"), object_file(&b, "json"));
        assert!(fa.len() <= 255 && fb.len() <= 255 && fa != fb);
        assert!(maybe_shortened(fa.trim_end_matches(".json")));
        assert_eq!(object_file(&ResultName::new("m")?, "json"), "m.json");
        assert!(!maybe_shortened("metrics"));
        let wide = "é".repeat(127);
        assert!(fit(&wide, 10).len() <= 245);
        Ok(())
    }

    #[test]
    fn results_may_not_land_on_the_stores_own_files() {
        assert!(check_not_reserved(".", "config.json").is_err());
        assert!(check_not_reserved(".", ".fluidml").is_err());
        assert!(check_not_reserved(".fluidml", "x.json").is_err());
        assert!(check_not_reserved(".fluidml/deep", "x.json").is_err());
        assert!(check_not_reserved("sub", "config.json").is_ok());
        assert!(check_not_reserved(".", "config.txt").is_ok());
    }
}
