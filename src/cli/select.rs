//! Choosing one run of a task on the command line: `--config '<json>'` (the store's lookup
//! rule: the exact config, else the most specific stored subset) or `--run <prefix>` (a
//! unique prefix of its run key).
//!
//! Invariant: exactly one run is returned, or an error that says which selection failed and
//! how (no match, or every match of an ambiguous prefix).

use clap::Args;
use sweepstore::{Browse, RunSummary, TaskName, UniqueConfig};

use super::CliError;
use super::error::CommandError;

/// Digits of each run key shown when a prefix is ambiguous.
const SHOWN_DIGITS: usize = 12;
/// Run keys shown when a prefix is ambiguous.
const SHOWN_RUNS: usize = 8;

/// `name` as a task of `store`.
///
/// # Errors
/// An invalid task name; [`CommandError::UnknownTask`] (listing the tasks) if the store has
/// no run of it.
pub fn known_task(store: &dyn Browse, name: &str) -> Result<TaskName, CliError> {
    let task = TaskName::new(name)?;
    let tasks = store.tasks()?;
    if tasks.iter().any(|t| t.name == task) {
        return Ok(task);
    }
    Err(CommandError::UnknownTask {
        task: name.to_owned(),
        known: tasks.iter().map(|t| t.name.to_string()).collect(),
    }
    .into())
}

/// Which run: by config or by run key prefix (exactly one of them).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RunSelector {
    /// The run whose config is this JSON object, or (as loads do) the stored run whose config
    /// is the most specific subset of it, e.g. '{"lr": 0.1, "l2": 0.01, "seed": 3}'.
    #[arg(long, value_name = "JSON")]
    config: Option<String>,
    /// The run whose run key starts with these hexadecimal digits (as `ls` prints them).
    #[arg(long = "run", value_name = "PREFIX")]
    run_prefix: Option<String>,
}

impl RunSelector {
    /// The one run of `task` in `store` this selection names.
    pub fn find(&self, store: &dyn Browse, task: &TaskName) -> Result<RunSummary, CliError> {
        match &self.config {
            Some(text) => by_config(store, task, text),
            None => by_prefix(store, task, self.run_prefix.as_deref().unwrap_or_default()),
        }
    }
}

/// The one run that `text` names: a JSON config (if it starts with `{`) or a run key prefix.
pub fn by_text(store: &dyn Browse, task: &TaskName, text: &str) -> Result<RunSummary, CliError> {
    if text.trim_start().starts_with('{') {
        by_config(store, task, text)
    } else {
        by_prefix(store, task, text)
    }
}

fn no_run(task: &TaskName, selection: String) -> CommandError {
    CommandError::NoRun {
        task: task.to_string(),
        selection,
    }
}

/// The run the store's lookup rule picks for the config `text`.
fn by_config(store: &dyn Browse, task: &TaskName, text: &str) -> Result<RunSummary, CliError> {
    let config = UniqueConfig::parse(text).map_err(|e| CommandError::BadConfig {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    let found = store.find_run(task, &config)?.ok_or_else(|| {
        no_run(
            task,
            format!(
                "has config {config} or a subset of it (a config with only some of a run's \
                 keys matches nothing: find runs by some keys with `--where KEY=VALUE`)"
            ),
        )
    })?;
    if found.config != config {
        // Not exact: say so on stderr, so stdout stays the command's output.
        eprintln!(
            "sweepstore: note: no run has exactly config {config}; using run {} whose config {} \
             is the most specific subset of it",
            &found.key.to_hex()[..SHOWN_DIGITS],
            found.config
        );
    }
    Ok(found)
}

/// The one run whose key starts with `prefix`.
fn by_prefix(store: &dyn Browse, task: &TaskName, prefix: &str) -> Result<RunSummary, CliError> {
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CommandError::BadPrefix {
            prefix: prefix.to_owned(),
        }
        .into());
    }
    let mut runs = store.runs_by_key_prefix(task, prefix)?;
    match runs.len() {
        0 => Err(no_run(task, format!("has a run key starting with {prefix}")).into()),
        1 => Ok(runs.remove(0)),
        _ => Err(CommandError::AmbiguousPrefix {
            task: task.to_string(),
            prefix: prefix.to_owned(),
            count: runs.len() as u64,
            shown: runs
                .iter()
                .take(SHOWN_RUNS)
                .map(|r| r.key.to_hex()[..SHOWN_DIGITS].to_owned())
                .collect(),
        }
        .into()),
    }
}

/// The error for a result `name` that `run` does not have, listing the ones it has.
pub fn no_result(run: &RunSummary, name: &str) -> CommandError {
    let names: Vec<&str> = run.results.iter().map(|r| r.name.as_str()).collect();
    CommandError::NoResult {
        task: run.task.to_string(),
        run: run.key.to_hex(),
        name: name.to_owned(),
        available: if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(", ")
        },
    }
}
