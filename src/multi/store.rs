//! [`Store`]: one handle to a store, whichever process owns it; [`open`] and
//! [`open_address`] make one.
//!
//! Invariants: every call goes to the current [`Backend`]; a call that fails because the
//! serving process went away makes this handle join the store again (take-over or
//! reconnect, [`join`]) and is repeated only by the retry rule of `retry.rs`; only one
//! thread of a process joins again at a time, and the others use what it joined (the
//! generation counter tells a stale failure from a fresh one); a handle used in a forked
//! child never touches the parent's backend (the pid recorded with the backend differs) and
//! joins as a new client instead.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::browse::{Browse, RunSummary, TaskSummary};
use crate::claim::ClaimOutcome;
use crate::codec::TypeRegistry;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode};
use crate::key::ContentHash;
use crate::multi::backend::{Backend, Reachable};
use crate::multi::join::join;
use crate::multi::options::{OpenOptions, StoreAddress};
use crate::multi::retry::{Failure, Retry};
use crate::names::{ResultName, RunName, TaskName};
use crate::promise::{LazySweeps, Promise};
use crate::run::{RunId, RunState, SaveOptions, StoreContext, describe_result};
use crate::store::ResultsStore;

/// Opens the store in directory `path` (creating it if the directory does not exist or is
/// empty) or joins the process that serves it: if a server answers on the store's default
/// socket, the handle is its client; else this process opens the store (recovering its
/// write-ahead log) and serves it to other processes from a thread; a store locked by a
/// process whose server does not answer yet is waited for ([`OpenOptions::wait`]).
///
/// When the serving process exits or dies, its clients' next calls take over: exactly one
/// opens and serves the store, the others reconnect to it (`docs/design.md` §18).
///
/// ```no_run
/// use sweepstore::{OpenOptions, StoreExt, UniqueConfig};
///
/// # fn main() -> sweepstore::Result<()> {
/// // Every worker process runs this; the first owns the store, the rest join it.
/// let store = sweepstore::open("results", OpenOptions::default())?;
/// let run = store.run("train", &UniqueConfig::parse(r#"{"lr": 0.1}"#)?)?;
/// run.save("metrics", "json", &serde_json::json!({"loss": 0.5}))?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`Error::NotServed`] if the store stays locked without a server past the wait;
/// [`Error::AlreadyOpen`] if serving is off and another process has it open without
/// serving it; the errors of [`RedbStore::open`](crate::RedbStore::open) and
/// [`RemoteStore::connect`](crate::RemoteStore::connect).
pub fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Store> {
    let types = TypeRegistry::new();
    let path = path.as_ref();
    let backend = join(path, &options, &types)?;
    let path = std::fs::canonicalize(path).map_err(|e| Error::io("resolve path", path, e))?;
    Ok(Store {
        inner: Arc::new(Inner {
            address: StoreAddress { path, options },
            types,
            current: RwLock::new(Current {
                generation: 0,
                pid: std::process::id(),
                backend: Arc::new(backend),
            }),
        }),
    })
}

/// Opens the store at `address` (made by [`Store::address`], possibly in another process).
///
/// # Errors
/// As [`open`].
pub fn open_address(address: &StoreAddress) -> Result<Store> {
    open(&address.path, address.options.clone())
}

/// A results store shared by any number of processes (see [`open`]). Cheap to clone;
/// clones share one backend.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    address: StoreAddress,
    types: TypeRegistry,
    current: RwLock<Current>,
}

/// The backend in use, which process made it, and how many times this handle joined again.
struct Current {
    generation: u64,
    pid: u32,
    backend: Arc<Backend>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let current = self
            .current
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if current.pid != std::process::id() {
            Backend::abandon(&current.backend);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.address.path)
            .field("owner", &self.is_owner())
            .finish()
    }
}

impl Store {
    /// The store directory (absolute).
    pub fn path(&self) -> &Path {
        &self.inner.address.path
    }

    /// Where this store is, as plain data another process can open again.
    pub fn address(&self) -> StoreAddress {
        self.inner.address.clone()
    }

    /// Whether this process owns the store now (it opened it and serves it), rather than
    /// being a client of the process that does.
    pub fn is_owner(&self) -> bool {
        matches!(*self.current().1, Backend::Owner(_))
    }

    /// The backend to call and its generation; joins again first in a forked child.
    fn current(&self) -> (u64, Arc<Backend>) {
        let current = self
            .inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (current.generation, current.backend.clone())
    }

    fn backend(&self) -> Result<(u64, Arc<Backend>)> {
        {
            let current = self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if current.pid == std::process::id() {
                return Ok((current.generation, current.backend.clone()));
            }
        }
        self.rejoin(None)
    }

    /// Joins the store again unless another thread did since generation `failed` (`None`:
    /// this process was forked and must join whatever the generation).
    fn rejoin(&self, failed: Option<u64>) -> Result<(u64, Arc<Backend>)> {
        let pid = std::process::id();
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let forked = current.pid != pid;
        if !forked && failed.is_none_or(|g| g != current.generation) {
            return Ok((current.generation, current.backend.clone()));
        }
        if forked {
            Backend::abandon(&current.backend);
        }
        let address = &self.inner.address;
        let backend = Arc::new(join(&address.path, &address.options, &self.inner.types)?);
        let generation = current.generation + 1;
        let old = std::mem::replace(
            &mut *current,
            Current {
                generation,
                pid,
                backend: backend.clone(),
            },
        );
        drop(current);
        tracing::info!(store = %address.path.display(), owner = matches!(*backend, Backend::Owner(_)), "joined the store again");
        drop(old);
        Ok((generation, backend))
    }

    /// Runs `op` on the current backend; if the serving process went away, joins again and
    /// repeats it as `retry` allows, until the wait of the options runs out.
    fn call<T>(
        &self,
        retry: Retry<'_, T>,
        what: &dyn Fn() -> String,
        op: &dyn Fn(&dyn Reachable) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let (mut generation, mut backend) = self.backend()?;
        loop {
            let error = match op(backend.store()) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let failure = Failure::of(&error);
            if matches!(failure, Failure::Final)
                || started.elapsed() > self.inner.address.options.wait
            {
                return Err(error);
            }
            (generation, backend) = self.rejoin(Some(generation))?;
            if let Failure::MaybeApplied(reason) = failure {
                match &retry {
                    Retry::Resend => {}
                    Retry::Confirm(confirm) => {
                        return confirm(backend.store())?.ok_or(Error::OutcomeUnknown {
                            what: what(),
                            reason,
                        });
                    }
                    Retry::Never => {
                        return Err(Error::OutcomeUnknown {
                            what: what(),
                            reason,
                        });
                    }
                }
            }
        }
    }

    /// Reads (and idempotent writes) are sent again after a take-over.
    fn read<T>(&self, op: &dyn Fn(&dyn Reachable) -> Result<T>) -> Result<T> {
        self.call(Retry::Resend, &String::new, op)
    }
}

/// The exact run `run` as the store holds it, if it exists.
fn exact_run(store: &dyn Reachable, run: &RunId) -> Result<Option<RunSummary>> {
    let key = run.key();
    let found = store.runs_by_key_prefix(run.task(), &key.to_hex())?;
    Ok(found.into_iter().find(|summary| summary.key == key))
}

impl ResultsStore for Store {
    fn types(&self) -> &TypeRegistry {
        &self.inner.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        options: &SaveOptions,
    ) -> Result<()> {
        let hash = ContentHash::of(bytes);
        let confirm = |store: &dyn Reachable| {
            let saved = exact_run(store, run)?.is_some_and(|summary| {
                summary
                    .results
                    .iter()
                    .any(|r| &r.name == name && r.hash == Some(hash) && r.type_name == type_name)
            });
            Ok(saved.then_some(()))
        };
        self.call(
            Retry::Confirm(&confirm),
            &|| format!("the save of {}", describe_result(run, name)),
            &|store| store.save_bytes(run, name, type_name, bytes, options),
        )
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        self.read(&|store| store.load_lazy(run, name))
    }

    fn load_bytes(&self, run: &RunId, name: &ResultName) -> Result<Option<(String, Vec<u8>)>> {
        self.read(&|store| store.load_bytes(run, name))
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        self.call(
            Retry::Never,
            &|| format!("the delete of {}", describe_result(run, name)),
            &|store| store.delete(run, name),
        )
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        self.call(
            Retry::Never,
            &|| {
                format!(
                    "the delete of the run of task `{}` with config {}",
                    run.task(),
                    run.config()
                )
            },
            &|store| store.delete_run(run),
        )
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        // Creating the exact run twice creates it once.
        self.read(&|store| store.get_context(run))
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        self.read(&|store| store.get_results(run))
    }

    fn set_tree_details(
        &self,
        run: &RunId,
        dir_name: Option<&RunName>,
        stateless: bool,
    ) -> Result<()> {
        // Recording the same details twice records them once. The owner keeps them; a
        // client's server cannot be asked for them yet (it creates the run only).
        self.read(&|store| store.set_tree_details(run, dir_name, stateless))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        self.read(&|store| store.run_state(run))
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        let confirm = |store: &dyn Reachable| {
            let set = exact_run(store, run)?.is_some_and(|summary| summary.state == Some(state));
            Ok(set.then_some(()))
        };
        self.call(
            Retry::Confirm(&confirm),
            &|| {
                format!(
                    "setting the state of the run of task `{}` with config {} to {state:?}",
                    run.task(),
                    run.config()
                )
            },
            &|store| store.set_run_state(run, state),
        )
    }

    fn claim_run(
        &self,
        run: &RunId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<ClaimOutcome> {
        // Claiming again for the same owner renews the claim: sending it twice is safe.
        self.read(&|store| store.claim_run(run, owner, lease))
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File> {
        // Opening publishes nothing (a write-open publishes on close), so it is sent again;
        // a stream whose server goes away fails, and the caller writes it again.
        self.read(&|store| store.open(run, name, mode, type_name, options))
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        self.read(&|store| store.lazy_sweep(task, name))
    }
}

impl Browse for Store {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        self.read(&|store| store.tasks())
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        self.read(&|store| store.runs(task))
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        self.read(&|store| store.find_run(task, config))
    }

    fn runs_by_key_prefix(&self, task: &TaskName, prefix: &str) -> Result<Vec<RunSummary>> {
        self.read(&|store| store.runs_by_key_prefix(task, prefix))
    }
}
