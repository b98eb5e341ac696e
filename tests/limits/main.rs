//! Accepted means readable: every unique config and `json` value a store accepts is loadable,
//! listed, swept, verified, exported and imported, on every backend; what goes past the
//! limits (`MAX_DEPTH`, `MAX_CONFIG_LEN`) is refused at the door with a typed error naming the
//! limit, and nothing is stored.
//!
//! - `property.rs`: a property test per backend (InMemoryStore, RedbStore, LocalFileStore, RemoteStore
//!   through a `Server` on a thread of this process, and MongoStore under
//!   `SWEEPSTORE_MONGO_URI` with feature `mongodb`) on configs and values generated across the
//!   edges: depth near and past the limit, wide objects, long strings, the integer boundaries
//!   of `i64`, `u64` and doubles, arbitrary Unicode. Each refusal must be past a limit; each
//!   acceptance is checked by a load, `get_results`, `find_run`, a sweep, `verify` and an
//!   export into a RedbStore read back.
//! - `refusals.rs`, `old_stores.rs`: regressions of issue 16: a value nested 65, 128 and a million levels is refused by every
//!   backend (typed, as bytes, through `open`) on a thread with a small stack; a store an
//!   earlier version left holding a config past the limit stays usable (RedbStore,
//!   LocalFileStore); fluidml pickles holding integers in [2^63, 2^64) load; a `sub_dir` that
//!   names a result file says so; a server refuses what a client that skipped its checks
//!   sends.
//! - `deep_pickles.rs`: pickles nested 65 and 10^5 levels are refused before `serde-pickle`
//!   reads them, at save on every backend and at load of a fluidml pickle, on a small stack.
//!
//! This file holds what the three share: a served store, a loop over the backends, and
//! values and configs of a given depth.

#[cfg(feature = "mongodb")]
use shared::mongo as mongo_support;
mod deep_pickles;
mod old_stores;
mod property;
mod refusals;
#[path = "../shared/mod.rs"]
mod shared;

use std::path::Path;

use serde_json::{Value, json};
use sweepstore::{
    InMemoryStore, LocalFileStore, RedbOptions, RedbStore, RemoteStore, Result, ResultsStore,
    Server, UniqueConfig,
};

const TASK: &str = "train";

use shared::tempdir;

/// A server on a thread of this process serving a RedbStore in `dir`; stopped on drop.
struct Served {
    stopper: sweepstore::Stopper,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Served {
    fn start(dir: &Path) -> Result<(Self, std::path::PathBuf)> {
        let store = RedbStore::open(dir.join("store"), RedbOptions::default())?;
        let server = Server::bind(store, dir.join("serve.sock"))?;
        let socket = server.socket().to_owned();
        let stopper = server.stopper();
        let thread = Some(std::thread::spawn(move || server.run()));
        Ok((Served { stopper, thread }, socket))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            // The server's own result is not this test's concern once it is stopped.
            let _ = thread.join();
        }
    }
}

/// Runs `check` on a fresh store of each backend but MongoStore (which has its own test).
fn on_every_backend(check: impl Fn(&dyn ResultsStore) -> Result<()>) -> Result<()> {
    check(&InMemoryStore::new())?;
    let dir = tempdir()?;
    let redb = RedbStore::open(dir.path().join("redb"), RedbOptions::default())?;
    check(&redb)?;
    redb.close()?;
    check(&LocalFileStore::new(dir.path().join("local"))?)?;
    let (_served, socket) = Served::start(dir.path())?;
    check(&RemoteStore::connect(&socket)?)
}

/// `levels` arrays one inside the other around `1`, built without recursion.
fn nested_arrays(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| Value::Array(vec![inner]))
}

/// Drops a value without recursing (`serde_json`'s drop recurses once per level).
fn drop_flat(value: Value) {
    let mut rest = vec![value];
    while let Some(value) = rest.pop() {
        match value {
            Value::Array(items) => rest.extend(items),
            Value::Object(map) => rest.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn seed(seed: u64) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "seed": seed }))?)
}

/// `{"deep": [[…[1]…]]}` nested `levels` deep, as canonical text.
fn deep_config_text(levels: usize) -> String {
    format!(
        "{{\"deep\":{}1{}}}",
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
}

/// A fluidml run directory `TASK/000` with config `{"seed": 1}` in `dir`, holding a `pickle`
/// result per `(name, pickle bytes)`, each with fluidml 0.3.4's load information (from the
/// committed fixture).
fn fluidml_pickle_run(dir: &Path, results: &[(&str, Vec<u8>)]) -> Result<()> {
    let run = dir.join(TASK).join("000");
    let io = |source| sweepstore::Error::Stream {
        op: "write a fluidml run directory",
        source,
    };
    std::fs::create_dir_all(run.join(".fluidml")).map_err(io)?;
    std::fs::write(run.join("config.json"), br#"{"seed": 1}"#).map_err(io)?;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fluidml-0.3.4/train/000/.fluidml/.checkpoint_load_info.p");
    let info = std::fs::read(fixture).map_err(io)?;
    for (name, bytes) in results {
        std::fs::write(run.join(format!(".fluidml/.{name}_load_info.p")), &info).map_err(io)?;
        std::fs::write(run.join(format!("{name}.p")), bytes).map_err(io)?;
    }
    Ok(())
}
