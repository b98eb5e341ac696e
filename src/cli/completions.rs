//! `sweepstore completions SHELL`: the shell completion script for bash, zsh or fish, written
//! to stdout (generated from the same clap definition as `--help`, so it never goes stale).

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, CliError, Out, Status};

/// Print a shell completion script.
///
/// bash: `sweepstore completions bash > ~/.local/share/bash-completion/completions/sweepstore`;
/// zsh: into a directory on `$fpath` as `_sweepstore`; fish:
/// `sweepstore completions fish > ~/.config/fish/completions/sweepstore.fish`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_parser = ["bash", "zsh", "fish"])]
    shell: String,
}

pub fn run(args: &CompletionsArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    // Into memory first: `generate` panics on a failed write (a closed pipe is no failure).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sweepstore", &mut script);
    out.write_all(&script)?;
    Ok(Status::Success)
}
