//! [`InMemoryStore`]: the whole [`ResultsStore`] contract in process memory.
//!
//! Invariants: one `RwLock` guards all state, and every operation takes it once, so each
//! operation is atomic with respect to the others. Values are shared `Arc<[u8]>`; a promise
//! holds its own reference, so it stays valid after the name is overwritten or deleted.
//! Sweep counters only grow: a deleted run's counter is never reused. It has no directories,
//! so `sub_dir` options are accepted and ignored. Each run records when it was created and
//! when its state last became finished (cleared by any other state), as RedbStore does.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::browse::{
    Browse, ResultSummary, RunSummary, TaskSummary, at_ms, finished_at, sort_runs,
};
use crate::claim::{ClaimOutcome, Lease, check_owner, decide, now_ms};

use crate::codec::TypeRegistry;
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::file::{File, FileBackend, OpenMode, OpenRequest, open_file};
use crate::key::{ContentHash, RunKey};
use crate::lookup::best_subset;
use crate::names::{ResultName, TaskName};
use crate::promise::{ContentReader, ContentSource, LazySweep, LazySweeps, Promise};
use crate::run::{RunId, RunState, SaveOptions, StoreContext, describe_result, sweep_counter};
use crate::store::ResultsStore;

/// An in-memory results store (fluidml's `InMemoryStore`): nothing survives the process.
/// Clones share the same data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    state: Arc<RwLock<State>>,
    types: TypeRegistry,
}

#[derive(Debug, Default)]
struct State {
    runs: HashMap<RunKey, RunRecord>,
    tasks: HashMap<TaskName, TaskRuns>,
}

#[derive(Debug, Default)]
struct TaskRuns {
    next_counter: u64,
    /// Sweep counter → run, so iteration is in creation order.
    runs: BTreeMap<u64, RunKey>,
}

#[derive(Debug)]
struct RunRecord {
    config: UniqueConfig,
    counter: u64,
    state: RunState,
    /// The run's claim, if held (released by any state change).
    claim: Option<Lease>,
    results: BTreeMap<ResultName, Stored>,
    /// When the run was created (ms since the Unix epoch).
    created_ms: u64,
    /// When its state last became finished; `None` while it is not finished.
    finished_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Stored {
    type_name: String,
    hash: ContentHash,
    bytes: Arc<[u8]>,
}

/// A promise's content: the value's bytes themselves.
struct MemContent(Arc<[u8]>);

impl ContentSource for MemContent {
    fn open(&self, _: &ContentHash) -> Result<Box<dyn ContentReader>> {
        Ok(Box::new(Cursor::new(self.0.clone())))
    }

    fn location(&self, hash: &ContentHash) -> String {
        format!("in-memory value {hash}")
    }
}

impl State {
    /// The run the lookup rule selects for `run`.
    fn lookup(&self, run: &RunId) -> Option<RunKey> {
        if self.runs.contains_key(&run.key()) {
            return Some(run.key());
        }
        let task = self.tasks.get(run.task())?;
        let candidates = task.runs.iter().filter_map(|(counter, key)| {
            let record = self.runs.get(key)?;
            Some((&record.config, *counter, *key))
        });
        best_subset(run.config(), candidates)
    }

    fn lookup_record(&self, run: &RunId) -> Option<&RunRecord> {
        self.runs.get(&self.lookup(run)?)
    }

    /// The exact run, created if it does not exist.
    fn exact_mut(&mut self, run: &RunId) -> &mut RunRecord {
        let State { runs, tasks } = self;
        runs.entry(run.key()).or_insert_with(|| {
            let task = tasks.entry(run.task().clone()).or_default();
            let counter = task.next_counter;
            task.next_counter += 1;
            task.runs.insert(counter, run.key());
            RunRecord {
                config: run.config().clone(),
                counter,
                state: RunState::Running,
                claim: None,
                results: BTreeMap::new(),
                created_ms: now_ms(),
                finished_ms: None,
            }
        })
    }
}

impl InMemoryStore {
    /// An empty store with the built-in types.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Every update below is completed before the guard drops and none panics midway, so
        // a poisoned lock still guards consistent state.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn promise(&self, stored: &Stored) -> Promise {
        Promise::new(
            stored.hash,
            stored.type_name.clone(),
            stored.bytes.len() as u64,
            Arc::new(MemContent(stored.bytes.clone())),
            self.types.clone(),
        )
    }

    fn store(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: Vec<u8>,
        exclusive: bool,
    ) -> Result<()> {
        self.types.accept(type_name, &bytes)?;
        let stored = Stored {
            type_name: type_name.to_owned(),
            hash: ContentHash::of(&bytes),
            bytes: bytes.into(),
        };
        let mut state = self.write();
        let record = state.exact_mut(run);
        if exclusive && record.results.contains_key(name) {
            return Err(Error::AlreadyExists {
                what: describe_result(run, name),
            });
        }
        record.results.insert(name.clone(), stored);
        Ok(())
    }
}

impl ResultsStore for InMemoryStore {
    fn types(&self) -> &TypeRegistry {
        &self.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        _options: &SaveOptions,
    ) -> Result<()> {
        self.store(run, name, type_name, bytes.to_vec(), false)
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        let state = self.read();
        let stored = state.lookup_record(run).and_then(|r| r.results.get(name));
        Ok(stored.map(|s| self.promise(s)))
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        let mut state = self.write();
        let Some(key) = state.lookup(run) else {
            return Ok(false);
        };
        let removed = state
            .runs
            .get_mut(&key)
            .and_then(|r| r.results.remove(name));
        Ok(removed.is_some())
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        let mut state = self.write();
        let Some(key) = state.lookup(run) else {
            return Ok(false);
        };
        let Some(record) = state.runs.remove(&key) else {
            return Ok(false);
        };
        if let Some(task) = state.tasks.get_mut(run.task()) {
            task.runs.remove(&record.counter);
        }
        Ok(true)
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        let mut state = self.write();
        let record = state.exact_mut(run);
        Ok(StoreContext {
            run_dir: None,
            sweep_counter: Some(sweep_counter(record.counter)),
        })
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        let state = self.read();
        Ok(state.lookup_record(run).map(|record| {
            record
                .results
                .iter()
                .map(|(name, stored)| (name.clone(), self.promise(stored)))
                .collect()
        }))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        Ok(self.read().lookup_record(run).map(|r| r.state))
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        let mut guard = self.write();
        let record = guard.exact_mut(run);
        record.state = state;
        record.claim = None;
        record.finished_ms = finished_at(state, now_ms());
        Ok(())
    }

    fn claim_run(&self, run: &RunId, owner: &str, lease: Duration) -> Result<ClaimOutcome> {
        check_owner(owner)?;
        let mut guard = self.write();
        let existing = guard.runs.get(&run.key());
        let (outcome, granted) = decide(
            existing.map(|r| r.state),
            existing.and_then(|r| r.claim.as_ref()),
            owner,
            lease,
            now_ms(),
        );
        if let Some(granted) = granted {
            let record = guard.exact_mut(run);
            record.state = RunState::Running;
            record.claim = Some(granted);
            record.finished_ms = None;
        }
        Ok(outcome)
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        _options: &SaveOptions,
    ) -> Result<File> {
        let existing = {
            let state = self.read();
            let record = if mode.writable() {
                state.runs.get(&run.key())
            } else {
                state.lookup_record(run)
            };
            record
                .and_then(|r| r.results.get(name))
                .map(|s| self.promise(s))
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
            let store = self.clone();
            let (run, name, type_name) = (run.clone(), name.clone(), type_name.to_owned());
            Ok(Box::new(MemFile {
                cursor: Cursor::new(Vec::new()),
                publish: Box::new(move |bytes| {
                    store.store(&run, &name, &type_name, bytes, exclusive)
                }),
            }))
        })
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        let state = self.read();
        let mut sweeps = Vec::new();
        if let Some(task) = state.tasks.get(task) {
            for key in task.runs.values() {
                let Some(record) = state.runs.get(key) else {
                    continue;
                };
                if let Some(stored) = record.results.get(name) {
                    sweeps.push(Ok(LazySweep {
                        value: self.promise(stored),
                        config: record.config.clone(),
                    }));
                }
            }
        }
        Ok(LazySweeps::new(sweeps.into_iter()))
    }
}

impl RunRecord {
    /// This run as [`Browse`] describes it.
    fn summary(&self, task: &TaskName) -> RunSummary {
        let results = self
            .results
            .iter()
            .map(|(name, stored)| {
                let size = stored.bytes.len() as u64;
                let type_name = stored.type_name.clone();
                ResultSummary::new(name.clone(), type_name, size, Some(stored.hash), None)
            })
            .collect();
        RunSummary::new(task.clone(), self.config.clone(), Some(self.state), results)
            .with_times(Some(at_ms(self.created_ms)), self.finished_ms.map(at_ms))
    }
}

impl Browse for InMemoryStore {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        let state = self.read();
        let mut tasks: Vec<TaskSummary> = state
            .tasks
            .iter()
            .filter(|(_, runs)| !runs.runs.is_empty())
            .map(|(name, runs)| TaskSummary::new(name.clone(), runs.runs.len() as u64))
            .collect();
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tasks)
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        let state = self.read();
        let mut runs: Vec<RunSummary> = state.tasks.get(task).map_or_else(Vec::new, |t| {
            t.runs
                .values()
                .filter_map(|key| state.runs.get(key))
                .map(|record| record.summary(task))
                .collect()
        });
        sort_runs(&mut runs);
        Ok(runs)
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let run = RunId::new(task.clone(), config.clone());
        let state = self.read();
        Ok(state.lookup_record(&run).map(|record| record.summary(task)))
    }
}

type Publish = Box<dyn FnOnce(Vec<u8>) -> Result<()> + Send>;

/// A writable in-memory file: a buffer published to the store on commit.
struct MemFile {
    cursor: Cursor<Vec<u8>>,
    publish: Publish,
}

impl Read for MemFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.cursor.read(buf)
    }
}

impl Write for MemFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.cursor.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for MemFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.cursor.seek(pos)
    }
}

impl FileBackend for MemFile {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.cursor.get_mut().resize(len, 0);
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let MemFile { cursor, publish } = *self;
        publish(cursor.into_inner())
    }
}
