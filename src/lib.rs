//! # sweepstore
//!
//! Crash-safe, concurrent storage for the results of machine-learning experiments and
//! hyper-parameter sweeps, following the API of the Python library fluidml's storage module.
//!
//! A *task* (say `train`) runs once per *unique config* (say `{"lr": 0.01, "seed": 3}`); each
//! run saves named *results* with a *type* (`json`, `binary`, `text`, `bytes` or a custom
//! [`TypeInfo`]); later tasks load them again, often lazily and across all runs of a sweep.
//!
//! Every store implements [`ResultsStore`] (the contract is documented there); [`StoreExt`]
//! adds typed, string-taking handles ([`Task`], [`Run`]). Backends: [`InMemoryStore`],
//! [`LocalFileStore`] (browsable files in fluidml's layout) and [`RedbStore`] (the engine);
//! on Unix, [`RemoteStore`] reaches a `RedbStore` that `sweepstore serve` ([`Server`]) serves
//! to other processes.
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
mod canonical;
mod claim;
mod codec;
mod config;
mod config_text;
mod durable;
mod engine;
mod error;
mod file;
mod handle;
mod key;
mod limits;
mod local;
mod lookup;
mod memory;
#[cfg(feature = "mongodb")]
mod mongo;
#[cfg(unix)]
mod multi;
mod names;
mod pickle;
mod promise;
#[cfg(unix)]
mod remote;
#[cfg(feature = "sim")]
pub mod sim;
mod store;
mod transfer;
mod vfs;
mod wal;

pub use browse::{Browse, Progress, ResultSummary, RunSummary, TaskSummary};
pub use claim::{ClaimOutcome, MAX_OWNER_LEN};
pub use codec::{BINARY, BYTES, JSON, PICKLE, PYTHON_PICKLE, TEXT, TypeInfo, TypeRegistry};
pub use config::{ConfigError, UniqueConfig};
pub use engine::{Durability, GcReport, Problem, RedbOptions, RedbStore, StoreStats, VerifyReport};
pub use error::{Error, Result};
pub use file::{Existence, File, OpenMode};
pub use handle::{Run, StoreExt, Task};
pub use key::{ContentHash, RUN_KEY_CONTEXT, RunKey};
pub use limits::{MAX_CONFIG_LEN, MAX_DEPTH};
pub use local::{BulkWrite, FilePromise, LocalFileStore};
pub use memory::InMemoryStore;
#[cfg(feature = "mongodb")]
pub use mongo::{MongoGcReport, MongoOptions, MongoStore};
#[cfg(unix)]
pub use multi::{OpenOptions, Store, StoreAddress, open, open_address};
pub use names::{
    MAX_NAME_LEN, MAX_SUB_DIR_LEN, NameKind, NameProblem, ResultName, RunName, SubDir, TaskName,
};
pub use promise::{LazySweep, LazySweeps, Promise, Sweep, Sweeps};
/// Fuzzing and corpus replay of the server's input handling (feature `sim`).
#[cfg(all(unix, feature = "sim"))]
#[doc(hidden)]
pub use remote::fuzz::{fuzz_server_input, fuzz_server_seeds};
#[cfg(unix)]
pub use remote::{
    DEFAULT_SOCKET_NAME, MAX_CHUNK, MAX_CONNECTIONS, MAX_FRAME, PROTOCOL_VERSION, RemoteOptions,
    RemoteStore, Server, Stopper, WRITE_TIMEOUT,
};
pub use store::{ResultsStore, RunId, RunState, SaveOptions, StoreContext};
pub use transfer::{CopyPlan, TransferReport, copy_planned, copy_store};

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
