//! Faults at the server's socket (issue 9, item 4), against a server in this process: a
//! client killed mid-upload, a client sending garbage, oversized requests, values larger than
//! a frame, a graceful stop mid-sweep; and client processes saving at once. Each checks that
//! other clients keep being served and that nothing stored before is lost. Client processes
//! are this test binary re-executed (`--exact child_...` with an environment variable naming
//! the socket).
#![cfg(unix)]

use crate::shared::remote as remote_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::shared::child_test;
use crate::shared::tempdir;
use remote_support::{HANG, InProcess, Raw, frame, hello_frame, io_err, plumbing};
use serde_json::json;
use sweepstore::remote::wire::{MAX_CHUNK, MAX_FRAME};
use sweepstore::{Error, RemoteStore, Result, ResultsStore, StoreExt, UniqueConfig};

const UPLOAD_ENV: &str = "SWEEPSTORE_TEST_REMOTE_UPLOAD_SOCKET";
const SAVER_ENV: &str = "SWEEPSTORE_TEST_REMOTE_SAVER_SOCKET";
const SAVER_ID_ENV: &str = "SWEEPSTORE_TEST_REMOTE_SAVER_ID";
const SAVES_PER_PROCESS: u64 = 50;

fn config() -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({"lr": 0.1}))?)
}

fn tmp_files(store: &Path) -> usize {
    std::fs::read_dir(store.join("tmp")).map_or(0, |dir| dir.count())
}

/// Runs in a child: opens `big` for writing and streams 256 KiB pieces forever, announcing
/// each piece on stdout, never closing the file.
#[test]
fn child_uploads_until_killed() -> Result<()> {
    let Some(socket) = std::env::var_os(UPLOAD_ENV) else {
        return Ok(());
    };
    let store = RemoteStore::connect(socket)?;
    let mut file = store.run("train", &config()?)?.open("big", "wb", None)?;
    let piece = vec![b'x'; 256 << 10];
    let mut stdout = std::io::stdout();
    for i in 0u64.. {
        file.write_all(&piece).map_err(io_err("upload"))?;
        writeln!(stdout, "piece {i}").map_err(io_err("announce"))?;
        stdout.flush().map_err(io_err("announce"))?;
    }
    Ok(())
}

#[test]
fn a_client_killed_mid_upload_stores_nothing_and_the_server_keeps_serving() -> Result<()> {
    let dir = tempdir()?;
    let store_dir = dir.path().join("store");
    let server = InProcess::start(&store_dir, &dir.path().join("s.sock"))?;
    let store = RemoteStore::connect(&server.socket)?;
    let run = store.run("train", &config()?)?;
    run.save_bytes("big", "bytes", b"old value")?;

    let mut child = Command::new(std::env::current_exe().map_err(io_err("find the test binary"))?)
        .args([
            "--exact",
            &child_test(module_path!(), "child_uploads_until_killed"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UPLOAD_ENV, &server.socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err("start the uploading child"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| plumbing("read the child", "no stdout"))?;
    // Control: the child has sent several pieces (more than one chunk's worth is on the
    // server: the server-side stream's temp file exists).
    let mut pieces = 0;
    let mut lines = BufReader::new(stdout).lines();
    let start = Instant::now();
    while pieces < 12 || tmp_files(&store_dir) == 0 {
        let line = lines
            .next()
            .ok_or_else(|| plumbing("read the child", "it stopped announcing"))?
            .map_err(io_err("read the child"))?;
        if line.starts_with("piece ") {
            pieces += 1;
        }
        assert!(start.elapsed() < HANG, "the upload never got going");
    }
    assert!(
        tmp_files(&store_dir) > 0,
        "control: no upload in progress on the server"
    );
    child.kill().map_err(io_err("kill the child"))?;
    child.wait().map_err(io_err("wait for the child"))?;

    // The server drops the stream (and its temp file) once it sees the connection end.
    let start = Instant::now();
    while tmp_files(&store_dir) > 0 {
        assert!(
            start.elapsed() < HANG,
            "the killed upload's temp file stayed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(run.load::<Vec<u8>>("big")?, Some(b"old value".to_vec()));
    run.save_bytes("after", "bytes", b"still serving")?;
    let fresh = RemoteStore::connect(&server.socket)?;
    assert_eq!(
        fresh.run("train", &config()?)?.load::<Vec<u8>>("after")?,
        Some(b"still serving".to_vec())
    );
    server.stop()
}

#[test]
fn garbage_gets_an_error_frame_and_a_disconnect_while_others_are_served() -> Result<()> {
    let dir = tempdir()?;
    let server = InProcess::start(&dir.path().join("store"), &dir.path().join("s.sock"))?;
    let good = RemoteStore::connect(&server.socket)?;
    let run = good.run("train", &config()?)?;
    run.save_bytes("before", "bytes", b"1")?;

    // Not our protocol at all: the first 4 bytes read as a huge length.
    let mut http = Raw::connect(&server.socket)?;
    http.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
    http.expect_error_then_close("hello frame")?;

    // A valid frame that is not a hello.
    let mut wrong_hello = Raw::connect(&server.socket)?;
    wrong_hello.send(&frame(b"NOTSWEEP\x01"))?;
    wrong_hello.expect_error_then_close("magic")?;

    // A future protocol version.
    let mut future = Raw::connect(&server.socket)?;
    future.send(&frame(b"SWPSTORE\x7f"))?;
    future.expect_error_then_close("version")?;

    // A good hello, then a request that does not decode.
    let mut garbage = Raw::connect(&server.socket)?;
    garbage.send(&hello_frame())?;
    let welcome = garbage
        .receive()?
        .ok_or_else(|| plumbing("handshake", "no welcome"))?;
    assert_eq!(welcome.first(), Some(&1), "not a welcome: {welcome:?}");
    garbage.send(&frame(&[0xff, 0xff, 0xff, 0x01, 0x42]))?;
    garbage.expect_error_then_close("not a valid request")?;

    // A file request with no open file breaks the request order.
    let mut out_of_order = Raw::connect(&server.socket)?;
    out_of_order.send(&hello_frame())?;
    out_of_order.receive()?;
    // Request::File (variant 14), FileOp::Close (variant 4).
    out_of_order.send(&frame(&[14, 4]))?;
    out_of_order.expect_error_then_close("without an open file")?;

    run.save_bytes("after", "bytes", b"2")?;
    assert_eq!(run.load::<Vec<u8>>("before")?, Some(b"1".to_vec()));
    assert_eq!(run.load::<Vec<u8>>("after")?, Some(b"2".to_vec()));
    server.stop()
}

#[test]
fn oversized_requests_are_clear_errors_and_lose_nothing() -> Result<()> {
    let dir = tempdir()?;
    let server = InProcess::start(&dir.path().join("store"), &dir.path().join("s.sock"))?;
    let store = RemoteStore::connect(&server.socket)?;
    let run = store.run("train", &config()?)?;
    run.save_bytes("kept", "bytes", b"kept")?;

    // The client refuses to send a frame over the limit: load options of more than 8 MiB (a
    // config that large is refused before any store sees it: `MAX_CONFIG_LEN`).
    let huge = json!({"blob": "x".repeat(MAX_FRAME)});
    assert!(matches!(
        UniqueConfig::new(huge.clone()),
        Err(sweepstore::ConfigError::TooLarge { .. })
    ));
    let options = sweepstore::SaveOptions::default()
        .with_load_options(huge.as_object().cloned().unwrap_or_default());
    let id = sweepstore::RunId::new(sweepstore::TaskName::new("train")?, config()?);
    let name = sweepstore::ResultName::new("m")?;
    let failed = store.save_bytes(&id, &name, "bytes", b"v", &options);
    assert!(
        matches!(&failed, Err(Error::TooLarge { what, limit, .. }) if what == "request frame" && *limit == MAX_FRAME as u64),
        "{failed:?}"
    );
    assert!(failed.is_err_and(|e| e.to_string().contains("over the limit")));

    // A raw client announcing a frame over the limit gets a typed `TooLarge` error frame
    // (error variant 1) naming the request frame, decided from the header alone.
    let mut raw = Raw::connect(&server.socket)?;
    raw.send(&hello_frame())?;
    raw.receive()?;
    raw.send(&(MAX_FRAME as u32 + 1).to_le_bytes())?;
    let refusal = raw
        .receive()?
        .ok_or_else(|| plumbing("expect an error frame", "none"))?;
    assert_eq!(refusal[..2], [0, 1], "not a TooLarge error: {refusal:?}");
    assert!(String::from_utf8_lossy(&refusal).contains("request frame"));
    assert_eq!(raw.receive()?, None, "the server kept the connection open");

    // Values larger than a frame are not limited: they travel in chunks.
    let large: Vec<u8> = (0..(MAX_FRAME + 3 * MAX_CHUNK + 17))
        .map(|i| (i % 253) as u8)
        .collect();
    run.save_bytes("large", "bytes", &large)?;
    let back = store.load_bytes(
        &sweepstore::RunId::new(sweepstore::TaskName::new("train")?, config()?),
        &sweepstore::ResultName::new("large")?,
    )?;
    assert_eq!(back.map(|(_, bytes)| bytes == large), Some(true));
    assert_eq!(run.load::<Vec<u8>>("kept")?, Some(b"kept".to_vec()));
    server.stop()
}

#[test]
fn connecting_without_a_server_is_a_typed_error() -> Result<()> {
    let dir = tempdir()?;
    let missing = RemoteStore::connect(dir.path().join("nobody.sock"));
    assert!(
        matches!(missing, Err(Error::ServerUnavailable { .. })),
        "{missing:?}"
    );
    Ok(())
}

#[test]
fn a_graceful_stop_mid_sweep_loses_no_acknowledged_save_and_fails_the_rest_typed() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    const CLIENTS: u64 = 16;
    let dir = tempdir()?;
    let store_dir = dir.path().join("store");
    let server = InProcess::start(&store_dir, &dir.path().join("s.sock"))?;
    let store = RemoteStore::connect(&server.socket)?;
    let acked_total = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (store, acked_total) = (store.clone(), acked_total.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0u64.. {
                    let saved = UniqueConfig::new(json!({"client": client, "i": i}))
                        .map_err(Error::from)
                        .and_then(|c| {
                            store
                                .run("t", &c)?
                                .save_bytes("v", "bytes", &i.to_le_bytes())
                        });
                    match saved {
                        Ok(()) => {
                            acked.push((i, Instant::now()));
                            acked_total.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => return (acked, e),
                    }
                }
                unreachable!("the loop ends with an error")
            })
        })
        .collect();
    let start = Instant::now();
    while acked_total.load(Ordering::SeqCst) < 100 {
        assert!(start.elapsed() < HANG, "too few saves were acknowledged");
        std::thread::sleep(Duration::from_millis(2));
    }
    let stopped_at = Instant::now();
    server.stop()?;
    let mut answered_after_stop = 0;
    let mut outcomes = Vec::new();
    for client in clients {
        let (acked, error) = client
            .join()
            .map_err(|_| plumbing("join a client", "it panicked"))?;
        assert!(
            matches!(
                error,
                Error::Disconnected { .. } | Error::ServerUnavailable { .. }
            ),
            "an untyped failure after the stop: {error:?}"
        );
        answered_after_stop += acked.iter().filter(|(_, at)| *at > stopped_at).count();
        outcomes.push(acked);
    }
    // Control: the stop landed mid-sweep (some saves returned only after it began).
    assert!(
        answered_after_stop > 0,
        "control: the stop did not land mid-sweep"
    );
    let store = sweepstore::RedbStore::open(&store_dir, sweepstore::RedbOptions::default())?;
    for (client, acked) in outcomes.iter().enumerate() {
        for (i, _) in acked {
            let run = store.run("t", &UniqueConfig::new(json!({"client": client, "i": i}))?)?;
            assert_eq!(run.load::<Vec<u8>>("v")?, Some(i.to_le_bytes().to_vec()));
        }
    }
    store.close()
}

/// Runs in a child: saves `SAVES_PER_PROCESS` values of its own through the server.
#[test]
fn child_saves_through_the_server() -> Result<()> {
    let (Some(socket), Some(id)) = (
        std::env::var_os(SAVER_ENV),
        std::env::var(SAVER_ID_ENV).ok(),
    ) else {
        return Ok(());
    };
    let store = RemoteStore::connect(socket)?;
    for i in 0..SAVES_PER_PROCESS {
        let config = UniqueConfig::new(json!({"process": id, "i": i}))?;
        store
            .run("sweep", &config)?
            .save_bytes("v", "bytes", format!("{id}/{i}").as_bytes())?;
    }
    Ok(())
}

#[test]
fn client_processes_saving_at_once_through_one_server_lose_nothing() -> Result<()> {
    const PROCESSES: u64 = 4;
    let dir = tempdir()?;
    let server = InProcess::start(&dir.path().join("store"), &dir.path().join("s.sock"))?;
    let exe = std::env::current_exe().map_err(io_err("find the test binary"))?;
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--exact",
                    &child_test(module_path!(), "child_saves_through_the_server"),
                    "--test-threads=1",
                ])
                .env(SAVER_ENV, &server.socket)
                .env(SAVER_ID_ENV, id.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(io_err("start a saving child"))
        })
        .collect::<Result<_>>()?;
    for mut child in children {
        let status = child.wait().map_err(io_err("wait for a child"))?;
        assert!(status.success(), "a saving child failed: {status}");
    }
    let store = RemoteStore::connect(&server.socket)?;
    let sweep: Vec<_> = store
        .task("sweep")?
        .lazy_sweep("v")?
        .collect::<Result<_>>()?;
    assert_eq!(sweep.len() as u64, PROCESSES * SAVES_PER_PROCESS);
    for id in 0..PROCESSES {
        for i in 0..SAVES_PER_PROCESS {
            let config = UniqueConfig::new(json!({"process": id.to_string(), "i": i}))?;
            assert_eq!(
                store.run("sweep", &config)?.load::<Vec<u8>>("v")?,
                Some(format!("{id}/{i}").into_bytes())
            );
        }
    }
    server.stop()
}
