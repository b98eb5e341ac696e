//! `sweepstore key TASK CONFIG`: print a config's canonical form, its run key and how the key
//! was derived, so scripts and people can find a run without a store at hand.

use std::io::Write;

use clap::Args;
use sweepstore::{RUN_KEY_CONTEXT, RunKey, TaskName, UniqueConfig};

use super::CliError;

/// Print a config's canonical form (RFC 8785) and the run key of TASK with it.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The task name, e.g. `train`.
    task: String,
    /// The unique config as a JSON object, e.g. '{"lr": 0.01, "seed": 3}'.
    config: String,
    /// Print only the run key (64 hex digits).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &KeyArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let task = TaskName::new(&args.task)?;
    let config = UniqueConfig::parse(&args.config)?;
    let key = RunKey::new(&task, &config);
    if args.quiet {
        writeln!(out, "{key}")?;
    } else {
        writeln!(out, "task:      {task}")?;
        writeln!(out, "canonical: {config}")?;
        writeln!(out, "run key:   {key}")?;
        writeln!(out, "           (blake3 derive_key {RUN_KEY_CONTEXT:?})")?;
    }
    Ok(())
}
