//! `sweepstore ls STORE [--task T] [--where KEY=VALUE]... [--json]`: the tasks of a store with
//! their run counts, or the runs of one task with config, state and results.
//!
//! Invariants: listing never changes the store; `--where` compares values the way run keys
//! do (canonical JSON, so `--where l2=0` matches a stored `0.0`); the JSON shapes are the
//! ones documented in the README (`[{"name", "runs"}]`, and `render::run_json` per run).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};
use sweepstore::{RunSummary, TaskName, UniqueConfig};

use super::error::CommandError;
use super::render::{self, size, state_text};
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
    /// The store directory.
    store: PathBuf,
    /// List the runs of this task.
    #[arg(long, value_name = "TASK")]
    task: Option<String>,
    /// Only runs whose config has KEY equal to VALUE (a JSON value such as 0.1, true or
    /// "adam", or else taken as a string); repeat to require several.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Print JSON: tasks as [{"name", "runs"}], runs as [{"run_key", "task", "config",
    /// "state", "results"}].
    #[arg(long)]
    json: bool,
}

/// One `--where` filter: a top-level config key and the canonical form of its value.
struct Filter {
    key: String,
    canonical: String,
}

/// The canonical (RFC 8785) text of a JSON value, as run keys see it.
fn canonical(value: &Value) -> Result<String, sweepstore::Error> {
    let wrapped = UniqueConfig::new(json!({ "v": value }))?;
    Ok(wrapped.canonical().to_owned())
}

impl Filter {
    fn parse(text: &str) -> Result<Self, CliError> {
        let bad = || CommandError::BadFilter {
            filter: text.to_owned(),
        };
        let (key, value) = text.split_once('=').ok_or_else(bad)?;
        if key.is_empty() {
            return Err(bad().into());
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        let canonical = canonical(&value).map_err(|_| bad())?;
        Ok(Filter {
            key: key.to_owned(),
            canonical,
        })
    }

    fn matches(&self, config: &UniqueConfig) -> Result<bool, CliError> {
        match config.get(&self.key) {
            Some(value) => Ok(canonical(value)? == self.canonical),
            None => Ok(false),
        }
    }
}

pub fn run(args: &LsArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let filters = args
        .filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let opened = open_existing(&args.store)?;
    let store = opened.get();
    let runs_of = |task: &TaskName| -> Result<Vec<RunSummary>, CliError> {
        let mut kept = Vec::new();
        for run in store.runs(task)? {
            if all_match(&filters, &run.config)? {
                kept.push(run);
            }
        }
        Ok(kept)
    };
    match &args.task {
        Some(task) => {
            let runs = runs_of(&TaskName::new(task)?)?;
            print_runs(&runs, args.json, out)
        }
        None => {
            let mut tasks = Vec::new();
            for task in store.tasks()? {
                let runs = if filters.is_empty() {
                    task.runs
                } else {
                    runs_of(&task.name)?.len() as u64
                };
                if runs > 0 {
                    tasks.push((task.name.to_string(), runs));
                }
            }
            print_tasks(&tasks, args.json, out)
        }
    }?;
    Ok(Status::Success)
}

fn all_match(filters: &[Filter], config: &UniqueConfig) -> Result<bool, CliError> {
    for filter in filters {
        if !filter.matches(config)? {
            return Ok(false);
        }
    }
    Ok(true)
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
    writeln!(out, "({} runs)", runs.len())?;
    Ok(())
}
