//! `demo --processes N`: the sweep's runs trained by N child processes of this binary, each
//! a [`RemoteStore`] client of a [`Server`] this process runs on the store's default socket
//! (so `ls`, `show`, `get`, `stats` and `verify` read the store while the sweep runs).
//!
//! Protocol between the demo and its workers: worker `i` of `N` (`demo-worker --socket S
//! --shard i/N`, a hidden subcommand) trains the grid points whose index is `i` modulo `N`
//! and are not finished, each exactly as a worker thread does, and prints `trained INDEX` on
//! stdout only after the run is finished (its state acknowledged by the server), then `done`
//! once its share is complete. The demo reads those lines, loads the run's metrics from the
//! store and reports the run as the threads mode does; a worker whose output ends without
//! `done` failed (its error is on the shared stderr), which stops the sweep.
//!
//! Invariants: the resume protocol is the threads mode's (a run is finished only after its
//! three results and its state were acknowledged), so a sweep killed at any moment — the
//! demo, a worker, or both — resumes on the next invocation with nothing lost and no
//! finished run trained twice; a worker exits when the server goes away (its next request
//! fails), so killing the demo ends its workers; on the demo's first error its workers are
//! killed; the server is stopped gracefully (checkpoint, socket removed) when the sweep ends
//! or fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;

use clap::Args;
use crossbeam_channel::Sender;
use sweepstore::{Error, RedbStore, RemoteStore, ResultsStore, Server, Stopper, StoreExt};

use super::learn::{Dataset, Metrics};
use super::{Count, Event, TASK, collect, grid, train_one};
use crate::cli::error::CommandError;
use crate::cli::{CliError, Out, Status};

/// A server on the demo's store, on a thread of this process.
pub struct Served {
    socket: PathBuf,
    stopper: Stopper,
    thread: Option<JoinHandle<sweepstore::Result<()>>>,
}

impl Served {
    /// Serves `store` (a handle on the store at `path`) on the store's default socket.
    pub fn start(store: &RedbStore, path: &Path) -> Result<Served, Error> {
        let server = Server::bind(store.clone(), Server::default_socket(path))?;
        let socket = server.socket().to_owned();
        let stopper = server.stopper();
        let thread = std::thread::Builder::new()
            .name("sweepstore-demo-server".to_owned())
            .spawn(move || server.run())
            .map_err(|source| Error::Stream {
                op: "start the demo's server thread",
                source,
            })?;
        Ok(Served {
            socket,
            stopper,
            thread: Some(thread),
        })
    }

    /// The socket the workers connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops the server gracefully (which closes the store) and reports its error.
    pub fn stop(mut self) -> Result<(), CliError> {
        self.stopper.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => Ok(result?),
            Some(Err(_)) => Err("the demo's server thread panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            // Its error (or panic, already reported by the panic hook) is not the first one.
            let _ = thread.join();
        }
    }
}

/// Trains the unfinished runs in `workers` child processes served on `socket`; reports
/// each finished run; returns how many were trained (`to_train` of them, unless one failed).
pub fn train_all(
    store: &(impl ResultsStore + ?Sized),
    socket: &Path,
    workers: usize,
    to_train: usize,
    count: Count,
    out: &mut Out<'_>,
) -> Result<usize, CliError> {
    let exe = std::env::current_exe().map_err(|source| Error::Stream {
        op: "find this program to start the worker processes",
        source,
    })?;
    let mut children: Vec<Child> = Vec::new();
    let mut outputs = Vec::new();
    for shard in 0..workers {
        let spawned = Command::new(&exe)
            .arg("demo-worker")
            .arg("--socket")
            .arg(socket)
            .arg("--shard")
            .arg(format!("{shard}/{workers}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(source) => {
                kill_all(&mut children);
                return Err(Error::Stream {
                    op: "start a demo worker process",
                    source,
                }
                .into());
            }
        };
        outputs.push(child.stdout.take());
        children.push(child);
    }
    let (event_tx, event_rx) = crossbeam_channel::unbounded();
    let trained = std::thread::scope(|scope| {
        for (shard, output) in outputs.into_iter().enumerate() {
            let Some(output) = output else { continue };
            let events = event_tx.clone();
            let worker = Worker { shard, workers };
            scope.spawn(move || follow(store, worker, output, &events));
        }
        drop(event_tx);
        collect(&event_rx, to_train, count, out, &mut || {
            kill_all(&mut children)
        })
    });
    // Every worker has closed its stdout; wait for their exit statuses.
    let mut failed = None;
    for (shard, child) in children.iter_mut().enumerate() {
        let status = child.wait().map_err(|source| Error::Stream {
            op: "wait for a demo worker process",
            source,
        })?;
        if !status.success() && failed.is_none() {
            failed = Some(CommandError::WorkerFailed {
                shard,
                workers,
                how: format!("it exited with {status}"),
            });
        }
    }
    let trained = trained?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(trained),
    }
}

/// Kills the workers (the ones that ended already are not affected).
fn kill_all(children: &mut [Child]) {
    for child in children {
        // An error means it has exited already.
        let _ = child.kill();
    }
}

/// Which worker process: shard `shard` of `workers`.
#[derive(Clone, Copy)]
struct Worker {
    shard: usize,
    workers: usize,
}

/// Turns a worker's `trained INDEX` lines into events until it closes its stdout; an output
/// that ends without `done` is a failure of that worker.
fn follow(
    store: &(impl ResultsStore + ?Sized),
    worker: Worker,
    output: impl Read,
    events: &Sender<Event>,
) {
    let jobs = match grid() {
        Ok(jobs) => jobs,
        Err(e) => {
            let _ = events.send(Event::Failed(e.into()));
            return;
        }
    };
    for line in BufReader::new(output).lines() {
        let event = match line {
            Ok(line) if line == "done" => return,
            Ok(line) => trained_event(store, &jobs, &line).unwrap_or_else(Event::Failed),
            Err(e) => Event::Failed(e.into()),
        };
        if events.send(event).is_err() {
            return;
        }
    }
    let ended = CommandError::WorkerFailed {
        shard: worker.shard,
        workers: worker.workers,
        how: "it ended before finishing its share".to_owned(),
    };
    let _ = events.send(Event::Failed(ended.into()));
}

/// The event of one `trained INDEX` line: the run's metrics, loaded from the store.
fn trained_event(
    store: &(impl ResultsStore + ?Sized),
    jobs: &[super::Job],
    line: &str,
) -> Result<Event, CliError> {
    let job = line
        .strip_prefix("trained ")
        .and_then(|index| index.parse::<usize>().ok())
        .and_then(|index| jobs.get(index))
        .ok_or_else(|| format!("a demo worker printed {line:?}, not `trained INDEX`"))?;
    let run = store.run(TASK, &job.config)?;
    let metrics: Metrics = run.load("metrics")?.ok_or_else(|| Error::NotFound {
        what: format!("the metrics of run {}", run.id().key()),
    })?;
    Ok(Event::Trained {
        hyper: job.hyper,
        key: run.id().key(),
        metrics,
    })
}

/// A share of the demo's sweep, trained through a server (started by `demo --processes`).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The server's socket.
    #[arg(long)]
    socket: PathBuf,
    /// Which share: I/N trains the grid points whose index is I modulo N.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: (usize, usize),
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{text}` is not a shard I/N with 0 <= I < N");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.parse::<usize>().map_err(|_| bad())?,
        n.parse::<usize>().map_err(|_| bad())?,
    );
    if i < n { Ok((i, n)) } else { Err(bad()) }
}

/// `demo-worker`: trains this worker's share of the grid through the server, printing
/// `trained INDEX` after each finished run.
pub fn run_worker(args: &WorkerArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let store = RemoteStore::connect(&args.socket)?;
    let (shard, workers) = args.shard;
    let data = Dataset::synthetic();
    for (index, job) in grid()?.iter().enumerate() {
        if index % workers != shard || store.run(TASK, &job.config)?.is_finished()? {
            continue;
        }
        train_one(&store, &data, job)?;
        writeln!(out, "trained {index}")?;
        out.flush()?;
    }
    writeln!(out, "done")?;
    out.flush()?;
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sweepstore::InMemoryStore;

    use super::*;

    /// The events `follow` makes of a worker's `output`.
    fn followed(store: &InMemoryStore, output: &str) -> Vec<Result<usize, String>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let worker = Worker {
            shard: 1,
            workers: 2,
        };
        follow(store, worker, output.as_bytes(), &tx);
        drop(tx);
        rx.iter()
            .map(|event| match event {
                Event::Trained { metrics, .. } => Ok(metrics.epochs),
                Event::Failed(e) => Err(e.to_string()),
            })
            .collect()
    }

    #[test]
    fn a_worker_output_without_done_is_a_failure_of_that_worker() -> Result<(), CliError> {
        let store = InMemoryStore::new();
        let metrics = json!({"train_loss": 0.1, "val_loss": 0.2, "val_accuracy": 0.9,
            "best_epoch": 3, "weight_norm": 1.0, "epochs": 60});
        let first = &grid()?[1];
        store
            .run(TASK, &first.config)?
            .save("metrics", "json", &metrics)?;

        assert_eq!(followed(&store, "trained 1\ndone\n"), [Ok(60)]);
        let ended = followed(&store, "trained 1\n");
        assert_eq!(ended[0], Ok(60));
        let failure = ended[1].as_ref().err().ok_or("no failure")?;
        assert!(failure.contains("process 1 of 2"), "{failure}");
        assert!(failure.contains("ended before finishing"), "{failure}");
        // A line that names no finished grid run is an error, not a report.
        let bad = followed(&store, "trained 2\nhello\ndone\n");
        assert_eq!(bad.len(), 2);
        assert!(bad.iter().all(Result::is_err), "{bad:?}");
        Ok(())
    }

    #[test]
    fn shards_are_checked() {
        assert_eq!(parse_shard("0/1"), Ok((0, 1)));
        assert_eq!(parse_shard("3/4"), Ok((3, 4)));
        for bad in ["4/4", "1", "a/2", "1/0", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
