//! `demo --processes N`: the sweep's runs trained by N child processes of this binary
//! (`demo-worker --store PATH`, a hidden subcommand), each of which opens the store with
//! `sweepstore::open` — a client of whichever process serves it (this demo, usually) — and
//! claims runs as worker threads do (`claims.rs`), so `ls`, `show`, `get`, `stats` and
//! `verify` read the store while the sweep runs, and a second demo on the store cooperates.
//!
//! Protocol between the demo and its workers: a worker trains grid points it claims and
//! prints `trained INDEX` on stdout only after the run is finished (its state acknowledged),
//! then `done` once no grid point is left, or `stopped` if it was stopped first. It stops
//! (after its run in progress) when its stdin ends — the demo closes it on Ctrl-C, and it
//! ends by itself if the demo dies — or on its own SIGINT (a terminal's Ctrl-C reaches the
//! whole process group). The demo reads those lines, loads the run's metrics from the store
//! and reports the run as the threads mode does; a worker whose output ends without `done`
//! or `stopped` failed (its error is on the shared stderr), which stops the sweep.
//!
//! Invariants: the resume protocol is the threads mode's (a run is finished only after its
//! three results and its state were acknowledged), so a sweep killed at any moment — the
//! demo, a worker, or both — resumes on the next invocation with nothing lost and no
//! finished run trained twice; on the demo's first error its workers are killed; the store's
//! socket is removed when the process that serves it closes it (the demo, once its workers
//! are done), so a finished `demo --processes` leaves no `serve.sock` behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use crossbeam_channel::Sender;
use signal_hook::consts::SIGINT;
use sweepstore::{Error, OpenOptions, ResultsStore, StoreExt};

use super::claims::{self, Queue};
use super::learn::{Dataset, Metrics};
use super::{Event, TASK, Work, collect, grid};
use crate::cli::error::CommandError;
use crate::cli::{CliError, Out, Status};

/// How often the demo looks whether Ctrl-C asked it to stop its workers.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Trains the unfinished runs in `work.workers` child processes on the store `store` is
/// open on; reports each finished run; returns how many were trained.
pub fn train_all(
    store: &sweepstore::Store,
    work: Work<'_>,
    out: &mut Out<'_>,
) -> Result<usize, CliError> {
    let exe = std::env::current_exe().map_err(|source| Error::Stream {
        op: "find this program to start the worker processes",
        source,
    })?;
    let workers = work.workers;
    let mut children: Vec<Child> = Vec::new();
    let mut outputs = Vec::new();
    let mut inputs = Vec::new();
    for _ in 0..workers {
        let spawned = Command::new(&exe)
            .arg("demo-worker")
            .arg("--store")
            .arg(store.path())
            .stdin(Stdio::piped())
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
        inputs.push(child.stdin.take());
        children.push(child);
    }
    let inputs: Mutex<Vec<Option<ChildStdin>>> = Mutex::new(inputs);
    let collected = AtomicBool::new(false);
    let (event_tx, event_rx) = crossbeam_channel::unbounded();
    let trained = std::thread::scope(|scope| {
        for (shard, output) in outputs.into_iter().enumerate() {
            let Some(output) = output else { continue };
            let events = event_tx.clone();
            let worker = Worker { shard, workers };
            scope.spawn(move || follow(store, worker, output, &events));
        }
        drop(event_tx);
        let (inputs, collected, stop) = (&inputs, &collected, work.stop);
        scope.spawn(move || {
            while !collected.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    // Their stdin ends: each worker stops after its run in progress.
                    inputs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clear();
                    return;
                }
                std::thread::sleep(STOP_POLL);
            }
        });
        let trained = collect(&event_rx, work.pending.len(), work.count, out, &mut || {
            kill_all(&mut children)
        });
        collected.store(true, Ordering::Relaxed);
        trained
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
            Ok(line) if line == "done" || line == "stopped" => return,
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

/// A worker of `demo --processes` (started by the demo, not by hand).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The store directory.
    #[arg(long)]
    store: PathBuf,
}

/// `demo-worker`: claims and trains grid points of the store until none is left, printing
/// `trained INDEX` after each finished run; stops when its stdin ends or on SIGINT.
pub fn run_worker(args: &WorkerArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGINT, stop.clone())?;
    let watched = stop.clone();
    std::thread::Builder::new()
        .name("demo-worker-stdin".to_owned())
        .spawn(move || {
            // Any end of stdin (closed, or an error) means: stop.
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            watched.store(true, Ordering::Relaxed);
        })?;
    let store = sweepstore::open(&args.store, OpenOptions::default())?;
    let jobs = grid()?;
    let queue = Queue::new(0..jobs.len());
    let data = Dataset::synthetic();
    claims::work(&store, &data, &jobs, &queue, &stop, &mut |index, _, _| {
        writeln!(out, "trained {index}")
            .and_then(|()| out.flush())
            .map_err(|source| Error::Stream {
                op: "report a trained run to the demo",
                source,
            })
    })?;
    let end = if stop.load(Ordering::Relaxed) {
        "stopped"
    } else {
        "done"
    };
    writeln!(out, "{end}")?;
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
        // A worker stopped by Ctrl-C ends cleanly too.
        assert_eq!(followed(&store, "trained 1\nstopped\n"), [Ok(60)]);
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
}
