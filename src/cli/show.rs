//! `sweepstore show STORE TASK (--config JSON | --run PREFIX) [--json]`: one run — its key,
//! config, state, when it was created and finished (`unknown` where the store did not record
//! it), and each result's type, size and content hash.
//!
//! Invariant: the run is chosen by [`RunSelector`] (the store's lookup rule or a unique key
//! prefix); `--json` prints the same object as one element of `ls --task T --json`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use sweepstore::TaskName;

use super::render::{self, size, state_text, utc};
use super::select::RunSelector;
use super::store::open_existing;
use super::{CliError, Out, Status};

/// Show one run: config, state, and results with type, size and content hash.
///
/// The hash is blake3 of the stored bytes (`b3sum` of a file written by `get -o` agrees).
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    pub(super) store: PathBuf,
    /// The task, e.g. `train`.
    task: String,
    #[command(flatten)]
    select: RunSelector,
    /// Print JSON: {"run_key", "task", "config", "state", "results": [{"name", "type",
    /// "size", "hash", "sub_dir"}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ShowArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let task = TaskName::new(&args.task)?;
    let store = open_existing(&args.store)?;
    let run = args.select.find(store.get(), &task)?;
    if args.json {
        let value = render::run_json(&run);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Status::Success);
    }
    writeln!(out, "task:     {}", run.task)?;
    writeln!(out, "run key:  {}", run.key)?;
    writeln!(out, "config:   {}", run.config)?;
    writeln!(out, "state:    {}", state_text(run.state))?;
    let when = |time: Option<std::time::SystemTime>| time.map_or_else(|| "unknown".to_owned(), utc);
    writeln!(out, "created:  {}", when(run.created))?;
    writeln!(out, "finished: {}", when(run.finished))?;
    if run.results.is_empty() {
        writeln!(out, "results:  none")?;
        return Ok(Status::Success);
    }
    writeln!(out, "results:")?;
    let name_width = run.results.iter().map(|r| r.name.as_str().len()).max();
    let type_width = run.results.iter().map(|r| r.type_name.len()).max();
    let (nw, tw) = (name_width.unwrap_or(0), type_width.unwrap_or(0));
    for r in &run.results {
        let hash = r.hash.map_or_else(
            || "(no hash recorded)".to_owned(),
            |h| format!("blake3 {h}"),
        );
        let place = r
            .sub_dir
            .as_ref()
            .map(|d| format!("  in {d}/"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<nw$}  {:<tw$}  {:>10}  {hash}{place}",
            r.name.as_str(),
            r.type_name,
            size(r.size)
        )?;
    }
    Ok(Status::Success)
}
