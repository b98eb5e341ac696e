//! `sweepstore ui STORE [--port N] [--no-open]`: a read-only dashboard of a store in the
//! browser, live while a sweep writes it.
//!
//! Layout, in the order a request flows: [`http`] reads it and writes the answer, [`guard`]
//! decides whether it may be answered (host and access token), [`routes`] picks the answer,
//! [`pages`] renders HTML shells and error pages, [`data`] and [`table`] build the JSON the
//! pages' script (`assets/app.js`, plots in `assets/plots.js`) renders.
//!
//! Invariants: the server listens on 127.0.0.1 only; the store is opened the way the CLI's
//! read commands open it (through its server when one answers, so the dashboard works while
//! a sweep writes), and nothing here writes to it; every asset is compiled into the binary
//! (no CDN: it works offline); each connection carries one request and is served on its own
//! thread, at most [`MAX_CONNECTIONS`] at a time (more get a 503).

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Args;

use super::store::open_existing;
use super::{CliError, Out, Status};

mod data;
mod guard;
mod http;
mod pages;
mod routes;
mod table;

use guard::Guard;
use http::{BadRequest, Response};
use routes::Ui;

/// Requests served at the same time; more are answered 503 at once.
const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Open a read-only dashboard of a store in the browser (tasks, runs table, plots, runs).
///
/// Serves on 127.0.0.1 until Ctrl-C. The printed URL carries a random access token; requests
/// without it (or addressed to another host name) are refused. Works while a sweep writes the
/// store (through its server) and refreshes as runs finish.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The store: a directory, or a MongoDB store (mongodb://HOST:PORT/DATABASE/COLLECTION).
    store: PathBuf,
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Do not open a browser; only print the URL.
    #[arg(long)]
    no_open: bool,
}

pub fn run(args: &UiArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    // Fails here, before listening, if the path holds no store or it cannot be read.
    drop(open_existing(&args.store)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port)).map_err(|e| {
        format!(
            "cannot listen on 127.0.0.1:{}: {e} (choose another with --port; 0 takes any free port)",
            args.port
        )
    })?;
    let port = listener.local_addr()?.port();
    let guard = Guard::new(port)?;
    let url = format!("http://127.0.0.1:{port}/?token={}", guard.token());
    writeln!(out, "sweepstore ui: {url}")?;
    writeln!(
        out,
        "serving {} read-only; stop with Ctrl-C",
        args.store.display()
    )?;
    out.flush()?;
    if !args.no_open {
        open_browser(&url);
    }
    let ui = Ui {
        path: args.store.clone(),
        guard,
        label: args.store.display().to_string(),
    };
    serve(&ui, &listener);
    Ok(Status::Success)
}

/// Asks the desktop to open `url`; a machine without one just keeps the printed URL.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = Command::new(opener)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = started {
        tracing::info!(%e, "could not start {opener}; open the printed URL yourself");
    }
}

/// Accepts connections until the process ends.
fn serve(ui: &Ui, listener: &TcpListener) {
    let active = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!(%e, "accepting a connection failed");
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let busy = Response::new(503, "text/plain", "busy; retry");
                // A client that is gone needs no answer.
                let _ = busy.write_to(&stream, false);
                continue;
            }
            let active = &active;
            let spawned = std::thread::Builder::new()
                .name("ui-request".to_owned())
                .spawn_scoped(scope, move || {
                    answer(ui, stream);
                    active.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                active.fetch_sub(1, Ordering::AcqRel);
                tracing::warn!(%e, "could not start a request thread");
            }
        }
    });
}

/// Reads one request from `stream` and answers it.
fn answer(ui: &Ui, stream: TcpStream) {
    if let Err(e) = stream.set_read_timeout(Some(READ_TIMEOUT)) {
        tracing::debug!(%e, "setting the read timeout failed");
        return;
    }
    let (response, head_only) = match http::read_request(&stream) {
        Ok(request) => {
            let response = routes::respond(ui, &request);
            tracing::debug!(status = response.status, path = ?request.segments, "answered");
            (response, request.method == "HEAD")
        }
        Err(BadRequest::Refused(status, message)) => {
            (Response::new(status, "text/plain", message), false)
        }
        Err(BadRequest::Io(e)) => {
            tracing::debug!(%e, "reading a request failed");
            return;
        }
    };
    if let Err(e) = response.write_to(&stream, head_only) {
        tracing::debug!(%e, "the client left before the answer was sent");
    }
}
