//! The binary's logger: `tracing-subscriber` writing to stderr, filtered by `RUST_LOG` if it
//! is set, else by the number of `-v` flags.
//!
//! Invariant: only the binary installs a logger (the library only emits `tracing` events),
//! and it never writes log lines to stdout, which belongs to the subcommand's output.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter for `verbose` `-v` flags: warnings by default, then info, debug, trace.
fn level(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// Installs the logger for this process (once, at the start of `main`).
pub fn init(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(level(verbose)),
    };
    // Fails only if a logger is installed already, which `main` never does twice.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
