//! The browsing requests of protocol version 2 (`docs/design.md` §17.6): what `ls`, `show`,
//! `get`, `stats` and `verify` ask a served store. Here: the conversions between the
//! library's summaries and their wire forms (both directions), and [`RemoteStore`]'s
//! [`Browse`], [`RemoteStore::stats`] and [`RemoteStore::verify`].
//!
//! Invariants: a run's key is never taken from the server (the client derives it from task
//! and config, as the store does); summaries round-trip unchanged (a listing through the
//! server equals the same listing taken directly); run listings are paged like every other
//! listing, so neither side holds more than one page of a frame; `verify` reports progress
//! at most every [`PROGRESS_EVERY`] (coarser than in-process, where it is every value).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::browse::{Browse, Progress, ResultSummary, RunSummary, TaskSummary};
use crate::config::UniqueConfig;
use crate::engine::{Problem, StoreStats, VerifyReport};
use crate::error::Result;
use crate::names::{SubDir, TaskName};
use crate::remote::client::RemoteStore;
use crate::remote::pool::unexpected;
use crate::remote::protocol::{
    Request, Response, WireResultSummary, WireRunSummary, WireRunTimes, WireStats, WireTask,
    WireVerifyReport,
};

/// Least time between two progress frames of a `Verify`.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub(crate) fn wire_task(task: TaskSummary) -> WireTask {
    WireTask {
        name: task.name,
        runs: task.runs,
    }
}

/// A run summary and its times as they travel.
pub(crate) fn wire_run_summary(run: RunSummary) -> (WireRunSummary, WireRunTimes) {
    let ms = |t: Option<SystemTime>| {
        t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    let times = WireRunTimes {
        created_ms: ms(run.created),
        finished_ms: ms(run.finished),
    };
    let summary = WireRunSummary {
        task: run.task,
        config: run.config.canonical().to_owned(),
        state: run.state,
        results: run
            .results
            .into_iter()
            .map(|r| WireResultSummary {
                name: r.name,
                type_name: r.type_name,
                size: r.size,
                hash: r.hash,
                sub_dir: r.sub_dir.map(|d| d.as_str().to_owned()),
            })
            .collect(),
    };
    (summary, times)
}

/// The bytes a run summary takes on the wire, about (for closing pages).
pub(crate) fn wire_run_size(run: &WireRunSummary) -> usize {
    let results: usize = run
        .results
        .iter()
        .map(|r| r.name.as_str().len() + r.type_name.len() + 48)
        .sum();
    run.task.as_str().len() + run.config.len() + results + 8
}

fn run_summary((wire, times): (WireRunSummary, WireRunTimes)) -> Result<RunSummary> {
    let at = |ms: Option<u64>| ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    let config = UniqueConfig::parse(&wire.config)?;
    let mut results = Vec::with_capacity(wire.results.len());
    for r in wire.results {
        let sub_dir = r.sub_dir.as_deref().map(SubDir::new).transpose()?;
        results.push(ResultSummary::new(
            r.name,
            r.type_name,
            r.size,
            r.hash,
            sub_dir,
        ));
    }
    Ok(RunSummary::new(wire.task, config, wire.state, results)
        .with_times(at(times.created_ms), at(times.finished_ms)))
}

/// A run of a listing without times: both unknown.
fn untimed(run: WireRunSummary) -> (WireRunSummary, WireRunTimes) {
    let times = WireRunTimes {
        created_ms: None,
        finished_ms: None,
    };
    (run, times)
}

pub(crate) fn wire_stats(stats: StoreStats) -> WireStats {
    WireStats {
        tasks: stats.tasks,
        runs: stats.runs,
        results: stats.results,
        distinct_contents: stats.distinct_contents,
        logical_bytes: stats.logical_bytes,
        stored_bytes: stats.stored_bytes,
        wal_bytes: stats.wal_bytes,
        wal_segments: stats.wal_segments,
        last_checkpoint_lsn: stats.last_checkpoint_lsn,
        last_checkpoint_at: stats
            .last_checkpoint_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs()),
    }
}

pub(crate) fn wire_report(report: VerifyReport) -> WireVerifyReport {
    WireVerifyReport {
        values_checked: report.values_checked,
        bytes_checked: report.bytes_checked,
        problems: report
            .problems
            .into_iter()
            .map(|p| (p.location, p.description))
            .collect(),
    }
}

impl RemoteStore {
    /// A listing of runs: the first page, then `Continue` on the same connection.
    fn run_listing(&self, request: &Request) -> Result<Vec<RunSummary>> {
        let mut lease = self.pool().lease()?;
        let mut runs = Vec::new();
        let mut response = lease.call(request)?;
        loop {
            // A server of this version sends times; `Runs` only comes from a test double.
            let (page, more) = match response {
                Response::TimedRuns { runs, more } => (runs, more),
                Response::Runs { runs, more } => (runs.into_iter().map(untimed).collect(), more),
                other => return Err(unexpected(&other)),
            };
            for wire in page {
                runs.push(run_summary(wire)?);
            }
            if !more {
                return Ok(runs);
            }
            response = lease.call(&Request::Continue)?;
        }
    }

    /// The served store's [`RedbStore::stats`](crate::RedbStore::stats).
    ///
    /// # Errors
    /// As `RedbStore::stats`, plus connection errors.
    pub fn stats(&self) -> Result<StoreStats> {
        match self.pool().call(&Request::Stats)? {
            Response::Stats(w) => Ok(StoreStats {
                tasks: w.tasks,
                runs: w.runs,
                results: w.results,
                distinct_contents: w.distinct_contents,
                logical_bytes: w.logical_bytes,
                stored_bytes: w.stored_bytes,
                wal_bytes: w.wal_bytes,
                wal_segments: w.wal_segments,
                last_checkpoint_lsn: w.last_checkpoint_lsn,
                last_checkpoint_at: w
                    .last_checkpoint_at
                    .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// The served store's [`RedbStore::verify`](crate::RedbStore::verify), run by the
    /// server. `progress` is called as progress frames arrive: at most about four times a
    /// second, so more coarsely than in-process. redb's page check
    /// ([`RedbOptions::check_integrity_on_open`](crate::RedbOptions::check_integrity_on_open))
    /// cannot run on a store that is open, so it is not part of a remote verification.
    ///
    /// # Errors
    /// As `RedbStore::verify`, plus connection errors.
    pub fn verify(&self, progress: &mut dyn FnMut(Progress)) -> Result<VerifyReport> {
        let mut lease = self.pool().lease()?;
        let mut response = lease.call(&Request::Verify)?;
        loop {
            match response {
                Response::Progress { done, total, bytes } => {
                    progress(Progress::new(done, total, bytes));
                }
                Response::Verified(w) => {
                    return Ok(VerifyReport {
                        values_checked: w.values_checked,
                        bytes_checked: w.bytes_checked,
                        problems: w
                            .problems
                            .into_iter()
                            .map(|(location, description)| Problem {
                                location,
                                description,
                            })
                            .collect(),
                    });
                }
                other => return Err(unexpected(&other)),
            }
            response = lease.receive()?;
        }
    }
}

impl Browse for RemoteStore {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        match self.pool().call(&Request::Tasks)? {
            Response::Tasks(tasks) => Ok(tasks
                .into_iter()
                .map(|t| TaskSummary::new(t.name, t.runs))
                .collect()),
            other => Err(unexpected(&other)),
        }
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        self.run_listing(&Request::Runs { task: task.clone() })
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let request = Request::FindRun {
            task: task.clone(),
            config: config.canonical().to_owned(),
        };
        match self.pool().call(&request)? {
            Response::TimedRun(found) => found.map(run_summary).transpose(),
            Response::Run(found) => found.map(untimed).map(run_summary).transpose(),
            other => Err(unexpected(&other)),
        }
    }

    fn runs_by_key_prefix(&self, task: &TaskName, prefix: &str) -> Result<Vec<RunSummary>> {
        self.run_listing(&Request::RunsByKeyPrefix {
            task: task.clone(),
            prefix: prefix.to_owned(),
        })
    }
}
