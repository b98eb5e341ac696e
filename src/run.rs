//! A run's address and the plain data a store keeps about it: [`RunId`] (task, config and
//! run key), [`RunState`], [`StoreContext`] and the [`SaveOptions`] of a save.
//!
//! Invariants: a [`RunId`]'s key is computed once, from its task and config
//! ([`RunKey::new`]), so the three never disagree; sweep counters are spelled as fluidml
//! spells them (at least three digits) by [`sweep_counter`] alone; results are named in
//! messages by [`describe_result`] alone. This file uses only names, configs and keys, so
//! every other part of the crate may use it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::UniqueConfig;
use crate::key::RunKey;
use crate::names::{ResultName, SubDir, TaskName};

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

/// Names a result in messages: ``result `m` of task `t` with config {..}``.
pub(crate) fn describe_result(run: &RunId, name: &ResultName) -> String {
    format!(
        "result `{name}` of task `{}` with config {}",
        run.task(),
        run.config()
    )
}
