//! `sweepstore ls STORE [--task T] [--where KEY OP VALUE]... [--state S] [--json]`: the tasks
//! of a store with their run counts, or the runs of one task with config, state and results.
//!
//! Invariants: listing never changes the store; filters are the query core's (`query`), so
//! `--where l2=0` matches a stored `0.0` as run keys do, and a filter on a result field
//! loads that result; an unknown `--task` is an error listing the tasks; the JSON shapes are
//! the ones documented in the README (`[{"name", "runs"}]`, and `render::run_json` per run).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};
use sweepstore::{RunSummary, TaskName};

use super::filters::FilterArgs;
use super::query::load;
use super::render::{self, size, state_text};
use super::select::known_task;
use super::store::open_existing;
use super::{CliError, Out, Status};

/// Digits of the run key shown in the table (`show --run` takes any unique prefix).
const KEY_DIGITS: usize = 12;

/// List the tasks of a store with their run counts, or the runs of one task.
///
/// With --task: each run's key, state, config and results (name, type, size), sorted by run
/// key.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// List the runs of this task.
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Print JSON: tasks as [{"name", "runs"}], runs as [{"run_key", "task", "config",
    /// "state", "results"}].
    #[arg(long)]
    json: bool,
}

pub fn run(args: &LsArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let filters = args.filter.parse()?;
    let opened = open_existing(&args.store)?;
    let store = opened.get();
    let runs_of = |task: &TaskName| -> Result<Vec<RunSummary>, CliError> {
        let table = load::filtered(store, task, &args.filter.result, &filters)?;
        Ok(table.rows().iter().map(|row| row.run.clone()).collect())
    };
    match &args.task {
        Some(task) => {
            let runs = runs_of(&known_task(store, task)?)?;
            print_runs(&runs, args.json, out)
        }
        None => {
            let all = store.tasks()?;
            let tasks: Vec<(String, u64)> = if args.filter.any() {
                let names: Vec<TaskName> = all.into_iter().map(|t| t.name).collect();
                load::filtered_tasks(store, &names, &args.filter.result, &filters)?
                    .iter()
                    .filter_map(|table| {
                        let first = table.rows().first()?;
                        Some((first.run.task.to_string(), table.rows().len() as u64))
                    })
                    .collect()
            } else {
                all.into_iter()
                    .map(|t| (t.name.to_string(), t.runs))
                    .collect()
            };
            print_tasks(&tasks, args.json, out)
        }
    }?;
    Ok(Status::Success)
}

fn print_tasks(tasks: &[(String, u64)], as_json: bool, out: &mut Out<'_>) -> Result<(), CliError> {
    if as_json {
        let list: Vec<Value> = tasks
            .iter()
            .map(|(name, runs)| json!({ "name": name, "runs": runs }))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    if tasks.is_empty() {
        writeln!(out, "no runs")?;
        return Ok(());
    }
    let width = tasks.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(4);
    writeln!(out, "{:<width$}  RUNS", "TASK")?;
    for (name, runs) in tasks {
        writeln!(out, "{name:<width$}  {runs:>4}")?;
    }
    Ok(())
}

fn print_runs(runs: &[RunSummary], as_json: bool, out: &mut Out<'_>) -> Result<(), CliError> {
    if as_json {
        let list: Vec<Value> = runs.iter().map(render::run_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    if runs.is_empty() {
        writeln!(out, "no runs")?;
        return Ok(());
    }
    let configs: Vec<String> = runs.iter().map(|r| r.config.to_string()).collect();
    let width = configs.iter().map(String::len).max().unwrap_or(0).max(6);
    writeln!(
        out,
        "{:<KEY_DIGITS$}  STATE     {:<width$}  RESULTS",
        "RUN", "CONFIG"
    )?;
    for (run, config) in runs.iter().zip(&configs) {
        let results: Vec<String> = run
            .results
            .iter()
            .map(|r| format!("{} ({}, {})", r.name, r.type_name, size(r.size)))
            .collect();
        writeln!(
            out,
            "{}  {:<8}  {config:<width$}  {}",
            &run.key.to_hex()[..KEY_DIGITS],
            state_text(run.state),
            results.join(", ")
        )?;
    }
    if runs.len() == 1 {
        writeln!(out, "(1 run)")?;
    } else {
        writeln!(out, "({} runs)", runs.len())?;
    }
    Ok(())
}
