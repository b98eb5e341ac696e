//! Timing harness: run an operation on N threads started together until a budget is spent,
//! and order a baseline and the measurement it is compared with within one repetition.
//!
//! Invariants: a measurement that did no work is an error (a benchmark that stored nothing
//! proves nothing); elapsed time is wall time from the moment every thread was released.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use super::BenchResult;
use super::stats::median;

/// How long each thread of a measurement runs.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Secs(f64),
    OpsPerThread(u64),
    /// Whichever comes first (bounds the memory of fast in-memory systems).
    SecsOrOps(f64, u64),
}

impl Budget {
    pub fn done(self, ops: u64, start: Instant) -> bool {
        match self {
            Budget::Secs(secs) => start.elapsed().as_secs_f64() >= secs,
            Budget::OpsPerThread(n) => ops >= n,
            Budget::SecsOrOps(secs, n) => ops >= n || start.elapsed().as_secs_f64() >= secs,
        }
    }
}

/// The outcome of one timed phase.
#[derive(Debug, Default)]
pub struct Measured {
    /// Items done (inserts, saves, loads, ...).
    pub items: u64,
    pub elapsed: Duration,
    /// Latency of every op (an op may do several items).
    pub latencies: Vec<Duration>,
}

impl Measured {
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64()
    }

    pub fn micros_per_item(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.items as f64
    }

    pub fn median_latency_micros(&self) -> f64 {
        let mut micros: Vec<f64> = self
            .latencies
            .iter()
            .map(|d| d.as_secs_f64() * 1e6)
            .collect();
        median(&mut micros)
    }

    pub fn add(&mut self, other: Measured) {
        self.items += other.items;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }
}

/// Runs `op(thread, i)` for i = 0, 1, ... on `threads` threads started together, until the
/// budget is spent; `op` returns how many items it did.
pub fn measure<F>(threads: usize, budget: Budget, op: F) -> BenchResult<Measured>
where
    F: Fn(usize, u64) -> BenchResult<u64> + Sync,
{
    let barrier = Barrier::new(threads + 1);
    let (elapsed, outcomes) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || worker(t, barrier, budget, op))
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (start.elapsed(), outcomes)
    });
    let mut measured = Measured {
        elapsed,
        ..Measured::default()
    };
    for outcome in outcomes {
        let (items, latencies) = outcome.map_err(|_| "a benchmark thread panicked")??;
        measured.items += items;
        measured.latencies.extend(latencies);
    }
    if measured.items == 0 {
        return Err("a measurement did no work (budget too small?)".into());
    }
    Ok(measured)
}

pub fn worker<F>(
    t: usize,
    barrier: &Barrier,
    budget: Budget,
    op: &F,
) -> BenchResult<(u64, Vec<Duration>)>
where
    F: Fn(usize, u64) -> BenchResult<u64>,
{
    barrier.wait();
    let start = Instant::now();
    let (mut items, mut latencies) = (0, Vec::new());
    let mut i = 0;
    while !budget.done(i, start) {
        let began = Instant::now();
        items += op(t, i)?;
        latencies.push(began.elapsed());
        i += 1;
    }
    Ok((items, latencies))
}

/// Runs `baseline` and `sweepstore` in that order, or the other way round on odd
/// repetitions.
pub fn interleave<A, B>(
    rep: usize,
    baseline: impl FnOnce() -> BenchResult<A>,
    sweepstore: impl FnOnce() -> BenchResult<B>,
) -> BenchResult<(A, B)> {
    if rep.is_multiple_of(2) {
        let a = baseline()?;
        Ok((a, sweepstore()?))
    } else {
        let b = sweepstore()?;
        Ok((baseline()?, b))
    }
}

/// Runs `sweepstore` between two baselines, in the order `first`, `sweepstore`, `second`, or
/// `second`, `sweepstore`, `first` on odd repetitions: the sweepstore figure is always next to
/// both baselines.
pub fn sandwich<A, M, B>(
    rep: usize,
    first: impl FnOnce() -> BenchResult<A>,
    sweepstore: impl FnOnce() -> BenchResult<M>,
    second: impl FnOnce() -> BenchResult<B>,
) -> BenchResult<(A, M, B)> {
    if rep.is_multiple_of(2) {
        let a = first()?;
        let m = sweepstore()?;
        Ok((a, m, second()?))
    } else {
        let b = second()?;
        let m = sweepstore()?;
        Ok((first()?, m, b))
    }
}
