//! The `sweepstore` command-line tool: parses arguments, installs the logger, runs the
//! subcommand and turns its outcome into the exit code (see `cli` for the codes).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::logging::init(cli.verbose);
    let stdout = io::stdout();
    let is_terminal = stdout.is_terminal();
    let mut lock = stdout.lock();
    let mut out = cli::Out {
        writer: &mut lock,
        is_terminal,
    };
    let outcome = cli
        .run(&mut out)
        .and_then(|status| out.flush().map(|()| status).map_err(Into::into));
    match outcome {
        Ok(status) => ExitCode::from(status.exit_code()),
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let code = if cli::is_usage_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            };
            // Nothing better to do if stderr is gone too.
            let _ = cli::report_error(&err, &mut io::stderr().lock());
            code
        }
    }
}
