//! [`Browse`]: read-only enumeration of what a store holds — its tasks, their runs, and each
//! run's config, state and results — for tools that list, inspect, check and copy stores.
//!
//! Invariants: browsing never changes a store (no run is created, no state written);
//! listings are sorted (tasks by name, runs by run key, results by name) so their order
//! never depends on storage order; [`Browse::find_run`] applies the store's own lookup rule
//! (exact run, then best subset), the same as a load.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::UniqueConfig;
use crate::error::Result;
use crate::key::{ContentHash, RunKey};
use crate::names::{ResultName, RunName, SubDir, TaskName};
use crate::run::RunState;

/// Read-only enumeration of what a store holds ([`RedbStore`](crate::RedbStore),
/// [`LocalFileStore`](crate::LocalFileStore) and [`InMemoryStore`](crate::InMemoryStore)
/// implement it).
pub trait Browse {
    /// Every task with at least one run, with its number of runs, sorted by task name.
    ///
    /// # Errors
    /// Backend errors (a damaged record is an error, not skipped).
    fn tasks(&self) -> Result<Vec<TaskSummary>>;

    /// Every run of `task`, sorted by run key (empty for an unknown task).
    ///
    /// # Errors
    /// Backend errors.
    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>>;

    /// Every run of `task` as [`Browse::runs`] lists them, except that a damaged run is its
    /// own `Err` item (naming its path where the store has paths) instead of failing the
    /// whole listing — for copies that skip damaged runs. The default has no per-run
    /// errors: it wraps [`Browse::runs`].
    ///
    /// # Errors
    /// Backend errors that are not about one run.
    fn runs_each(&self, task: &TaskName) -> Result<Vec<Result<RunSummary>>> {
        Ok(self.runs(task)?.into_iter().map(Ok).collect())
    }

    /// The run the store's lookup rule picks for `config` (exact, then best subset — the same
    /// rule as a load), if any.
    ///
    /// # Errors
    /// Backend errors.
    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>>;

    /// The run of exactly `config` (same run key), if any — no subset run. The default
    /// filters [`Browse::find_run`]; a store that can find an exact run without looking at
    /// the others overrides it (copies ask this once per run).
    ///
    /// # Errors
    /// Backend errors.
    fn find_exact_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let key = RunKey::new(task, config);
        Ok(self.find_run(task, config)?.filter(|run| run.key == key))
    }

    /// The files of `run`'s directory that are none of its results or records (a
    /// [`LocalFileStore`](crate::LocalFileStore) run directory or a fluidml one may hold
    /// any), sorted; copies do not carry them and name them instead. The default, for
    /// stores without run directories, is none.
    ///
    /// # Errors
    /// Backend errors.
    fn unlisted_files(&self, run: &RunSummary) -> Result<Vec<PathBuf>> {
        let _ = run;
        Ok(Vec::new())
    }

    /// The runs of `task` whose lowercase hex run key starts with `prefix` (compared
    /// case-insensitively), sorted by run key; the caller decides what 0 or several matches
    /// mean. The default filters [`Browse::runs`].
    ///
    /// # Errors
    /// Backend errors.
    fn runs_by_key_prefix(&self, task: &TaskName, prefix: &str) -> Result<Vec<RunSummary>> {
        let prefix = prefix.to_ascii_lowercase();
        let mut runs = self.runs(task)?;
        runs.retain(|run| run.key.to_hex().starts_with(&prefix));
        Ok(runs)
    }
}

/// One task of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskSummary {
    /// The task name.
    pub name: TaskName,
    /// How many runs it has.
    pub runs: u64,
}

/// One run of a store: its identity, state and results (unloaded).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunSummary {
    /// The run key (derived from task and config).
    pub key: RunKey,
    /// The task.
    pub task: TaskName,
    /// The run's config.
    pub config: UniqueConfig,
    /// The run's state; `None` if it was never set (a fluidml directory without one).
    pub state: Option<RunState>,
    /// Its results, sorted by name.
    pub results: Vec<ResultSummary>,
    /// When the run was created (its first save); `None` where the store did not record it
    /// (a store written before times were recorded, a fluidml directory).
    pub created: Option<SystemTime>,
    /// When the run was last marked finished; `None` if it never was, or where the store did
    /// not record it.
    pub finished: Option<SystemTime>,
    /// The name of the run's directory: in a [`LocalFileStore`](crate::LocalFileStore), its
    /// own (`000`, `brave-owl-000`); in a [`RedbStore`](crate::RedbStore), the one it had in
    /// the tree it was imported from ([`ResultsStore::set_tree_details`]); `None` otherwise.
    ///
    /// [`ResultsStore::set_tree_details`]: crate::ResultsStore::set_tree_details
    pub dir_name: Option<RunName>,
}

/// One result of a run, described without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResultSummary {
    /// The result name.
    pub name: ResultName,
    /// The stored type name, e.g. `json`.
    pub type_name: String,
    /// Size of the stored bytes (for a path-type result: of its file, or 0 for a directory).
    pub size: u64,
    /// blake3 of the stored bytes; `None` where the backend records none (a fluidml result,
    /// a path-type result).
    pub hash: Option<ContentHash>,
    /// The sub-directory it is kept in, for backends with directories.
    pub sub_dir: Option<SubDir>,
}

impl TaskSummary {
    pub(crate) fn new(name: TaskName, runs: u64) -> Self {
        TaskSummary { name, runs }
    }
}

impl RunSummary {
    pub(crate) fn new(
        task: TaskName,
        config: UniqueConfig,
        state: Option<RunState>,
        mut results: Vec<ResultSummary>,
    ) -> Self {
        results.sort_by(|a, b| a.name.cmp(&b.name));
        RunSummary {
            key: RunKey::new(&task, &config),
            task,
            config,
            state,
            results,
            created: None,
            finished: None,
            dir_name: None,
        }
    }

    /// The same run with the name of its directory.
    pub(crate) fn with_dir_name(mut self, dir_name: Option<RunName>) -> Self {
        self.dir_name = dir_name;
        self
    }

    /// The same run with the times the store recorded.
    pub(crate) fn with_times(
        mut self,
        created: Option<SystemTime>,
        finished: Option<SystemTime>,
    ) -> Self {
        self.created = created;
        self.finished = finished;
        self
    }

    /// Result `name`, if the run has it.
    pub fn result(&self, name: &str) -> Option<&ResultSummary> {
        self.results.iter().find(|r| r.name.as_str() == name)
    }
}

impl ResultSummary {
    pub(crate) fn new(
        name: ResultName,
        type_name: String,
        size: u64,
        hash: Option<ContentHash>,
        sub_dir: Option<SubDir>,
    ) -> Self {
        ResultSummary {
            name,
            type_name,
            size,
            hash,
            sub_dir,
        }
    }
}

/// A recorded time (ms since the Unix epoch) as a [`SystemTime`].
pub(crate) fn at_ms(unix_ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(unix_ms)
}

/// The finished time a run has after its state is set to `state` at `unix_ms`: that time
/// for finished, none for any other state (the rule every backend's times follow).
pub(crate) fn finished_at(state: RunState, unix_ms: u64) -> Option<u64> {
    (state == RunState::Finished).then_some(unix_ms)
}

/// Sorts runs by key, as [`Browse::runs`] promises.
pub(crate) fn sort_runs(runs: &mut [RunSummary]) {
    runs.sort_by_key(|run| run.key);
}

/// How far a long operation over a store's values (verification, copying) has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Progress {
    /// Values done so far.
    pub done: u64,
    /// Values in all (as counted when the operation began).
    pub total: u64,
    /// Bytes of the values done so far.
    pub bytes: u64,
}

impl Progress {
    pub(crate) fn new(done: u64, total: u64, bytes: u64) -> Self {
        Progress { done, total, bytes }
    }
}
