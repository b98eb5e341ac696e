//! Serving benchmark (issue 9, item 6): durable saves/s from 1, 4 and 16 client *processes*
//! through a server, against the same number of *threads* saving into a `RedbStore` in one
//! process, measured in the same run.
//!
//! Each save is a distinct 1 KiB `bytes` value to its own run (config `{"worker": w, "i": i}`,
//! built inside the timed loop), under the default `Durability::Immediate`: every
//! acknowledged save is fsynced, so both sides are bound by group commit, and the remote side
//! reaches the in-process rate only if the engine batches the saves of different client
//! processes into one commit.
//!
//! Every repetition and worker count runs both sides back to back on fresh stores (the order
//! alternates between repetitions), each after a system-wide `sync`. The server runs on a
//! thread of this process (`sweepstore::Server`, the code behind `sweepstore serve`); the
//! clients are this binary re-executed (`__client SOCKET WORKER SECS`): each connects, says
//! `ready`, waits for `go` on stdin, saves for the phase's length and reports its count and
//! elapsed time. A rate is total saves ÷ the longest elapsed time; a figure is the median of
//! the repetitions (with min–max), the ratio the median of the per-repetition ratios
//! `processes ÷ threads`.
//!
//! ```text
//! cargo bench --bench remote -- [--reps N] [--secs S] [--quick]
//! ```
//!
//! Defaults: 5 repetitions of 2 s phases. `--quick`: one repetition of 0.5 s phases. The
//! report is a Markdown table on stdout, also written to `target/bench-remote.md`.

use std::error::Error;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use serde_json::json;
use sweepstore::{RedbOptions, RedbStore, RemoteStore, Server, StoreExt, UniqueConfig};

type BoxError = Box<dyn Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

const VALUE_LEN: usize = 1024;
const WORKERS: [usize; 3] = [1, 4, 16];
const REPORT_PATH: &str = "target/bench-remote.md";
const CLIENT_COMMAND: &str = "__client";
const TARGET_RATIO: f64 = 0.5;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some(CLIENT_COMMAND) {
        client(&args[1..])
    } else {
        bench(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench remote: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A distinct value for save `i` of worker `w`.
fn value(w: u64, i: u64) -> Vec<u8> {
    let mut x = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (0..VALUE_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Saves as worker `w` until `secs` passed; returns the count and the elapsed time.
fn save_loop(store: &impl StoreExt, w: u64, secs: f64) -> BenchResult<(u64, Duration)> {
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed().as_secs_f64() < secs {
        let config = UniqueConfig::new(json!({ "worker": w, "i": i }))?;
        store
            .run("bench", &config)?
            .save_bytes("v", "bytes", &value(w, i))?;
        i += 1;
    }
    Ok((i, start.elapsed()))
}

/// The client process: `__client SOCKET WORKER SECS`.
fn client(args: &[String]) -> BenchResult<()> {
    let [socket, worker, secs] = args else {
        return Err("usage: __client SOCKET WORKER SECS".into());
    };
    let store = RemoteStore::connect(socket)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    let (count, elapsed) = save_loop(&store, worker.parse()?, secs.parse()?)?;
    writeln!(stdout, "done {count} {}", elapsed.as_secs_f64())?;
    Ok(())
}

/// Saves/s of `workers` threads into a fresh `RedbStore`.
fn in_process(root: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let dir = tempfile::tempdir_in(root)?;
    let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    settle()?;
    let barrier = Barrier::new(workers);
    let outcomes: Vec<BenchResult<(u64, Duration)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (store, barrier) = (&store, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    save_loop(store, w as u64, secs)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .collect()
    });
    store.close()?;
    combine(outcomes)
}

/// Total saves ÷ the longest elapsed time.
fn combine(outcomes: Vec<BenchResult<(u64, Duration)>>) -> BenchResult<f64> {
    let (mut total, mut longest) = (0, Duration::ZERO);
    for outcome in outcomes {
        let (count, elapsed) = outcome?;
        total += count;
        longest = longest.max(elapsed);
    }
    if total == 0 {
        return Err("no save finished (phase too short?)".into());
    }
    Ok(total as f64 / longest.as_secs_f64())
}

/// A client process started and connected.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn start(socket: &Path, worker: usize, secs: f64) -> BenchResult<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CLIENT_COMMAND)
            .arg(socket)
            .arg(worker.to_string())
            .arg(secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no client stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no client stdout")?);
        let mut client = Client {
            child,
            stdin,
            stdout,
        };
        let ready = client.line()?;
        if ready.trim() != "ready" {
            return Err(format!("client said {ready:?} instead of ready").into());
        }
        Ok(client)
    }

    fn line(&mut self) -> BenchResult<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        Ok(line)
    }

    fn finish(mut self) -> BenchResult<(u64, Duration)> {
        let line = self.line()?;
        let status = self.child.wait()?;
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("done"), Some(count), Some(secs)) if status.success() => {
                Ok((count.parse()?, Duration::from_secs_f64(secs.parse()?)))
            }
            _ => Err(format!("client failed ({status}): {line:?}").into()),
        }
    }
}

/// Saves/s of `workers` client processes through a server of a fresh store.
fn through_server(root: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let dir = tempfile::tempdir_in(root)?;
    let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    let server = Server::bind(store, dir.path().join("s.sock"))?;
    let (stopper, socket) = (server.stopper(), server.socket().to_owned());
    let serving = std::thread::spawn(move || server.run());
    let clients: BenchResult<Vec<Client>> = (0..workers)
        .map(|w| Client::start(&socket, w, secs))
        .collect();
    let outcome = clients.and_then(|mut clients| {
        settle()?;
        for client in &mut clients {
            writeln!(client.stdin, "go")?;
            client.stdin.flush()?;
        }
        combine(clients.into_iter().map(Client::finish).collect())
    });
    stopper.stop();
    serving.join().map_err(|_| "the server panicked")??;
    outcome
}

/// Flushes every dirty page of the system, so a phase does not pay for the one before.
fn settle() -> BenchResult<()> {
    let status = Command::new("sync").status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`sync` failed: {status}").into())
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn spread(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

fn parse(args: &[String]) -> BenchResult<(usize, f64)> {
    let (mut reps, mut secs) = (5, 2.0);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => reps = args.next().ok_or("--reps needs a value")?.parse()?,
            "--secs" => secs = args.next().ok_or("--secs needs a value")?.parse()?,
            "--quick" => (reps, secs) = (1, 0.5),
            "--bench" => {}
            "--help" | "-h" => {
                return Err(
                    "usage: cargo bench --bench remote -- [--reps N] [--secs S] [--quick]".into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if reps == 0 || secs <= 0.0 {
        return Err("--reps and --secs must be positive".into());
    }
    Ok((reps, secs))
}

fn bench(args: &[String]) -> BenchResult<()> {
    let (reps, secs) = parse(args)?;
    // Stores live under target/, on the file system the project builds on.
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut rows = Vec::new();
    for workers in WORKERS {
        let (mut threads, mut processes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..reps {
            eprintln!("{workers} workers, repetition {}/{reps}", rep + 1);
            let (t, p) = if rep % 2 == 0 {
                let t = in_process(root, workers, secs)?;
                (t, through_server(root, workers, secs)?)
            } else {
                let p = through_server(root, workers, secs)?;
                (in_process(root, workers, secs)?, p)
            };
            threads.push(t);
            processes.push(p);
            ratios.push(p / t);
        }
        rows.push((workers, threads, processes, ratios));
    }
    let mut report = String::new();
    writeln!(
        report,
        "Durable 1 KiB saves/s, median (min–max) of {reps} repetitions of {secs} s phases.\n"
    )?;
    writeln!(
        report,
        "| workers | threads in one process | client processes through `serve` | processes ÷ threads |"
    )?;
    writeln!(report, "|---|---|---|---|")?;
    for (workers, mut threads, mut processes, mut ratios) in rows {
        let (tmin, tmax) = spread(&threads);
        let (pmin, pmax) = spread(&processes);
        let (rmin, rmax) = spread(&ratios);
        writeln!(
            report,
            "| {workers} | {:.0} ({tmin:.0}–{tmax:.0}) | {:.0} ({pmin:.0}–{pmax:.0}) | {:.2} ({rmin:.2}–{rmax:.2}){} |",
            median(&mut threads),
            median(&mut processes),
            median(&mut ratios),
            if workers == 16 {
                format!(" (target ≥ {TARGET_RATIO})")
            } else {
                String::new()
            },
        )?;
    }
    print!("{report}");
    std::fs::write(REPORT_PATH, &report)?;
    Ok(())
}
