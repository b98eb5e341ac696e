//! Reading a task's runs for a [`Table`]: each run's summary and, when asked, one json result
//! of each run, from any store the CLI reaches (direct, served, LocalFileStore, fluidml tree).
//!
//! Invariants: only reads; a damaged or non-json result of one run is recorded on that run
//! ([`LoadedRun::result`] holds the reason) and never stops the others; results are loaded
//! only when a caller needs their columns ([`filtered`] loads them only for a filter that
//! names no config or run column exactly).

use serde_json::Value;
use sweepstore::{JSON, ResultName, RunId, RunSummary, TaskName};

use super::table::LoadedRun;
use super::{Filter, QueryError, Table};
use crate::cli::CliError;
use crate::cli::store::Reachable;

/// Every run of `task` (store order), each with its result `result` if that is `Some`.
///
/// # Errors
/// Backend errors listing the runs (a damaged value is not one: see [`LoadedRun::result`]).
pub fn runs(
    store: &dyn Reachable,
    task: &TaskName,
    result: Option<&ResultName>,
) -> Result<Vec<LoadedRun>, sweepstore::Error> {
    let summaries = store.runs(task)?;
    Ok(summaries
        .into_iter()
        .map(|run| {
            let result = result.and_then(|name| json_result(store, &run, name));
            LoadedRun { run, result }
        })
        .collect())
}

/// The json result `name` of `run`, if it has one (`Err` says why it cannot be read).
pub fn json_result(
    store: &dyn Reachable,
    run: &RunSummary,
    name: &ResultName,
) -> Option<Result<Value, String>> {
    let summary = run.result(name.as_str())?;
    if summary.type_name != JSON {
        return Some(Err(format!(
            "result `{name}` is of type `{}`, not json",
            summary.type_name
        )));
    }
    let id = RunId::new(run.task.clone(), run.config.clone());
    Some(match store.load_bytes(&id, name) {
        Ok(Some((_, bytes))) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("result `{name}` is not valid json: {e}")),
        Ok(None) => Err(format!("result `{name}` vanished while it was read")),
        Err(e) => Err(format!("result `{name}` cannot be read: {e}")),
    })
}

/// The table of `task`'s runs with result columns from `result` (loaded if `with_result`).
///
/// # Errors
/// Backend errors; a `result` that is no valid result name.
pub fn table(
    store: &dyn Reachable,
    task: &TaskName,
    result: &str,
    with_result: bool,
) -> Result<Table, CliError> {
    let name = ResultName::new(result)?;
    let loaded = runs(store, task, with_result.then_some(&name))?;
    Ok(Table::new(loaded, result))
}

/// The table of `task`'s runs that pass every filter; results (`result`) are loaded only if
/// some filter's key is not exactly a config or run column.
///
/// # Errors
/// Backend errors; [`super::QueryError`] for a filter key that names no column.
pub fn filtered(
    store: &dyn Reachable,
    task: &TaskName,
    result: &str,
    filters: &[Filter],
) -> Result<Table, CliError> {
    let bare = table(store, task, result, false)?;
    let exact = filters
        .iter()
        .all(|f| bare.columns().iter().any(|c| c.name == f.key()));
    let mut table = if exact {
        bare
    } else {
        table(store, task, result, true)?
    };
    table.retain(filters)?;
    Ok(table)
}

/// [`filtered`] over several tasks, for commands that span a store: a filter key that names
/// no column of one task matches none of its runs (tasks differ in their keys), and is an
/// error only if it names no column of any of them.
///
/// # Errors
/// Backend errors; the [`super::QueryError`] of the first task if no task knows every key.
pub fn filtered_tasks(
    store: &dyn Reachable,
    tasks: &[TaskName],
    result: &str,
    filters: &[Filter],
) -> Result<Vec<Table>, CliError> {
    let (mut tables, mut unknown) = (Vec::new(), None);
    for task in tasks {
        match filtered(store, task, result, filters) {
            Ok(table) => tables.push(table),
            Err(e) if matches!(e.downcast_ref(), Some(QueryError::UnknownColumn { .. })) => {
                unknown.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match unknown {
        Some(e) if tables.is_empty() => Err(e),
        _ => Ok(tables),
    }
}
