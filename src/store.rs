//! The [`ResultsStore`] trait: the contract every backend keeps.
//!
//! The trait is object-safe and works on validated names ([`TaskName`], [`ResultName`]) and
//! encoded bytes; the typed, string-taking convenience lives on [`StoreExt`] and its
//! [`Task`](crate::Task) and [`Run`](crate::Run) handles.
//!
//! Contract, for every backend (the conformance suite in `tests/conformance/` checks it):
//! - **Thread safety**: stores are `Send + Sync` and synchronize internally; every method
//!   may be called from many threads at once. A save that returned is visible to every later
//!   call from any thread (read-your-writes).
//! - **Addressing**: saving, `set_run_state`, `get_context` and publishing a write-open (on
//!   [`File::close`]) address the run of the *exact* config, creating it (state
//!   [`RunState::Running`], next sweep counter of its task) if it does not exist. An open
//!   that is dropped without `close` creates nothing.
//! - **Lookup** (`load_lazy`, `delete`, `delete_run`, `get_results`, `run_state`, opening in
//!   mode `r`): the run of the exact config if there is one; otherwise the stored runs of the
//!   task whose config is a subset of the queried one (fluidml's rule); among several, the
//!   most specific (most top-level keys) wins, then the earliest created. The lookup picks a
//!   run first, then the name inside it.
//! - **Not found** is `Ok(None)` (or `Ok(false)` for deletes), never an error.
//! - **Bad input** never loses earlier data: it is rejected before anything is changed.
//! - **Accepted means readable**: configs and `json` values past the limits of `limits.rs`
//!   ([`MAX_DEPTH`](crate::MAX_DEPTH), [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN)) are
//!   rejected when they are accepted, so every stored one is readable by every reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::TypeRegistry;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode};
use crate::key::RunKey;
use crate::names::{ResultName, RunName, SubDir, TaskName};
use crate::promise::{LazySweeps, Promise};

/// One run's address: task, config and the key derived from them (computed once).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId {
    task: TaskName,
    /// Shared, so the per-command clones a store makes (one per save sent to an actor) copy
    /// a pointer, not the config's map.
    config: Arc<UniqueConfig>,
    key: RunKey,
}

impl RunId {
    /// The run of `task` with `config`.
    pub fn new(task: TaskName, config: UniqueConfig) -> Self {
        let key = RunKey::new(&task, &config);
        RunId {
            task,
            config: Arc::new(config),
            key,
        }
    }

    /// The task name.
    pub fn task(&self) -> &TaskName {
        &self.task
    }

    /// The unique config.
    pub fn config(&self) -> &UniqueConfig {
        &self.config
    }

    /// The run key.
    pub fn key(&self) -> RunKey {
        self.key
    }
}

/// The state of a run, so sweeps can resume (fluidml's `is_finished`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Created, not yet marked finished or failed.
    Running,
    /// Marked finished: a resumed sweep skips it.
    Finished,
    /// Marked failed.
    Failed,
}

/// A run's store-specific context (fluidml's `StoreContext`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreContext {
    /// The run's directory, for stores that have one.
    pub run_dir: Option<PathBuf>,
    /// The run's sweep counter within its task (`000`, `001`, ...).
    pub sweep_counter: Option<String>,
}

/// Formats a sweep counter as fluidml does: at least three digits.
pub(crate) fn sweep_counter(counter: u64) -> String {
    format!("{counter:03}")
}

/// Options of a save or a write-open (fluidml's `sub_dir`, `open_kwargs`, `load_kwargs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaveOptions {
    /// A sub-directory of the run to keep the result in (default: none). Stores without
    /// directories ignore it.
    pub sub_dir: Option<SubDir>,
    /// Options for opening the result's file, kept with the result (default: empty). Stores
    /// without files ignore them; [`LocalFileStore`](crate::LocalFileStore) records them in
    /// the result's load information, as fluidml records its `open_kwargs`.
    pub open_options: Map<String, Value>,
    /// Options for loading the result, kept with it and applied by later loads that do not
    /// override them (default: empty; fluidml's `load_kwargs`). Stores without files ignore
    /// them; see [`FilePromise::load_with`](crate::FilePromise::load_with).
    pub load_options: Map<String, Value>,
}

impl SaveOptions {
    /// Options with `sub_dir` set.
    pub fn in_sub_dir(sub_dir: SubDir) -> Self {
        SaveOptions {
            sub_dir: Some(sub_dir),
            ..SaveOptions::default()
        }
    }

    /// These options with `open_options` set.
    pub fn with_open_options(mut self, open_options: Map<String, Value>) -> Self {
        self.open_options = open_options;
        self
    }

    /// These options with `load_options` set.
    pub fn with_load_options(mut self, load_options: Map<String, Value>) -> Self {
        self.load_options = load_options;
        self
    }
}

/// A results store (fluidml's `ResultsStore`). See the module docs for the contract.
pub trait ResultsStore: Send + Sync {
    /// The store's type registry; register custom types here.
    fn types(&self) -> &TypeRegistry;

    /// Stores `bytes` (already encoded as `type_name`) as result `name` of the exact run,
    /// replacing any earlier value of that name.
    ///
    /// # Errors
    /// [`Error::UnknownType`](crate::Error::UnknownType) if `type_name` is not registered;
    /// [`Error::NestedTooDeep`](crate::Error::NestedTooDeep) for `json` text nesting deeper
    /// than [`MAX_DEPTH`](crate::MAX_DEPTH); backend errors. Nothing is changed on error.
    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        options: &SaveOptions,
    ) -> Result<()>;

    /// Saves a value of a path type ([`TypeInfo::custom_path`](crate::TypeInfo::custom_path))
    /// as result `name` of the exact run: `save` is called once with a path that does not
    /// exist yet and writes the value there (a file, or a directory it creates); the store
    /// then publishes it, replacing any earlier value of that name. Stores without a file
    /// system keep the default, which fails.
    ///
    /// # Errors
    /// [`Error::NeedsPath`] (the default); [`Error::UnknownType`]; whatever `save` returns;
    /// backend errors. Nothing is changed on error.
    fn save_with_path(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        save: &mut dyn FnMut(&Path) -> Result<()>,
        options: &SaveOptions,
    ) -> Result<()> {
        let _ = (run, name, save, options);
        Err(Error::NeedsPath {
            type_name: type_name.to_owned(),
            store: "this store",
        })
    }

    /// Looks up result `name` (lookup rule) stored through a path and calls `load` with its
    /// type name and path; `false` if there is no such result. A backend whose
    /// [`ResultsStore::load_bytes`] fails with [`Error::NeedsPath`] for a result serves it
    /// here. The default (stores without a file system, which hold no path results) returns
    /// `false`.
    ///
    /// # Errors
    /// Whatever `load` returns; backend errors.
    fn load_with_path(
        &self,
        run: &RunId,
        name: &ResultName,
        load: &mut dyn FnMut(&str, &Path) -> Result<()>,
    ) -> Result<bool> {
        let _ = (run, name, load);
        Ok(false)
    }

    /// Looks up result `name` (lookup rule) and returns it unloaded, or `None`.
    ///
    /// # Errors
    /// Backend errors.
    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>>;

    /// Looks up result `name` and reads its stored bytes, verified, with its type name: an
    /// eager load. `None` if it does not exist. Backends override it when they can do this
    /// in one step; the default goes through [`ResultsStore::load_lazy`].
    ///
    /// # Errors
    /// [`Error::HashMismatch`](crate::Error::HashMismatch) for corrupt content; backend
    /// errors.
    fn load_bytes(&self, run: &RunId, name: &ResultName) -> Result<Option<(String, Vec<u8>)>> {
        match self.load_lazy(run, name)? {
            Some(promise) => Ok(Some((promise.type_name().to_owned(), promise.bytes()?))),
            None => Ok(None),
        }
    }

    /// Deletes result `name` of the looked-up run; `false` if there was none.
    ///
    /// # Errors
    /// Backend errors.
    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool>;

    /// Deletes the looked-up run with all its results; `false` if there was none.
    ///
    /// # Errors
    /// Backend errors.
    fn delete_run(&self, run: &RunId) -> Result<bool>;

    /// The exact run's context, creating the run if needed.
    ///
    /// # Errors
    /// Backend errors.
    fn get_context(&self, run: &RunId) -> Result<StoreContext>;

    /// All results of the looked-up run, by name, unloaded; `None` if there is no run.
    ///
    /// # Errors
    /// Backend errors.
    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>>;

    /// The state of the looked-up run; `None` if there is no run.
    ///
    /// # Errors
    /// Backend errors.
    fn run_state(&self, run: &RunId) -> Result<Option<RunState>>;

    /// Sets the state of the exact run, creating the run if needed.
    ///
    /// # Errors
    /// Backend errors.
    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()>;

    /// Opens result `name` as a [`File`]. Mode `r` uses the lookup rule; writable modes
    /// address the exact run and publish on [`File::close`]. `type_name` is the type for
    /// writing (default: the stored type when appending, else `bytes` for `b` modes and
    /// `text` otherwise); reading always uses the stored type.
    ///
    /// # Errors
    /// [`Error::NotFound`](crate::Error::NotFound) for `r`/`r+` of a missing result;
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists) for `x` of an existing one;
    /// [`Error::UnknownType`](crate::Error::UnknownType); backend errors.
    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File>;

    /// Result `name` of every run of `task` that has it, with the run's config, in run
    /// creation order, unloaded.
    ///
    /// # Errors
    /// Backend errors.
    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps>;

    /// Claims the exact run for `owner` for `lease` (creating the run if needed), so that
    /// independent sweeps on one store never train the same config at once: the rule is in
    /// `docs/design.md` §18.5 — a finished run or one claimed by another owner whose lease
    /// has not run out is not claimed; otherwise the caller gets the claim (claiming again
    /// renews it). Any later state change of the run (`finish`, `fail`) releases it. Stores
    /// that cannot decide this atomically keep the default, which fails.
    ///
    /// # Errors
    /// [`Error::Unsupported`] (the default); [`Error::InvalidClaim`] for an empty or overlong
    /// owner; backend errors.
    fn claim_run(
        &self,
        run: &RunId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<crate::claim::ClaimOutcome> {
        let _ = (run, owner, lease);
        Err(Error::Unsupported {
            what: "run claims",
            store: "this store",
        })
    }

    /// Records what a fluidml tree says of the exact run beyond its config, state and
    /// results — the name of its directory there (`dir_name`, e.g. `brave-owl-000`) and,
    /// with `stateless`, that it was never given a state — creating the run if needed, so
    /// a copy back into a tree loses neither ([`copy_store`](crate::copy_store) calls it
    /// before a run's results). A [`RedbStore`](crate::RedbStore) records both (any later
    /// state change ends `stateless`); a [`LocalFileStore`](crate::LocalFileStore) names a
    /// run directory it creates `dir_name` (unless that name is taken) and gives it no
    /// state, and leaves an existing run as it is. The default (stores without run
    /// directories: in memory, MongoDB, a served store) creates the run and keeps neither.
    ///
    /// # Errors
    /// Backend errors.
    fn set_tree_details(
        &self,
        run: &RunId,
        dir_name: Option<&RunName>,
        stateless: bool,
    ) -> Result<()> {
        let _ = (dir_name, stateless);
        self.get_context(run).map(drop)
    }

    /// Whether the looked-up run is marked [`RunState::Finished`].
    ///
    /// # Errors
    /// Backend errors.
    fn is_finished(&self, run: &RunId) -> Result<bool> {
        Ok(self.run_state(run)? == Some(RunState::Finished))
    }
}

/// Names a result in messages: ``result `m` of task `t` with config {..}``.
pub(crate) fn describe_result(run: &RunId, name: &ResultName) -> String {
    format!(
        "result `{name}` of task `{}` with config {}",
        run.task(),
        run.config()
    )
}

/// The type name a write-open uses when the caller gives none.
pub(crate) fn default_write_type(
    mode: OpenMode,
    given: Option<&str>,
    stored: Option<&str>,
) -> String {
    match (given, stored) {
        (Some(given), _) => given.to_owned(),
        (None, Some(stored)) if mode.keeps_content() => stored.to_owned(),
        (None, _) if mode.is_binary() => crate::codec::BYTES.to_owned(),
        (None, _) => crate::codec::TEXT.to_owned(),
    }
}
