//! [`Browse`] for [`MongoStore`]: tasks and runs from queries on the run documents, a run
//! found by the store's own lookup (`lookup.rs`), so the CLI works on a MongoDB store.
//!
//! Invariants: nothing here writes; every document read is checked by `parse_run` (a
//! damaged one is an error, or its own `Err` item in [`Browse::runs_each`]); a result's
//! hash and size are those its entry records (browsing reads no content); listings are
//! sorted as the trait promises, whatever order the server returns.

use std::collections::BTreeMap;

use mongodb::bson::doc;

use crate::browse::{Browse, ResultSummary, RunSummary, TaskSummary, sort_runs};
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::mongo::client::Shared;
use crate::mongo::documents::{Results, RunDoc, parse_run, projection};
use crate::mongo::lookup::{exact, lookup};
use crate::mongo::store::MongoStore;
use crate::names::TaskName;
use crate::run::RunId;

/// The summary of a parsed run document.
fn summary(run: RunDoc) -> RunSummary {
    let results = run
        .results
        .into_iter()
        .map(|(name, entry)| {
            ResultSummary::new(name, entry.type_name, entry.size, Some(entry.hash), None)
        })
        .collect();
    RunSummary::new(run.task, run.config, Some(run.state), results)
        .with_times(run.created, run.finished)
}

/// Every run document of `task`, each parsed (or its own error).
fn scan(shared: &Shared, task: &TaskName) -> Result<Vec<Result<RunSummary>>> {
    let cursor = shared
        .runs
        .find(doc! { "task": task.as_str() })
        .projection(projection(Results::All))
        .run()
        .map_err(shared.err("list the runs of a task"))?;
    let mut runs = Vec::new();
    for doc in cursor {
        let doc = doc.map_err(shared.err("list the runs of a task"))?;
        runs.push(parse_run(&doc, &shared.namespace).map(summary));
    }
    Ok(runs)
}

impl Browse for MongoStore {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        let shared = self.shared();
        let cursor = shared
            .runs
            .find(doc! {})
            .projection(doc! { "task": 1 })
            .run()
            .map_err(shared.err("list the tasks"))?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for doc in cursor {
            let doc = doc.map_err(shared.err("list the tasks"))?;
            let task = doc.get_str("task").map_err(|_| Error::CorruptRecord {
                what: format!("run document {:?} in {}", doc.get("_id"), shared.namespace),
                reason: "`task` is missing or not a string".to_owned(),
            })?;
            *counts.entry(task.to_owned()).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(name, runs)| {
                let name = TaskName::new(&name).map_err(|e| Error::CorruptRecord {
                    what: format!("a run document of task {name:?} in {}", shared.namespace),
                    reason: format!("`task`: {e}"),
                })?;
                Ok(TaskSummary::new(name, runs))
            })
            .collect()
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        let mut runs = scan(self.shared(), task)?
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        sort_runs(&mut runs);
        Ok(runs)
    }

    fn runs_each(&self, task: &TaskName) -> Result<Vec<Result<RunSummary>>> {
        let mut runs = scan(self.shared(), task)?;
        runs.sort_by_key(|run| run.as_ref().ok().map(|run| run.key));
        Ok(runs)
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let run = RunId::new(task.clone(), config.clone());
        Ok(lookup(self.shared(), &run, Results::All)?.map(summary))
    }

    fn find_exact_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let run = RunId::new(task.clone(), config.clone());
        Ok(exact(self.shared(), &run, Results::All)?.map(summary))
    }
}
