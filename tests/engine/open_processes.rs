//! `sweepstore::open` across real processes (issue 13): this test binary spawns itself as
//! the worker processes ([`child_opens_the_store_and_saves_until_told_to_stop`]).
//!
//! Child protocol (stdout, one line per event, each flushed, after a `@@ ` marker since the
//! test harness prints its own text before the first): `opened owner|client` once
//! `open` returned; after the parent writes `go` on its stdin, for i = 0, 1, ...: `b I`
//! before saving result `rI` of its own run (`{"w": W}`, value `wW-iI`), then `a I US` once
//! the save returned `Ok` after US microseconds, `u I US` for `Error::OutcomeUnknown`, or `e I MESSAGE` for any other
//! error (which ends the loop); it stops after `SAVES` saves, or when its stdin ends (if
//! `SAVES` is 0); then `end owner|client` (what it is at the end), and exits 0.
//!
//! Checks: every acknowledged save is in the store afterwards with its exact value; a save
//! of unknown outcome is there with its exact value or not at all; nothing else is there;
//! no other error happened. Controls: a killed owner really died by SIGKILL while its
//! clients had acknowledged saves in flight, and some client owns the store at the end.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::shared::child_test;
use serde_json::json;
use sweepstore::{Error, OpenOptions, RedbOptions, RedbStore, Result, StoreExt, UniqueConfig};

const STORE_ENV: &str = "SWEEPSTORE_OPEN_STORE";
const WORKER_ENV: &str = "SWEEPSTORE_OPEN_WORKER";
const SAVES_ENV: &str = "SWEEPSTORE_OPEN_SAVES";
const CHILD_TEST: &str = "child_opens_the_store_and_saves_until_told_to_stop";
/// Longest wait for any child event (the machine may be loaded by parallel builds).
const PATIENCE: Duration = Duration::from_secs(120);

fn fail(message: impl Into<String>) -> Error {
    Error::Stream {
        op: "run the multi-process test",
        source: std::io::Error::other(message.into()),
    }
}

use crate::shared::io_err;

fn run_config(worker: u32) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "w": worker }))?)
}

fn value(worker: u32, i: u64) -> Vec<u8> {
    format!("w{worker}-i{i}").into_bytes()
}

fn role(store: &sweepstore::Store) -> &'static str {
    if store.is_owner() { "owner" } else { "client" }
}

fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "@@ {line}")
        .and_then(|()| out.flush())
        .map_err(io_err("write to the parent"))
}

/// The child's body (see the module docs).
fn child(path: PathBuf, worker: u32, saves: u64) -> Result<()> {
    let store = sweepstore::open(&path, OpenOptions::default())?;
    say(&format!("opened {}", role(&store)))?;
    let (tx, stdin) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
        // End of stdin: dropping `tx` tells the loop to stop.
    });
    if stdin.recv().ok().as_deref() != Some("go") {
        return Err(fail("no `go` from the parent"));
    }
    let run = store.run("sweep", &run_config(worker)?)?;
    let mut i = 0;
    while saves == 0 || i < saves {
        if saves == 0 && matches!(stdin.try_recv(), Err(mpsc::TryRecvError::Disconnected)) {
            break;
        }
        say(&format!("b {i}"))?;
        let started = Instant::now();
        let saved = run.save_bytes(&format!("r{i}"), "bytes", &value(worker, i));
        let us = started.elapsed().as_micros();
        match saved {
            Ok(()) => say(&format!("a {i} {us}"))?,
            Err(Error::OutcomeUnknown { .. }) => say(&format!("u {i} {us}"))?,
            Err(e) => {
                say(&format!("e {i} {e}"))?;
                break;
            }
        }
        i += 1;
    }
    say(&format!("end {}", role(&store)))?;
    drop(store);
    say("done")
}

#[test]
fn child_opens_the_store_and_saves_until_told_to_stop() -> Result<()> {
    let Some(path) = std::env::var_os(STORE_ENV) else {
        return Ok(()); // Only meaningful as a child of the tests below.
    };
    let number = |name: &str| -> Result<u64> {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| fail(format!("{name} is not set to a number")))
    };
    let worker = u32::try_from(number(WORKER_ENV)?).map_err(|e| fail(e.to_string()))?;
    child(PathBuf::from(path), worker, number(SAVES_ENV)?)
}

/// One child as the parent sees it.
struct Worker {
    id: u32,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Worker {
    fn spawn(exe: &Path, store: &Path, id: u32, saves: u64) -> Result<Worker> {
        let mut child = Command::new(exe)
            .args([
                "--exact",
                &child_test(module_path!(), CHILD_TEST),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(STORE_ENV, store)
            .env(WORKER_ENV, id.to_string())
            .env(SAVES_ENV, saves.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(io_err("spawn a child"))?;
        let out = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                let Some((_, event)) = line.split_once("@@ ") else {
                    continue;
                };
                if tx.send((Instant::now(), event.to_owned())).is_err() {
                    return;
                }
            }
        });
        Ok(Worker {
            id,
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// Reads lines until one satisfies `until`; returns it.
    fn wait_for(&mut self, until: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self.lines.recv_timeout(left).map_err(|_| {
                fail(format!(
                    "worker {} went silent; saw {:?}",
                    self.id,
                    self.tail()
                ))
            })?;
            self.seen.push((at, line.clone()));
            if line.starts_with("e ") {
                return Err(fail(format!("worker {} failed: {line}", self.id)));
            }
            if until(&line) {
                return Ok(line);
            }
        }
    }

    fn tail(&self) -> Vec<&str> {
        let from = self.seen.len().saturating_sub(5);
        self.seen[from..].iter().map(|(_, l)| l.as_str()).collect()
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| fail("stdin closed"))?;
        writeln!(stdin, "{line}").map_err(io_err("write to a child"))
    }

    /// Acknowledged saves so far.
    fn acks(&self) -> usize {
        self.seen
            .iter()
            .filter(|(_, l)| l.starts_with("a "))
            .count()
    }

    /// Closes stdin (which stops a child saving until then), reads to the end, waits.
    fn finish(&mut self) -> Result<()> {
        self.stdin = None;
        self.wait_for(|l| l == "done")?;
        let status = self.child.wait().map_err(io_err("wait for a child"))?;
        if !status.success() {
            return Err(fail(format!("worker {} exited with {status}", self.id)));
        }
        Ok(())
    }

    /// Reads what a dead child wrote before it died.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
    }

    /// Indices of the saves it began.
    fn begun(&self) -> std::collections::BTreeSet<u64> {
        self.seen
            .iter()
            .filter_map(|(_, l)| l.strip_prefix("b ")?.parse().ok())
            .collect()
    }

    /// (acknowledged, unknown) save indices, in order.
    fn outcomes(&self) -> (Vec<u64>, Vec<u64>) {
        let pick = |prefix: &str| {
            self.seen
                .iter()
                .filter_map(|(_, l)| l.strip_prefix(prefix)?.split(' ').next()?.parse().ok())
                .collect()
        };
        (pick("a "), pick("u "))
    }

    /// The longest time one save took (acknowledged or of unknown outcome).
    fn slowest_save(&self) -> Duration {
        self.seen
            .iter()
            .filter(|(_, l)| l.starts_with("a ") || l.starts_with("u "))
            .filter_map(|(_, l)| l.rsplit(' ').next()?.parse().ok())
            .map(Duration::from_micros)
            .max()
            .unwrap_or_default()
    }
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(io_err("find the test binary"))
}

/// Checks the store against what the workers reported (module docs); returns the number of
/// acknowledged saves checked.
fn check_store(store: &Path, workers: &[Worker]) -> Result<usize> {
    let opened = RedbStore::open(store, RedbOptions::default())?;
    let mut checked = 0;
    for worker in workers {
        let (acked, unknown) = worker.outcomes();
        let run = opened.run("sweep", &run_config(worker.id)?)?;
        let stored: BTreeMap<String, Vec<u8>> = match run.get_results()? {
            Some(results) => results
                .into_iter()
                .map(|(name, promise)| Ok((name.to_string(), promise.bytes()?)))
                .collect::<Result<_>>()?,
            None => BTreeMap::new(),
        };
        for i in &acked {
            let found = stored.get(&format!("r{i}"));
            assert_eq!(
                found,
                Some(&value(worker.id, *i)),
                "worker {}: acknowledged save {i}",
                worker.id
            );
            checked += 1;
        }
        for i in &unknown {
            if let Some(found) = stored.get(&format!("r{i}")) {
                assert_eq!(
                    found,
                    &value(worker.id, *i),
                    "worker {}: save {i}",
                    worker.id
                );
            }
        }
        // Nothing is stored that was not begun (a killed worker's last save may be).
        let begun = worker.begun();
        for name in stored.keys() {
            let i: u64 = name[1..]
                .parse()
                .map_err(|_| fail(format!("result {name}")))?;
            assert!(
                begun.contains(&i),
                "worker {}: {name} was never saved",
                worker.id
            );
        }
    }
    opened.close()?;
    Ok(checked)
}

#[test]
fn eight_processes_opening_a_fresh_store_at_once_have_one_owner_and_keep_every_save() -> Result<()>
{
    let dir = crate::shared::tempdir()?;
    let store = dir.path().join("store");
    let exe = exe()?;
    let mut workers = (0..8)
        .map(|id| Worker::spawn(&exe, &store, id, 50))
        .collect::<Result<Vec<_>>>()?;
    let mut owners = 0;
    for worker in &mut workers {
        let opened = worker.wait_for(|l| l.starts_with("opened "))?;
        owners += usize::from(opened == "opened owner");
    }
    // All eight hold the store open at this moment: exactly one owns it.
    assert_eq!(owners, 1);
    for worker in &mut workers {
        worker.send("go")?;
    }
    for worker in &mut workers {
        worker.finish()?;
    }
    let checked = check_store(&store, &workers)?;
    assert_eq!(
        checked,
        8 * 50,
        "every save is acknowledged (the owner may exit first)"
    );
    Ok(())
}

/// One owner and seven clients save until the owner stops — by `kill -9` or by closing its
/// store — and the clients save on; returns the workers (owner first) and the longest a
/// client's save took (a save in flight or begun during the stop waits for the take-over, so
/// this bounds it).
fn stop_the_owner_mid_sweep(store: &Path, kill: bool) -> Result<(Vec<Worker>, Duration)> {
    let exe = exe()?;
    let mut owner = Worker::spawn(&exe, store, 0, 0)?;
    assert_eq!(
        owner.wait_for(|l| l.starts_with("opened "))?,
        "opened owner"
    );
    let mut workers = vec![];
    for id in 1..8 {
        let mut client = Worker::spawn(&exe, store, id, 0)?;
        assert_eq!(
            client.wait_for(|l| l.starts_with("opened "))?,
            "opened client"
        );
        workers.push(client);
    }
    owner.send("go")?;
    for client in &mut workers {
        client.send("go")?;
    }
    for client in &mut workers {
        while client.acks() < 20 {
            client.wait_for(|l| l.starts_with("a "))?;
        }
    }
    if kill {
        owner.child.kill().map_err(io_err("kill the owner"))?;
        let status = owner.child.wait().map_err(io_err("wait for the owner"))?;
        // Control: the owner died by SIGKILL (not on its own).
        assert_eq!(status.signal(), Some(9), "{status:?}");
        owner.drain();
    } else {
        owner.finish()?;
    }
    for client in &mut workers {
        let before = client.acks();
        while client.acks() < before + 20 {
            client.wait_for(|l| l.starts_with("a "))?;
        }
    }
    let mut new_owners = 0;
    for client in &mut workers {
        client.stdin = None;
        let end = client.wait_for(|l| l.starts_with("end "))?;
        new_owners += usize::from(end == "end owner");
        client.finish()?;
    }
    // Control: a client took the store over.
    assert!(new_owners >= 1, "no client owns the store at the end");
    let slowest = workers
        .iter()
        .map(Worker::slowest_save)
        .max()
        .unwrap_or_default();
    workers.insert(0, owner);
    Ok((workers, slowest))
}

#[test]
fn killing_the_owner_mid_sweep_lets_a_client_take_over_and_loses_no_acknowledged_save() -> Result<()>
{
    let dir = crate::shared::tempdir()?;
    let store = dir.path().join("store");
    let (workers, take_over) = stop_the_owner_mid_sweep(&store, true)?;
    let checked = check_store(&store, &workers)?;
    let unknown: usize = workers.iter().map(|w| w.outcomes().1.len()).sum();
    println!(
        "kill -9: slowest client save (includes the take-over) {take_over:?}, {checked} acknowledged saves checked, {unknown} of unknown outcome"
    );
    assert!(checked >= 8 * 20 + 7 * 20);
    // Bounded: well under the open's wait (30 s), even on a loaded machine.
    assert!(
        take_over < Duration::from_secs(15),
        "take-over took {take_over:?}"
    );
    Ok(())
}

#[test]
fn a_clean_exit_of_the_owner_hands_over_without_a_failed_request() -> Result<()> {
    let dir = crate::shared::tempdir()?;
    let store = dir.path().join("store");
    let (workers, hand_over) = stop_the_owner_mid_sweep(&store, false)?;
    for worker in &workers {
        let (_, unknown) = worker.outcomes();
        assert!(
            unknown.is_empty(),
            "worker {}: outcomes unknown {unknown:?}",
            worker.id
        );
    }
    let checked = check_store(&store, &workers)?;
    println!(
        "clean exit: slowest client save (includes the hand-over) {hand_over:?}, {checked} acknowledged saves checked"
    );
    Ok(())
}

#[test]
fn a_handle_used_in_a_forked_child_works_as_a_client() -> Result<()> {
    let dir = crate::shared::tempdir()?;
    let store = sweepstore::open(dir.path().join("store"), OpenOptions::default())?;
    assert!(store.is_owner());
    let config = UniqueConfig::new(json!({"forked": true}))?;
    store.run("t", &config)?.save("parent", "json", &1)?;
    match fork::fork().map_err(io_err("fork"))? {
        fork::Fork::Child => {
            // Only `exit` leaves the child: the test harness must not go on in it.
            let worked = (|| -> Result<bool> {
                let run = store.run("t", &config)?;
                let seen: Option<i32> = run.load("parent")?;
                run.save("child", "json", &2)?;
                Ok(seen == Some(1) && !store.is_owner())
            })();
            std::process::exit(if matches!(worked, Ok(true)) { 0 } else { 1 });
        }
        fork::Fork::Parent(pid) => {
            let status = fork::waitpid(pid).map_err(io_err("wait for the forked child"))?;
            assert!(
                fork::WIFEXITED(status) && fork::WEXITSTATUS(status) == 0,
                "{status}"
            );
        }
    }
    // The parent still owns and serves the store, and sees the child's save.
    assert!(store.is_owner());
    let run = store.run("t", &config)?;
    assert_eq!(run.load::<i32>("child")?, Some(2));
    run.save("after", "json", &3)?;
    Ok(())
}

#[test]
fn a_store_locked_without_a_server_is_waited_for_a_bounded_time_then_refused() -> Result<()> {
    let dir = crate::shared::tempdir()?;
    let path = dir.path().join("store");
    let holder = sweepstore::open(&path, OpenOptions::default().serve(false))?;
    assert!(holder.is_owner());
    assert!(
        !path
            .join(sweepstore::remote::wire::DEFAULT_SOCKET_NAME)
            .exists()
    );
    let wait = Duration::from_millis(400);
    let started = Instant::now();
    let waited = sweepstore::open(&path, OpenOptions::default().wait(wait));
    assert!(matches!(waited, Err(Error::NotServed { .. })), "{waited:?}");
    assert!(
        started.elapsed() >= wait,
        "gave up after {:?}",
        started.elapsed()
    );
    // Without serving, a locked store is refused at once (the old behaviour).
    let unserved = sweepstore::open(&path, OpenOptions::default().serve(false));
    assert!(
        matches!(unserved, Err(Error::AlreadyOpen { .. })),
        "{unserved:?}"
    );
    drop(holder);
    // Control: once the holder is gone, the same open owns the store.
    assert!(sweepstore::open(&path, OpenOptions::default().wait(wait))?.is_owner());
    Ok(())
}

#[test]
fn an_address_round_trips_through_bytes_and_opens_the_same_store() -> Result<()> {
    let dir = crate::shared::tempdir()?;
    let options = OpenOptions::default().wait(Duration::from_secs(5));
    let store = sweepstore::open(dir.path().join("store"), options.clone())?;
    let address = store.address();
    assert!(address.path().is_absolute());
    assert_eq!(address.options(), &options);
    let decoded = sweepstore::StoreAddress::from_bytes(&address.to_bytes()?)?;
    assert_eq!(decoded, address);
    let config = UniqueConfig::new(json!({"a": 1}))?;
    store.run("t", &config)?.save("m", "json", &7)?;
    let again = sweepstore::open_address(&decoded)?;
    assert!(!again.is_owner());
    assert_eq!(again.run("t", &config)?.load::<i32>("m")?, Some(7));
    assert!(matches!(
        sweepstore::StoreAddress::from_bytes(b"\xff\xff"),
        Err(Error::BadAddress { .. })
    ));
    Ok(())
}
