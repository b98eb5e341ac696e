//! MongoStore when the server is not there: an unreachable server is a clear error within
//! the configured timeout, and a server killed (SIGKILL) in the middle of a sweep gives typed
//! errors, never a false acknowledgement; after a restart on the same storage directory,
//! every acknowledged save is there. The killed server is one of the test's own
//! (`SWEEPSTORE_MONGO_DAEMON`, set by `tests/run.sh`).

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sweepstore::{Error, MongoOptions, MongoStore, Result, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, Daemon, free_port};

fn config(i: usize) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "i": i }))?)
}

/// The value of save `i`: every fifth one large enough for GridFS.
fn value(i: usize) -> Vec<u8> {
    let len = if i.is_multiple_of(5) { 300 * 1024 } else { 64 };
    (0..len).map(|j| (i + j) as u8).collect()
}

fn is_server_error(e: &Error) -> bool {
    matches!(e, Error::MongoUnreachable { .. } | Error::Mongo { .. })
}

#[test]
fn an_unreachable_server_is_a_clear_error_within_the_timeout() -> Result<()> {
    let port = free_port()?;
    let timeout = Duration::from_secs(1);
    let started = Instant::now();
    let result = MongoStore::connect_with(
        &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        "nowhere",
        COLLECTION,
        MongoOptions::default().with_timeout(timeout),
    );
    let elapsed = started.elapsed();
    let err = result.err();
    assert!(
        matches!(&err, Some(Error::MongoUnreachable { hosts, timeout: t, .. })
            if hosts.contains(&port.to_string()) && *t == timeout),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("answered within 1s"), "{message}");
    // Generous: the bound is the timeout plus scheduling noise, not minutes.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    Ok(())
}

#[test]
fn a_server_killed_mid_sweep_loses_no_acknowledged_save() -> Result<()> {
    let dir = crate::shared::tempdir()?;
    let data = dir.path().join("data");
    let port = free_port()?;
    let mut daemon = Daemon::start(port, &data)?;
    let options = MongoOptions::default().with_timeout(Duration::from_secs(2));
    let store = MongoStore::connect_with(&daemon.uri(), "sweep", COLLECTION, options.clone())?;

    let acked = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let attempts_after_kill = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, acked, errors) = (store.clone(), acked.clone(), errors.clone());
        let (killed, attempts_after_kill) = (killed.clone(), attempts_after_kill.clone());
        std::thread::spawn(move || -> Result<()> {
            for i in 0.. {
                let after_kill = killed.load(Ordering::SeqCst);
                let run = store.run("train", &config(i)?)?;
                let saved = run
                    .save("v", "bytes", &value(i))
                    .and_then(|()| run.finish());
                if after_kill {
                    attempts_after_kill.fetch_add(1, Ordering::SeqCst);
                }
                match saved {
                    Ok(()) => acked.lock().unwrap_or_else(|p| p.into_inner()).push(i),
                    Err(e) => {
                        let mut errors = errors.lock().unwrap_or_else(|p| p.into_inner());
                        errors.push(e);
                        if errors.len() >= 2 {
                            return Ok(());
                        }
                    }
                }
            }
            Ok(())
        })
    };
    // Kill in the middle of the sweep, with saves in flight.
    while acked.lock().unwrap_or_else(|p| p.into_inner()).len() < 40 {
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.store(true, Ordering::SeqCst);
    daemon.kill()?;
    writer
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))?;

    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(|p| p.into_inner()));
    // Controls: the kill really interrupted the sweep.
    assert!(attempts_after_kill.load(Ordering::SeqCst) >= 1);
    assert_eq!(errors.len(), 2, "saves failed after the kill");
    for e in &errors {
        assert!(is_server_error(e), "typed server error, got {e:?}");
    }
    // While the server is down, reads fail with a typed error too (no stale answer).
    let down = store.run("train", &config(0)?)?.load::<Vec<u8>>("v").err();
    assert!(
        matches!(down, Some(Error::MongoUnreachable { .. })),
        "{down:?}"
    );

    let _daemon = Daemon::start(port, &data)?;
    let reopened = MongoStore::connect_with(&_daemon.uri(), "sweep", COLLECTION, options)?;
    for &i in &acked {
        for store in [&reopened, &store] {
            let run = store.run("train", &config(i)?)?;
            assert_eq!(
                run.load::<Vec<u8>>("v")?,
                Some(value(i)),
                "acknowledged save {i}"
            );
            assert!(run.is_finished()?, "acknowledged finish {i}");
        }
    }
    Ok(())
}
