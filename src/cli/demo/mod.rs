//! `sweepstore demo [STORE]`: a real grid-search sweep — logistic regression over learning
//! rates × L2 penalties × seeds — trained on worker threads (or `--processes`) sharing one
//! store opened with `sweepstore::open` (so a second demo, or any process, on the same store
//! joins it), then a reduce step over the stored metrics.
//!
//! Resume protocol: a run is *finished* only after its log, weights and metrics were saved
//! (each save acknowledged durably by the store) and its state set to finished. At start the
//! demo skips every run of the grid whose state is finished; the others are claimed one by
//! one before they are trained (`claims.rs`; training one run is `train.rs`), so several
//! demos on one store split the grid and never train a config at the same time; a run
//! interrupted midway is trained again from scratch (mode `w` and plain saves overwrite it). So after a kill at any moment, the next
//! invocation trains exactly the runs not yet finished: none is lost and no finished run is
//! trained twice.
//!
//! Ctrl-C (SIGINT, handled whatever disposition the process inherited) stops the workers
//! after their runs in progress; the demo then says how many runs it trained and how many
//! are left, and exits with status 130. A second Ctrl-C exits at once (as safe as `kill -9`).
//!
//! With `--processes N` the runs are trained by N child processes of this binary
//! (`demo-worker`, see `processes.rs`); the resume protocol and the output are the same.
//!
//! Output: with stdout a terminal, a progress bar (stderr); otherwise one line per trained
//! run, `trained I/N lr=… l2=… seed=… val_loss=… val_acc=… run=<run key>`, printed only after
//! the run is finished, so scripts and tests can rely on every printed run being stored.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clap::Args;
use crossbeam_channel::Receiver;
use serde_json::json;
use signal_hook::consts::SIGINT;
use sweepstore::{Error, OpenOptions, ResultsStore, RunKey, StoreExt, UniqueConfig};

use super::count::at_least_one;
use super::progress::Bar;
use super::{CliError, Out, Status};

mod claims;
mod learn;
mod processes;
mod reduce;
mod train;

use claims::Queue;

pub use processes::{WorkerArgs, run_worker};

use learn::{Dataset, Hyper, Metrics};
use train::{Job, TASK};

/// Learning rates of the grid.
const LRS: [f64; 4] = [0.01, 0.03, 0.1, 0.3];
/// L2 penalties of the grid.
const L2S: [f64; 4] = [0.0, 0.001, 0.01, 0.1];
/// Seeds per (learning rate, penalty) pair.
const SEEDS: u64 = 8;

/// Run a real hyper-parameter sweep into a store (start here).
///
/// Logistic regression trained by gradient descent on a synthetic dataset, 4 learning rates × 4 L2 penalties × 8 seeds, on several
/// threads. Each run saves its metrics (json), weights (binary) and a training log streamed
/// as text, then marks itself finished. Run it again (or after Ctrl-C or a crash) and it
/// skips every finished run and trains only the rest; run two at once on one store and they
/// split the runs. Ends with a table of the best configs.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The store directory (created if it does not exist).
    #[arg(default_value = "sweepstore-demo")]
    store: PathBuf,
    /// Worker threads training runs at once [default: the number of cores].
    #[arg(long, short = 'w', conflicts_with = "processes", value_parser = at_least_one)]
    workers: Option<NonZeroUsize>,
    /// Train in this many worker processes instead of threads, each opening the store with
    /// `sweepstore::open` (a client of the process serving it on its default socket, so `ls`
    /// and the other commands read the store while the sweep runs).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    processes: Option<NonZeroUsize>,
    /// Rows in the table of best configurations.
    #[arg(long, default_value = "5", value_parser = at_least_one)]
    top: NonZeroUsize,
}

/// What a worker reports.
enum Event {
    Trained {
        hyper: Hyper,
        key: RunKey,
        metrics: Metrics,
    },
    Failed(CliError),
}

/// The whole grid, in a fixed order.
fn grid() -> Result<Vec<Job>, Error> {
    let mut jobs = Vec::new();
    for lr in LRS {
        for l2 in L2S {
            for seed in 0..SEEDS {
                let config = UniqueConfig::new(json!({ "lr": lr, "l2": l2, "seed": seed }))?;
                let hyper = Hyper { lr, l2, seed };
                jobs.push(Job { hyper, config });
            }
        }
    }
    Ok(jobs)
}

pub fn run(args: &DemoArgs, out: &mut Out<'_>) -> Result<Status, CliError> {
    // IMPORTANT: installed here, whatever SIGINT disposition this process inherited (a
    // background job of a non-interactive shell inherits it ignored): the first Ctrl-C stops
    // the sweep after the runs in progress, a second one exits at once.
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register_conditional_shutdown(SIGINT, 130, stop.clone())?;
    signal_hook::flag::register(SIGINT, stop.clone())?;
    let store = open_demo_store(&args.store)?;
    let jobs = grid()?;
    let total = jobs.len();
    let mut pending = Vec::new();
    for (index, job) in jobs.iter().enumerate() {
        if !store.run(TASK, &job.config)?.is_finished()? {
            pending.push(index);
        }
    }
    let skipped = total - pending.len();
    let workers = args
        .processes
        .or(args.workers)
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(pending.len().max(1));
    let kind = if args.processes.is_some() {
        "worker processes"
    } else {
        "workers"
    };
    writeln!(
        out,
        "demo: logistic regression, {} learning rates × {} L2 penalties × {SEEDS} seeds = {total} \
         runs of task `{TASK}` in store {}",
        LRS.len(),
        L2S.len(),
        args.store.display()
    )?;
    if pending.is_empty() {
        writeln!(
            out,
            "demo: all {total} runs already finished (skipped {skipped}); nothing to train"
        )?;
    } else {
        writeln!(
            out,
            "demo: {skipped} runs already finished (skipped), {} to train on {workers} {kind}",
            pending.len()
        )?;
        let started = Instant::now();
        let count = Count { skipped, total };
        let work = Work {
            jobs: &jobs,
            pending,
            workers,
            count,
            stop: &stop,
        };
        let trained = if args.processes.is_some() {
            processes::train_all(&store, work, out)?
        } else {
            train_all(&store, work, out)?
        };
        let seconds = started.elapsed().as_secs_f64();
        if stop.load(Ordering::Relaxed) {
            let mut left = 0;
            for job in &jobs {
                if !store.run(TASK, &job.config)?.is_finished()? {
                    left += 1;
                }
            }
            writeln!(
                out,
                "demo: interrupted: trained {trained} runs in {seconds:.1} s; {left} of {total} \
                 runs left (run the demo again to train them)"
            )?;
            return Ok(Status::Interrupted);
        }
        writeln!(
            out,
            "demo: trained {trained} runs in {seconds:.1} s ({:.1} runs/s), skipped {skipped}",
            trained as f64 / seconds.max(1e-9)
        )?;
    }
    reduce::summarize(&store, args.top.get(), out)?;
    Ok(Status::Success)
}

/// Opens the demo's store with `sweepstore::open` (creating it, or joining the process that
/// serves it — another demo, say), and logs how long that took.
fn open_demo_store(path: &Path) -> Result<sweepstore::Store, Error> {
    let started = Instant::now();
    let store = sweepstore::open(path, OpenOptions::default())?;
    if !store.is_owner() {
        tracing::info!(store = %path.display(), "the store is served by another process; going through the server");
    }
    tracing::info!(
        store = %path.display(),
        owner = store.is_owner(),
        ms = started.elapsed().as_millis(),
        "opened the store"
    );
    Ok(store)
}

/// Runs already finished before this invocation, and runs of the grid.
#[derive(Clone, Copy)]
struct Count {
    skipped: usize,
    total: usize,
}

/// What the workers of one invocation train: the grid, the points not finished at the
/// start, how many workers, and the flag that stops them (Ctrl-C, or the first error).
struct Work<'a> {
    jobs: &'a [Job],
    pending: Vec<usize>,
    workers: usize,
    count: Count,
    stop: &'a AtomicBool,
}

/// Trains the pending runs on worker threads that claim each run first (`claims.rs`);
/// reports each finished run; returns how many were trained. The first error stops the
/// workers (each finishes its current run) and is returned.
fn train_all(
    store: &(impl ResultsStore + ?Sized),
    work: Work<'_>,
    out: &mut Out<'_>,
) -> Result<usize, CliError> {
    let to_train = work.pending.len();
    let queue = Queue::new(work.pending);
    let (event_tx, event_rx) = crossbeam_channel::unbounded();
    let data = Dataset::synthetic();
    let (jobs, stop) = (work.jobs, work.stop);
    std::thread::scope(|scope| {
        for _ in 0..work.workers {
            let events = event_tx.clone();
            let (queue, data) = (&queue, &data);
            scope.spawn(move || {
                let worked =
                    claims::work(store, data, jobs, queue, stop, &mut |i, key, metrics| {
                        let hyper = jobs[i].hyper;
                        // The receiver lives until every worker is done.
                        let _ = events.send(Event::Trained {
                            hyper,
                            key,
                            metrics,
                        });
                        Ok(())
                    });
                if let Err(e) = worked {
                    let _ = events.send(Event::Failed(e.into()));
                }
            });
        }
        drop(event_tx);
        collect(&event_rx, to_train, work.count, out, &mut || {
            stop.store(true, Ordering::Relaxed);
        })
    })
}

/// Reports the workers' events until every sender is gone: a progress bar on a terminal,
/// else one line per trained run. On the first error (a worker's, or writing a report) calls
/// `stop` once and keeps draining; returns how many runs were trained, or that error.
fn collect(
    events: &Receiver<Event>,
    to_train: usize,
    count: Count,
    out: &mut Out<'_>,
    stop: &mut dyn FnMut(),
) -> Result<usize, CliError> {
    let bar = Bar::new(out.is_terminal, to_train as u64, "runs");
    let mut trained = 0;
    let mut first_error: Option<CliError> = None;
    for event in events {
        let reported = match event {
            Event::Trained {
                hyper,
                key,
                metrics,
            } => {
                trained += 1;
                bar.set(trained as u64);
                let done = count.skipped + trained;
                report(out, hyper, key, &metrics, done, count.total)
            }
            Event::Failed(e) => Err(e),
        };
        if let Err(e) = reported {
            if first_error.is_none() {
                stop();
            }
            first_error.get_or_insert(e);
        }
    }
    bar.finish();
    match first_error {
        Some(e) => Err(e),
        None => Ok(trained),
    }
}

/// One line per trained run when stdout is not a terminal (the bar shows progress otherwise).
fn report(
    out: &mut Out<'_>,
    hyper: Hyper,
    key: RunKey,
    metrics: &Metrics,
    done: usize,
    total: usize,
) -> Result<(), CliError> {
    if out.is_terminal {
        return Ok(());
    }
    let Hyper { lr, l2, seed } = hyper;
    writeln!(
        out,
        "trained {done}/{total} lr={lr} l2={l2} seed={seed} val_loss={:.4} val_acc={:.4} run={key}",
        metrics.val_loss, metrics.val_accuracy
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepstore::{RedbOptions, RedbStore};

    #[test]
    fn a_failing_store_stops_the_workers_and_the_error_is_returned() -> Result<(), CliError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s");
        let store = RedbStore::open(&path, RedbOptions::default())?;
        // Streamed values are written to temp files first: without the directory, the
        // first write-open of every run fails.
        std::fs::remove_dir_all(path.join("tmp"))?;
        let jobs: Vec<Job> = grid()?.into_iter().take(6).collect();
        let configs: Vec<UniqueConfig> = jobs.iter().map(|j| j.config.clone()).collect();
        let stop = AtomicBool::new(false);
        let mut text = Vec::new();
        let mut out = Out {
            writer: &mut text,
            is_terminal: false,
        };
        let count = Count {
            skipped: 0,
            total: 6,
        };
        let work = Work {
            jobs: &jobs,
            pending: (0..jobs.len()).collect(),
            workers: 2,
            count,
            stop: &stop,
        };
        let err = train_all(&store, work, &mut out)
            .err()
            .ok_or("training succeeded without a temp directory")?;
        assert!(err.to_string().contains("tmp"), "{err}");
        assert!(text.is_empty(), "a run was reported: {text:?}");
        for config in &configs {
            assert!(!store.run(TASK, config)?.is_finished()?);
        }
        Ok(())
    }
}
