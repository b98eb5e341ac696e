//! [`Reader`]: one redb read transaction that opens tables only when a lookup needs them.
//! Loads share one through [`Snapshots`](crate::engine::snapshot::Snapshots), so it is
//! `Sync`: two threads may race to open a table, and the loser's handle is dropped.
//!
//! Opening a table is itself a B-tree lookup, so a load of an exact config touches only
//! `results` and `content`; `runs` and `task_runs` are opened only when the exact run has
//! no such result and the subset rule must decide.

use std::sync::OnceLock;

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, TableDefinition};

use crate::engine::ops::{self, ContentRow};
use crate::engine::tables::{
    CONTENT, RESULTS, RUN_TIMES, RUNS, ResultEntry, RunRecord, RunTimes, TASK_RUNS,
};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::names::ResultName;
use crate::run::RunId;

type RunsTable = ReadOnlyTable<&'static [u8; 32], &'static [u8]>;
type ResultsTable = ReadOnlyTable<(&'static [u8; 32], &'static str), &'static [u8]>;
type TaskRunsTable = ReadOnlyTable<(&'static str, u64), &'static [u8; 32]>;
type RunTimesTable = ReadOnlyTable<&'static [u8; 32], [u8; 16]>;

/// A read transaction with lazily opened tables.
pub(crate) struct Reader {
    txn: ReadTransaction,
    runs: OnceLock<RunsTable>,
    results: OnceLock<ResultsTable>,
    task_runs: OnceLock<TaskRunsTable>,
    content: OnceLock<RunsTable>,
    run_times: OnceLock<RunTimesTable>,
}

fn open<'a, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    cell: &'a OnceLock<ReadOnlyTable<K, V>>,
    def: TableDefinition<K, V>,
) -> Result<&'a ReadOnlyTable<K, V>> {
    if let Some(table) = cell.get() {
        return Ok(table);
    }
    let table = txn
        .open_table(def)
        .map_err(|e| Error::storage("open a table", e))?;
    Ok(cell.get_or_init(|| table))
}

impl Reader {
    /// Begins a read transaction (a snapshot of everything committed so far).
    pub(crate) fn begin(db: &Database) -> Result<Self> {
        let txn = db
            .begin_read()
            .map_err(|e| Error::storage("begin a read transaction", e))?;
        Ok(Reader {
            txn,
            runs: OnceLock::new(),
            results: OnceLock::new(),
            task_runs: OnceLock::new(),
            content: OnceLock::new(),
            run_times: OnceLock::new(),
        })
    }

    pub(crate) fn runs(&self) -> Result<&RunsTable> {
        open(&self.txn, &self.runs, RUNS)
    }

    pub(crate) fn results(&self) -> Result<&ResultsTable> {
        open(&self.txn, &self.results, RESULTS)
    }

    pub(crate) fn task_runs(&self) -> Result<&TaskRunsTable> {
        open(&self.txn, &self.task_runs, TASK_RUNS)
    }

    /// The lookup rule's run.
    pub(crate) fn lookup(&self, run: &RunId) -> Result<Option<RunKey>> {
        ops::lookup(self.runs()?, self.task_runs()?, run)
    }

    /// The looked-up run's record.
    pub(crate) fn lookup_run(&self, run: &RunId) -> Result<Option<RunRecord>> {
        match self.lookup(run)? {
            Some(key) => ops::get_run(self.runs()?, &key),
            None => Ok(None),
        }
    }

    /// Result `name` of the looked-up run. An exact hit reads only `results`.
    pub(crate) fn lookup_result(
        &self,
        run: &RunId,
        name: &ResultName,
    ) -> Result<Option<ResultEntry>> {
        let results = self.results()?;
        if let Some(entry) = ops::get_result(results, &run.key(), name.as_str())? {
            return Ok(Some(entry));
        }
        match self.lookup(run)? {
            // The exact run exists without this name: the lookup rule stops there.
            Some(key) if key == run.key() => Ok(None),
            Some(key) => ops::get_result(results, &key, name.as_str()),
            None => Ok(None),
        }
    }

    /// The recorded times of run `key`.
    pub(crate) fn run_times(&self, key: &RunKey) -> Result<RunTimes> {
        ops::get_run_times(open(&self.txn, &self.run_times, RUN_TIMES)?, key)
    }

    /// A content row.
    pub(crate) fn content(&self, hash: &ContentHash) -> Result<Option<ContentRow>> {
        ops::get_content(open(&self.txn, &self.content, CONTENT)?, hash)
    }
}
