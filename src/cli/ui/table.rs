//! `/api/table`: a task's runs as the params × metrics table, built by the query core
//! (`cli::query`, the same one as `sweepstore table`): its filter language, column names,
//! numeric-aware sort and constant-column rule. This file only maps query parameters onto it
//! and the table onto the JSON the page renders.
//!
//! Query: `task` (required), `result` (the json result whose fields are columns; default
//! `metrics`), `where` (filters as `table --where` takes them, several separated by spaces;
//! a quoted JSON string may hold spaces), `state`, `sort` (`[-]COLUMN`), `columns` (names,
//! comma-separated; default: every varying column).
//!
//! Answer: `{"task", "result", "total", "matched", "sorted": {"column", "descending"} | null,
//! "columns": [{"name", "group": "run"|"config"|"result", "numeric"}], "all_columns": [name],
//! "constant": [{"name", "value"}], "rows": [{"run_key", "cells", "problem"}],
//! "rows_in_run_order": [row index], "times_known"}` (`times_known`: some run has a recorded
//! creation time; else the run order is the store's); a filter, sort or column the core
//! rejects is a 400 with `{"error"}` (its message names the problem and the columns).
//!
//! Invariant: every row of the filtered table is sent (the page shows the first rows and
//! plots all), so the plots never disagree with the filter.

use serde_json::{Value, json};
use sweepstore::{Error, TaskName};

use super::http::{Request, Response};
use crate::cli::CliError;
use crate::cli::query::{Filter, QueryError, SortKey, Source, Table, load};
use crate::cli::store::Reachable;

/// The result whose fields are columns unless `result=` names another.
const DEFAULT_RESULT: &str = "metrics";

/// The answer to `/api/table?…`.
///
/// # Errors
/// Backend errors reading the runs (bad requests are answered, not errors).
pub fn respond(store: &dyn Reachable, request: &Request) -> Result<Response, Error> {
    let task = request.param("task").unwrap_or_default();
    let Ok(task) = TaskName::new(task) else {
        return Ok(refuse(404, &format!("no task `{task}`")));
    };
    match build(store, &task, request) {
        Ok(value) => Ok(Response::json(&value)),
        Err(e) => match e.downcast::<Error>() {
            Ok(backend) => Err(*backend),
            Err(usage) => Ok(refuse(400, &usage.to_string())),
        },
    }
}

fn refuse(status: u16, message: &str) -> Response {
    let mut response = Response::json(&json!({ "error": message }));
    response.status = status;
    response
}

/// Splits the filter box into filters at spaces outside double quotes.
fn split_filters(text: &str) -> Vec<String> {
    let (mut parts, mut current, mut quoted) = (Vec::new(), String::new(), false);
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

fn build(store: &dyn Reachable, task: &TaskName, request: &Request) -> Result<Value, CliError> {
    let result = request
        .param("result")
        .filter(|r| !r.is_empty())
        .unwrap_or(DEFAULT_RESULT);
    let mut filters = split_filters(request.param("where").unwrap_or_default())
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, QueryError>>()?;
    if let Some(state) = request.param("state").filter(|s| !s.is_empty()) {
        filters.push(Filter::parse(&format!("state={state}"))?);
    }
    let mut table = load::table(store, task, result, true)?;
    let total = table.rows().len();
    table.retain(&filters)?;
    let sorted = match request.param("sort").filter(|s| !s.is_empty()) {
        Some(text) => {
            let key = SortKey::parse(text);
            let at = table.resolve(&key.name)?;
            table.sort(std::slice::from_ref(&key))?;
            json!({ "column": table.columns()[at].name, "descending": key.descending })
        }
        None => Value::Null,
    };
    let shown = shown_columns(&table, request.param("columns"))?;
    Ok(json!({
        "task": task.as_str(),
        "result": result,
        "total": total,
        "matched": table.rows().len(),
        "sorted": sorted,
        "columns": shown.iter().map(|&at| column_json(&table, at)).collect::<Vec<_>>(),
        "all_columns": table.columns().iter().skip(1).map(|c| c.name.as_str()).collect::<Vec<_>>(),
        "constant": (1..table.columns().len())
            .filter(|&at| table.is_constant(at) && table.rows()[0].cells[at].is_some())
            .map(|at| json!({
                "name": table.columns()[at].name,
                "value": table.rows()[0].cells[at],
            }))
            .collect::<Vec<_>>(),
        "rows": table.rows().iter().map(|row| json!({
            "run_key": row.run.key.to_hex(),
            "cells": shown.iter().map(|&at| &row.cells[at]).collect::<Vec<_>>(),
            "problem": row.problem,
        })).collect::<Vec<_>>(),
        "rows_in_run_order": run_order(&table),
        "times_known": table.rows().iter().any(|row| row.run.created.is_some()),
    }))
}

/// The columns to send: those named in `columns`, else every varying one (never `run`,
/// which every row carries as its key).
fn shown_columns(table: &Table, columns: Option<&str>) -> Result<Vec<usize>, QueryError> {
    match columns.filter(|c| !c.is_empty()) {
        Some(names) => {
            let names: Vec<String> = names.split(',').map(str::to_owned).collect();
            Ok(table
                .select(&names)?
                .into_iter()
                .filter(|&at| at != 0)
                .collect())
        }
        None => Ok((1..table.columns().len())
            .filter(|&at| !table.is_constant(at))
            .filter(|&at| table.rows().iter().any(|row| row.cells[at].is_some()))
            .collect()),
    }
}

fn column_json(table: &Table, at: usize) -> Value {
    let column = &table.columns()[at];
    let group = match column.source {
        Source::Run => "run",
        Source::Config => "config",
        Source::Result => "result",
    };
    let mut cells = table.rows().iter().filter_map(|row| row.cells[at].as_ref());
    let numeric = cells.clone().next().is_some() && cells.all(Value::is_number);
    json!({ "name": column.name, "group": group, "numeric": numeric })
}

/// Row indices in the order the runs were created (runs without a recorded time last, by
/// run key as the store lists them), for the "metric over runs" plot.
fn run_order(table: &Table) -> Vec<usize> {
    let mut order: Vec<usize> = (0..table.rows().len()).collect();
    order.sort_by_key(|&i| {
        let run = &table.rows()[i].run;
        (run.created.is_none(), run.created, run.key)
    });
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_box_splits_at_spaces_outside_quotes() {
        let parts = split_filters(r#" lr>=0.01  name="a b"   opt=adam,sgd "#);
        assert_eq!(parts, ["lr>=0.01", r#"name="a b""#, "opt=adam,sgd"]);
        assert!(split_filters("   ").is_empty());
    }
}
