//! `sweepstore serve` as a real process (issue 9, items 1 and 4): killed with `kill -9` in
//! the middle of a sweep of several clients, clients get a typed error quickly and, after a
//! restart, everything they had acknowledged is there; SIGTERM stops it gracefully; a stale
//! socket is replaced and a live one (or a store already served) makes a second `serve` fail
//! with a clear message.
//!
//! After the restart the clients' own store handle is used: its pooled connections died with
//! the old server, and it reconnects by itself.
//!
//! Controls: the killed server really died of SIGKILL, saves were acknowledged before the
//! kill, and at least one client had a request in flight when it landed (it failed with
//! `Disconnected`, not at connect time).
#![cfg(all(unix, feature = "cli"))]

use crate::shared::remote as remote_support;
use crate::shared::tempdir;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use remote_support::{
    HANG, Raw, create_store, frame, hello_frame, io_err, plumbing, signal, spawn_serve,
    stale_socket, wait_exit, wait_until_served, within,
};
use serde_json::json;
use sweepstore::remote::wire::MAX_CHUNK;
use sweepstore::{
    Error, RedbOptions, RedbStore, RemoteOptions, RemoteStore, Result, StoreExt, UniqueConfig,
};

const CLIENTS: u64 = 4;

fn config(client: u64, i: u64) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({"client": client, "i": i}))?)
}

fn value(client: u64, i: u64) -> Vec<u8> {
    // Every tenth value is larger than a chunk, so kills also land in chunked uploads.
    let len = if i % 10 == 9 { 1_200_000 } else { 200 };
    (0..len).map(|k| (client * 31 + i * 7 + k) as u8).collect()
}

/// What one client saw: its acknowledged saves (in order) and the error that stopped it.
struct Outcome {
    acked: Vec<u64>,
    error: Error,
}

/// Saves `value(client, i)` for i = 0, 1, ... until a save fails.
fn sweep(store: RemoteStore, client: u64, total: Arc<AtomicU64>) -> Outcome {
    let mut acked = Vec::new();
    for i in 0.. {
        let saved = config(client, i).and_then(|c| {
            store
                .run("sweep", &c)?
                .save_bytes("v", "bytes", &value(client, i))
        });
        match saved {
            Ok(()) => {
                acked.push(i);
                total.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => return Outcome { acked, error },
        }
    }
    unreachable!("the sweep ends with an error")
}

/// Starts `CLIENTS` sweeping clients on clones of one store; returns it and their threads.
fn start_sweeps(
    socket: &Path,
    total: &Arc<AtomicU64>,
) -> Result<(RemoteStore, Vec<std::thread::JoinHandle<Outcome>>)> {
    // Short timeouts: a kill must turn into an error well within the test's deadline.
    let options = RemoteOptions::default().timeout(Some(Duration::from_secs(10)));
    let store = RemoteStore::connect_with(socket, options)?;
    let threads = (0..CLIENTS)
        .map(|client| {
            let (store, total) = (store.clone(), total.clone());
            std::thread::spawn(move || sweep(store, client, total))
        })
        .collect();
    Ok((store, threads))
}

fn wait_for_acks(total: &AtomicU64, at_least: u64) -> Result<()> {
    let start = Instant::now();
    while total.load(Ordering::SeqCst) < at_least {
        if start.elapsed() > HANG {
            return Err(plumbing("wait for saves", "too few were acknowledged"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn join_all(threads: Vec<std::thread::JoinHandle<Outcome>>) -> Result<Vec<Outcome>> {
    within("join the clients", move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| plumbing("join a client", "it panicked"))
            })
            .collect::<Result<Vec<_>>>()
    })?
}

/// Checks every acknowledged save is stored with its value; returns how many were checked.
fn check_acknowledged(store: &impl StoreExt, outcomes: &[Outcome]) -> Result<usize> {
    let mut checked = 0;
    for (client, outcome) in outcomes.iter().enumerate() {
        let client = client as u64;
        for &i in &outcome.acked {
            let stored = store
                .run("sweep", &config(client, i)?)?
                .load::<Vec<u8>>("v")?;
            assert_eq!(
                stored.as_deref(),
                Some(&value(client, i)[..]),
                "acknowledged save {client}/{i} is missing or wrong after the restart"
            );
            checked += 1;
        }
        // The save in flight is either absent or whole.
        let next = outcome.acked.last().map_or(0, |i| i + 1);
        let in_flight = store
            .run("sweep", &config(client, next)?)?
            .load::<Vec<u8>>("v")?;
        assert!(
            in_flight.is_none() || in_flight.as_deref() == Some(&value(client, next)[..]),
            "the save in flight of client {client} is torn"
        );
    }
    Ok(checked)
}

#[test]
fn kill_9_mid_sweep_gives_typed_errors_and_keeps_every_acknowledged_save() -> Result<()> {
    let dir = tempdir()?;
    let (store_dir, socket) = (dir.path().join("store"), dir.path().join("s.sock"));
    let mut server = spawn_serve(&store_dir, &socket)?;
    wait_until_served(&mut server, &socket)?;
    let total = Arc::new(AtomicU64::new(0));
    let (store, clients) = start_sweeps(&socket, &total)?;
    wait_for_acks(&total, 200)?;

    let killed_at = Instant::now();
    server.kill().map_err(io_err("kill -9 the server"))?;
    let status = server.wait().map_err(io_err("wait for the server"))?;
    assert_eq!(
        status.signal(),
        Some(9),
        "control: the server did not die of SIGKILL"
    );
    let outcomes = join_all(clients)?;
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "clients took {:?} to notice the dead server",
        killed_at.elapsed()
    );
    let mut in_flight = 0;
    for outcome in &outcomes {
        match &outcome.error {
            Error::Disconnected { .. } => in_flight += 1,
            Error::ServerUnavailable { .. } => {}
            other => panic!("an untyped failure after the kill: {other:?}"),
        }
    }
    assert!(
        in_flight > 0,
        "control: no request was in flight at the kill"
    );

    // The restart replaces the killed server's stale socket.
    assert!(
        socket.exists(),
        "control: the killed server left no socket file"
    );
    let mut restarted = spawn_serve(&store_dir, &socket)?;
    wait_until_served(&mut restarted, &socket)?;
    // The clients' store handle, whose pooled connections died with the old server,
    // reconnects by itself.
    let checked = check_acknowledged(&store, &outcomes)?;
    assert!(
        checked >= 200,
        "control: only {checked} acknowledged saves were checked"
    );
    signal(&restarted, "TERM")?;
    let (status, stderr) = wait_exit(&mut restarted)?;
    assert!(
        status.success(),
        "the restarted server failed to stop: {stderr}"
    );
    println!("kill -9: {checked} acknowledged saves checked, {in_flight} clients cut mid-request");
    Ok(())
}

#[test]
fn sigterm_mid_sweep_stops_cleanly_and_keeps_every_acknowledged_save() -> Result<()> {
    let dir = tempdir()?;
    let (store_dir, socket) = (dir.path().join("store"), dir.path().join("s.sock"));
    let mut server = spawn_serve(&store_dir, &socket)?;
    wait_until_served(&mut server, &socket)?;
    let total = Arc::new(AtomicU64::new(0));
    let (_, clients) = start_sweeps(&socket, &total)?;
    wait_for_acks(&total, 100)?;

    signal(&server, "TERM")?;
    let (status, stderr) = wait_exit(&mut server)?;
    assert!(
        status.success(),
        "serve did not exit cleanly on SIGTERM: {status} {stderr}"
    );
    let outcomes = join_all(clients)?;
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome.error,
                Error::Disconnected { .. } | Error::ServerUnavailable { .. }
            ),
            "an untyped failure after SIGTERM: {:?}",
            outcome.error
        );
    }
    assert!(!socket.exists(), "the socket file was not removed");
    // The store lock is released and every acknowledged save is there.
    let store = RedbStore::open(&store_dir, RedbOptions::default())?;
    let checked = check_acknowledged(&store, &outcomes)?;
    assert!(checked >= 100, "control: only {checked} saves were checked");
    store.close()
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_refused() -> Result<()> {
    let dir = tempdir()?;
    let socket = dir.path().join("s.sock");
    stale_socket(&socket)?;
    assert!(socket.exists());
    let mut first = spawn_serve(&dir.path().join("a"), &socket)?;
    wait_until_served(&mut first, &socket)?;
    RemoteStore::connect(&socket)?
        .run("t", &UniqueConfig::empty())?
        .save_bytes("m", "bytes", b"served")?;

    // The same store again: its lock refuses, before the socket is touched.
    let mut same_store = spawn_serve(&dir.path().join("a"), &dir.path().join("other.sock"))?;
    let (status, stderr) = wait_exit(&mut same_store)?;
    assert!(!status.success());
    assert!(stderr.contains("already open"), "unclear message: {stderr}");
    assert!(!dir.path().join("other.sock").exists());

    // Another store on the live socket: refused, and the first server is unaffected.
    let mut same_socket = spawn_serve(&dir.path().join("b"), &socket)?;
    let (status, stderr) = wait_exit(&mut same_socket)?;
    assert!(!status.success());
    assert!(
        stderr.contains("already listening"),
        "unclear message: {stderr}"
    );
    let store = RemoteStore::connect(&socket)?;
    assert_eq!(
        store
            .run("t", &UniqueConfig::empty())?
            .load::<Vec<u8>>("m")?,
        Some(b"served".to_vec())
    );

    signal(&first, "INT")?;
    let (status, stderr) = wait_exit(&mut first)?;
    assert!(
        status.success(),
        "serve did not exit cleanly on SIGINT: {stderr}"
    );
    assert!(!socket.exists());
    Ok(())
}

#[test]
fn the_default_socket_is_in_the_store_directory_with_mode_0600() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir()?;
    let store_dir = dir.path().join("store");
    create_store(&store_dir)?;
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_sweepstore"))
        .arg("serve")
        .arg(&store_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(io_err("start `sweepstore serve`"))?;
    let socket = store_dir.join(sweepstore::remote::wire::DEFAULT_SOCKET_NAME);
    wait_until_served(&mut server, &socket)?;
    let mode = std::fs::metadata(&socket).map_err(io_err("stat the socket"))?;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    signal(&server, "TERM")?;
    let (status, stderr) = wait_exit(&mut server)?;
    assert!(status.success(), "{stderr}");
    Ok(())
}

#[test]
fn a_second_signal_exits_at_once_when_the_graceful_stop_cannot_finish() -> Result<()> {
    let dir = tempdir()?;
    let (store_dir, socket) = (dir.path().join("store"), dir.path().join("s.sock"));
    let mut server = spawn_serve(&store_dir, &socket)?;
    wait_until_served(&mut server, &socket)?;
    let client = RemoteStore::connect(&socket)?;
    let run = client.run("t", &UniqueConfig::empty())?;
    run.save_bytes("m", "bytes", b"acknowledged")?;
    // The largest value a `LoadBytes` reply carries whole: its 1 MiB frame is far more than
    // a Unix socket buffers, so a client that never reads keeps the reply's write blocked.
    run.save_bytes("big", "bytes", &vec![7; MAX_CHUNK])?;
    drop(run);
    drop(client);

    // The stop joins every connection thread, and this one stays blocked writing to a client
    // that never reads (up to `WRITE_TIMEOUT`), so the graceful stop cannot finish.
    let mut stuck = Raw::connect(&socket)?;
    stuck.send(&hello_frame())?;
    stuck.receive()?;
    stuck.send(&frame(&load_bytes_request(
        "t",
        UniqueConfig::empty().canonical(),
        "big",
    )))?;
    // Control: the reply has started (so the request is being answered, not waiting to be
    // read) and carries the whole value.
    let mut header = [0u8; 4];
    stuck
        .stream
        .read_exact(&mut header)
        .map_err(io_err("read the reply's header"))?;
    assert!(
        u32::from_le_bytes(header) as usize > MAX_CHUNK,
        "{header:?}"
    );

    signal(&server, "TERM")?;
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server
            .try_wait()
            .map_err(io_err("poll the server"))?
            .is_none(),
        "control: the first signal already ended the server"
    );
    signal(&server, "TERM")?;
    let (status, stderr) = wait_exit(&mut server)?;
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    drop(stuck);
    // As safe as kill -9: the acknowledged saves are recovered from the WAL.
    let store = RedbStore::open(&store_dir, RedbOptions::default())?;
    let run = store.run("t", &UniqueConfig::empty())?;
    assert_eq!(run.load::<Vec<u8>>("m")?, Some(b"acknowledged".to_vec()));
    assert_eq!(run.load::<Vec<u8>>("big")?, Some(vec![7; MAX_CHUNK]));
    drop(run);
    store.close()
}

/// A `LoadBytes` request (variant 3) as postcard encodes it: the run's task and canonical
/// config, then the result name, each a length-prefixed string (all shorter than 128 bytes,
/// so each length is one varint byte).
fn load_bytes_request(task: &str, config: &str, name: &str) -> Vec<u8> {
    let mut payload = vec![3];
    for text in [task, config, name] {
        assert!(text.len() < 128, "{text}");
        payload.push(text.len() as u8);
        payload.extend_from_slice(text.as_bytes());
    }
    payload
}

#[test]
fn serve_refuses_a_path_that_holds_no_store_and_creates_nothing() -> Result<()> {
    let dir = tempdir()?;
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).map_err(io_err("create a directory"))?;
    for path in [&missing, &empty] {
        let ran = std::process::Command::new(env!("CARGO_BIN_EXE_sweepstore"))
            .arg("serve")
            .arg(path)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(io_err("run `sweepstore serve`"))?;
        let stderr = String::from_utf8_lossy(&ran.stderr);
        assert_eq!(ran.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("is not a sweepstore store"), "{stderr}");
    }
    assert!(!missing.exists());
    let left = std::fs::read_dir(&empty).map_err(io_err("list"))?.count();
    assert_eq!(left, 0, "serve created files in an empty directory");
    Ok(())
}
