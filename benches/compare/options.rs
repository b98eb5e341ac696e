//! Command-line options of the comparison benchmark, with defaults that finish in minutes on
//! a 2-core machine and `--quick` sizes for a smoke run.
//!
//! Invariants: every size is at least 1 and every duration positive (checked once here);
//! the arguments as given are kept for the report's command line.

use std::path::PathBuf;
use std::str::FromStr;

use crate::artifact::CHILD;
use crate::support::BenchResult;

pub const USAGE: &str = "usage: cargo bench --bench compare -- [--quick] [--reps N] [--secs S] \
[--secs-per-op S] [--threads 1,4,16,64] [--max-runs N] [--reduce-runs N] \
[--sizes 1000,10000,100000] [--cap-secs S] [--artifact-mib N] [--wal-mib N] \
[--only w0,w1,w2,w3,w4,w5] [--python PATH] [--out DIR] [--engine-report FILE]";

/// What to measure and how long.
#[derive(Debug, Clone)]
pub struct Options {
    pub reps: usize,
    /// Length of each W1 phase.
    pub secs: f64,
    /// Length of each timed per-op phase of W3.
    pub secs_per_op: f64,
    pub threads: Vec<usize>,
    /// Most runs one W1 phase saves (bounds the memory of in-memory stores).
    pub max_runs: u64,
    pub reduce_runs: u64,
    pub sizes: Vec<u64>,
    /// Longest a W3 store may take to grow to the next size.
    pub cap_secs: f64,
    pub artifact_mib: u64,
    pub wal_mib: u64,
    pub only: Option<Vec<String>>,
    /// A Python with fluidml 0.3.4; without it fluidml is not measured.
    pub python: Option<PathBuf>,
    pub out: PathBuf,
    /// The engine bench's Markdown report, embedded for issue 3's targets.
    pub engine_report: Option<PathBuf>,
    pub quick: bool,
    pub args: Vec<String>,
}

impl Options {
    fn full() -> Self {
        Options {
            reps: 5,
            secs: 0.3,
            secs_per_op: 0.3,
            threads: vec![1, 4, 16, 64],
            max_runs: 5_000,
            reduce_runs: 300,
            sizes: vec![1_000, 10_000, 100_000],
            cap_secs: 20.0,
            artifact_mib: 256,
            wal_mib: 256,
            only: None,
            python: None,
            out: PathBuf::from("target/report"),
            engine_report: None,
            quick: false,
            args: Vec::new(),
        }
    }

    fn quick() -> Self {
        Options {
            reps: 2,
            secs: 0.1,
            secs_per_op: 0.05,
            threads: vec![1, 4],
            max_runs: 500,
            reduce_runs: 50,
            sizes: vec![100, 300],
            cap_secs: 10.0,
            artifact_mib: 8,
            wal_mib: 8,
            quick: true,
            ..Options::full()
        }
    }

    /// Whether workload `name` (w0 … w5) runs.
    pub fn runs(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|w| w == name))
    }
}

pub enum Invocation {
    Bench(Box<Options>),
    Help,
    Child(Vec<String>),
}

pub fn parse(args: Vec<String>) -> BenchResult<Invocation> {
    if args.first().map(String::as_str) == Some(CHILD) {
        return Ok(Invocation::Child(args[1..].to_vec()));
    }
    // `cargo bench` passes `--bench` to every bench binary.
    let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
    let mut o = if args.iter().any(|a| a == "--quick") {
        Options::quick()
    } else {
        Options::full()
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--quick" => {}
            "--reps" => o.reps = number(flag, value()?)?,
            "--secs" => o.secs = number(flag, value()?)?,
            "--secs-per-op" => o.secs_per_op = number(flag, value()?)?,
            "--threads" => o.threads = list(flag, value()?)?,
            "--max-runs" => o.max_runs = number(flag, value()?)?,
            "--reduce-runs" => o.reduce_runs = number(flag, value()?)?,
            "--sizes" => o.sizes = list(flag, value()?)?,
            "--cap-secs" => o.cap_secs = number(flag, value()?)?,
            "--artifact-mib" => o.artifact_mib = number(flag, value()?)?,
            "--wal-mib" => o.wal_mib = number(flag, value()?)?,
            "--only" => o.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--python" => o.python = Some(PathBuf::from(value()?)),
            "--out" => o.out = PathBuf::from(value()?),
            "--engine-report" => o.engine_report = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Ok(Invocation::Help),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    validate(&o)?;
    o.args = args;
    Ok(Invocation::Bench(Box::new(o)))
}

fn number<T: FromStr>(flag: &str, value: &str) -> BenchResult<T> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a valid number\n{USAGE}").into())
}

fn list<T: FromStr>(flag: &str, value: &str) -> BenchResult<Vec<T>> {
    value.split(',').map(|v| number(flag, v)).collect()
}

fn validate(o: &Options) -> BenchResult<()> {
    let counts = [
        o.reps as u64,
        o.max_runs,
        o.reduce_runs,
        o.artifact_mib,
        o.wal_mib,
    ];
    if counts.contains(&0) || o.threads.contains(&0) || o.sizes.contains(&0) {
        return Err("every count, size and thread number must be at least 1".into());
    }
    if o.threads.is_empty() || o.sizes.is_empty() {
        return Err("--threads and --sizes need at least one value".into());
    }
    if ![o.secs, o.secs_per_op, o.cap_secs]
        .iter()
        .all(|s| *s > 0.0 && s.is_finite())
    {
        return Err("--secs, --secs-per-op and --cap-secs must be positive".into());
    }
    if !o.sizes.is_sorted() {
        return Err("--sizes must grow".into());
    }
    Ok(())
}
