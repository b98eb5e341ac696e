//! The run index of a [`LocalFileStore`](super::LocalFileStore): which run directory holds the
//! run of a key, without reading every `config.json` of the task.
//!
//! Two parts:
//! - **Key files** (on disk, shared by all processes): `<task>/.sweepstore/runs/<run key hex>`
//!   holds the name of the run's directory. An exact lookup reads one key file. Key files are
//!   written and removed only under the task lock (`<task>/.sweepstore/lock`), together with
//!   the claim or removal of the run directory, so two processes never create two directories
//!   for one config, and a stale key file (its directory gone after an interrupted
//!   `delete_run`) is simply replaced.
//! - **Scans** (in memory, per store handle): the configs of a task's run directories, for
//!   the subset fallback of the lookup rule and for sweeps. A scan is reused while the task
//!   directory's modification time is unchanged, and refreshed incrementally (only new
//!   directories are read) when it changes. A modification time less than [`RACY`] older
//!   than the scan is not trusted (a second change within the file system's timestamp
//!   granularity would not move it), so such a scan is refreshed on its next use.
//!
//! Liveness: a directory made by sweepstore (it has a run record) is a run only while its key
//! file names it; one without a record is fluidml's, and is a run if it has a `config.json`.
//! Directories whose claim is still in progress (no `config.json` or no key file yet) are
//! re-checked on every use. fluidml directories present when a task's index is first created
//! get key files then ("adoption"); ones fluidml adds later are found by lookups (through
//! scans) and adopted by the first save, state or context call for their config.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::claim::now_ms;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::key::RunKey;
use crate::local::info::{RunRecord, RunTimes, corrupt, is_ours, pretty_json};
use crate::local::layout::{
    KEYS_DIR, Layout, RunDir, TRASH_DIR, TaskPaths, claim_exact_run_dir, claim_run_dir, counter_of,
    deferred, ensure_dirs, lock, read_optional, real_dir, remove_any, sync_dir, temp_name,
};
use crate::lookup::best_subset;
use crate::names::{ResultName, RunName, TaskName};
use crate::run::{RunId, RunState};
use crate::vfs::{Fs, Kind};

/// How much older than a scan a task directory's modification time must be for the scan to
/// be reused without listing the directory again.
const RACY: Duration = Duration::from_secs(2);

/// How [`Index::ensure_as`] creates a run that does not exist.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewRun<'a> {
    /// Directories are named `<run name>-<counter>` (default: `<counter>`).
    pub(crate) run_name: Option<&'a RunName>,
    /// This directory name if it is free (a copy keeping a tree's names); otherwise the
    /// directory is named as `run_name` says.
    pub(crate) exact: Option<&'a RunName>,
    /// The run starts without a state (no run record; a copy of a run fluidml never gave
    /// one).
    pub(crate) stateless: bool,
}

/// A run directory found by a scan.
#[derive(Debug)]
pub(crate) struct ScannedRun {
    pub(crate) dir: RunDir,
    pub(crate) config: UniqueConfig,
    /// The sweep counter in its name; directories without one sort last.
    pub(crate) counter: u64,
}

#[derive(Debug, Clone)]
enum Entry {
    Live(Arc<ScannedRun>),
    /// Not (yet) a run: a claim in progress, or the leftover of an interrupted one.
    Pending,
    /// Its `config.json` is damaged (path, reason): skipped by lookups, an error item in
    /// sweeps.
    Bad(PathBuf, String),
    /// Its `config.json` holds a config past the limits of `limits.rs`, written before them
    /// (path, reason): as `Bad`, but also left out of listings ([`OverLimit::Skip`]).
    OverLimit(PathBuf, String),
}

/// What [`Index::runs`] does with a run whose config is past the limits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverLimit {
    /// An error item, as a damaged run directory (sweeps: the run is reported).
    Report,
    /// Left out (listings: the other runs stay listable).
    Skip,
}

/// One scan of a task directory.
#[derive(Debug, Default)]
struct TaskScan {
    mtime: Option<SystemTime>,
    trusted: bool,
    entries: BTreeMap<String, Entry>,
}

impl TaskScan {
    fn has_pending(&self) -> bool {
        self.entries.values().any(|e| matches!(e, Entry::Pending))
    }

    /// Live runs in creation (counter) order.
    fn live(&self) -> Vec<Arc<ScannedRun>> {
        let mut runs: Vec<_> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Live(run) => Some(run.clone()),
                _ => None,
            })
            .collect();
        runs.sort_by(|a, b| (a.counter, &a.dir.name).cmp(&(b.counter, &b.dir.name)));
        runs
    }
}

/// A run or a damaged run directory, as sweeps list them.
pub(crate) type SweepRun = Result<Arc<ScannedRun>>;

/// The index of one store.
#[derive(Debug)]
pub(crate) struct Index {
    layout: Layout,
    scans: Mutex<HashMap<TaskName, Arc<TaskScan>>>,
    /// Per task, the task directory's modification time right after this handle's last
    /// run claim (see [`Index::adopt_added`]).
    claimed: Mutex<HashMap<TaskName, SystemTime>>,
}

impl Index {
    pub(crate) fn new(layout: Layout) -> Self {
        Index {
            layout,
            scans: Mutex::new(HashMap::new()),
            claimed: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The directory of the exact run, if it exists.
    pub(crate) fn exact(&self, run: &RunId) -> Result<Option<RunDir>> {
        let task = self.layout.task(run.task());
        if !real_dir(&*task.fs, &task.dir)? {
            return Ok(None);
        }
        if let Some(dir) = self.key_target(&task, run.key())? {
            return Ok(Some(dir));
        }
        if task.fs.exists(&task.next_file()) {
            return Ok(None);
        }
        // A task without an index yet (fluidml's): its runs are only known by scanning.
        let scan = self.scan(run.task(), &task)?;
        let found = scan.live().into_iter().find(|r| r.config == *run.config());
        Ok(found.map(|r| r.dir.clone()))
    }

    /// The run the lookup rule selects: the exact run, else the best subset run.
    pub(crate) fn lookup(&self, run: &RunId) -> Result<Option<RunDir>> {
        Ok(self.lookup_with_key(run)?.map(|(dir, _)| dir))
    }

    /// Like [`Index::lookup`], with the selected run's key.
    fn lookup_with_key(&self, run: &RunId) -> Result<Option<(RunDir, RunKey)>> {
        if let Some(dir) = self.exact(run)? {
            return Ok(Some((dir, run.key())));
        }
        let task = self.layout.task(run.task());
        if !real_dir(&*task.fs, &task.dir)? {
            return Ok(None);
        }
        let live = self.scan(run.task(), &task)?.live();
        let candidates = live.iter().map(|r| (&r.config, r.counter, r));
        Ok(best_subset(run.config(), candidates)
            .map(|r| (r.dir.clone(), RunKey::new(run.task(), &r.config))))
    }

    /// Every run directory of `task` in creation order, damaged ones as errors; those whose
    /// config is past the limits as `over_limit` says.
    pub(crate) fn runs(
        &self,
        task_name: &TaskName,
        over_limit: OverLimit,
    ) -> Result<Vec<SweepRun>> {
        let task = self.layout.task(task_name);
        if !real_dir(&*task.fs, &task.dir)? {
            return Ok(Vec::new());
        }
        let scan = self.scan(task_name, &task)?;
        let mut runs: Vec<SweepRun> = scan.live().into_iter().map(Ok).collect();
        runs.extend(scan.entries.values().filter_map(|e| match e {
            Entry::Bad(path, reason) => Some(Err(corrupt(path, reason))),
            Entry::OverLimit(path, reason) if over_limit == OverLimit::Report => {
                Some(Err(corrupt(path, reason)))
            }
            _ => None,
        }));
        Ok(runs)
    }

    /// The directory of the exact run, creating the run (state running, next sweep counter)
    /// if it does not exist.
    pub(crate) fn ensure(&self, run: &RunId, run_name: Option<&RunName>) -> Result<RunDir> {
        let naming = NewRun {
            run_name,
            exact: None,
            stateless: false,
        };
        self.ensure_as(run, naming)
    }

    /// [`Index::ensure`], creating a missing run as `naming` says.
    pub(crate) fn ensure_as(&self, run: &RunId, naming: NewRun<'_>) -> Result<RunDir> {
        let task = self.layout.task(run.task());
        let fs: &dyn Fs = &**self.layout.fs();
        // Only a key file counts here: a run found by scanning is adopted under the lock.
        if real_dir(fs, &task.dir)?
            && let Some(dir) = self.key_target(&task, run.key())?
        {
            return Ok(dir);
        }
        ensure_dirs(fs, self.layout.base(), run.task().as_str())?;
        ensure_dirs(fs, &task.dir, KEYS_DIR)?;
        let _lock = lock(fs, &task.lock_file())?;
        if let Some(dir) = self.key_target(&task, run.key())? {
            return Ok(dir);
        }
        // `next` is a hint written unsynced: lost or torn by power loss, it is recomputed.
        let next = match read_optional(fs, &task.next_file())?.and_then(|b| parse_next(&b)) {
            Some(next) => next,
            None => self.adopt(run.task(), &task)?,
        };
        if let Some(dir) = self.key_target(&task, run.key())? {
            return Ok(dir);
        }
        if let Some(dir) = self.adopt_added(run, &task)? {
            return Ok(dir);
        }
        let exact = match naming.exact {
            Some(exact) => claim_exact_run_dir(&task, exact)?,
            None => None,
        };
        let (dir, counter) = match exact {
            // A name of a copied tree keeps its counter (which may be below `next`).
            Some(dir) => {
                let counter = dir.counter().unwrap_or(next);
                (dir, counter)
            }
            None => claim_run_dir(&task, naming.run_name, next)?,
        };
        // IMPORTANT: the record and config are durable before the key file makes the
        // directory a run; a crash before that leaves a directory no lookup returns. (The
        // new `.fluidml/` entry becomes durable with `config.json`'s directory sync.) A run
        // without a state has no record: until its key file exists it looks like a fluidml
        // directory, which a later create of its config adopts instead of duplicating.
        let meta = dir.meta_dir();
        fs.create_dir(&meta)
            .map_err(|e| Error::io("create directory", &meta, e))?;
        let times = RunTimes::created(now_ms());
        let mut files = vec![(dir.times_file(), times.to_bytes(&dir.times_file())?)];
        if !naming.stateless {
            let record = RunRecord::new(RunState::Running);
            files.push((dir.record_file(), record.to_bytes(&dir.record_file())?));
        }
        write_files(fs, &[], &files)?;
        write_file(fs, &dir.config_file(), &pretty_json(run.config().as_map())?)?;
        write_file(fs, &task.key_file(run.key()), dir.name.as_bytes())?;
        let next = next.max(counter.saturating_add(1));
        write_hint(fs, &task.next_file(), format!("{next}\n").as_bytes())?;
        self.note_claim(run.task(), &task);
        Ok(dir)
    }

    /// A run directory of `run`'s config that fluidml added to the task after its index was
    /// made (it has no key file): adopted (given its key file) so a save reuses it instead
    /// of creating a second directory. Runs under the task lock. The task directory is
    /// scanned only if it changed since this handle last claimed a run in it, so a sweep
    /// creating runs one after another does not rescan it each time.
    fn adopt_added(&self, run: &RunId, task: &TaskPaths) -> Result<Option<RunDir>> {
        let mtime = task_mtime(task)?;
        let unchanged = self
            .claimed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(run.task())
            .is_some_and(|at| *at == mtime);
        if unchanged {
            return Ok(None);
        }
        let scan = self.scan(run.task(), task)?;
        let Some(found) = scan.live().into_iter().find(|r| r.config == *run.config()) else {
            return Ok(None);
        };
        write_file(
            &*task.fs,
            &task.key_file(run.key()),
            found.dir.name.as_bytes(),
        )?;
        Ok(Some(found.dir.clone()))
    }

    /// Remembers the task directory's modification time after this handle's own claim.
    fn note_claim(&self, task_name: &TaskName, task: &TaskPaths) {
        if let Ok(mtime) = task_mtime(task) {
            self.claimed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(task_name.clone(), mtime);
        }
    }

    /// Removes the run the lookup rule selects; `false` if there is none.
    pub(crate) fn remove(&self, run: &RunId) -> Result<bool> {
        let task = self.layout.task(run.task());
        let fs: &dyn Fs = &**self.layout.fs();
        if !real_dir(fs, &task.dir)? {
            return Ok(false);
        }
        ensure_dirs(fs, &task.dir, TRASH_DIR)?;
        let _lock = lock(fs, &task.lock_file())?;
        let Some((dir, key)) = self.lookup_with_key(run)? else {
            return Ok(false);
        };
        // IMPORTANT: `next` is durable before the run's directory can go, so a counter is
        // never reused after power loss (otherwise it is recomputed from the directories).
        let next = task.next_file();
        if let Ok(mut file) = fs.open_rw(&next) {
            file.sync_data().map_err(|e| Error::io("sync", &next, e))?;
            sync_dir(fs, next.parent().unwrap_or(&task.dir))?;
        }
        // IMPORTANT: the directory leaves the task (one atomic rename) before its key file
        // goes, so a crash never leaves a key file naming a half-removed directory.
        let trash = task.trash_dir().join(temp_name(fs));
        fs.rename(&dir.path, &trash)
            .map_err(|e| Error::io("move run to trash", &dir.path, e))?;
        sync_dir(fs, &task.dir)?;
        if self.key_target(&task, key)?.is_none() {
            remove_any(fs, &task.key_file(key))?;
            sync_dir(fs, &task.keys_dir())?;
        }
        remove_any(fs, &trash)?;
        Ok(true)
    }

    /// The directory a key file names, if the file and the directory exist.
    fn key_target(&self, task: &TaskPaths, key: RunKey) -> Result<Option<RunDir>> {
        let path = task.key_file(key);
        let Some(bytes) = read_optional(&*task.fs, &path)? else {
            return Ok(None);
        };
        let name = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|name| ResultName::new(name).ok())
            .ok_or_else(|| corrupt(&path, "expected the name of a run directory"))?;
        let dir = task.run(name.as_str());
        Ok(real_dir(&*task.fs, &dir.path)?.then_some(dir))
    }

    /// Creates the index of a task that has none: key files for fluidml's runs, and the
    /// next sweep counter after every directory's. Runs under the task lock.
    fn adopt(&self, task_name: &TaskName, task: &TaskPaths) -> Result<u64> {
        let scan = self.scan(task_name, task)?;
        for run in scan.live() {
            let key = RunKey::new(task_name, &run.config);
            if self.key_target(task, key)?.is_none() {
                write_file(&*task.fs, &task.key_file(key), run.dir.name.as_bytes())?;
            }
        }
        let next = scan
            .entries
            .keys()
            .filter_map(|name| counter_of(name))
            .max()
            .map_or(0, |max| max + 1);
        Ok(next)
    }

    /// The task's scan, refreshed as the module docs describe.
    fn scan(&self, task_name: &TaskName, task: &TaskPaths) -> Result<Arc<TaskScan>> {
        let mtime = task_mtime(task)?;
        let cached = self
            .scans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(task_name)
            .cloned();
        if let Some(cached) = &cached
            && cached.trusted
            && cached.mtime == Some(mtime)
            && !cached.has_pending()
        {
            return Ok(cached.clone());
        }
        let scanned_at = SystemTime::now();
        let mut entries = BTreeMap::new();
        let listing = task
            .fs
            .read_dir(&task.dir)
            .map_err(|e| Error::io("list", &task.dir, e))?;
        for path in listing {
            let is_dir = task.fs.metadata(&path).is_ok_and(|m| m.kind == Kind::Dir);
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if !is_dir || name.starts_with('.') {
                continue;
            }
            let known = cached.as_ref().and_then(|c| c.entries.get(&name));
            let probed = match known {
                Some(entry @ (Entry::Live(_) | Entry::Bad(..) | Entry::OverLimit(..))) => {
                    entry.clone()
                }
                _ => self.probe(task_name, task, &name)?,
            };
            entries.insert(name, probed);
        }
        let trusted = scanned_at.duration_since(mtime).is_ok_and(|age| age > RACY);
        let scan = Arc::new(TaskScan {
            mtime: Some(mtime),
            trusted,
            entries,
        });
        self.scans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task_name.clone(), scan.clone());
        Ok(scan)
    }

    /// Reads one run directory for a scan.
    fn probe(&self, task_name: &TaskName, task: &TaskPaths, name: &str) -> Result<Entry> {
        let dir = task.run(name);
        let config = match config_text(&dir).map(|text| UniqueConfig::parse(&text)) {
            Ok(Ok(config)) => config,
            Ok(Err(error)) => {
                let (path, reason) = (dir.config_file(), error.to_string());
                tracing::warn!("skipping run directory {}: {reason}", dir.path.display());
                return Ok(if error.is_over_limit() {
                    Entry::OverLimit(path, reason)
                } else {
                    Entry::Bad(path, reason)
                });
            }
            Err(Error::NotFound { .. }) => return Ok(Entry::Pending),
            Err(Error::CorruptFile { path, reason }) => {
                tracing::warn!("skipping run directory {}: {reason}", dir.path.display());
                return Ok(Entry::Bad(path, reason));
            }
            Err(error) => return Err(error),
        };
        if is_ours(&dir)? {
            let key = RunKey::new(task_name, &config);
            if self.key_target(task, key)?.as_ref() != Some(&dir) {
                return Ok(Entry::Pending);
            }
        }
        let counter = dir.counter().unwrap_or(u64::MAX);
        Ok(Entry::Live(Arc::new(ScannedRun {
            dir,
            config,
            counter,
        })))
    }
}

/// The modification time of a task directory (it moves when a run directory is added or
/// removed).
fn task_mtime(task: &TaskPaths) -> Result<SystemTime> {
    task.fs
        .metadata(&task.dir)
        .and_then(|m| {
            m.modified
                .ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))
        })
        .map_err(|e| Error::io("inspect", &task.dir, e))
}

/// Reads a run's `config.json`: [`Error::NotFound`] if it has none yet.
pub(crate) fn read_config(dir: &RunDir) -> Result<UniqueConfig> {
    UniqueConfig::parse(&config_text(dir)?).map_err(|e| corrupt(&dir.config_file(), e))
}

/// A run's `config.json` as text: [`Error::NotFound`] if it has none yet.
fn config_text(dir: &RunDir) -> Result<String> {
    let path = dir.config_file();
    let bytes = read_optional(dir.fs(), &path)?.ok_or_else(|| Error::NotFound {
        what: path.display().to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| corrupt(&path, e))
}

fn parse_next(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Writes a hint atomically but without any sync (temp → rename): after power loss it may be
/// old, absent or torn, and its readers allow for that.
fn write_hint(fs: &dyn Fs, dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let path = dir.join(temp_name(fs));
    let mut tmp = fs
        .create_new(&path)
        .map_err(|e| Error::io("create temporary file", &path, e))?;
    let mut guard = TempGuard(fs, Some(path));
    io::Write::write_all(&mut tmp, bytes)
        .map_err(|e| Error::io("write temporary file", guard.path(), e))?;
    drop(tmp);
    fs.rename(guard.path(), dest)
        .map_err(|e| Error::io("rename into place", dest, e))?;
    guard.1 = None;
    Ok(())
}

/// Writes a small file durably and atomically (temp → sync → rename → sync directory).
pub(crate) fn write_file(fs: &dyn Fs, dest: &Path, bytes: &[u8]) -> Result<()> {
    write_files(fs, &[], &[(dest.to_owned(), bytes.to_vec())])
}

/// Writes small files atomically, in order, `loose` ones first: each to a temp file beside
/// it (the `durable` ones synced); then each renamed into place; then each distinct
/// directory synced once. A crash leaves every destination old or new — a `loose` one
/// possibly torn, if the file system kept its rename but not its bytes, so readers must
/// not depend on `loose` files (fluidml's copies of what our records say) — and some
/// renames may survive without the others, which every caller allows for. If a rename
/// fails, the `loose` files already renamed are removed again.
pub(crate) fn write_files(
    fs: &dyn Fs,
    loose: &[(PathBuf, Vec<u8>)],
    durable: &[(PathBuf, Vec<u8>)],
) -> Result<()> {
    let files: Vec<_> = loose
        .iter()
        .map(|f| (f, false))
        .chain(durable.iter().map(|f| (f, true)))
        .collect();
    let mut temps: Vec<TempGuard> = Vec::with_capacity(files.len());
    for ((dest, bytes), sync) in &files {
        let dir = dest.parent().unwrap_or(Path::new("."));
        let path = dir.join(temp_name(fs));
        let mut tmp = fs
            .create_new(&path)
            .map_err(|e| Error::io("create temporary file", &path, e))?;
        let guard = TempGuard(fs, Some(path));
        let path = guard.path();
        io::Write::write_all(&mut tmp, bytes)
            .and_then(|()| {
                if *sync && !deferred(path) {
                    tmp.sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|e| Error::io("write temporary file", path, e))?;
        temps.push(guard);
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for (i, (((dest, _), _), temp)) in files.iter().zip(&mut temps).enumerate() {
        if let Err(e) = fs.rename(temp.path(), dest) {
            // The `loose` files renamed so far go again: unsynced, a later sync of their
            // directory could otherwise make them durable torn, without the durable files
            // they accompany.
            for ((loose, _), _) in files[..i].iter().filter(|(_, sync)| !sync) {
                let _ = fs.remove_file(loose);
            }
            return Err(Error::io("rename into place", dest, e));
        }
        temp.1 = None;
        let dir = dest.parent().unwrap_or(Path::new("."));
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    // IMPORTANT: without these the renames themselves may be lost on power loss.
    for dir in dirs {
        sync_dir(fs, dir)?;
    }
    Ok(())
}

/// A temporary file removed when dropped unless it was renamed into place.
struct TempGuard<'a>(&'a dyn Fs, Option<PathBuf>);

impl TempGuard<'_> {
    fn path(&self) -> &Path {
        self.1.as_deref().unwrap_or(Path::new(""))
    }
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if let Some(path) = &self.1 {
            // Garbage either way; the error that got us here says what failed.
            let _ = self.0.remove_file(path);
        }
    }
}
