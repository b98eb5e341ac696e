//! Serving benchmark (issue 9, item 6; issue 13, item 6): durable saves/s from 1, 4 and 16
//! client *processes* through a server, and from as many processes that each just call
//! `sweepstore::open` (the first to open owns and serves the store, the others join it),
//! against the same number of *threads* saving into one store in one process, measured in
//! the same run; then the time a client takes over after the owner is killed.
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
//! clients are this binary re-executed (`__client SOCKET WORKER SECS`, or `__open STORE
//! WORKER SECS` to call `sweepstore::open`): each connects, says `ready`, waits for `go` on
//! stdin, saves for the phase's length, reports its count, elapsed time and slowest save,
//! and exits when its stdin ends (so an owner outlives every client's phase). A rate is total
//! saves ÷ the longest elapsed time; a figure is the median of the repetitions (with
//! min–max), the ratio the median of the per-repetition ratios `processes ÷ threads`.
//!
//! Take-over: an owner and 3 clients (`__open`) save for a few seconds; 1 s in, the owner
//! gets SIGKILL. A client's save in flight (or begun) then waits until one client has opened
//! the store, recovered its WAL and serves it, and the others reconnected: the slowest save
//! of any client is the take-over time (it includes the WAL recovery of a small log).
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
use sweepstore::{
    OpenOptions, RedbOptions, RedbStore, RemoteStore, ResultsStore, Server, StoreExt, UniqueConfig,
};

type BoxError = Box<dyn Error + Send + Sync>;
type BenchResult<T> = Result<T, BoxError>;

const VALUE_LEN: usize = 1024;
const WORKERS: [usize; 3] = [1, 4, 16];
const REPORT_PATH: &str = "target/bench-remote.md";
const CLIENT_COMMAND: &str = "__client";
const OPEN_COMMAND: &str = "__open";
/// Clients saving while the owner is killed.
const TAKE_OVER_CLIENTS: usize = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some(CLIENT_COMMAND) => client(&args[1..], false),
        Some(OPEN_COMMAND) => client(&args[1..], true),
        _ => bench(&args),
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

/// What one worker did: saves, elapsed time, slowest save.
type Outcome = (u64, Duration, Duration);

/// Saves as worker `w` until `secs` passed.
fn save_loop(store: &(impl StoreExt + ?Sized), w: u64, secs: f64) -> BenchResult<Outcome> {
    let start = Instant::now();
    let (mut i, mut slowest) = (0, Duration::ZERO);
    while start.elapsed().as_secs_f64() < secs {
        let config = UniqueConfig::new(json!({ "worker": w, "i": i }))?;
        let saving = Instant::now();
        let run = store.run("bench", &config)?;
        loop {
            match run.save_bytes("v", "bytes", &value(w, i)) {
                // Its own run, which no one else writes: retrying is safe (design §18.4).
                Err(sweepstore::Error::OutcomeUnknown { .. }) => {}
                other => break other?,
            }
        }
        slowest = slowest.max(saving.elapsed());
        i += 1;
    }
    Ok((i, start.elapsed(), slowest))
}

/// The client process: `__client SOCKET WORKER SECS` or `__open STORE WORKER SECS`.
fn client(args: &[String], open: bool) -> BenchResult<()> {
    let [target, worker, secs] = args else {
        return Err("usage: __client SOCKET WORKER SECS | __open STORE WORKER SECS".into());
    };
    let store: Box<dyn ResultsStore> = if open {
        Box::new(sweepstore::open(target, OpenOptions::default())?)
    } else {
        Box::new(RemoteStore::connect(target)?)
    };
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let (count, elapsed, slowest) = save_loop(&*store, worker.parse()?, secs.parse()?)?;
    writeln!(
        stdout,
        "done {count} {} {}",
        elapsed.as_secs_f64(),
        slowest.as_secs_f64()
    )?;
    stdout.flush()?;
    // Keeps the store (and, for an owner, its server) until the parent says every phase
    // is over, by ending stdin.
    while std::io::stdin().read_line(&mut line)? > 0 {}
    Ok(())
}

/// Saves/s of `workers` threads into a fresh `RedbStore`.
fn in_process(root: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let dir = tempfile::tempdir_in(root)?;
    let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    settle()?;
    let barrier = Barrier::new(workers);
    let outcomes: Vec<BenchResult<Outcome>> = std::thread::scope(|s| {
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
fn combine(outcomes: Vec<BenchResult<Outcome>>) -> BenchResult<f64> {
    let (mut total, mut longest) = (0, Duration::ZERO);
    for outcome in outcomes {
        let (count, elapsed, _) = outcome?;
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
    fn start(command: &str, target: &Path, worker: usize, secs: f64) -> BenchResult<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(command)
            .arg(target)
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

    /// Its report, once its phase is over.
    fn report(&mut self) -> BenchResult<Outcome> {
        let line = self.line()?;
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("done"), Some(count), Some(secs), Some(slowest)) => Ok((
                count.parse()?,
                Duration::from_secs_f64(secs.parse()?),
                Duration::from_secs_f64(slowest.parse()?),
            )),
            _ => Err(format!("a client failed: {line:?}").into()),
        }
    }
}

/// Every client's report; then their stdin ends (they exit) and they are waited for.
fn finish_all(mut clients: Vec<Client>) -> BenchResult<Vec<Outcome>> {
    let outcomes: Vec<BenchResult<Outcome>> = clients.iter_mut().map(Client::report).collect();
    let mut failed = None;
    for client in clients {
        let Client {
            mut child, stdin, ..
        } = client;
        drop(stdin);
        let status = child.wait()?;
        if !status.success() {
            failed.get_or_insert(format!("a client exited with {status}"));
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => outcomes.into_iter().collect(),
    }
}

/// Starts `workers` clients with `command` on `target` and saves for `secs` with all of them.
fn run_clients(command: &str, target: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let clients: BenchResult<Vec<Client>> = (0..workers)
        .map(|w| Client::start(command, target, w, secs))
        .collect();
    let mut clients = clients?;
    settle()?;
    for client in &mut clients {
        writeln!(client.stdin, "go")?;
        client.stdin.flush()?;
    }
    combine(finish_all(clients)?.into_iter().map(Ok).collect())
}

/// Saves/s of `workers` processes that each call `sweepstore::open` on a fresh store.
fn opened_processes(root: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let dir = tempfile::tempdir_in(root)?;
    run_clients(OPEN_COMMAND, &dir.path().join("store"), workers, secs)
}

/// The slowest save of clients saving while their owner is killed: the take-over time.
fn take_over(root: &Path) -> BenchResult<Duration> {
    let dir = tempfile::tempdir_in(root)?;
    let store = dir.path().join("store");
    let secs = 3.0;
    // The first to open owns the store: started (and ready) before the clients.
    let mut owner = Client::start(OPEN_COMMAND, &store, 0, secs)?;
    let clients: BenchResult<Vec<Client>> = (1..=TAKE_OVER_CLIENTS)
        .map(|w| Client::start(OPEN_COMMAND, &store, w, secs))
        .collect();
    let mut clients = clients?;
    for client in std::iter::once(&mut owner).chain(&mut clients) {
        writeln!(client.stdin, "go")?;
        client.stdin.flush()?;
    }
    std::thread::sleep(Duration::from_secs(1));
    owner.child.kill()?;
    let status = owner.child.wait()?;
    if status.success() {
        return Err("the owner was not killed".into());
    }
    let slowest = finish_all(clients)?
        .into_iter()
        .map(|(_, _, slowest)| slowest)
        .max()
        .unwrap_or_default();
    Ok(slowest)
}

/// Saves/s of `workers` client processes through a server of a fresh store.
fn through_server(root: &Path, workers: usize, secs: f64) -> BenchResult<f64> {
    let dir = tempfile::tempdir_in(root)?;
    let store = RedbStore::open(dir.path().join("store"), RedbOptions::default())?;
    let server = Server::bind(store, dir.path().join("s.sock"))?;
    let (stopper, socket) = (server.stopper(), server.socket().to_owned());
    let serving = std::thread::spawn(move || server.run());
    let outcome = run_clients(CLIENT_COMMAND, &socket, workers, secs);
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
        let mut row: [Vec<f64>; 5] = Default::default();
        for rep in 0..reps {
            eprintln!("{workers} workers, repetition {}/{reps}", rep + 1);
            // The order of the three sides rotates between repetitions.
            let mut rates = [0.0; 3];
            for k in 0..3 {
                let side = (k + rep) % 3;
                rates[side] = match side {
                    0 => in_process(root, workers, secs)?,
                    1 => through_server(root, workers, secs)?,
                    _ => opened_processes(root, workers, secs)?,
                };
            }
            let [t, p, o] = rates;
            for (column, figure) in row.iter_mut().zip([t, p, o, p / t, o / t]) {
                column.push(figure);
            }
        }
        rows.push((workers, row));
    }
    let mut take_overs = Vec::new();
    for rep in 0..reps {
        eprintln!("take-over, repetition {}/{reps}", rep + 1);
        take_overs.push(take_over(root)?.as_secs_f64() * 1000.0);
    }
    let mut report = String::new();
    writeln!(
        report,
        "Durable 1 KiB saves/s, median (min–max) of {reps} repetitions of {secs} s phases.\n"
    )?;
    writeln!(
        report,
        "| workers | threads in one process | client processes through `serve` | processes that each call `open` | serve ÷ threads | open ÷ threads |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|")?;
    for (workers, row) in rows {
        let mut cells = Vec::new();
        for (k, mut column) in row.into_iter().enumerate() {
            let (min, max) = spread(&column);
            let mid = median(&mut column);
            cells.push(if k < 3 {
                format!("{mid:.0} ({min:.0}–{max:.0})")
            } else {
                format!("{mid:.2} ({min:.2}–{max:.2})")
            });
        }
        writeln!(report, "| {workers} | {} |", cells.join(" | "))?;
    }
    let (min, max) = spread(&take_overs);
    writeln!(
        report,
        "\nTake-over after `kill -9` of the owner ({TAKE_OVER_CLIENTS} clients saving; the slowest \
         client save, which includes opening the store and recovering its WAL): median {:.0} ms \
         ({min:.0}–{max:.0}) of {reps}.",
        median(&mut take_overs)
    )?;
    print!("{report}");
    std::fs::write(REPORT_PATH, &report)?;
    Ok(())
}
