//! Typed, string-taking convenience over any [`ResultsStore`]: [`StoreExt`], [`Task`] and
//! [`Run`].
//!
//! Invariant: these only validate their string arguments (through `names.rs`) and encode or
//! decode through the type registry; every store operation is one call of the object-safe
//! trait, so all backends behave alike here.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::TypeInfo;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode};
use crate::names::{ResultName, TaskName};
use crate::promise::{LazySweeps, Promise, Sweeps};
use crate::run::{RunId, RunState, SaveOptions, StoreContext};
use crate::store::ResultsStore;

/// Convenience methods for every [`ResultsStore`].
pub trait StoreExt: ResultsStore {
    /// A handle on task `task`.
    ///
    /// # Errors
    /// [`Error::InvalidName`](crate::Error::InvalidName) for a bad task name.
    fn task(&self, task: &str) -> Result<Task<'_, Self>> {
        Ok(Task {
            store: self,
            name: TaskName::new(task)?,
        })
    }

    /// A handle on the run of `task` with `config`.
    ///
    /// # Errors
    /// [`Error::InvalidName`](crate::Error::InvalidName) for a bad task name.
    fn run(&self, task: &str, config: &UniqueConfig) -> Result<Run<'_, Self>> {
        Ok(self.task(task)?.run(config))
    }
}

impl<S: ResultsStore + ?Sized> StoreExt for S {}

/// A task of a store: its runs and its sweeps.
#[derive(Debug)]
pub struct Task<'s, S: ?Sized> {
    store: &'s S,
    name: TaskName,
}

impl<'s, S: ResultsStore + ?Sized> Task<'s, S> {
    /// The task name.
    pub fn name(&self) -> &TaskName {
        &self.name
    }

    /// The run of this task with `config`.
    pub fn run(&self, config: &UniqueConfig) -> Run<'s, S> {
        Run {
            store: self.store,
            id: RunId::new(self.name.clone(), config.clone()),
        }
    }

    /// Result `name` of every run that has it, loaded as `T`, with each run's config, in run
    /// creation order: the input of a reduce task.
    ///
    /// # Errors
    /// A bad result name; backend errors. Each item fails on its own if it cannot be loaded.
    pub fn sweep<T: DeserializeOwned + Any>(&self, name: &str) -> Result<Sweeps<T>> {
        Ok(Sweeps::new(self.lazy_sweep(name)?))
    }

    /// Like [`Task::sweep`], with each value left as a [`Promise`].
    ///
    /// # Errors
    /// A bad result name; backend errors.
    pub fn lazy_sweep(&self, name: &str) -> Result<LazySweeps> {
        self.store.lazy_sweep(&self.name, &ResultName::new(name)?)
    }
}

/// One run of a task: save, load and inspect its results.
#[derive(Debug)]
pub struct Run<'s, S: ?Sized> {
    store: &'s S,
    id: RunId,
}

impl<S: ResultsStore + ?Sized> Run<'_, S> {
    /// The run's address.
    pub fn id(&self) -> &RunId {
        &self.id
    }

    /// Encodes `value` as `type_name` and saves it as result `name` (see
    /// [`ResultsStore::save_bytes`]). A path type ([`TypeInfo::custom_path`]) is saved through
    /// [`ResultsStore::save_with_path`] instead.
    ///
    /// # Errors
    /// A bad name; [`Error::UnknownType`](crate::Error::UnknownType); encode errors;
    /// [`Error::NeedsPath`](crate::Error::NeedsPath) for a path type in a store without
    /// paths; backend errors.
    pub fn save<T: Serialize + Any>(&self, name: &str, type_name: &str, value: &T) -> Result<()> {
        self.save_with(name, type_name, value, &SaveOptions::default())
    }

    /// Like [`Run::save`] with options (e.g. a `sub_dir`).
    ///
    /// # Errors
    /// As [`Run::save`].
    pub fn save_with<T: Serialize + Any>(
        &self,
        name: &str,
        type_name: &str,
        value: &T,
        options: &SaveOptions,
    ) -> Result<()> {
        self.save_value(name, type_name, value, options, |info| info.encode(value))
    }

    /// Saves a value of a custom stream or path type (no serde needed).
    ///
    /// # Errors
    /// As [`Run::save`].
    pub fn save_custom<T: Any>(&self, name: &str, type_name: &str, value: &T) -> Result<()> {
        let options = SaveOptions::default();
        self.save_value(name, type_name, value, &options, |info| {
            info.encode_custom(value)
        })
    }

    /// Saves `value` through the store's path for path types, else as `encode`'s bytes.
    fn save_value<T: Any>(
        &self,
        name: &str,
        type_name: &str,
        value: &T,
        options: &SaveOptions,
        encode: impl FnOnce(&TypeInfo) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let name = ResultName::new(name)?;
        let info = self.store.types().get(type_name)?;
        if info.needs_path() {
            let mut save = |path: &Path| info.save_to_path(value, path);
            return self
                .store
                .save_with_path(&self.id, &name, type_name, &mut save, options);
        }
        let bytes = encode(&info)?;
        self.store
            .save_bytes(&self.id, &name, type_name, &bytes, options)
    }

    /// Saves already-encoded bytes as `type_name`.
    ///
    /// # Errors
    /// As [`Run::save`].
    pub fn save_bytes(&self, name: &str, type_name: &str, bytes: &[u8]) -> Result<()> {
        let name = ResultName::new(name)?;
        self.store
            .save_bytes(&self.id, &name, type_name, bytes, &SaveOptions::default())
    }

    /// Loads result `name` as `T` (lookup rule); `None` if it does not exist. A result of a
    /// path type is loaded through [`ResultsStore::load_with_path`].
    ///
    /// # Errors
    /// A bad name; decode errors; backend errors.
    pub fn load<T: DeserializeOwned + Any>(&self, name: &str) -> Result<Option<T>> {
        self.load_value(name, |info, bytes| info.decode(bytes))
    }

    /// Loads a result of a custom stream or path type.
    ///
    /// # Errors
    /// As [`Run::load`].
    pub fn load_custom<T: Any>(&self, name: &str) -> Result<Option<T>> {
        self.load_value(name, |info, bytes| info.decode_custom(bytes))
    }

    /// Loads result `name` with `decode` from its bytes, or from its path when the store
    /// keeps it as a path (its `load_bytes` says [`Error::NeedsPath`]).
    fn load_value<T: Any>(
        &self,
        name: &str,
        decode: impl FnOnce(&TypeInfo, &[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        let name = ResultName::new(name)?;
        match self.store.load_bytes(&self.id, &name) {
            Ok(Some((type_name, bytes))) => {
                decode(&*self.store.types().get(&type_name)?, &bytes).map(Some)
            }
            Ok(None) => Ok(None),
            Err(Error::NeedsPath { .. }) => {
                let mut value = None;
                let mut load = |type_name: &str, path: &Path| {
                    value = Some(self.store.types().get(type_name)?.load_from_path(path)?);
                    Ok(())
                };
                self.store.load_with_path(&self.id, &name, &mut load)?;
                Ok(value)
            }
            Err(e) => Err(e),
        }
    }

    /// Result `name` unloaded, as a [`Promise`]; `None` if it does not exist.
    ///
    /// # Errors
    /// A bad name; backend errors.
    pub fn load_lazy(&self, name: &str) -> Result<Option<Promise>> {
        self.store.load_lazy(&self.id, &ResultName::new(name)?)
    }

    /// Deletes result `name`; `false` if there was none.
    ///
    /// # Errors
    /// A bad name; backend errors.
    pub fn delete(&self, name: &str) -> Result<bool> {
        self.store.delete(&self.id, &ResultName::new(name)?)
    }

    /// Deletes the run and all its results; `false` if there was none.
    ///
    /// # Errors
    /// Backend errors.
    pub fn delete_run(&self) -> Result<bool> {
        self.store.delete_run(&self.id)
    }

    /// All results of the run, unloaded; `None` if there is no run.
    ///
    /// # Errors
    /// Backend errors.
    pub fn get_results(&self) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        self.store.get_results(&self.id)
    }

    /// The run's context (creates the run if needed).
    ///
    /// # Errors
    /// Backend errors.
    pub fn get_context(&self) -> Result<StoreContext> {
        self.store.get_context(&self.id)
    }

    /// The run's state; `None` if there is no run.
    ///
    /// # Errors
    /// Backend errors.
    pub fn state(&self) -> Result<Option<RunState>> {
        self.store.run_state(&self.id)
    }

    /// Sets the run's state (creates the run if needed).
    ///
    /// # Errors
    /// Backend errors.
    pub fn set_state(&self, state: RunState) -> Result<()> {
        self.store.set_run_state(&self.id, state)
    }

    /// Claims the run for `owner` for `lease` (see [`ResultsStore::claim_run`]); finishing
    /// or failing it releases the claim.
    ///
    /// # Errors
    /// As [`ResultsStore::claim_run`].
    pub fn claim(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<crate::claim::ClaimOutcome> {
        self.store.claim_run(&self.id, owner, lease)
    }

    /// Marks the run finished, so a resumed sweep skips it.
    ///
    /// # Errors
    /// Backend errors.
    pub fn finish(&self) -> Result<()> {
        self.set_state(RunState::Finished)
    }

    /// Whether the run is marked finished.
    ///
    /// # Errors
    /// Backend errors.
    pub fn is_finished(&self) -> Result<bool> {
        self.store.is_finished(&self.id)
    }

    /// Opens result `name` with a mode string (`r`, `w`, `a`, `r+`, ..., see
    /// [`OpenMode`]) and an optional type for writing (see [`ResultsStore::open`]).
    ///
    /// # Errors
    /// A bad name or mode; as [`ResultsStore::open`].
    pub fn open(&self, name: &str, mode: &str, type_name: Option<&str>) -> Result<File> {
        self.open_with(name, mode, type_name, &SaveOptions::default())
    }

    /// Like [`Run::open`] with options (e.g. a `sub_dir`).
    ///
    /// # Errors
    /// As [`Run::open`].
    pub fn open_with(
        &self,
        name: &str,
        mode: &str,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File> {
        let name = ResultName::new(name)?;
        let mode: OpenMode = mode.parse()?;
        self.store.open(&self.id, &name, mode, type_name, options)
    }
}
