//! The [`ResultsStore`] trait: the contract every backend keeps.
//!
//! The trait is object-safe and works on validated names ([`TaskName`], [`ResultName`]) and
//! encoded bytes; the typed, string-taking convenience lives on [`StoreExt`](crate::StoreExt) and its
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
use std::path::Path;

use crate::claim::ClaimOutcome;
use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode};
use crate::names::{ResultName, RunName, TaskName};
use crate::promise::{LazySweeps, Promise};
use crate::run::{RunId, RunState, SaveOptions, StoreContext};

/// A results store (fluidml's `ResultsStore`). See the module docs for the contract.
///
/// **Sealed**: only this crate's stores implement it ([`InMemoryStore`](crate::InMemoryStore),
/// [`RedbStore`](crate::RedbStore), [`LocalFileStore`](crate::LocalFileStore),
/// [`RemoteStore`](crate::RemoteStore), [`Store`](crate::Store) and `MongoStore`); use it
/// through `dyn ResultsStore`, generics or [`StoreExt`](crate::StoreExt). Why not open it:
/// a store hands out [`Promise`]s, [`LazySweeps`] and [`File`]s, which are built from the
/// crate-private content-source and stream-backend traits; making those public would freeze
/// them as API together with the whole contract above (read-your-writes, lookup order, crash
/// safety), which only the conformance and crash suites of this crate check. A wrapper that
/// adds behaviour around a store holds one and offers its own methods; it cannot stand in
/// for a `dyn ResultsStore`.
pub trait ResultsStore: Send + Sync + crate::sealed::Sealed {
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
    ) -> Result<ClaimOutcome> {
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
