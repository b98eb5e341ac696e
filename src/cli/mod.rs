//! Command-line parsing (clap derive; doc comments are the help text) and dispatch; one file
//! per subcommand.

use std::io::{self, Write};

use clap::{Parser, Subcommand};

mod key;
mod serve;

/// Errors the binary reports; printed once as a chain of causes.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Store and browse the results of machine-learning experiments and hyper-parameter sweeps.
#[derive(Debug, Parser)]
#[command(name = "sweepstore", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Key(key::KeyArgs),
    Serve(serve::ServeArgs),
}

impl Cli {
    /// Runs the chosen subcommand, writing its output to `out`.
    pub fn run(&self, out: &mut dyn Write) -> Result<(), CliError> {
        match &self.command {
            Command::Key(args) => key::run(args, out),
            Command::Serve(args) => serve::run(args, out),
        }
    }
}

/// Whether `err` is a write to a closed pipe (`sweepstore ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &CliError) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
