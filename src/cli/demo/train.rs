//! One point of the demo's grid and how it is trained and stored: [`Job`], [`train_one`], and
//! the task ([`TASK`]) every demo run belongs to. Shared by the thread workers (`mod.rs`),
//! the claiming loop (`claims.rs`) and the worker processes (`processes.rs`).
//!
//! Invariant: [`train_one`] saves the log, weights and metrics before it marks the run
//! finished, so a finished run always has all three (the resume protocol of `mod.rs`).

use std::io::Write;

use sweepstore::{Error, ResultsStore, RunKey, StoreExt, UniqueConfig};

use super::learn::{self, Dataset, EpochReport, Hyper, Metrics};

/// The task every demo run belongs to.
pub(super) const TASK: &str = "train";

/// One point of the grid.
pub(super) struct Job {
    pub(super) hyper: Hyper,
    pub(super) config: UniqueConfig,
}

/// Trains one run and stores it: the log streamed while training, then weights, metrics and
/// the finished state — in that order, so a finished run always has all three.
pub(super) fn train_one<S: ResultsStore + ?Sized>(
    store: &S,
    data: &Dataset,
    job: &Job,
) -> Result<(RunKey, Metrics), Error> {
    let run = store.run(TASK, &job.config)?;
    let mut log = run.open("log", "w", Some("text"))?;
    let Hyper { lr, l2, seed } = job.hyper;
    let write = |log: &mut sweepstore::File, line: String| {
        log.write_all(line.as_bytes())
            .map_err(|source| Error::Stream {
                op: "write the training log",
                source,
            })
    };
    write(
        &mut log,
        format!("# logistic regression, lr={lr} l2={l2} seed={seed}\n"),
    )?;
    let (weights, metrics) = learn::train(data, job.hyper, |r: &EpochReport| {
        write(
            &mut log,
            format!(
                "epoch {:>3}  train_loss {:.4}  val_loss {:.4}  val_acc {:.4}\n",
                r.epoch, r.train_loss, r.val_loss, r.val_accuracy
            ),
        )
    })?;
    log.close()?;
    run.save("weights", "binary", &weights)?;
    run.save("metrics", "json", &metrics)?;
    run.finish()?;
    Ok((run.id().key(), metrics))
}
