//! # sweepstore
//!
//! Crash-safe, concurrent storage for the results of machine-learning experiments and
//! hyper-parameter sweeps, following the API of the Python library fluidml's storage module.
//!
//! A *task* (say `train`) runs once per *unique config* (say `{"lr": 0.01, "seed": 3}`); each
//! run saves named *results* with a *type* (`json`, `binary`, `text`, `bytes` or a custom
//! [`TypeInfo`]); later tasks load them again, often lazily and across all runs of a sweep.
//!
//! Every store implements [`ResultsStore`] (the contract is documented there; the trait is
//! sealed: the stores below are its only implementations); [`StoreExt`]
//! adds typed, string-taking handles ([`Task`], [`Run`]). Backends: [`InMemoryStore`],
//! [`LocalFileStore`] (browsable files in fluidml's layout) and [`RedbStore`] (the engine);
//! on Unix, [`RemoteStore`] reaches a `RedbStore` that `sweepstore serve` ([`Server`]) serves
//! to other processes. The served-store protocol's numbers (version, frame limits, socket
//! name) are in [`remote::wire`]; fuzzing and simulated-disk harnesses in `sim` (feature
//! `sim`).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//! use sweepstore::{InMemoryStore, StoreExt, UniqueConfig};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Metrics {
//!     loss: f64,
//! }
//!
//! # fn main() -> sweepstore::Result<()> {
//! let store = InMemoryStore::new();
//!
//! // Task `train`: one run per config; each saves its metrics and marks itself finished.
//! for lr in [0.1, 0.01, 0.001] {
//!     let config = UniqueConfig::new(json!({ "lr": lr, "seed": 0 }))?;
//!     let run = store.run("train", &config)?;
//!     if run.is_finished()? {
//!         continue; // a resumed sweep skips finished runs
//!     }
//!     run.save("metrics", "json", &Metrics { loss: lr * 10.0 })?;
//!     let mut log = run.open("log", "w", Some("text"))?;
//!     std::io::Write::write_all(&mut log, b"epoch 1 done\n").map_err(|e| {
//!         sweepstore::Error::Stream { op: "write the log", source: e }
//!     })?;
//!     log.close()?;
//!     run.finish()?;
//! }
//!
//! // Task `reduce`: a lazy sweep over all runs; values load only when asked for.
//! let mut best = None;
//! for sweep in store.task("train")?.lazy_sweep("metrics")? {
//!     let sweep = sweep?;
//!     let loss = sweep.value.load::<Metrics>()?.loss;
//!     if best.as_ref().is_none_or(|(b, _)| loss < *b) {
//!         best = Some((loss, sweep.config));
//!     }
//! }
//! let (loss, config) = best.expect("three runs were saved");
//! assert_eq!(config.get("lr"), Some(&json!(0.001)));
//! assert!((loss - 0.01).abs() < 1e-12);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blob;
mod browse;
mod claim;
mod codec;
mod config;
mod durable;
mod engine;
mod error;
mod file;
mod json_scan;
mod key;
mod limits;
mod local;
mod lookup;
mod memory;
#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(unix)]
mod multi;
mod name_problem;
mod names;
mod pickle;
mod pickle_ops;
mod promise;
#[cfg(unix)]
pub mod remote;
mod run;
mod sealed;
#[cfg(feature = "sim")]
pub mod sim;
mod store;
mod store_ext;
mod transfer;
mod vfs;
mod wal;

// The contract every store keeps, and the typed handles over it.
pub use run::{RunId, RunState, SaveOptions, StoreContext};
pub use store::ResultsStore;
pub use store_ext::{Run, StoreExt, Task};

// Stores.
pub use engine::{Durability, RedbOptions, RedbStore};
pub use local::{BulkWrite, FilePromise, LocalFileStore};
pub use memory::InMemoryStore;
#[cfg(feature = "mongodb")]
pub use mongo::{MongoGcReport, MongoOptions, MongoStore};
#[cfg(unix)]
pub use multi::{OpenOptions, Store, StoreAddress, open, open_address};
#[cfg(unix)]
pub use remote::{RemoteOptions, RemoteStore, Server, Stopper};

// What identifies a run: configs, names and keys, with their limits.
pub use config::{ConfigError, UniqueConfig};
pub use key::{ContentHash, RUN_KEY_CONTEXT, RunKey};
pub use limits::{MAX_CONFIG_LEN, MAX_DEPTH};
pub use name_problem::{NameKind, NameProblem};
pub use names::{MAX_NAME_LEN, MAX_SUB_DIR_LEN, ResultName, RunName, SubDir, TaskName};

// Values: types, lazy loads, sweeps and streams.
pub use codec::{BINARY, BYTES, JSON, PICKLE, PYTHON_PICKLE, TEXT, TypeInfo, TypeRegistry};
pub use file::{Existence, File, OpenMode};
pub use promise::{LazySweep, LazySweeps, Promise, Sweep, Sweeps};

// Running a sweep across processes: run claims.
pub use claim::{ClaimOutcome, MAX_OWNER_LEN};

// Browsing, copying and upkeep of stored runs.
pub use browse::{Browse, Progress, ResultSummary, RunSummary, TaskSummary};
pub use engine::{GcReport, Problem, StoreStats, VerifyReport};
pub use transfer::{
    CopyPlan, EXPORT_THREADS, IMPORT_THREADS, TransferReport, copy_planned, copy_store,
};

// Errors.
pub use error::{Error, Result};

// `ResultsStore` is sealed: the backends of this crate are its only implementations (see the
// trait's docs for why). Kept here, beside the list of stores, so `store.rs` names none of them.
impl sealed::Sealed for InMemoryStore {}
impl sealed::Sealed for RedbStore {}
impl sealed::Sealed for LocalFileStore {}
#[cfg(feature = "mongodb")]
impl sealed::Sealed for MongoStore {}
#[cfg(unix)]
impl sealed::Sealed for RemoteStore {}
#[cfg(unix)]
impl sealed::Sealed for Store {}

/// The README's example is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Stores are shared across worker threads; this fails to compile if one is not.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<InMemoryStore>();
    assert_send_sync::<RedbStore>();
    assert_send_sync::<LocalFileStore>();
    assert_send_sync::<FilePromise>();
    assert_send_sync::<Promise>();
    assert_send_sync::<TypeRegistry>();
    assert_send_sync::<UniqueConfig>();
    assert_send_sync::<Error>();
    #[cfg(unix)]
    assert_send_sync::<RemoteStore>();
    #[cfg(unix)]
    assert_send_sync::<Store>();
    #[cfg(feature = "mongodb")]
    assert_send_sync::<MongoStore>();
    const fn assert_send<T: Send>() {}
    assert_send::<File>();
    assert_send::<LazySweeps>();
};
