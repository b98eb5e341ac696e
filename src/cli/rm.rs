//! `sweepstore rm STORE TASK (--config JSON | --run PREFIX) [NAME] [--yes]`: removes one run
//! with all its results, or one result of it.
//!
//! Invariants: nothing is removed without a yes — typed at the prompt when stdin is a
//! terminal, or `--yes`; without either the command refuses and changes nothing; the run is
//! removed by its exact config (never another run the lookup rule could pick); what was
//! removed is printed; content stays on disk until `sweepstore gc` frees what nothing
//! references.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use sweepstore::{RedbOptions, ResultName, RunId};

use super::error::CommandError;
use super::render::size;
use super::select::{RunSelector, known_task, no_result};
use super::store::{Access, open_existing_with};
use super::{CliError, Out, Status};

/// Remove a run (with all its results) or one result of it.
///
/// Asks first when stdin is a terminal; elsewhere pass --yes. `sweepstore gc` then frees the
/// content nothing references any more.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    store: PathBuf,
    /// The task, e.g. `train`.
    task: String,
    #[command(flatten)]
    select: RunSelector,
    /// Remove only this result of the run (default: the whole run).
    name: Option<String>,
    /// Remove without asking.
    #[arg(long, short)]
    yes: bool,
}

pub fn run(args: &RmArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let opened = open_existing_with(&args.store, RedbOptions::default(), Access::Write)?;
    let store = opened.get();
    let task = known_task(store, &args.task)?;
    let found = args.select.find(store, &task)?;
    let short = &found.key.to_hex()[..12];
    let what = match &args.name {
        Some(name) => {
            let Some(result) = found.result(name) else {
                return Err(no_result(&found, name).into());
            };
            format!(
                "result `{name}` ({}, {}) of run {short} of task `{task}`",
                result.type_name,
                size(result.size)
            )
        }
        None => format!(
            "run {short} of task `{task}` (config {}, {} results)",
            found.config,
            found.results.len()
        ),
    };
    if !args.yes && !confirmed(&what)? {
        return Err(CommandError::NotConfirmed { what }.into());
    }
    let id = RunId::new(found.task.clone(), found.config.clone());
    let removed = match &args.name {
        Some(name) => store.delete(&id, &ResultName::new(name)?)?,
        None => store.delete_run(&id)?,
    };
    if removed {
        writeln!(
            out,
            "removed {what}; `sweepstore gc` frees content nothing else uses"
        )?;
    } else {
        writeln!(out, "{what} was already gone")?;
    }
    Ok(Status::Success)
}

/// Asks on stderr whether to remove `what`, if stdin is a terminal; `false` otherwise.
fn confirmed(what: &str) -> Result<bool, CliError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    eprint!("remove {what}? [y/N] ");
    io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
