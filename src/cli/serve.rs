//! `sweepstore serve STORE [--socket PATH]`: opens a store and serves it to other processes
//! (`RemoteStore::connect(SOCKET)`) until SIGINT or SIGTERM.
//!
//! Invariants: a path that holds no store is refused (nothing is created); the store is
//! opened before the socket is bound, so a second `serve` of the
//! same store fails on the store's lock before touching the first one's socket; the signal
//! handlers are installed before the socket is bound, so a server that accepts connections
//! always handles SIGINT and SIGTERM (never killed by their default action); on SIGINT or
//! SIGTERM the server stops gracefully (no new connections, requests in progress answered,
//! checkpoint, socket removed) and the command exits 0; a second signal exits at once
//! (status 130), which is as safe as `kill -9`: every acknowledged save is in the WAL.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use sweepstore::{Error, RedbOptions, RedbStore, Server};

use super::CliError;
use super::store::require_store;

/// Serve a store to worker processes over a Unix socket, until Ctrl-C or SIGTERM
///
/// The socket has mode 0600, so only your user can connect. The first Ctrl-C or SIGTERM stops
/// gracefully (requests in progress are answered, the store is checkpointed, the socket is
/// removed); a second one exits at once, without a checkpoint.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store directory (it must hold a store: create one with `demo` or `import`).
    store: PathBuf,
    /// The socket path [default: serve.sock inside the store directory].
    #[arg(long)]
    socket: Option<PathBuf>,
}

pub fn run(args: &ServeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    // Serving creates nothing: a path that holds no store is an error, as for `ls`.
    require_store(&args.store)?;
    let store = RedbStore::open(&args.store, RedbOptions::default()).map_err(|e| match e {
        Error::AlreadyOpen { .. } => {
            format!("{e} (if a `sweepstore serve` of it is running, connect to its socket instead)")
                .into()
        }
        e => CliError::from(e),
    })?;
    let socket = args
        .socket
        .clone()
        .unwrap_or_else(|| Server::default_socket(&args.store));
    // Before the socket exists: whoever sees it accept may rely on a signal stopping the
    // server gracefully (one that arrives earlier waits in `signals` for the watcher).
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let signal_handle = signals.handle();
    let server = Server::bind(store, &socket)?;
    let stopper = server.stopper();
    let watcher = std::thread::spawn(move || {
        let mut signals = signals.forever();
        if signals.next().is_some() {
            stopper.stop();
        }
        if signals.next().is_some() {
            eprintln!(
                "sweepstore: second signal, exiting without a checkpoint (the write-ahead log \
                 keeps every acknowledged save)"
            );
            std::process::exit(130);
        }
    });
    writeln!(
        out,
        "serving {} on {} (stop with Ctrl-C or SIGTERM)",
        args.store.display(),
        server.socket().display()
    )?;
    out.flush()?;
    let served = server.run();
    signal_handle.close();
    // The watcher only calls `stop`; a panic there was reported by the panic hook.
    let _ = watcher.join();
    served?;
    writeln!(out, "stopped; the store is checkpointed")?;
    Ok(())
}
