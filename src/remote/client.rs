//! [`RemoteStore`]: the [`ResultsStore`] contract kept through a `sweepstore serve` server.
//!
//! Invariants: every method is one request (or one listing, or one stream) answered by the
//! server after the served store's own call returned, so results, errors and acknowledgement
//! mean what they mean in-process: a write that returned `Ok` was acknowledged by the engine
//! (durable under the server's durability mode). Types and codecs live in this client's
//! registry: unknown types are rejected here, before anything is sent. Values above one chunk
//! and `open` streams travel in chunks; promises resolve through the server by content hash
//! and are verified here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::codec::TypeRegistry;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode, OpenRequest, open_file};
use crate::names::{ResultName, TaskName};
use crate::promise::{ContentSource, LazySweep, LazySweeps, Promise, check_hash};
use crate::remote::pool::{Pool, RemoteOptions, unexpected};
use crate::remote::protocol::{
    Item, Request, Response, WireOptions, WirePromise, WireRun, path_from_bytes,
};
use crate::remote::stream::{RemoteContent, RemoteFile};
use crate::run::{RunId, RunState, SaveOptions, StoreContext};
use crate::store::ResultsStore;

/// A results store served by another process (`sweepstore serve`), reached over its Unix
/// socket. Cheap to clone; clones share a small pool of connections, so many threads of one
/// process work at once.
///
/// ```no_run
/// use sweepstore::{RemoteStore, StoreExt, UniqueConfig};
///
/// # fn main() -> sweepstore::Result<()> {
/// let store = RemoteStore::connect("results/serve.sock")?;
/// let run = store.run("train", &UniqueConfig::parse(r#"{"lr": 0.1}"#)?)?;
/// run.save("metrics", "json", &serde_json::json!({"loss": 0.5}))?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteStore {
    pool: Arc<Pool>,
    types: TypeRegistry,
    content: Arc<dyn ContentSource>,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("socket", &self.socket())
            .finish()
    }
}

impl RemoteStore {
    /// Connects to the server at `socket` with default [`RemoteOptions`].
    ///
    /// # Errors
    /// [`Error::ServerUnavailable`] if no server answers; [`Error::Protocol`] if it speaks
    /// another protocol version.
    pub fn connect(socket: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(socket, RemoteOptions::default())
    }

    /// Connects to the server at `socket` with `options`.
    ///
    /// # Errors
    /// As [`RemoteStore::connect`].
    pub fn connect_with(socket: impl AsRef<Path>, options: RemoteOptions) -> Result<Self> {
        let pool = Pool::connect(socket.as_ref(), options)?;
        let content: Arc<dyn ContentSource> = Arc::new(RemoteContent { pool: pool.clone() });
        Ok(RemoteStore {
            pool,
            types: TypeRegistry::new(),
            content,
        })
    }

    /// This client with `types` as its type registry (shared with the caller).
    pub(crate) fn with_types(mut self, types: TypeRegistry) -> Self {
        self.types = types;
        self
    }

    /// The server's socket path.
    pub fn socket(&self) -> &Path {
        self.pool.socket()
    }

    fn call(&self, request: &Request) -> Result<Response> {
        self.pool.call(request)
    }

    /// The connections to the server.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    fn promise(&self, wire: WirePromise) -> Promise {
        Promise::new(
            wire.hash,
            wire.type_name,
            wire.size,
            self.content.clone(),
            self.types.clone(),
        )
    }

    fn lookup(&self, request: &Request) -> Result<Option<Promise>> {
        match self.call(request)? {
            Response::Promise(found) => Ok(found.map(|p| self.promise(p))),
            other => Err(unexpected(&other)),
        }
    }

    /// A listing: the first page's response, then `Continue` on the same connection.
    fn listing(&self, request: &Request) -> Result<Option<Vec<Item>>> {
        let mut lease = self.pool.lease()?;
        let mut items = Vec::new();
        let mut response = lease.call(request)?;
        loop {
            match response {
                Response::NoRun => return Ok(None),
                Response::Page { items: page, more } => {
                    items.extend(page);
                    if !more {
                        return Ok(Some(items));
                    }
                }
                other => return Err(unexpected(&other)),
            }
            response = lease.call(&Request::Continue)?;
        }
    }

    fn expect_done(&self, request: &Request) -> Result<()> {
        match self.call(request)? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn expect_bool(&self, request: &Request) -> Result<bool> {
        match self.call(request)? {
            Response::Bool(answer) => Ok(answer),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a write-open stream on the server.
    fn open_write(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        exclusive: bool,
        options: &SaveOptions,
    ) -> Result<RemoteFile> {
        let mut lease = self.pool.lease()?;
        let request = Request::OpenWrite {
            run: wire_run(run),
            name: name.clone(),
            type_name: type_name.to_owned(),
            exclusive,
            options: wire_options(options),
        };
        match lease.call(&request)? {
            Response::Done => Ok(RemoteFile::new(lease)),
            other => Err(unexpected(&other)),
        }
    }
}

fn wire_run(run: &RunId) -> WireRun {
    WireRun {
        task: run.task().clone(),
        config: run.config().canonical().to_owned(),
    }
}

fn wire_options(options: &SaveOptions) -> WireOptions {
    let json = |map| serde_json::Value::Object(map).to_string();
    WireOptions {
        sub_dir: options.sub_dir.as_ref().map(|s| s.as_str().to_owned()),
        open_options: json(options.open_options.clone()),
        load_options: json(options.load_options.clone()),
    }
}

impl ResultsStore for RemoteStore {
    fn types(&self) -> &TypeRegistry {
        &self.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        options: &SaveOptions,
    ) -> Result<()> {
        self.types.accept(type_name, bytes)?;
        if bytes.len() <= self.pool.max_chunk() {
            return self.expect_done(&Request::Save {
                run: wire_run(run),
                name: name.clone(),
                type_name: type_name.to_owned(),
                bytes: bytes.to_vec(),
                options: wire_options(options),
            });
        }
        // Larger values stream in chunks, as a write-open that `commit` publishes.
        self.open_write(run, name, type_name, false, options)?
            .upload(bytes)
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        self.lookup(&Request::LoadLazy {
            run: wire_run(run),
            name: name.clone(),
        })
    }

    fn load_bytes(&self, run: &RunId, name: &ResultName) -> Result<Option<(String, Vec<u8>)>> {
        let request = Request::LoadBytes {
            run: wire_run(run),
            name: name.clone(),
        };
        match self.call(&request)? {
            Response::Value(None) => Ok(None),
            Response::Value(Some((wire, Some(bytes)))) => {
                let promise = self.promise(wire);
                check_hash(promise.hash(), crate::key::ContentHash::of(&bytes), || {
                    self.content.location(&promise.hash())
                })?;
                Ok(Some((promise.type_name().to_owned(), bytes)))
            }
            Response::Value(Some((wire, None))) => {
                let promise = self.promise(wire);
                Ok(Some((promise.type_name().to_owned(), promise.bytes()?)))
            }
            other => Err(unexpected(&other)),
        }
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        self.expect_bool(&Request::Delete {
            run: wire_run(run),
            name: name.clone(),
        })
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        self.expect_bool(&Request::DeleteRun { run: wire_run(run) })
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        match self.call(&Request::GetContext { run: wire_run(run) })? {
            Response::Context {
                run_dir,
                sweep_counter,
            } => Ok(StoreContext {
                run_dir: run_dir.map(path_from_bytes),
                sweep_counter,
            }),
            other => Err(unexpected(&other)),
        }
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        let Some(items) = self.listing(&Request::GetResults { run: wire_run(run) })? else {
            return Ok(None);
        };
        let mut results = BTreeMap::new();
        for item in items {
            let (name, wire) = item.map_err(Error::from)?;
            results.insert(ResultName::new(&name)?, self.promise(wire));
        }
        Ok(Some(results))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        match self.call(&Request::RunState { run: wire_run(run) })? {
            Response::State(state) => Ok(state),
            other => Err(unexpected(&other)),
        }
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        self.expect_done(&Request::SetRunState {
            run: wire_run(run),
            state,
        })
    }

    fn claim_run(
        &self,
        run: &RunId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<crate::claim::ClaimOutcome> {
        crate::claim::check_owner(owner)?;
        let request = Request::ClaimRun {
            run: wire_run(run),
            owner: owner.to_owned(),
            lease_ms: u64::try_from(lease.as_millis()).unwrap_or(u64::MAX),
        };
        match self.call(&request)? {
            Response::Claim(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File> {
        let (run_wire, name_wire) = (wire_run(run), name.clone());
        let existing = if mode.writable() {
            self.lookup(&Request::LoadExact {
                run: run_wire,
                name: name_wire,
            })?
        } else {
            self.lookup(&Request::LoadLazy {
                run: run_wire,
                name: name_wire,
            })?
        };
        let request = OpenRequest {
            run,
            name,
            mode,
            type_name,
            types: &self.types,
            existing,
        };
        open_file(request, |type_name, exclusive| {
            let file = self.open_write(run, name, type_name, exclusive, options)?;
            Ok(Box::new(file))
        })
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        let request = Request::LazySweep {
            task: task.clone(),
            name: name.clone(),
        };
        let items = self.listing(&request)?.unwrap_or_default();
        let sweeps: Vec<Result<LazySweep>> = items
            .into_iter()
            .map(|item| {
                let (config, wire) = item.map_err(Error::from)?;
                Ok(LazySweep {
                    value: self.promise(wire),
                    config: UniqueConfig::parse(&config)?,
                })
            })
            .collect();
        Ok(LazySweeps::new(sweeps.into_iter()))
    }
}
