//! Command-line parsing (clap derive; doc comments are the help text) and dispatch; one file
//! (or folder) per subcommand.
//!
//! Adding a subcommand: one file with its `Args` struct and a `run(args, out)` function, one
//! variant in [`Command`] and one arm in [`Cli::run`].
//!
//! Exit codes (see `main`): 0 success, 1 an error (printed once to stderr as a chain of
//! causes), 2 bad usage (clap's, or [`is_usage_error`]), 3 `verify` found problems. A write to a closed pipe ends the
//! command quietly with 0.

use std::io::{self, Write};

use clap::{Parser, Subcommand};

use panic_guard::contain;

mod completions;
mod count;
mod demo;
mod diff;
mod error;
mod export;
mod filters;
mod gc;
mod get;
mod import;
mod key;
pub mod logging;
mod ls;
mod mongo_store;
mod panic_guard;
mod progress;
pub mod query;
mod render;
mod rm;
mod select;
mod serve;
mod show;
mod stats;
mod store;
mod table;
mod transfer;
mod ui;
mod verify;

pub use error::CliError;

/// Store and browse the results of machine-learning experiments and hyper-parameter sweeps.
///
/// Start with `sweepstore demo`: a real sweep into a store in the current directory, which
/// the other subcommands then list, show, check and copy.
#[derive(Debug, Parser)]
#[command(name = "sweepstore", version, about, long_about)]
pub struct Cli {
    /// Log more to stderr: -v info, -vv debug, -vvv trace (RUST_LOG, if set, wins).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Demo(demo::DemoArgs),
    Ls(ls::LsArgs),
    Show(show::ShowArgs),
    Get(get::GetArgs),
    Table(table::TableArgs),
    Diff(diff::DiffArgs),
    Rm(rm::RmArgs),
    Verify(verify::VerifyArgs),
    Gc(gc::GcArgs),
    Stats(stats::StatsArgs),
    Export(export::ExportArgs),
    Import(import::ImportArgs),
    Key(key::KeyArgs),
    Completions(completions::CompletionsArgs),
    Serve(serve::ServeArgs),
    Ui(ui::UiArgs),
    /// One worker process of `demo --processes` (started by the demo, not by hand).
    #[command(hide = true)]
    DemoWorker(demo::WorkerArgs),
}

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything as asked.
    Success,
    /// The command ran, and found problems it reported (`verify`).
    ProblemsFound,
    /// Ctrl-C stopped the command cleanly, and it said how far it came (`demo`).
    Interrupted,
}

impl Status {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::ProblemsFound => 3,
            Status::Interrupted => 130,
        }
    }
}

/// Where a subcommand writes its output (stdout), and whether that is a terminal (for
/// progress bars, and to refuse dumping binary data on one).
pub struct Out<'a> {
    /// The output stream.
    pub writer: &'a mut dyn Write,
    /// Whether it is a terminal.
    pub is_terminal: bool,
}

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Cli {
    /// Runs the chosen subcommand, writing its output to `out`.
    pub fn run(&self, out: &mut Out<'_>) -> Result<Status, CliError> {
        match &self.command {
            Command::Demo(args) => demo::run(args, out),
            Command::Ls(args) => contain(&args.store, || ls::run(args, out)),
            Command::Show(args) => contain(&args.store, || show::run(args, out)),
            Command::Get(args) => contain(&args.store, || get::run(args, out)),
            Command::Table(args) => contain(&args.store, || table::run(args, out)),
            Command::Diff(args) => contain(&args.store, || diff::run(args, out)),
            Command::Rm(args) => rm::run(args, out),
            Command::Verify(args) => verify::run(args, out),
            Command::Gc(args) => gc::run(args, out),
            Command::Stats(args) => contain(&args.store, || stats::run(args, out)),
            Command::Export(args) => contain(&args.store, || export::run(args, out)),
            Command::Import(args) => import::run(args, out),
            Command::Key(args) => key::run(args, out).map(|()| Status::Success),
            Command::Completions(args) => completions::run(args, out),
            Command::Serve(args) => serve::run(args, out).map(|()| Status::Success),
            Command::Ui(args) => ui::run(args, out),
            Command::DemoWorker(args) => demo::run_worker(args, out),
        }
    }
}

/// Whether `err` is bad usage (exit 2, as clap's own): a filter, column, config or run key
/// prefix that cannot be used as given.
pub fn is_usage_error(err: &CliError) -> bool {
    err.is::<query::QueryError>()
        || matches!(
            err.downcast_ref::<error::CommandError>(),
            Some(error::CommandError::BadPrefix { .. } | error::CommandError::BadConfig { .. })
        )
}

/// Whether `err` is a write to a closed pipe (`sweepstore ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &CliError) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Prints `err` once to `to`: its message, then each cause that the message above it does not
/// already include (many errors quote their source in their own message).
pub fn report_error(err: &CliError, to: &mut dyn Write) -> io::Result<()> {
    let mut shown = err.to_string();
    writeln!(to, "sweepstore: {shown}")?;
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !shown.contains(&text) {
            writeln!(to, "  caused by: {text}")?;
            shown = text;
        }
        source = cause.source();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_cause_already_quoted_is_not_printed_again() -> Result<(), CliError> {
        let quoted: CliError = Box::new(sweepstore::Error::Stream {
            op: "read",
            source: io::Error::other("disk on fire"),
        });
        let mut text = Vec::new();
        report_error(&quoted, &mut text)?;
        assert_eq!(
            String::from_utf8(text)?,
            "sweepstore: failed to read: disk on fire\n"
        );

        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] io::Error);
        let chained: CliError = Box::new(Outer(io::Error::other("inner")));
        let mut text = Vec::new();
        report_error(&chained, &mut text)?;
        assert_eq!(
            String::from_utf8(text)?,
            "sweepstore: outer\n  caused by: inner\n"
        );
        Ok(())
    }
}
