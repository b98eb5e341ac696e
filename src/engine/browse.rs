//! [`Browse`] for [`RedbStore`]: listings read from one redb read transaction each, through
//! the `task_runs` index, so they see one consistent snapshot and never wait for the actor.
//!
//! Invariants: nothing here writes; `find_run` resolves through [`Reader::lookup`], the same
//! lookup rule loads use; a damaged record is reported as [`Error::CorruptRecord`], not
//! skipped. A run whose config is past the limits of `limits.rs` (stored by an earlier
//! version) is left out of `runs` with a warning; `verify` reports it. Results carry the
//! `sub_dir` they were saved with, runs the directory name and absent state a copy from a
//! fluidml tree recorded (`docs/design.md` §9).

use std::collections::BTreeMap;

use redb::ReadableTable;

use crate::browse::{Browse, ResultSummary, RunSummary, TaskSummary, sort_runs};
use crate::config::UniqueConfig;
use crate::engine::handle::RedbStore;
use crate::engine::ops;
use crate::engine::reader::Reader;
use crate::engine::tables::RunRecord;
use crate::error::{Error, Result};
use crate::key::RunKey;
use crate::names::{ResultName, RunName, SubDir, TaskName};
use crate::run::RunId;

/// Reads the summary of run `key`, or `None` if it does not exist.
pub(crate) fn run_summary(reader: &Reader, key: &RunKey) -> Result<Option<RunSummary>> {
    let Some(record) = ops::get_run(reader.runs()?, key)? else {
        return Ok(None);
    };
    let config = ops::parse_config(key, &record.config)?;
    summarize(reader, key, record, config).map(Some)
}

/// The summary of run `key`, whose record and config were read.
fn summarize(
    reader: &Reader,
    key: &RunKey,
    record: RunRecord,
    config: UniqueConfig,
) -> Result<RunSummary> {
    let task = TaskName::new(&record.task).map_err(|e| corrupt(key, "task name", &e))?;
    let mut results = Vec::new();
    for (name, entry) in ops::run_results(reader.results()?, key)? {
        let name = ResultName::new(&name).map_err(|e| corrupt(key, "result name", &e))?;
        let sub_dir = entry.sub_dir.as_deref().map(SubDir::new).transpose();
        results.push(ResultSummary::new(
            name,
            entry.type_name,
            entry.size,
            Some(entry.hash),
            sub_dir.map_err(|e| corrupt(key, "sub_dir", &e))?,
        ));
    }
    let dir_name = record
        .tree
        .dir_name
        .as_deref()
        .map(RunName::new)
        .transpose();
    let dir_name = dir_name.map_err(|e| corrupt(key, "directory name", &e))?;
    let (created, finished) = reader.run_times(key)?.system_times();
    Ok(RunSummary::new(task, config, record.state(), results)
        .with_times(created, finished)
        .with_dir_name(dir_name))
}

fn corrupt(key: &RunKey, what: &str, error: &Error) -> Error {
    Error::CorruptRecord {
        what: format!("{what} in run {key}"),
        reason: error.to_string(),
    }
}

/// Every `task_runs` entry counted by task.
pub(crate) fn task_counts(
    index: &impl ReadableTable<(&'static str, u64), &'static [u8; 32]>,
) -> Result<BTreeMap<String, u64>> {
    let scan = |e| Error::storage("scan the run index", e);
    let mut counts = BTreeMap::new();
    for row in index.iter().map_err(scan)? {
        let (k, _) = row.map_err(scan)?;
        *counts.entry(k.value().0.to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}

impl Browse for RedbStore {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        let reader = self.reader()?;
        task_counts(reader.task_runs()?)?
            .into_iter()
            .map(|(name, runs)| {
                let name = TaskName::new(&name).map_err(|e| Error::CorruptRecord {
                    what: "task name in the run index".to_owned(),
                    reason: e.to_string(),
                })?;
                Ok(TaskSummary::new(name, runs))
            })
            .collect()
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        let reader = self.reader()?;
        let mut runs = Vec::new();
        for (_, key) in ops::task_runs(reader.task_runs()?, task.as_str())? {
            // The index and `runs` are written in one transaction; a missing run is damage.
            let record =
                ops::get_run(reader.runs()?, &key)?.ok_or_else(|| Error::CorruptRecord {
                    what: format!("run index of task `{task}`"),
                    reason: format!("it names run {key}, which does not exist"),
                })?;
            // A run whose config is past the limits is left out (`verify` names it).
            if let Some(config) = ops::parse_listed_config(&key, &record.config)? {
                runs.push(summarize(&reader, &key, record, config)?);
            }
        }
        sort_runs(&mut runs);
        Ok(runs)
    }

    fn find_exact_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        // One `runs` get: no subset scan of the task (a copy asks this for every run).
        let reader = self.reader()?;
        run_summary(&reader, &RunKey::new(task, config))
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let reader = self.reader()?;
        match reader.lookup(&RunId::new(task.clone(), config.clone()))? {
            Some(key) => run_summary(&reader, &key),
            None => Ok(None),
        }
    }
}
